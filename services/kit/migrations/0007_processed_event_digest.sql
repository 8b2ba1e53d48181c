-- What a consumer remembers of each record's body: a redelivery (the same bytes) is a duplicate,
-- the same event id with another body is a conflict and goes to the dead-letter topic.
-- Rows from before this migration have no digest and compare as equal.
ALTER TABLE processed_events ADD COLUMN digest bytea;
