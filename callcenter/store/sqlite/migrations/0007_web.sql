-- Schema 7: the web console (callcenter/web/). Operators sign in with a password (created from the CLI); every
-- signed-in browser holds a session row; a caller may sign in with a one-time code the IVR read to them.
-- Secrets are never stored in clear: passwords as scrypt hashes, session tokens and codes as SHA-256 digests, so a
-- copy of the database opens no session.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY CHECK (name <> ''),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

-- subject: 'operator:<name>', 'agent:<id>' or 'client:<id>'; csrf: the token every form of the session carries
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    subject    TEXT NOT NULL CHECK (subject <> ''),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX web_sessions_by_subject ON web_sessions (subject);
-- every sign-in drops the expired sessions, and every wrong secret the wrong PINs past the lockout window
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE INDEX pin_failures_by_at ON pin_failures (at);

-- one live code per subject: a new one replaces the old; taking it (a right code) deletes it
CREATE TABLE web_codes (
    subject    TEXT PRIMARY KEY CHECK (subject <> ''),
    code_hash  TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- Each agent's decision when they heard a caller's reputation before the bridge, for the wallboard's accept and
-- decline counts ('none': they pressed nothing). A statistic, not a call record: the call's row says how it ended.
CREATE TABLE screenings (
    id            INTEGER PRIMARY KEY,
    call_uniqueid TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    at            TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('accept', 'decline', 'none'))
);

CREATE INDEX screenings_by_at ON screenings (at);
