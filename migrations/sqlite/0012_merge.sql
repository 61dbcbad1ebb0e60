-- A ticket merged into another (issue 16): closed as merged, its messages and
-- events moved to the one that stays; mail naming it threads onto that one.
ALTER TABLE tickets ADD COLUMN merged_into_id BIGINT;
