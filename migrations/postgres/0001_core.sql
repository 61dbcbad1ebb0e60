-- Core schema. Times are Unix epoch milliseconds (UTC) in both databases, so
-- the same SQL runs on SQLite and PostgreSQL and no driver guesses a time zone.

CREATE TABLE tickets (
    id                BIGSERIAL PRIMARY KEY,
    number            BIGINT NOT NULL UNIQUE,
    prefix            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    normalized_subject TEXT NOT NULL,
    reporter          TEXT NOT NULL,
    project           TEXT NOT NULL,
    pm                TEXT NOT NULL,
    priority          TEXT NOT NULL,
    priority_reason   TEXT NOT NULL,
    severity          TEXT,
    status            TEXT NOT NULL,
    opened_at         BIGINT NOT NULL,
    last_contact_at   BIGINT,
    next_due_at       BIGINT,
    next_due_rule     TEXT,
    closed_at         BIGINT,
    ack_message_id    TEXT,
    linked_ticket_id  BIGINT,
    opening_message_id TEXT NOT NULL
);
CREATE INDEX tickets_reporter_subject ON tickets (reporter, normalized_subject);
CREATE INDEX tickets_status ON tickets (status);

CREATE TABLE messages (
    id            BIGSERIAL PRIMARY KEY,
    message_id    TEXT NOT NULL UNIQUE,
    ticket_id     BIGINT REFERENCES tickets (id),
    class         TEXT NOT NULL,
    detail        TEXT,
    from_addr     TEXT,
    to_addrs      TEXT NOT NULL,
    cc_addrs      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    date_header   BIGINT,
    arrived_at    BIGINT NOT NULL,
    effective_at  BIGINT NOT NULL,
    in_reply_to   TEXT NOT NULL,
    refs          TEXT NOT NULL,
    body          TEXT NOT NULL,
    origin        TEXT NOT NULL,
    raw           BYTEA
);
CREATE INDEX messages_ticket ON messages (ticket_id, effective_at);

CREATE TABLE ticket_participants (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    address   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, address)
);

CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT,
    message_id  TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX events_ticket ON events (ticket_id, at, id);

-- Mail that must leave, written in the same transaction as the state that needs it.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    dedupe_key       TEXT NOT NULL UNIQUE,
    ticket_id        BIGINT REFERENCES tickets (id),
    message_id       TEXT NOT NULL UNIQUE,
    mail_from        TEXT NOT NULL,
    to_addr          TEXT NOT NULL,
    rcpt_to          TEXT NOT NULL,
    raw              BYTEA NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    attempt_started_at BIGINT,
    sent_at          BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_to ON outbox (kind, to_addr, created_at);
