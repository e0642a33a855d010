-- The failed sign-in throttle shared by every replica on one database.
-- One row per counted key: `c:<client>` (all accounts) or
-- `a:<client>:<account hash>` (one account; the username is hashed, never
-- stored). A row counts failures since `window_started`; an attempt is
-- counted and checked in one upsert under the row's lock, and rolled back
-- when refused. Old rows are removed by `portrait flushexpiredtokens`.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_started TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_window_started ON login_failures (window_started);
