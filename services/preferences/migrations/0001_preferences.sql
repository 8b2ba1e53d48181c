-- Preferences: per customer, what bookings revealed (observations), what was said
-- (explicit preferences), inferences declined or asked about, and the last published
-- effective snapshot; per company, the travel policy.

CREATE TABLE customers (
    customer_id    text PRIMARY KEY,
    company_id     text,
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged', 'erased')),
    merged_into    text,
    state          jsonb NOT NULL DEFAULT '{}'::jsonb,   -- CustomerPreferences.to_json()
    version        integer NOT NULL DEFAULT 0,            -- of the last published snapshot
    published      jsonb,                                 -- its preferences and conflicts, to diff against
    policy_version integer,                               -- of the company policy it was resolved against
    last_event_at  timestamptz,                           -- newest input reflected
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_company ON customers (company_id) WHERE status = 'active';

CREATE TABLE policies (
    company_id  text PRIMARY KEY,
    version     integer NOT NULL,
    policy      jsonb NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE confirmation_requests (
    request_id   uuid PRIMARY KEY,
    customer_id  text NOT NULL,
    key          text NOT NULL,
    value        jsonb NOT NULL,
    confidence   real NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined', 'superseded')),
    asked_at     timestamptz NOT NULL,
    answered_at  timestamptz,
    answered_by  text
);
CREATE INDEX confirmation_requests_customer ON confirmation_requests (customer_id, status);
