-- Profile: customers with their golden record, the source records resolved to them,
-- strong identifiers for deterministic matching, companies, and bookings seen.

CREATE TABLE companies (
    company_id   text PRIMARY KEY,
    name         text NOT NULL,
    name_key     text NOT NULL UNIQUE,     -- normalised legal name
    email_domain text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    customer_id  text PRIMARY KEY,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged', 'erased')),
    merged_into  text REFERENCES customers (customer_id),
    version      integer NOT NULL DEFAULT 1,
    golden       jsonb NOT NULL DEFAULT '{}'::jsonb,   -- field -> {value, source_system, source_id, last_seen}
    company_id   text REFERENCES companies (company_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE source_records (
    source_system text NOT NULL,
    source_id     text NOT NULL,
    customer_id   text NOT NULL REFERENCES customers (customer_id),
    raw           jsonb NOT NULL,          -- as received, passport number removed
    normalized    jsonb NOT NULL,
    problems      jsonb NOT NULL DEFAULT '{}'::jsonb,
    passport_hash text,
    match_rule    text NOT NULL,           -- how it was linked: source-link | identifier:<kind> | new
    match_score   real,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, source_id)
);
CREATE INDEX source_records_customer ON source_records (customer_id);

CREATE TABLE identifiers (
    kind          text NOT NULL,
    value         text NOT NULL,
    source_system text NOT NULL,
    source_id     text NOT NULL,
    customer_id   text NOT NULL REFERENCES customers (customer_id),
    PRIMARY KEY (kind, value, source_system, source_id)
);
CREATE INDEX identifiers_customer ON identifiers (customer_id);

CREATE TABLE bookings (
    source_system text NOT NULL,
    booking_id    text NOT NULL,
    customer_id   text NOT NULL REFERENCES customers (customer_id),
    status        text NOT NULL,
    summary       jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, booking_id)
);
CREATE INDEX bookings_customer ON bookings (customer_id, updated_at DESC);

CREATE TABLE customer_history (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    change      text NOT NULL,
    actor       text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX customer_history_customer ON customer_history (customer_id, at);
