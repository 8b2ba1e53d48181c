-- Rates are cached in memory by each process; this version moves with every change of fx_rates
-- (whoever makes it: the API, the CLI, plain SQL), so a cache sees a load at its next batch.
-- Concurrent loads queue on the one row, so the version grows in commit order.
CREATE TABLE fx_rates_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint  NOT NULL
);
INSERT INTO fx_rates_version (version) VALUES (0);

CREATE FUNCTION fx_rates_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fx_rates_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER fx_rates_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fx_rates
    FOR EACH STATEMENT EXECUTE FUNCTION fx_rates_changed();

-- How many bookings a company's ledger held at its last evaluation: a large company waits longer
-- before its next re-evaluation (each one reads its whole ledger), see `company_delay_bookings`.
ALTER TABLE company_value ADD COLUMN bookings integer NOT NULL DEFAULT 0;
