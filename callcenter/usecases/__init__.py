"""The use cases: each operation the IVR, the CLI and (later) a web console perform, once."""
