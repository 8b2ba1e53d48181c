-- After an erasure, the records profile has consumed leave the landing topic booking.events.v1
-- (written in clear by booking systems): a job trims it and marks the requests it covered.
ALTER TABLE shred_requests ADD COLUMN trimmed_at timestamptz;
CREATE INDEX shred_requests_untrimmed ON shred_requests (requested_at) WHERE trimmed_at IS NULL;
