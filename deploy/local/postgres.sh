#!/usr/bin/env bash
#
# deploy/local/postgres.sh - run a private PostgreSQL cluster natively, without
# Docker, for local development and tests.
#
#   bash deploy/local/postgres.sh start    start (or report), then apply init.sql
#   bash deploy/local/postgres.sh stop     fast shutdown (immediate after a bound)
#   bash deploy/local/postgres.sh status   exit 0 when running, 3 when not
#   bash deploy/local/postgres.sh reset    stop and delete the cluster
#
# The cluster is our own (initdb), not Debian's `main` one; it listens on
# 127.0.0.1:$PG_PORT only. Roles, database and schemas come from
# deploy/postgres/init.sql. See deploy/README.md.
#
# Where the cluster lives
# -----------------------
# PostgreSQL refuses to run as root, so when this script runs as root the
# server runs as the `postgres` OS user, which must be able to reach its data
# directory. The cluster therefore lives in <state>/postgres when `postgres`
# can traverse the path to the state directory (the usual case), and
# otherwise - e.g. a checkout under /root, mode 0700 - in
# /var/lib/postgresql/itinera-<hash of the state dir>, the postgres user's
# own home. Parent directories are never chmod'ed. A cluster already present
# in that fallback place keeps being used. Run as a normal user, the server
# simply runs as that user in <state>/postgres.
#
# The unix socket goes to <cluster>/run (owned by the server's OS user, mode
# 0700), or to /tmp/itinera-pg-<hash> when that path would exceed the
# ~107-byte limit of socket paths. Local socket connections are trusted
# (only the server's user and root can enter that directory); TCP needs a
# password (scram-sha-256).

set -euo pipefail

ITINERA_COMPONENT=postgres
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

SQL_DIR=$ITINERA_ROOT/deploy/postgres
PG_STATE=$STATE_DIR/postgres
PG_FALLBACK_BASE=/var/lib/postgresql/itinera-$(short_hash "$STATE_DIR")
PG_PREFERRED_MAJOR=15
# The superuser initdb creates; used over the unix socket only.
PG_BOOTSTRAP_USER=postgres
START_TIMEOUT=${ITINERA_PG_START_TIMEOUT:-60}
SHARED_BUFFERS=${ITINERA_PG_SHARED_BUFFERS:-1GB}

PG_BIN=
SERVER_USER=
PG_BASE=
PGDATA_DIR=
SOCKET_DIR=

# ------------------------------------------------------------ prerequisites ---

# as_server CMD...: run CMD as the server's OS user, from a directory it can
# read (avoids "could not change directory" noise).
as_server() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u "$SERVER_USER" -- "$@")
  else
    "$@"
  fi
}

# ensure_server: set PG_BIN to the server binaries (installing PostgreSQL
# when absent) and SERVER_USER to the OS user the server runs as.
ensure_server() {
  local major=${1:-}
  if [[ -z $major ]]; then
    if [[ -x /usr/lib/postgresql/$PG_PREFERRED_MAJOR/bin/initdb ]]; then
      major=$PG_PREFERRED_MAJOR
    else
      major=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        awk -F/ '{print $5}' | sort -n | tail -n1)
    fi
  fi
  if [[ -z $major ]]; then
    apt_install postgresql
    major=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' |
      awk -F/ '{print $5}' | sort -n | tail -n1)
  elif [[ ! -x /usr/lib/postgresql/$major/bin/initdb ]]; then
    apt_install "postgresql-$major"
  fi
  PG_BIN=/usr/lib/postgresql/$major/bin
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL server binaries not found"

  if [[ $EUID -eq 0 ]]; then
    SERVER_USER=postgres
    id -u "$SERVER_USER" >/dev/null 2>&1 || die "OS user '$SERVER_USER' missing (the postgresql package creates it)"
  else
    SERVER_USER=$(id -un)
  fi
}

