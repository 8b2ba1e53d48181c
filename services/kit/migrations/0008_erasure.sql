-- Erasure (GDPR art. 17), the part every service keeps in its own schema.
-- `erased_subjects`: keyed digests (HMAC-SHA256) of the ids erased here, so that an event for an
-- erased id that arrives after the erasure (a booking in flight) is dropped instead of bringing the
-- traveller back. `erasure_log`: that an erasure happened here, when, and how much it removed —
-- never whom (no id, no personal value).
CREATE TABLE erased_subjects (
    digest      text        PRIMARY KEY,
    erasure_id  text        NOT NULL,
    erased_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE erasure_log (
    erasure_id   text        PRIMARY KEY,
    subjects     integer     NOT NULL,
    rows_erased  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    completed_at timestamptz NOT NULL DEFAULT now()
);
