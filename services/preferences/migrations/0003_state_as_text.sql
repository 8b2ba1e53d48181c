-- customers.state and .published are only ever read and written whole by this service (they
-- are CustomerPreferences.to_json() and the last published form), never queried inside. As
-- text they are stored as written: PostgreSQL no longer converts them to jsonb on every write
-- and back to text on every read (the read alone cost ~30 us of server CPU per customer, out
-- of ~45). The JSON is the same; only its spelling (spaces, key order) becomes the writer's.
ALTER TABLE customers
    ALTER COLUMN state DROP DEFAULT,
    ALTER COLUMN state TYPE text USING state::text,
    ALTER COLUMN state SET DEFAULT '{}',
    ALTER COLUMN published TYPE text USING published::text;

DO $$
BEGIN
    ALTER TABLE customers ALTER COLUMN state SET COMPRESSION lz4, ALTER COLUMN published SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'LZ4 compression is not available here: customers keep pglz';
END $$;
