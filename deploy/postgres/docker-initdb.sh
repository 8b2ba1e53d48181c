#!/usr/bin/env bash
#
# deploy/postgres/docker-initdb.sh - bootstrap hook for the official postgres
# image. docker-compose.yml mounts deploy/postgres at /opt/itinera/postgres and
# this file as /docker-entrypoint-initdb.d/10-itinera.sh; the entrypoint runs
# it once, on an empty data directory, with a temporary socket-only server.
#
# The entrypoint may source this file rather than execute it, so the work is
# done in a subshell: its shell options must not leak into the entrypoint.

(
  set -euo pipefail
  psql -X -q -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -f "${ITINERA_SQL_DIR:-/opt/itinera/postgres}/init.sql"
)
