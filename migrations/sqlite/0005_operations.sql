-- Leadership among several instances on one database. One row per role (an
-- IMAP folder's sync, the scheduled work). PostgreSQL's advisory lock decides
-- who leads; the epoch is the fencing token: each new leader bumps it, and a
-- leader's write transaction re-reads it (FOR SHARE) before committing, so an
-- old leader that was paused past its lease can no longer write.
CREATE TABLE leases (
    role        TEXT PRIMARY KEY,
    epoch       BIGINT NOT NULL,
    holder      TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL
);

-- Running instances, for `onit status` (seen_at is a heartbeat).
CREATE TABLE instances (
    name        TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         BIGINT NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);

-- Alerts about onit itself (a stalled mailbox, a failing sign-in). At most one
-- open row per (kind, subject): that row is the incident, mailed once.
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    detail       TEXT NOT NULL,
    opened_at    BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    resolved_at  BIGINT
);
CREATE UNIQUE INDEX alerts_open ON alerts (kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened ON alerts (opened_at);

-- Outbox delivery runs on every instance: the instance that claimed an attempt,
-- so another takes the item over only when that instance is gone (or the
-- attempt is older than any send can take).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
