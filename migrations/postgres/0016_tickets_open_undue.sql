-- The open tickets whose due time is unknown (issue 17), for the due pass's
-- second range (`Store::open_due_by`). `tickets_open_due` holds them too, but
-- PostgreSQL's statistics for `next_due_at` are over every ticket, and a
-- closed ticket has none: it expected nearly every open ticket to be unknown,
-- chose the index on status and read every open ticket each pass. This one is
-- empty but for tickets not yet settled. SQLite is told which index to use.
CREATE INDEX tickets_open_undue ON tickets (id) WHERE status = 'open' AND next_due_at IS NULL;
