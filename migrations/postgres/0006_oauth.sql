-- OAuth2 grants for XOAUTH2 sign-in (imap.auth / smtp.auth = "xoauth2"): one row
-- per mailbox account. A refresh runs under this row's lock (FOR UPDATE on
-- PostgreSQL; SQLite's write transaction is exclusive anyway), so among several
-- instances one refreshes and the others read its result, and a rotated refresh
-- token is committed before the new access token is used. Times are epoch ms.
CREATE TABLE oauth_tokens (
    account            TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    refresh_token      TEXT,
    access_token       TEXT,
    access_expires_at  BIGINT,
    -- Only when the provider says (refresh_token_expires_in).
    refresh_expires_at BIGINT,
    refreshed_at       BIGINT,
    updated_at         BIGINT NOT NULL,
    last_error         TEXT,
    last_error_at      BIGINT
);
