-- No query reads the events by kind and ticket: the digest's events of a
-- period use events_kind_at (kind, at), a ticket's events events_ticket, the
-- status changes events_status_at. Yet every event written (four for each
-- acknowledgment) was still entered here: over a long history one more
-- descent of an index of every event ever recorded (issue 17).
DROP INDEX IF EXISTS events_kind;
