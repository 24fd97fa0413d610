-- Schema 2: the web console (callcenter/web/), as SQLite's schema 7. Operators sign in with a password (created
-- from the CLI); every signed-in browser holds a session row; a caller may sign in with a one-time code the IVR
-- read to them. Passwords are scrypt hashes, session tokens and codes SHA-256 digests: a copy of the database opens
-- no session.
CREATE TABLE operators (
    name          text COLLATE "C" PRIMARY KEY CHECK (name <> ''),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL,
    active        boolean NOT NULL DEFAULT true
);

CREATE TABLE web_sessions (
    token_hash text COLLATE "C" PRIMARY KEY,
    subject    text COLLATE "C" NOT NULL CHECK (subject <> ''),
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX web_sessions_by_subject ON web_sessions (subject);

CREATE TABLE web_codes (
    subject    text COLLATE "C" PRIMARY KEY CHECK (subject <> ''),
    code_hash  text NOT NULL,
    expires_at timestamptz NOT NULL
);
