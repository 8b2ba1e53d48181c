-- Value: the booking ledger (one fact per booking), dated currency rates, each customer's and
-- company's current value (as last published), tier history, account managers, and the reviews
-- due (value that changes with time alone: trips leaving the window, a cadence overdue).

CREATE TABLE bookings (
    source_system        text        NOT NULL,
    booking_id           text        NOT NULL,
    customer_id          text        NOT NULL,   -- current id (merges move bookings to the survivor)
    resolved_customer_id text        NOT NULL,   -- as profile resolved it; an unmerge moves it back
    company_id           text,
    status               text        NOT NULL CHECK (status IN ('active', 'cancelled')),
    starts_at            timestamptz,
    amounts              jsonb       NOT NULL DEFAULT '{}'::jsonb,   -- {"EUR": "123.40", ...}
    first_event_at       timestamptz NOT NULL,
    last_event_at        timestamptz NOT NULL,
    last_kind            text        NOT NULL,
    last_event_id        text        NOT NULL,
    data_order           jsonb,                  -- [at, rank, event id] of the newest describing event
    PRIMARY KEY (source_system, booking_id)
);
CREATE INDEX bookings_customer ON bookings (customer_id);
CREATE INDEX bookings_company ON bookings (company_id) WHERE company_id IS NOT NULL;

CREATE TABLE fx_rates (
    currency   text          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    valid_from date          NOT NULL,
    rate       numeric(20,10) NOT NULL CHECK (rate > 0),
    loaded_by  text          NOT NULL,
    loaded_at  timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, valid_from)
);

CREATE TABLE customer_value (
    customer_id  text        PRIMARY KEY,
    company_id   text,
    version      integer     NOT NULL,
    tier         text        NOT NULL,
    stage        text        NOT NULL,
    risk         text        NOT NULL,
    frequency    integer     NOT NULL,
    monetary     numeric     NOT NULL,
    snapshot     jsonb       NOT NULL,           -- the published CustomerValueSnapshotV1
    updated_at   timestamptz NOT NULL
);
CREATE INDEX customer_value_tier ON customer_value (tier, monetary DESC);
CREATE INDEX customer_value_stage ON customer_value (stage, monetary DESC);
CREATE INDEX customer_value_company ON customer_value (company_id, monetary DESC);

CREATE TABLE company_value (
    company_id   text        PRIMARY KEY,
    version      integer     NOT NULL,
    tier         text        NOT NULL,
    stage        text        NOT NULL,
    risk         text        NOT NULL,
    frequency    integer     NOT NULL,
    monetary     numeric     NOT NULL,
    snapshot     jsonb       NOT NULL,           -- the published CompanyValueSnapshotV1
    updated_at   timestamptz NOT NULL
);
CREATE INDEX company_value_tier ON company_value (tier, monetary DESC);
CREATE INDEX company_value_stage ON company_value (stage, monetary DESC);

CREATE TABLE tier_history (
    id          bigserial   PRIMARY KEY,
    subject     text        NOT NULL CHECK (subject IN ('customer', 'company')),
    subject_id  text        NOT NULL,
    from_tier   text,
    to_tier     text        NOT NULL,
    reason      text        NOT NULL,
    frequency   integer     NOT NULL,
    monetary    numeric     NOT NULL,
    currency    text        NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX tier_history_subject ON tier_history (subject, subject_id, changed_at DESC);
CREATE INDEX tier_history_changed ON tier_history (changed_at DESC);

CREATE TABLE account_managers (
    subject      text        NOT NULL CHECK (subject IN ('customer', 'company')),
    subject_id   text        NOT NULL,
    manager_kind text        NOT NULL CHECK (manager_kind IN ('agent', 'team')),
    manager_id   text        NOT NULL,
    assigned_by  text        NOT NULL,
    assigned_at  timestamptz NOT NULL,
    PRIMARY KEY (subject, subject_id)
);
CREATE INDEX account_managers_manager ON account_managers (manager_kind, manager_id);

-- A review is due when value would change without a new booking, or when a change elsewhere
-- (a company's booking, its account manager, a rate) should reach a snapshot. Companies are
-- reviewed from here only, a moment after their travellers' bookings, so a busy company is
-- evaluated once per moment, not once per booking.
CREATE TABLE reviews (
    subject    text        NOT NULL CHECK (subject IN ('customer', 'company')),
    subject_id text        NOT NULL,
    due_at     timestamptz NOT NULL,
    PRIMARY KEY (subject, subject_id)
);
CREATE INDEX reviews_due ON reviews (due_at);
