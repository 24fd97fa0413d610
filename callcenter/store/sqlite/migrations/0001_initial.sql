-- Schema 1: roster, clients, calls, mutual evaluations with audit trail and running rating totals.
--
-- Timestamps are UTC ISO-8601 text of one fixed width (see callcenter/store/timestamps.py), so text order is
-- time order. Booleans are 0/1 integers. Rows that history refers to (agents, services, categories) are
-- deactivated, never deleted.

CREATE TABLE services (
    id     TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

CREATE TABLE categories (
    -- '*' is reserved for the overall row of the rating totals tables.
    id       TEXT PRIMARY KEY CHECK (id <> '*' AND id <> ''),
    label    TEXT NOT NULL,
    position INTEGER NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

CREATE TABLE agents (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    interface  TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('sip', 'external')),
    pin_hash   TEXT,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE agent_services (
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    service_id TEXT NOT NULL REFERENCES services (id),
    position   INTEGER NOT NULL,
    PRIMARY KEY (agent_id, service_id)
) WITHOUT ROWID;

-- list_agents(service_id=...) looks agents up by service.
CREATE INDEX agent_services_by_service ON agent_services (service_id, agent_id);

CREATE TABLE agent_queues (
    agent_id TEXT NOT NULL REFERENCES agents (id),
    queue    TEXT NOT NULL CHECK (queue <> ''),
    position INTEGER NOT NULL,
    PRIMARY KEY (agent_id, queue)
) WITHOUT ROWID;

CREATE TABLE clients (
    id         INTEGER PRIMARY KEY,
    number     TEXT NOT NULL UNIQUE,
    pin_hash   TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE calls (
    id           INTEGER PRIMARY KEY,
    uniqueid     TEXT NOT NULL UNIQUE,
    linkedid     TEXT NOT NULL,
    client_id    INTEGER REFERENCES clients (id),
    agent_id     TEXT REFERENCES agents (id),
    service_id   TEXT REFERENCES services (id),
    queue        TEXT,
    started_at   TEXT NOT NULL,
    joined_at    TEXT,
    answered_at  TEXT,
    ended_at     TEXT,
    hold_seconds INTEGER CHECK (hold_seconds >= 0),
    talk_seconds INTEGER CHECK (talk_seconds >= 0),
    outcome      TEXT CHECK (outcome IN ('answered', 'declined', 'no_answer', 'abandoned', 'timeout', 'failed')),
    -- An answered call always knows who answered it: evaluations take their subject from here.
    CHECK (answered_at IS NULL OR agent_id IS NOT NULL),
    CHECK ((ended_at IS NULL) = (outcome IS NULL))
);

CREATE INDEX calls_by_started ON calls (started_at);
CREATE INDEX calls_by_client ON calls (client_id, started_at);
CREATE INDEX calls_by_agent ON calls (agent_id, started_at);

CREATE TABLE evaluations (
    id         INTEGER PRIMARY KEY,
    call_id    INTEGER NOT NULL REFERENCES calls (id),
    direction  TEXT NOT NULL CHECK (direction IN ('client_to_agent', 'agent_to_client')),
    -- Copied from the call when recorded, so per-agent and per-client lookups need no join.
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    client_id  INTEGER NOT NULL REFERENCES clients (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    UNIQUE (call_id, direction)
);

CREATE INDEX evaluations_by_agent ON evaluations (agent_id, direction, created_at);
CREATE INDEX evaluations_by_client ON evaluations (client_id, direction, created_at);

-- Evaluations are soft-deleted (deleted_at) so the audit trail always has something to point at.
CREATE TRIGGER evaluations_never_deleted BEFORE DELETE ON evaluations
BEGIN
    SELECT RAISE(ABORT, 'evaluations are never deleted; set deleted_at');
END;

-- Score rows of a soft-deleted evaluation stay: they show what was deleted. The totals tables count only
-- evaluations whose deleted_at is NULL.
CREATE TABLE evaluation_scores (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id),
    category_id   TEXT NOT NULL REFERENCES categories (id),
    score         INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    PRIMARY KEY (evaluation_id, category_id)
) WITHOUT ROWID;

CREATE TABLE evaluation_audit (
    id            INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations (id),
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'revive')),
    -- The live scores before and after, as a JSON object {category: score}; NULL when there were none.
    old_scores    TEXT,
    new_scores    TEXT,
    reason        TEXT
);

CREATE INDEX evaluation_audit_by_evaluation ON evaluation_audit (evaluation_id, id);

CREATE TRIGGER evaluation_audit_never_deleted BEFORE DELETE ON evaluation_audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never deleted');
END;

CREATE TRIGGER evaluation_audit_never_updated BEFORE UPDATE ON evaluation_audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never changed');
END;

-- Running totals of live evaluations, kept in step by the same transaction that changes an evaluation.
-- Per category: n = number of scores, total = their sum. Category '*': n = number of evaluations,
-- total = sum of all their scores. A row whose n reaches 0 is removed. Integers only, so sums are exact.
CREATE TABLE agent_rating_totals (
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    category_id TEXT NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 0),
    total       INTEGER NOT NULL CHECK (total >= 0),
    PRIMARY KEY (agent_id, category_id)
) WITHOUT ROWID;

CREATE TABLE client_rating_totals (
    client_id   INTEGER NOT NULL REFERENCES clients (id),
    category_id TEXT NOT NULL,
    n           INTEGER NOT NULL CHECK (n >= 0),
    total       INTEGER NOT NULL CHECK (total >= 0),
    PRIMARY KEY (client_id, category_id)
) WITHOUT ROWID;
