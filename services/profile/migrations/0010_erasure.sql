-- Erasure: the subjects whose event keys are to be destroyed (crypto-shredding), recorded by the
-- erasure in the same transaction as the rows it removes. A subject is a Kafka record key: a
-- customer id, or `<source_system>:<booking_id>` of a booking event. Pseudonymous keys, no
-- personal value; a row is marked shredded once its key is gone.
CREATE TABLE shred_requests (
    subject      text        PRIMARY KEY,
    erasure_id   text        NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    shredded_at  timestamptz
);
