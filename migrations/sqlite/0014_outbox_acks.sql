-- Acknowledgments go out before any backlog (issue 17): the outbox pass asks
-- for the acknowledgments waiting first, through this index of them alone,
-- then for the rest in the order of `outbox_due`.
CREATE INDEX outbox_acks_waiting ON outbox (next_attempt_at, id) WHERE kind = 'ack' AND status IN ('pending', 'sending');
