-- The local copy of the shared customer view, materialised from the compacted
-- snapshot topics (profile.customers.v1, preferences.snapshots.v1).
CREATE TABLE customer_view (
    kind         text        NOT NULL,       -- 'customer' | 'preferences'
    customer_id  text        NOT NULL,
    version      integer     NOT NULL,
    snapshot     jsonb,                      -- NULL when redirected
    redirect_to  text,                       -- set when merged into another customer
    event_id     uuid,
    occurred_at  timestamptz NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, customer_id)
);
