"""Running a real Asterisk 22 for callcenter: the private Debian root, rendered config, the process."""
