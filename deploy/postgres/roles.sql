-- deploy/postgres/roles.sql - cluster-wide roles for Itinera (development).
--
-- Plain SQL, idempotent, run as a superuser in any database (roles are
-- cluster-wide). Re-running resets the dev passwords and attributes.
--
--   itinera_admin          SUPERUSER, password itinera_admin: local/dev only;
--                          tests use it to create and drop throwaway databases
--   itinera_<service>      LOGIN, password = role name, one per service;
--                          its search_path is its own schema (schemas.sql)

DO $$
DECLARE
  svc  text;
  role text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'itinera_admin') THEN
    CREATE ROLE itinera_admin LOGIN SUPERUSER PASSWORD 'itinera_admin';
  ELSE
    ALTER ROLE itinera_admin LOGIN SUPERUSER PASSWORD 'itinera_admin';
  END IF;

  FOREACH svc IN ARRAY ARRAY['profile', 'preferences', 'feedback', 'notifications', 'value', 'privacy', 'trips'] LOOP
    role := 'itinera_' || svc;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN
      EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', role, role);
    END IF;
    EXECUTE format(
      'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
      role, role);
    EXECUTE format('ALTER ROLE %I SET search_path = %I', role, svc);
  END LOOP;
END
$$;

-- itinera_keyring: owns the schema `keyring` (per-traveller data keys for crypto-shredding, shared by
-- every service: see services/kit/keyring.py). NOLOGIN; every service role is a member, so each may
-- create the table at its first start and use it, whichever service came first.
DO $$
DECLARE
  role text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'itinera_keyring') THEN
    CREATE ROLE itinera_keyring NOLOGIN;
  END IF;
  FOR role IN
    SELECT rolname FROM pg_roles
     WHERE rolname LIKE 'itinera\_%' AND rolname NOT IN ('itinera_admin', 'itinera_keyring')
  LOOP
    EXECUTE format('GRANT itinera_keyring TO %I', role);
  END LOOP;
END
$$;
