-- Trips: a traveller's bookings of one journey, their timeline, and the runs of declared journeys.

CREATE TABLE trips (
    trip_id        text        PRIMARY KEY,
    customer_id    text        NOT NULL,
    company_id     text,
    trip_reference text,
    status         text        NOT NULL CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled', 'merged')),
    starts_at      timestamptz,
    ends_at        timestamptz,
    merged_into    text        REFERENCES trips (trip_id),
    version        integer     NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trips_customer ON trips (customer_id) WHERE merged_into IS NULL;

CREATE TABLE bookings (
    source_system   text        NOT NULL,
    booking_id      text        NOT NULL,
    customer_id     text        NOT NULL,
    trip_id         text        NOT NULL REFERENCES trips (trip_id),
    status          text        NOT NULL CHECK (status IN ('active', 'cancelled', 'in_progress', 'completed')),
    trip_reference  text,
    segments        jsonb       NOT NULL,
    starts_at       timestamptz,
    ends_at         timestamptz,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (source_system, booking_id)
);
CREATE INDEX bookings_trip ON bookings (trip_id);

-- What happened to a trip, in order: bookings, changes, cancellations, messages, surveys, cases.
-- `event_id` is the event recorded (a redelivery records nothing new); a message, survey or case
-- finds its trip through the event that caused it (`cause_event_id`) or its booking.
CREATE TABLE timeline (
    entry_id   bigserial   PRIMARY KEY,
    trip_id    text        NOT NULL REFERENCES trips (trip_id),
    at         timestamptz NOT NULL,
    kind       text        NOT NULL,
    summary    text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}',
    event_id   uuid        UNIQUE
);
CREATE INDEX timeline_trip ON timeline (trip_id, at);

-- A survey of one of the trip's bookings. Feedback may invite (and the traveller answer) before this
-- service has the booking: the survey waits with no trip, its answer parked, until the booking comes.
CREATE TABLE surveys (
    survey_id     text        PRIMARY KEY,
    source_system text        NOT NULL,
    booking_id    text        NOT NULL,
    trip_id       text        REFERENCES trips (trip_id),
    invited_at    timestamptz NOT NULL,
    answer        jsonb
);
CREATE INDEX surveys_booking ON surveys (source_system, booking_id) WHERE trip_id IS NULL;

-- One run per journey and trigger (a trip, a booking change, a survey answer); waits are due_at,
-- fired by the journey job (SKIP LOCKED: several workers fire each once).
CREATE TABLE journey_runs (
    run_id          text        PRIMARY KEY,
    journey         text        NOT NULL,
    journey_version integer     NOT NULL,
    trigger_key     text        NOT NULL,
    trip_id         text        NOT NULL REFERENCES trips (trip_id),
    customer_id     text        NOT NULL,
    facts           jsonb       NOT NULL,
    step            integer     NOT NULL DEFAULT 0,
    status          text        NOT NULL CHECK (status IN ('waiting', 'done', 'skipped', 'merged')),
    due_at          timestamptz,
    note            text        NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (journey, trigger_key)
);
CREATE INDEX journey_runs_due ON journey_runs (due_at) WHERE status = 'waiting';
CREATE INDEX journey_runs_trip ON journey_runs (trip_id);
