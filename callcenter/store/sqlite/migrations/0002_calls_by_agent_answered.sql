-- Schema 2: the IVR asks, for every agent it may offer, when they last answered (fair tie-breaking).
-- Without this index that question read every stored call of those agents (59 ms at 50k calls, `make bench`).
CREATE INDEX calls_agent_answered ON calls (agent_id, answered_at);
