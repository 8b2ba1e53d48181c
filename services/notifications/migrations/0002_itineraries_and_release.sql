-- Itineraries, so messages know where a traveller is (quiet hours in their current time
-- zone) and what a change changed; and agents releasing a held message.

CREATE TABLE bookings (
    source_system  text        NOT NULL,
    booking_id     text        NOT NULL,
    customer_id    text        NOT NULL,                 -- as resolved by profile when last heard of
    status         text        NOT NULL CHECK (status IN ('active', 'cancelled')),
    segments       jsonb       NOT NULL,                 -- as sent, annotated with places and zones
    source_event_id text       NOT NULL,                 -- the booking system's event of this state
    occurred_at    timestamptz NOT NULL,                 -- when that event happened (later events win)
    span_start     timestamptz,                          -- first and last instant the itinerary
    span_end       timestamptz,                          -- places the traveller (NULL: no known place)
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, booking_id)
);
-- Where is this traveller around now: active bookings whose places matter at a given time.
CREATE INDEX bookings_whereabouts ON bookings (customer_id, span_end) WHERE status = 'active';

-- Messages held for quiet hours, found again when something that decides them changes.
CREATE INDEX deliveries_held ON deliveries (customer_id) WHERE status = 'pending' AND hold_reason = 'quiet_hours';
CREATE INDEX deliveries_held_resolved ON deliveries (resolved_customer_id)
    WHERE status = 'pending' AND hold_reason = 'quiet_hours';

-- An agent sent a held message now: quiet hours no longer hold it (consent still applies).
ALTER TABLE deliveries ADD COLUMN send_now_by text;
ALTER TABLE deliveries ADD COLUMN send_now_at timestamptz;
