-- Digests: non-urgent messages of a traveller within a window are held and sent as one message.
-- The window is itself a delivery (template `digest`, held as `digest_window` until it closes);
-- its items wait under it (`digest`) and take its outcome. And the language a message was written in,
-- with where it came from.

ALTER TABLE deliveries ADD COLUMN digest_id text;       -- the digest an item waits in, or went out in
ALTER TABLE deliveries ADD COLUMN language_note text;   -- `zh (profile)`: where the language came from

-- One open window per traveller and purpose: items join it until the dispatcher takes it.
CREATE UNIQUE INDEX deliveries_open_digest ON deliveries (customer_id, purpose)
    WHERE template = 'digest' AND status = 'pending' AND hold_reason = 'digest_window';
CREATE INDEX deliveries_digest_items ON deliveries (digest_id) WHERE digest_id IS NOT NULL;
