-- Issue 12 (hostile volume): a message records at most mailbox.max_recipients
-- To/Cc addresses; how many more it had is kept here (the raw message has them all).
ALTER TABLE messages ADD COLUMN recipients_omitted BIGINT NOT NULL DEFAULT 0;

-- Floods (policy.max_new_tickets_per_sender_per_hour / _per_domain_per_hour):
-- every new ticket's sender (normalised: lower case, +tag removed) and domain,
-- counted over the last hour (src/flood.rs) ...
CREATE TABLE flood_openings (
    id BIGSERIAL PRIMARY KEY,
    sender TEXT NOT NULL,
    domain TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX flood_openings_sender ON flood_openings (sender, at);
CREATE INDEX flood_openings_domain ON flood_openings (domain, at);

-- ... and the mail beyond: stored in messages (no ticket), listed here until
-- `onit mail release ID` lets it through ingest.
CREATE TABLE held_mail (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    domain TEXT NOT NULL,
    reason TEXT NOT NULL,
    held_at BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX held_mail_held_at ON held_mail (held_at);
