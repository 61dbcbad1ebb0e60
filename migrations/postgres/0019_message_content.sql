-- A message's text and raw bytes move to their own table (issue 17), as on
-- SQLite, where a column behind a long value is reached only by reading the
-- value's overflow pages (see that migration). PostgreSQL keeps long values
-- out of line already (TOAST), so here the move only keeps the two schemas,
-- and the statements shared by both, the same: the columns are dropped
-- (a change of the catalogue; the space is reused as rows are rewritten).
CREATE TABLE message_content (
    id    BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    body  TEXT NOT NULL,
    raw   BYTEA
);
INSERT INTO message_content (id, body, raw)
    SELECT id, body, raw FROM messages WHERE raw IS NOT NULL OR body <> '';
ALTER TABLE messages DROP COLUMN body, DROP COLUMN raw;
