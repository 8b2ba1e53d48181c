-- Notifications: planned and sent messages (deliveries), consents and quiet hours.

CREATE TABLE deliveries (
    delivery_id          text        PRIMARY KEY,
    customer_id          text        NOT NULL,                 -- as planned; may later redirect (merge)
    resolved_customer_id text,                                 -- the customer the view resolved it to
    channel              text        NOT NULL CHECK (channel IN ('email', 'sms')),
    template             text        NOT NULL,
    purpose              text        NOT NULL CHECK (purpose IN ('transactional', 'service', 'marketing')),
    cause_id             text        NOT NULL,                 -- the fact that caused the message
    cause_event_id       uuid        NOT NULL,                 -- the envelope it arrived in
    cause_event_type     text        NOT NULL,
    correlation_id       uuid        NOT NULL,
    context              jsonb       NOT NULL,                 -- template data (no contact data)
    status               text        NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    hold_reason          text,                                 -- why a pending delivery waits
    attempts             integer     NOT NULL DEFAULT 0,       -- send attempts made
    lookups              integer     NOT NULL DEFAULT 0,       -- times the customer was not in the view yet
    next_attempt_at      timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz,
    claim_token          uuid,                                 -- the dispatcher pass working on it
    lease_expires_at     timestamptz,                          -- a crashed pass's rows are taken over after this
    recipient            text,
    language             text,
    subject              text,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    failed_at            timestamptz,
    -- Redelivered or re-published events never plan a message twice.
    CONSTRAINT deliveries_dedupe UNIQUE (cause_id, template, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_expires_at) WHERE status = 'sending';
CREATE INDEX deliveries_customer ON deliveries (customer_id, created_at DESC);
CREATE INDEX deliveries_resolved_customer ON deliveries (resolved_customer_id, created_at DESC)
    WHERE resolved_customer_id IS NOT NULL;
CREATE INDEX deliveries_status ON deliveries (status, created_at DESC);

-- Wake the dispatcher once per planning statement.
CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_deliveries', '');
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();

CREATE TABLE consents (
    customer_id  text        NOT NULL,
    purpose      text        NOT NULL CHECK (purpose IN ('transactional', 'service', 'marketing')),
    channel      text        NOT NULL CHECK (channel IN ('email', 'sms')),
    granted      boolean     NOT NULL,
    source       text,                                 -- where the customer said so (web form, phone call, ...)
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, purpose, channel)
);

CREATE TABLE quiet_hours (
    customer_id  text        PRIMARY KEY,
    enabled      boolean     NOT NULL,
    start_local  time        NOT NULL,
    end_local    time        NOT NULL,
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
