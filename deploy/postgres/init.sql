-- deploy/postgres/init.sql - bootstrap Itinera's roles, database and schemas.
--
-- A psql script (uses \ir, \gexec, \connect), idempotent, run as a superuser
-- connected to the `postgres` database:
--   * locally by deploy/local/postgres.sh start (every start);
--   * in Docker by docker-initdb.sh from /docker-entrypoint-initdb.d.
-- roles.sql and schemas.sql are plain SQL and can be run on their own, e.g.
-- schemas.sql inside a test's throwaway database.

\set ON_ERROR_STOP on

\ir roles.sql

SELECT 'CREATE DATABASE itinera OWNER itinera_admin ENCODING ''UTF8'''
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'itinera')
\gexec

\connect itinera

\ir schemas.sql
