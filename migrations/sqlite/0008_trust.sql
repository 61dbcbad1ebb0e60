-- Trust (issue 11): how sure onit is of each stored message's sender, and the
-- normalised recipient of each outgoing message so that rates count an address
-- without its +tag and a whole domain.
ALTER TABLE messages ADD COLUMN auth TEXT;
ALTER TABLE messages ADD COLUMN auth_how TEXT;
ALTER TABLE outbox ADD COLUMN rate_key TEXT;
ALTER TABLE outbox ADD COLUMN rate_domain TEXT;
UPDATE outbox SET rate_key = lower(to_addr), rate_domain = lower(substr(to_addr, instr(to_addr, '@') + 1));
CREATE INDEX outbox_rate_key ON outbox (kind, rate_key, created_at);
CREATE INDEX outbox_rate_domain ON outbox (kind, rate_domain, created_at);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
