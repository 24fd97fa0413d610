"""The pure domain: rating maths and routing decisions, who may rate, decay, caller numbers, PINs, the roster's
agents and the names of Asterisk's objects. No I/O: the use cases and the adapters call it, it calls nothing."""
