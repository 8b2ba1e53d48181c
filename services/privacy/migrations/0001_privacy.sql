-- Privacy: erasure requests (GDPR art. 17) and each service's progress on them.
-- What the law asks to keep — that an erasure happened, when, by whom and why — and nothing
-- about whom: the traveller is named only by a keyed digest of the id asked for.

CREATE TABLE erasures (
    erasure_id      text        PRIMARY KEY,
    subject_digest  text        NOT NULL,      -- HMAC-SHA256 of the requested customer id (ITINERA_ERASURE_KEY)
    reason          text        NOT NULL,      -- a reason code (ErasureReasonV1)
    note            text,                      -- the requester's note: no personal data
    requested_by    text        NOT NULL,
    requested_role  text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    completed_at    timestamptz                -- when the last service reported its step done
);
CREATE INDEX erasures_subject ON erasures (subject_digest);
CREATE INDEX erasures_requested ON erasures (requested_at DESC);

CREATE TABLE erasure_steps (
    erasure_id    text        NOT NULL REFERENCES erasures (erasure_id),
    service       text        NOT NULL,
    customer_ids  integer     NOT NULL,        -- how many ids the service erased
    rows_erased   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    completed_at  timestamptz NOT NULL,
    reported_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (erasure_id, service)
);
