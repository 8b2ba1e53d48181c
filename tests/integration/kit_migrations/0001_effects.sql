-- A table for the kit's own integration tests: one row per handled booking event.
CREATE TABLE kit_test_effects (
    booking_id text NOT NULL,
    event_id   uuid NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
