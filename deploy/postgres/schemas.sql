-- deploy/postgres/schemas.sql - per-database layout for Itinera.
--
-- Plain SQL, idempotent, run as a superuser INSIDE the target database: the
-- `itinera` database (init.sql does that) or any throwaway database a test
-- creates. Needs the roles from roles.sql.
--
-- One schema per service, owned by that service's role. Nobody else has any
-- right on it, and nobody may create objects in `public`.

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
DECLARE
  svc   text;
  other text;
  services text[] := ARRAY['profile', 'preferences', 'feedback', 'notifications', 'value', 'privacy', 'trips'];
BEGIN
  FOREACH svc IN ARRAY services LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = svc) THEN
      EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', svc, 'itinera_' || svc);
    END IF;
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', svc, 'itinera_' || svc);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', svc);
    FOREACH other IN ARRAY services LOOP
      IF other <> svc THEN
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', svc, 'itinera_' || other);
      END IF;
    END LOOP;
  END LOOP;
END
$$;

-- Extensions the services use live in a schema of their own, which every service role may
-- use but none may change: creating an extension takes a superuser, so it happens here.
-- pg_trgm (PostgreSQL's contrib, in Debian's postgresql package and the postgres image):
-- the profile service's traveller search (trigram word similarity: typos, fragments).
CREATE SCHEMA IF NOT EXISTS extensions;
REVOKE ALL ON SCHEMA extensions FROM PUBLIC;
DO $$
DECLARE
  svc text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
    ALTER EXTENSION pg_trgm SET SCHEMA extensions;  -- a no-op where it is already
  ELSE
    CREATE EXTENSION pg_trgm WITH SCHEMA extensions;
  END IF;
  FOREACH svc IN ARRAY ARRAY['profile', 'preferences', 'feedback', 'notifications'] LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA extensions TO %I', 'itinera_' || svc);
  END LOOP;
END
$$;

-- The keyring (crypto-shredding): one schema shared by every service, owned by the group role
-- itinera_keyring (roles.sql) whose members the service roles are. The first service to start
-- creates its table (services/kit/keyring.py).
CREATE SCHEMA IF NOT EXISTS keyring AUTHORIZATION itinera_keyring;
ALTER SCHEMA keyring OWNER TO itinera_keyring;
REVOKE ALL ON SCHEMA keyring FROM PUBLIC;
