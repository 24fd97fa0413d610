-- Schema 5: wrong PINs keyed by phone, per subject ('client:<id>' or 'agent:<id>'), so guessing a PIN over many
-- calls locks the subject out for a while ([selfservice] pin_max_failures, pin_lockout_minutes). A right PIN
-- clears the subject's rows; they are a counter, not history (the service's log keeps every attempt).
CREATE TABLE pin_failures (
    id      INTEGER PRIMARY KEY,
    subject TEXT NOT NULL CHECK (subject <> ''),
    at      TEXT NOT NULL
);

CREATE INDEX pin_failures_by_subject ON pin_failures (subject, at);
