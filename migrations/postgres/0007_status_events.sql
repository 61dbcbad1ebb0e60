-- A status change is a typed column of its event, not text parsed back from
-- the event's detail: `status` is the ticket's status after the event
-- (`reopened` and `status` events), NULL for every other event.
ALTER TABLE events ADD COLUMN status TEXT;
UPDATE events SET status = 'open' WHERE kind = 'reopened';
UPDATE events SET status = trim(detail)
    WHERE kind = 'status' AND trim(detail) IN ('open', 'resolved', 'closed');
