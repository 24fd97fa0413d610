"""The console's pages, one module per audience: signing in, the wallboard, self-service for callers and agents,
moderation for operators, and the endpoints for machines (metrics, health)."""
