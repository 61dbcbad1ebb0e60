-- Per IMAP folder: UIDVALIDITY and the next UID to fetch. The next UID moves in
-- the same transaction that stores the message, so it never runs ahead of the data.
CREATE TABLE imap_folders (
    account       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uidvalidity   BIGINT NOT NULL,
    next_uid      BIGINT NOT NULL,
    last_sync_at  BIGINT,
    last_error    TEXT,
    last_error_at BIGINT,
    PRIMARY KEY (account, folder)
);

-- Messages that could not be stored (not merely unparsed: those are kept as
-- messages of class 'unparseable'). Kept whole so nothing is lost; `onit status` lists them.
CREATE TABLE ingest_failures (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    source    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    error     TEXT NOT NULL,
    raw       BLOB NOT NULL
);
