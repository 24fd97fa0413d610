"""The IVR: the FastAGI routes Asterisk's dialplan calls, and the dialogues they share. They read like the call,
never parse protocol lines, and leave every rule to the use cases and the domain."""
