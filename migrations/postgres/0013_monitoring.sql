-- Monitoring alerts (issue 16): a ticket opened by mail from a `[monitoring]
-- senders` entry is marked by its alert's key and the sender entry it came
-- from (NULL on every other ticket); `owner` is who took it (`#owner`).
ALTER TABLE tickets ADD COLUMN alert_key TEXT;
ALTER TABLE tickets ADD COLUMN alert_source TEXT;
ALTER TABLE tickets ADD COLUMN owner TEXT;
-- A later mail of the same alert finds its ticket by source and key.
CREATE INDEX tickets_alert ON tickets (alert_source, alert_key) WHERE alert_key IS NOT NULL;
