-- Tables every service has in its own schema: the transactional outbox, the record of
-- processed events (idempotent consumers) and the audit log of sensitive reads/writes.

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text        NOT NULL,          -- logical topic name; the relay adds the prefix
    key         bytea       NOT NULL,
    value       bytea,                         -- NULL is a tombstone (compacted topics)
    headers     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    event_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Wake the relay once per inserting statement, not once per row.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    principal   text        NOT NULL,
    role        text        NOT NULL,
    action      text        NOT NULL,
    subject_id  text,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    correlation_id text
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, at);
