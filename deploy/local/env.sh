# shellcheck shell=bash
#
# deploy/local/env.sh - settings and helpers shared by the local (Docker-free)
# infrastructure scripts. Source it, don't run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
#
# Everything is derived from this file's location or from ITINERA_* variables,
# so the repository can live anywhere.
#
#   ITINERA_STATE_DIR             state directory        (default <repo>/.state)
#   ITINERA_KAFKA_PORT            Kafka PLAINTEXT port   (default 9092)
#   ITINERA_KAFKA_CONTROLLER_PORT KRaft controller port  (default 9093)
#   ITINERA_PG_PORT               PostgreSQL TCP port    (default 55432)

# Repository root: two levels above this file (deploy/local/env.sh).
ITINERA_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)

STATE_DIR=${ITINERA_STATE_DIR:-$ITINERA_ROOT/.state}
case $STATE_DIR in
  /*) ;;
  *) STATE_DIR=$PWD/$STATE_DIR ;;
esac

KAFKA_PORT=${ITINERA_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${ITINERA_KAFKA_CONTROLLER_PORT:-9093}
PG_PORT=${ITINERA_PG_PORT:-55432}

export ITINERA_ROOT STATE_DIR KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT

# ---------------------------------------------------------------- helpers ---

# log/die print with the calling script's name as a prefix.
log() { printf '[%s] %s\n' "${ITINERA_COMPONENT:-itinera}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  # shellcheck disable=SC2016 # \$1 expands in the inner shell
  timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# pid_alive PID: true when the process exists (and is not a zombie).
pid_alive() {
  [[ -n ${1:-} && -d /proc/$1 ]] || return 1
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

# apt_install PKG...: install Debian packages (root, or sudo when available).
# The package lists are refreshed once per script run; another install holding
# the package lock is waited for (up to 10 minutes), not failed on.
_ITINERA_APT_UPDATED=
apt_install() {
  local -a sudo=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  log "installing $* with apt-get (one-time)"
  if [[ -z $_ITINERA_APT_UPDATED ]]; then
    local try
    for try in $(seq 1 60); do  # the lists' lock is not covered by DPkg::Lock::Timeout everywhere
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq && break
      ((try < 60)) || die "apt-get update kept failing"
      log "apt-get update failed (another install running?); trying again in 10 s"
      sleep 10
    done
    _ITINERA_APT_UPDATED=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --no-upgrade "$@" >/dev/null
}

# show_log_tail FILE [LINES]: dump the end of a log file to stderr.
show_log_tail() {
  local file=$1 lines=${2:-40}
  if [[ -r $file ]]; then
    log "last $lines lines of $file:"
    tail -n "$lines" "$file" >&2
  else
    log "(no log at $file)"
  fi
}

# short_hash STRING: 12 hex characters identifying STRING (e.g. a path).
short_hash() { printf '%s' "$1" | sha256sum | cut -c1-12; }
