-- One survey per trip (bookings that travel together), and what became of each invitation.

-- When a booking travels (from its segments), and the survey that covers it.
ALTER TABLE trips ADD COLUMN span_start timestamptz;
ALTER TABLE trips ADD COLUMN span_end timestamptz;
ALTER TABLE trips ADD COLUMN survey_id text;
CREATE INDEX trips_customer_span ON trips (customer_id, span_start);
-- Completed bookings whose trip has no survey yet (the settle job looks at these).
CREATE INDEX trips_awaiting_survey ON trips (updated_at) WHERE status = 'completed' AND survey_id IS NULL;
UPDATE trips t SET survey_id = s.survey_id FROM surveys s
 WHERE s.source_system = t.source_system AND s.booking_id = t.booking_id;

-- The invitation's delivery, as reported on notifications.deliveries.v1 for its SurveyInvitedV1.
ALTER TABLE surveys ADD COLUMN invitation_event_id uuid UNIQUE;
ALTER TABLE surveys ADD COLUMN invitation_status text NOT NULL DEFAULT 'unknown'
    CHECK (invitation_status IN ('unknown', 'planned', 'held', 'sent', 'suppressed', 'failed'));
ALTER TABLE surveys ADD COLUMN invitation_status_at timestamptz;
ALTER TABLE surveys ADD COLUMN invitation_held_until timestamptz;
ALTER TABLE surveys ADD COLUMN invitation_detail text;
