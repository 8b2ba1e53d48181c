-- Feedback: trips seen on resolved bookings, post-trip surveys with their answers,
-- and cases (complaints, requests) with SLA deadlines and a history of changes.

CREATE TABLE trips (
    source_system text        NOT NULL,
    booking_id    text        NOT NULL,
    customer_id   text        NOT NULL,       -- as resolved when last heard of; read through the view
    company_id    text,
    status        text        NOT NULL CHECK (status IN ('booked', 'in_progress', 'completed', 'cancelled')),
    summary       jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- route and dates, for the survey page
    last_event_at timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, booking_id)
);
CREATE INDEX trips_customer ON trips (customer_id);

CREATE TABLE surveys (
    survey_id     text        PRIMARY KEY,
    kind          text        NOT NULL DEFAULT 'post_trip',
    token_hash    bytea       NOT NULL UNIQUE,   -- SHA-256 of the link token; the token itself is not kept
    customer_id   text        NOT NULL,
    company_id    text,
    source_system text        NOT NULL,
    booking_id    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    answered_at   timestamptz,
    csat          smallint    CHECK (csat BETWEEN 1 AND 5),
    nps           smallint    CHECK (nps BETWEEN 0 AND 10),
    comment       text,
    -- One survey of a kind per booking, however often the trip is reported completed.
    UNIQUE (kind, source_system, booking_id),
    FOREIGN KEY (source_system, booking_id) REFERENCES trips (source_system, booking_id)
);
CREATE INDEX surveys_customer ON surveys (customer_id, created_at DESC);
CREATE INDEX surveys_answered ON surveys (answered_at) WHERE answered_at IS NOT NULL;
CREATE INDEX surveys_company_answered ON surveys (company_id, answered_at) WHERE answered_at IS NOT NULL;

CREATE TABLE cases (
    case_id            text        PRIMARY KEY,
    customer_id        text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('complaint', 'request')),
    source             text        NOT NULL CHECK (source IN ('survey', 'agent')),
    subject            text        NOT NULL,
    description        text        NOT NULL DEFAULT '',
    status             text        NOT NULL
                       CHECK (status IN ('open', 'in_progress', 'waiting_customer', 'resolved', 'closed')),
    priority           text        NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    assignee           text,
    survey_id          text        UNIQUE REFERENCES surveys (survey_id),   -- at most one case per answer
    source_system      text,
    booking_id         text,
    opened_by          text        NOT NULL,
    opened_at          timestamptz NOT NULL,
    first_response_due timestamptz NOT NULL,
    first_response_at  timestamptz,
    resolution_due     timestamptz NOT NULL,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    escalated          boolean     NOT NULL DEFAULT false,
    escalations        text[]      NOT NULL DEFAULT '{}',   -- SLA targets already escalated for
    version            integer     NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX cases_customer ON cases (customer_id, opened_at DESC);
CREATE INDEX cases_status ON cases (status, opened_at DESC);
-- What the escalation job scans: cases not yet done.
CREATE INDEX cases_active_due ON cases (first_response_due, resolution_due) WHERE status NOT IN ('resolved', 'closed');

CREATE TABLE case_history (
    id      bigserial   PRIMARY KEY,
    case_id text        NOT NULL REFERENCES cases (case_id),
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    detail  jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX case_history_case ON case_history (case_id, id);
