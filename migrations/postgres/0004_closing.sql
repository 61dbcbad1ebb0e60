-- POLICY "Closing": a ticket closes only with cause, resolution and prevention
-- recorded (`#cause`, `#resolution`, `#prevention`; `#impact` for the report).
ALTER TABLE tickets ADD COLUMN cause TEXT;
ALTER TABLE tickets ADD COLUMN impact TEXT;
ALTER TABLE tickets ADD COLUMN resolution TEXT;
ALTER TABLE tickets ADD COLUMN prevention TEXT;

-- The incident response report made at each close, kept so it stays retrievable
-- (`onit report`). message_id: the report mail's Message-ID (NULL when nothing was sent).
CREATE TABLE reports (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    created_at  BIGINT NOT NULL,
    markdown    TEXT NOT NULL,
    html        TEXT NOT NULL,
    message_id  TEXT
);
CREATE INDEX reports_ticket ON reports (ticket_id, created_at);
