-- No query reads the outbox by recipient since the rate limits moved to
-- their own keys (0009: outbox_rate_key, outbox_rate_domain), yet every
-- message queued was still entered here, at a place set by its recipient:
-- over a long history, a leaf page of an index of every mail ever sent,
-- rarely in the page cache, read and rewritten for each acknowledgment
-- (issue 17).
DROP INDEX IF EXISTS outbox_to;
