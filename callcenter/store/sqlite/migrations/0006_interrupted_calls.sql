-- Schema 6: a call can end 'interrupted': it lasted while the service (or Asterisk) was gone, so nobody recorded
-- its end, and the reaper closed the row from what Asterisk still knew (callcenter/reaper.py).
-- SQLite cannot alter a CHECK constraint, and rebuilding the table is not possible inside the migration's
-- transaction (foreign_keys stays on there, so renaming `calls` would move the references of evaluations to the
-- old table). Widening a CHECK is the case SQLite documents for editing the schema text instead
-- (https://www.sqlite.org/lang_altertable.html, "making other kinds of table schema changes"): the rows already
-- satisfy the wider constraint. The runner bumps schema_version after a migration that sets writable_schema, so
-- every connection reloads the schema.
PRAGMA writable_schema = ON;
-- sqlite_master, not sqlite_schema: the name this SQLite (3.24 and later) knows
UPDATE sqlite_master
   SET sql = replace(sql, '''timeout'', ''failed'')', '''timeout'', ''failed'', ''interrupted'')')
 WHERE type = 'table' AND name = 'calls';
PRAGMA writable_schema = OFF;
-- the edit must have happened (a table whose text differs would be left as it was): else the CHECK below fails
-- and the whole migration rolls back, rather than the service recording 'interrupted' into a table that refuses
CREATE TEMP TABLE migration_0006_check (widened INTEGER NOT NULL CHECK (widened = 1));
INSERT INTO migration_0006_check
SELECT instr(sql, '''interrupted''') > 0 FROM sqlite_master WHERE type = 'table' AND name = 'calls';
DROP TABLE migration_0006_check;
-- the reaper's question: which calls are still open
CREATE INDEX calls_open ON calls (started_at) WHERE ended_at IS NULL;
