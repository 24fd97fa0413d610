-- Schema 8: the store arbitrates agents between service processes and nodes (several Asterisk nodes share one agent
-- pool, and app_queue on each knows only its own calls). Before an agent's phone rings for a call, that call
-- reserves the agent here with a compare-and-set: at most one call holds an agent at a time, and a reservation whose
-- lease has run out (its node died) is free for the next. Every attempt and its outcome goes into the log, so a test
-- (or an operator) can prove that no agent was ever held by two calls at once.
CREATE TABLE agent_reservations (
    agent_id      TEXT PRIMARY KEY REFERENCES agents (id),
    call_uniqueid TEXT NOT NULL CHECK (call_uniqueid <> ''),
    node          TEXT NOT NULL CHECK (node <> ''),
    reserved_at   TEXT NOT NULL,
    lease_until   TEXT NOT NULL
);

CREATE TABLE reservation_log (
    id            INTEGER PRIMARY KEY,
    agent_id      TEXT NOT NULL,
    call_uniqueid TEXT NOT NULL,
    node          TEXT NOT NULL,
    at            TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('reserved', 'refused', 'released'))
);

CREATE INDEX reservation_log_by_agent ON reservation_log (agent_id, at);

-- Each service process (node) says it is alive every few seconds; a survivor treats a node whose last beat is
-- older than its lease as dead (its calls are reaped, its reservations have expired).
CREATE TABLE node_heartbeats (
    node       TEXT PRIMARY KEY CHECK (node <> ''),
    started_at TEXT NOT NULL,
    at         TEXT NOT NULL
);
