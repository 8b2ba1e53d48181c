#!/usr/bin/env bash
# Times `make up` from a fresh clone (first and second run), and optionally `make test`.
#
#   bash bench/make_up_time.sh [clone-dir]          (WITH_TESTS=1 to time make test too)
#
# The clone runs its own Kafka and PostgreSQL on other ports (19092/19093, 55532), so a
# development infrastructure can keep running; the service ports (8001-8004) and the
# mail sink (1025) must be free, i.e. no `make up` running elsewhere. Package caches
# (pip, Maven) of this machine are used as they are: say so when reporting.
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
dir=${1:-$(mktemp -d)/itinera}
export ITINERA_KAFKA_PORT=19092 ITINERA_KAFKA_CONTROLLER_PORT=19093 ITINERA_PG_PORT=55532
export ITINERA_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092
git clone -q "$repo" "$dir"
cd "$dir"

timed() {  # label, command...: prints seconds, or fails showing the log tail
  local label=$1 start=$SECONDS; shift
  if ! "$@" >"$dir.$label.log" 2>&1; then
    tail -n 30 "$dir.$label.log" >&2
    echo "FAILED: $label (log $dir.$label.log)" >&2
    make down >/dev/null 2>&1 || true
    exit 1
  fi
  echo $((SECONDS - start))
}

first=$(timed up-first make up)
make down >/dev/null 2>&1
second=$(timed up-second make up)
make down >/dev/null 2>&1
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "make up, fresh clone, first run:  ${first} s"
echo "make up, same clone, second run:  ${second} s"
if [[ ${WITH_TESTS:-0} == 1 ]]; then
  tests=$(timed test make test)
  echo "make test (same clone, infrastructure installed): ${tests} s"
  make down >/dev/null 2>&1 || true
fi