# choose_location: set PG_BASE, PGDATA_DIR and SOCKET_DIR (see header).
choose_location() {
  if [[ $EUID -ne 0 ]]; then
    PG_BASE=$PG_STATE
  elif [[ -f $PG_FALLBACK_BASE/data/PG_VERSION ]]; then
    PG_BASE=$PG_FALLBACK_BASE
  else
    mkdir -p -- "$PG_STATE"
    chown "$SERVER_USER:" "$PG_STATE"
    chmod 0700 "$PG_STATE"
    if as_server test -w "$PG_STATE" -a -x "$PG_STATE"; then
      PG_BASE=$PG_STATE
    else
      PG_BASE=$PG_FALLBACK_BASE
    fi
  fi
  PGDATA_DIR=$PG_BASE/data
  SOCKET_DIR=$PG_BASE/run
  if ((${#SOCKET_DIR} + ${#PG_PORT} + 12 > 100)); then
    SOCKET_DIR=/tmp/itinera-pg-$(short_hash "$STATE_DIR")
  fi
}

# make_server_dir DIR: create DIR owned by the server's OS user, mode 0700.
make_server_dir() {
  local dir=$1 owner
  mkdir -p -- "$dir"
  owner=$(stat -c %U -- "$dir")
  if [[ $owner != "$SERVER_USER" ]]; then
    if [[ $EUID -eq 0 ]]; then
      chown "$SERVER_USER:" "$dir"
    else
      die "$dir is owned by $owner, not $SERVER_USER"
    fi
  fi
  chmod 0700 "$dir"
}

# existing_major: the major version of an existing cluster, if any.
existing_major() {
  local base
  for base in "$PG_FALLBACK_BASE" "$PG_STATE"; do
    if [[ -f $base/data/PG_VERSION ]]; then
      cat -- "$base/data/PG_VERSION"
      return 0
    fi
  done
}

# --------------------------------------------------------------- cluster ---

init_cluster() {
  [[ -f $PGDATA_DIR/PG_VERSION ]] && return 0
  log "creating cluster in $PGDATA_DIR"
  make_server_dir "$PG_BASE"
  make_server_dir "$PGDATA_DIR"
  as_server "$PG_BIN/initdb" -D "$PGDATA_DIR" -U "$PG_BOOTSTRAP_USER" \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
    --no-sync --no-instructions >"$PG_BASE/initdb.log" 2>&1 ||
    {
      show_log_tail "$PG_BASE/initdb.log"
      die "initdb failed"
    }
  # Our settings live in itinera.conf, rewritten on every start.
  printf "\n# Local Itinera settings (deploy/local/postgres.sh)\ninclude_if_exists = 'itinera.conf'\n" \
    >>"$PGDATA_DIR/postgresql.conf"
}

# write_config: settings and client authentication for the current port.
write_config() {
  local tmp statements=""
  [[ -f "$PG_BIN/../lib/pg_stat_statements.so" ]] &&
    statements="shared_preload_libraries = 'pg_stat_statements'"
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# Written by deploy/local/postgres.sh on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 200
# The shared lock table holds max_locks_per_transaction x max_connections locks; a profile
# batch takes up to 4,096 identity locks, so the default (64) leaves room for about three
# concurrent batches in the whole cluster. 256 leaves room for a dozen.
max_locks_per_transaction = 256
# The profile service's 1M-customer benchmark database is ~6 GB; the indexes every
# resolution walks (blocking-key hashes, source-record and customer keys) are ~0.7 GB and
# did not fit in the default 128MB. 1GB holds them on a development machine with a few GB
# of RAM to spare (takes effect at the cluster's next start).
shared_buffers = $SHARED_BUFFERS
# Imports and the benchmarks write gigabytes: with the default 1GB of WAL between
# checkpoints, the server logged "checkpoints are occurring too frequently" (5 s apart)
# and wrote the same hot index pages out again at every checkpoint.
max_wal_size = 4GB
# The outbox tables are rewritten every few seconds (rows inserted, published, deleted); with the
# default 1 min between autovacuum's looks at a database they bloated to 100 MB of dead rows
# under load. 10 s keeps them small (their own thresholds: kit migration 0005).
autovacuum_naptime = 10s
# Per-statement counts and times for operations and benchmarks (read them after
# CREATE EXTENSION pg_stat_statements in a database), where the module is installed.
$statements
password_encryption = scram-sha-256
timezone = 'UTC'
# Disposable local data: trade crash safety for speed (tests create and drop
# many databases). A clean stop still keeps everything; after a machine
# crash, \`postgres.sh reset\` if the cluster will not start.
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  install -m 0600 -o "$SERVER_USER" "$tmp" "$PGDATA_DIR/itinera.conf"
  cat >"$tmp" <<'EOF'
# Written by deploy/local/postgres.sh on every start; edits are lost.
# TYPE  DATABASE  USER  ADDRESS        METHOD
# The socket directory is reachable only by the server's OS user (and root).
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
  install -m 0600 -o "$SERVER_USER" "$tmp" "$PGDATA_DIR/pg_hba.conf"
  rm -f -- "$tmp"
}

server_running() {
  [[ -f $PGDATA_DIR/PG_VERSION ]] && as_server "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1
}

server_pid() { head -n1 -- "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true; }

# wait_ready: bounded wait until the server accepts connections over TCP.
wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    if ((SECONDS >= deadline)); then
      show_log_tail "$PG_BASE/postgres.log"
      die "not ready after ${START_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

# apply_sql: create/refresh roles, database `itinera` and schemas (idempotent).
apply_sql() {
  PGOPTIONS='-c client_min_messages=warning' \
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" \
    -U "$PG_BOOTSTRAP_USER" -d postgres -f "$SQL_DIR/init.sql" >/dev/null
}

# ---------------------------------------------------------------- commands ---

cmd_start() {
  ensure_server "$(existing_major)"
  mkdir -p -- "$STATE_DIR"
  exec 9>"$STATE_DIR/.postgres.lock"
  flock -w 300 9 || die "another postgres.sh holds $STATE_DIR/.postgres.lock"
  choose_location

  if server_running; then
    log "already running (pid $(server_pid)) on 127.0.0.1:$PG_PORT"
  else
    if port_open "$PG_PORT"; then
      die "127.0.0.1:$PG_PORT is in use by another process (set ITINERA_PG_PORT?)"
    fi
    init_cluster
    make_server_dir "$SOCKET_DIR"
    write_config
    log "starting on 127.0.0.1:$PG_PORT (data in $PGDATA_DIR)"
    # setsid: the server gets its own session and outlives this shell.
    if ! as_server setsid -w "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_BASE/postgres.log" \
      -w -t "$START_TIMEOUT" start >/dev/null 9>&-; then
      show_log_tail "$PG_BASE/postgres.log"
      die "pg_ctl start failed"
    fi
  fi
  wait_ready
  apply_sql
  log "ready on 127.0.0.1:$PG_PORT: database itinera, superuser itinera_admin/itinera_admin"
}

# have_cluster: true when a cluster exists and its binaries are installed;
# then sets PG_BIN, SERVER_USER and the locations (never installs anything).
have_cluster() {
  local major
  major=$(existing_major)
  [[ -n $major && -x /usr/lib/postgresql/$major/bin/pg_ctl ]] || return 1
  ensure_server "$major"
  choose_location
}

cmd_stop() {
  if ! have_cluster; then
    log "not running (no cluster)"
    return 0
  fi
  if ! server_running; then
    log "not running"
    return 0
  fi
  log "stopping (pid $(server_pid))"
  if ! as_server "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null; then
    log "fast shutdown timed out; using immediate mode"
    as_server "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 30 stop >/dev/null
  fi
  log "stopped"
}

cmd_status() {
  if ! have_cluster; then
    log "not running (no cluster)"
    return 3
  fi
  if server_running; then
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
      log "running (pid $(server_pid)) on 127.0.0.1:$PG_PORT; data in $PGDATA_DIR"
    else
      log "running (pid $(server_pid)) but not accepting connections on 127.0.0.1:$PG_PORT yet"
    fi
    return 0
  fi
  log "not running (data dir $PGDATA_DIR)"
  return 3
}

cmd_reset() {
  cmd_stop
  rm -rf -- "$PG_STATE" "$PG_FALLBACK_BASE" "/tmp/itinera-pg-$(short_hash "$STATE_DIR")"
  log "cluster deleted"
}

usage() {
  sed -n '6,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  *) usage ;;
esac
