-- More channels: a message's channel is chosen when it is sent (the traveller's order, consent and
-- addresses); a disruption may also go on a second channel, as a delivery of its own (its leg).
-- Webhooks: endpoints a company (or a traveller) registered, and each message event posted to them.

-- `primary`: the message itself (its channel decided at dispatch); else the extra channel it also goes on.
ALTER TABLE deliveries ADD COLUMN leg text NOT NULL DEFAULT 'primary' CHECK (leg IN ('primary', 'email', 'sms'));
ALTER TABLE deliveries ADD COLUMN channel_note text;          -- the channel decision in words
ALTER TABLE deliveries ADD COLUMN provider_message_id text;   -- the SMS provider's id of a sent text
-- One message per cause and template (and one per extra channel), whichever channel it ends up on.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_dedupe;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_dedupe UNIQUE (cause_id, template, leg);

CREATE TABLE webhook_endpoints (
    endpoint_id   text        PRIMARY KEY,
    owner_kind    text        NOT NULL CHECK (owner_kind IN ('company', 'customer')),
    owner_id      text        NOT NULL,
    url           text        NOT NULL,
    secret_sealed text        NOT NULL,                  -- the signing secret, sealed (AES-GCM) under the service's key
    purposes      text[]      NOT NULL,
    description   text,
    active        boolean     NOT NULL DEFAULT true,
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_kind, owner_id) WHERE active;

CREATE TABLE webhook_deliveries (
    webhook_delivery_id text        PRIMARY KEY,
    endpoint_id         text        NOT NULL REFERENCES webhook_endpoints (endpoint_id) ON DELETE CASCADE,
    event_id            uuid        NOT NULL,             -- the message event (DeliverySentV1/DeliveryFailedV1)
    event_type          text        NOT NULL,
    delivery_id         text        NOT NULL,
    customer_id         text        NOT NULL,
    body                jsonb       NOT NULL,
    status              text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),  -- also the lease of a claimed post
    last_status_code    integer,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    failed_at           timestamptz,
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_customer ON webhook_deliveries (customer_id, created_at DESC);
