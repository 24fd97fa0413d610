-- Schema 4: agents' presence (logged in, paused, logged out), set from their phones, kept across restarts of
-- the service and Asterisk (the service re-applies it to Asterisk's queues after every restart), with history.

-- The current state, one row per agent who ever changed it; an agent without a row has the configured
-- initial state ([agents] initial_state).
CREATE TABLE agent_presence (
    agent_id   TEXT PRIMARY KEY REFERENCES agents (id),
    state      TEXT NOT NULL CHECK (state IN ('logged_out', 'available', 'paused')),
    -- why a paused agent is paused (one of [agents] pause_reasons); NULL in the other states
    reason     TEXT CHECK ((state = 'paused') = (reason IS NOT NULL)),
    since      TEXT NOT NULL,
    -- who set it: 'agent:<id>' from the phone menus, 'operator:<name>' from the CLI
    actor      TEXT NOT NULL
) WITHOUT ROWID;

-- Every change, for reports on who was on duty when; never updated or deleted.
CREATE TABLE agent_presence_log (
    id       INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    at       TEXT NOT NULL,
    state    TEXT NOT NULL CHECK (state IN ('logged_out', 'available', 'paused')),
    reason   TEXT,
    actor    TEXT NOT NULL,
    via      TEXT NOT NULL
);

CREATE INDEX agent_presence_log_by_agent ON agent_presence_log (agent_id, at);

-- When a caller set the PIN that protects their ratings (clients.pin_hash exists since schema 1).
ALTER TABLE clients ADD COLUMN pin_set_at TEXT;

-- Before this schema every roster agent was a queue member at all times: an upgraded call center keeps them on
-- duty (a fresh database has no agents yet, so its agents start in the configured initial state).
INSERT INTO agent_presence (agent_id, state, reason, since, actor)
SELECT id, 'available', NULL, strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000+00:00', 'migration'
FROM agents WHERE active = 1;
