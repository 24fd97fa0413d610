-- Schema 3: recency-decayed rating totals next to the exact ones (design: callcenter/store/decay.py).
--
-- Per totals row: dn = sum of weights of the scores counted (per category) or of the evaluations (row '*'),
-- dtotal = sum of score * weight, both as of as_of, where a score given at t weighs 2^(-(as_of - t) / half-life)
-- and t is the evaluation's updated_at (an edit refreshes a rating's age). Kept in step incrementally by the
-- same transaction that changes an evaluation, like n and total.

ALTER TABLE agent_rating_totals ADD COLUMN dn REAL NOT NULL DEFAULT 0 CHECK (dn >= 0);
ALTER TABLE agent_rating_totals ADD COLUMN dtotal REAL NOT NULL DEFAULT 0 CHECK (dtotal >= 0);
ALTER TABLE agent_rating_totals ADD COLUMN as_of TEXT NOT NULL DEFAULT '1970-01-01T00:00:00.000000+00:00';
ALTER TABLE client_rating_totals ADD COLUMN dn REAL NOT NULL DEFAULT 0 CHECK (dn >= 0);
ALTER TABLE client_rating_totals ADD COLUMN dtotal REAL NOT NULL DEFAULT 0 CHECK (dtotal >= 0);
ALTER TABLE client_rating_totals ADD COLUMN as_of TEXT NOT NULL DEFAULT '1970-01-01T00:00:00.000000+00:00';

-- Store-wide settings the data depends on. rating_half_life_days: the half-life the decayed sums are kept
-- for, 'off' (no decay) or a float in days; SqliteStore.open recomputes the sums when it is configured
-- differently.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Existing data starts out with decay off: every weight is 1, so the decayed sums are the plain ones (exact in
-- a REAL), referred to the newest rating in the row. Opening with a half-life then recomputes them once.
INSERT INTO settings (key, value) VALUES ('rating_half_life_days', 'off');

UPDATE agent_rating_totals SET dn = n, dtotal = total, as_of = COALESCE((
    SELECT MAX(e.updated_at) FROM evaluations e
    WHERE e.agent_id = agent_rating_totals.agent_id AND e.direction = 'client_to_agent' AND e.deleted_at IS NULL
      AND (agent_rating_totals.category_id = '*' OR EXISTS (
          SELECT 1 FROM evaluation_scores s
          WHERE s.evaluation_id = e.id AND s.category_id = agent_rating_totals.category_id))
), as_of);

UPDATE client_rating_totals SET dn = n, dtotal = total, as_of = COALESCE((
    SELECT MAX(e.updated_at) FROM evaluations e
    WHERE e.client_id = client_rating_totals.client_id AND e.direction = 'agent_to_client' AND e.deleted_at IS NULL
      AND (client_rating_totals.category_id = '*' OR EXISTS (
          SELECT 1 FROM evaluation_scores s
          WHERE s.evaluation_id = e.id AND s.category_id = client_rating_totals.category_id))
), as_of);
