"""The web console: the supervisors' live wallboard, ratings on the web for callers and agents, operators'
moderation and audit trail, and the metrics and health endpoints; served by uvicorn in the service's own event loop
(``server.py``), built on the same use cases as the IVR and the CLI."""
