-- A confirmation request can be answered by the traveller through a link: the link carries a
-- random token, of which only the SHA-256 digest is kept here (a leaked table cannot answer
-- questions), and stops working at expires_at. Requests from before have neither.
ALTER TABLE confirmation_requests
    ADD COLUMN token_hash bytea,
    ADD COLUMN expires_at timestamptz;
CREATE UNIQUE INDEX confirmation_requests_token ON confirmation_requests (token_hash) WHERE token_hash IS NOT NULL;
