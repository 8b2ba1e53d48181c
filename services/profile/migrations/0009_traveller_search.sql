-- Traveller search (domain/search.py): each customer's names and company in one folded text,
-- searched with pg_trgm's trigram word similarity (typos) and word prefixes (fragments). The
-- extension is created by a superuser in the schema `extensions` (deploy/postgres/schemas.sql).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'pg_trgm' AND n.nspname = 'extensions') THEN
        RAISE EXCEPTION 'the profile service needs the pg_trgm extension in the schema "extensions"'
            USING HINT = 'run deploy/postgres/schemas.sql in this database as a superuser';
    END IF;
END
$$;

-- NULL until written: customers stored before this migration get theirs from the service's
-- background job (service_layer/search.py), a chunk at a time.
ALTER TABLE customers ADD COLUMN search_doc text;
CREATE INDEX customers_search ON customers USING gin (search_doc extensions.gin_trgm_ops) WHERE status = 'active';
