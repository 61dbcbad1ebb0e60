-- Facts the policy rules read, found once when a message is stored.
-- contact_at: when the message counts as a contact with the client (NULL: it is not one,
-- or not yet: our acknowledgment becomes a contact when it is sent).
ALTER TABLE messages ADD COLUMN contact_at BIGINT;
ALTER TABLE messages ADD COLUMN contact_kind TEXT;
-- The next update the message promises, and the words that said so.
ALTER TABLE messages ADD COLUMN promise_at BIGINT;
ALTER TABLE messages ADD COLUMN promise_text TEXT;
-- The first dismissive phrase in the author's own words.
ALTER TABLE messages ADD COLUMN dismissive TEXT;
CREATE INDEX messages_contacts ON messages (ticket_id, contact_at);
CREATE INDEX events_kind ON events (kind, ticket_id);
