-- A message's text and raw bytes move to their own table (issue 17).
--
-- SQLite stores a row as one record, its columns in table order, and spills
-- what does not fit in the page into a chain of overflow pages. The columns
-- the rules read (contact_at, contact_kind, promise_at, promise_text,
-- dismissive, auth: added by ALTER TABLE, so after raw) sat behind the
-- message's text and its raw bytes, and SQLite reaches a column behind an
-- overflowing value only by reading every page of the chain before it: each
-- contact the digests, the compliance report and the due times read cost a
-- read of the whole mail (a 12 KB mail three pages, a screenshot hundreds).
-- No query of the rules reads the text or the bytes; only `onit mail` and
-- release of held mail do, by Message-ID. PostgreSQL has no such migration:
-- it keeps long values out of line (TOAST) and reads a column behind one
-- without them, and a second table cost its import 7 %.
--
-- The table is rebuilt, not altered with DROP COLUMN, which rewrites each row
-- in place and leaves its pages part empty (over the bench's 1 M-ticket
-- database, 1,183 bytes free per page against 419: more pages to read).
CREATE TABLE messages_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    TEXT NOT NULL UNIQUE,
    ticket_id     BIGINT REFERENCES tickets (id),
    class         TEXT NOT NULL,
    detail        TEXT,
    from_addr     TEXT,
    to_addrs      TEXT NOT NULL,
    cc_addrs      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    date_header   BIGINT,
    arrived_at    BIGINT NOT NULL,
    effective_at  BIGINT NOT NULL,
    in_reply_to   TEXT NOT NULL,
    refs          TEXT NOT NULL,
    origin        TEXT NOT NULL,
    contact_at    BIGINT,
    contact_kind  TEXT,
    promise_at    BIGINT,
    promise_text  TEXT,
    dismissive    TEXT,
    auth          TEXT,
    auth_how      TEXT,
    recipients_omitted INTEGER NOT NULL DEFAULT 0
);
INSERT INTO messages_new (id, message_id, ticket_id, class, detail, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text, dismissive, auth, auth_how, recipients_omitted)
    SELECT id, message_id, ticket_id, class, detail, from_addr, to_addrs, cc_addrs, subject, date_header, arrived_at, effective_at, in_reply_to, refs, origin, contact_at, contact_kind, promise_at, promise_text, dismissive, auth, auth_how, recipients_omitted
    FROM messages ORDER BY id;
-- A message's id is never reused (AUTOINCREMENT): the new table continues
-- from the old one's counter, not from its largest id still stored.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'messages')
    WHERE name = 'messages_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');

-- One row per message that has text or bytes (a row of the generated or
-- imported history with neither has none; readers join LEFT).
CREATE TABLE message_content (
    id    INTEGER PRIMARY KEY REFERENCES messages_new (id) ON DELETE CASCADE,
    body  TEXT NOT NULL,
    raw   BLOB
);
INSERT INTO message_content (id, body, raw)
    SELECT id, body, raw FROM messages WHERE raw IS NOT NULL OR body <> '' ORDER BY id;

DROP TABLE messages;
-- Renaming also rewrites message_content's reference to the new name.
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_ticket ON messages (ticket_id, effective_at);
CREATE INDEX messages_contacts ON messages (ticket_id, contact_at);
CREATE INDEX messages_contact_at ON messages (contact_at) WHERE contact_at IS NOT NULL;
