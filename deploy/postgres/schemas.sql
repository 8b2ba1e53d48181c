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
  services text[] := ARRAY['profile', 'preferences', 'feedback', 'notifications', 'value'];
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
