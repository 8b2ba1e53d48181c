-- Identity resolution at scale: blocking keys, match evidence, review queue, merges,
-- agent corrections, data quality, company aliases and domains.

-- The blocking index replaces the identifiers table: strong identifiers are blocking keys too.
DROP TABLE identifiers;

ALTER TABLE source_records
    ADD COLUMN features       jsonb NOT NULL DEFAULT '{}'::jsonb,  -- match forms of valid values
    ADD COLUMN match_evidence jsonb,                               -- per-field comparison of the link
    ADD COLUMN matched_to     jsonb;                               -- the source record it matched {source_system, source_id}

-- A record is compared only with records sharing one of its keys (an indexed lookup).
CREATE TABLE blocking_keys (
    key           text NOT NULL,
    source_system text NOT NULL,
    source_id     text NOT NULL,
    PRIMARY KEY (key, source_system, source_id)
);
CREATE INDEX blocking_keys_record ON blocking_keys (source_system, source_id);

ALTER TABLE customers
    ADD COLUMN quality jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX customers_merged_into ON customers (merged_into) WHERE merged_into IS NOT NULL;

ALTER TABLE bookings
    ADD COLUMN traveller_source_id text;   -- the source record (same source system) the booking came with
CREATE INDEX bookings_traveller ON bookings (source_system, traveller_source_id);

-- Pairs scored between the thresholds wait here for an agent.
CREATE TABLE review_queue (
    review_id      text PRIMARY KEY,
    customer_id    text NOT NULL,        -- the customer the new record now belongs to
    candidate_id   text NOT NULL,        -- the customer it may be a duplicate of
    source_system  text NOT NULL,
    source_id      text NOT NULL,
    score          real NOT NULL,
    evidence       jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected', 'superseded')),
    decided_by     text,
    decided_at     timestamptz,
    merge_id       text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX review_queue_open_pair ON review_queue (customer_id, candidate_id) WHERE status = 'open';
CREATE INDEX review_queue_status ON review_queue (status, created_at);

-- Pairs an agent declared to be different people: never proposed again.
CREATE TABLE distinct_pairs (
    customer_a  text NOT NULL,
    customer_b  text NOT NULL,
    decided_by  text,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_a, customer_b),
    CHECK (customer_a < customer_b)
);

-- Every merge with both customers exactly as they were before it, so it can be undone.
CREATE TABLE merges (
    merge_id     text PRIMARY KEY,
    survivor_id  text NOT NULL,
    absorbed_id  text NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('automatic', 'review', 'agent', 'split')),
    actor        text,
    pre_state    jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'undone')),
    merged_at    timestamptz NOT NULL DEFAULT now(),
    undone_at    timestamptz,
    undone_by    text
);
CREATE INDEX merges_survivor ON merges (survivor_id, merged_at DESC);
CREATE INDEX merges_absorbed ON merges (absorbed_id, merged_at DESC);

-- Agents' corrections of golden fields (they win until newer verified data arrives).
CREATE TABLE corrections (
    customer_id  text NOT NULL,
    field        text NOT NULL,
    value        jsonb NOT NULL,
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, field)
);

-- Email addresses that bounced permanently.
CREATE TABLE undeliverable_emails (
    email       text PRIMARY KEY,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quality_tasks (
    task_id      bigserial PRIMARY KEY,
    customer_id  text NOT NULL,
    kind         text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz
);
CREATE UNIQUE INDEX quality_tasks_open ON quality_tasks (customer_id, kind) WHERE status = 'open';
CREATE INDEX quality_tasks_status ON quality_tasks (status, created_at);

-- Companies are resolved like travellers: by source link, legal-name alias, or email domain.
CREATE TABLE company_aliases (
    alias_key   text PRIMARY KEY,
    company_id  text NOT NULL REFERENCES companies (company_id),
    alias       text NOT NULL
);
CREATE TABLE company_domains (
    domain      text PRIMARY KEY,
    company_id  text NOT NULL REFERENCES companies (company_id)
);
CREATE TABLE company_sources (
    source_system     text NOT NULL,
    source_company_id text NOT NULL,
    company_id        text NOT NULL REFERENCES companies (company_id),
    PRIMARY KEY (source_system, source_company_id)
);
INSERT INTO company_aliases (alias_key, company_id, alias) SELECT name_key, company_id, name FROM companies;
INSERT INTO company_domains (domain, company_id)
    SELECT DISTINCT ON (email_domain) email_domain, company_id FROM companies WHERE email_domain IS NOT NULL;

-- How many stored records carry each name part: exact agreement on a common name weighs less.
CREATE TABLE name_frequencies (
    token  text PRIMARY KEY,    -- "f:<family match form>", "g:<given match form>"
    count  bigint NOT NULL
);
