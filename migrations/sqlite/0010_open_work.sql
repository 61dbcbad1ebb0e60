-- Cost that follows the open work (issue 17). The reminder pass, the due pass and
-- the 16:00 list read open tickets by their stored due time; compliance --since and
-- the digests find the tickets of their period by contact time and status change.
CREATE INDEX tickets_open_due ON tickets (next_due_at) WHERE status = 'open';
CREATE INDEX messages_contact_at ON messages (contact_at) WHERE contact_at IS NOT NULL;
CREATE INDEX events_status_at ON events (at) WHERE status IS NOT NULL;
CREATE INDEX tickets_closed_at ON tickets (closed_at);
-- The digest's bounces and ignored commands of its period (without it, SQLite
-- planned a scan of every ticket).
CREATE INDEX events_kind_at ON events (kind, at);
-- The stored due time is now the rules' own (ticket::lifecycle): every open ticket is
-- marked due at once, so the first due pass re-evaluates each by the rules.
UPDATE tickets SET next_due_at = 0 WHERE status = 'open';
