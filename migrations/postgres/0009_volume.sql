-- Issue 12 (hostile volume): a message records at most mailbox.max_recipients
-- To/Cc addresses; how many more it had is kept here (the raw message has them all).
ALTER TABLE messages ADD COLUMN recipients_omitted BIGINT NOT NULL DEFAULT 0;
