"""Call flows: FastAGI routes that read like the call. They never parse protocol lines (that is agi/)."""
