#!/usr/bin/env bash
#
# deploy/local/kafka.sh - run a single-node Apache Kafka (KRaft) natively,
# without Docker, for local development and tests.
#
#   bash deploy/local/kafka.sh start     start (or report the running broker)
#   bash deploy/local/kafka.sh stop      stop cleanly (SIGTERM, then SIGKILL)
#   bash deploy/local/kafka.sh status    exit 0 when running, 3 when not
#   bash deploy/local/kafka.sh reset     stop and delete the broker's data
#   bash deploy/local/kafka.sh topics ARGS...
#                                        kafka-topics against the local broker,
#                                        e.g. `topics --list`
#
# The broker jars come from Maven (deploy/kafka/pom.xml) into
# <state>/kafka/libs once (or into $ITINERA_KAFKA_LIBS, a directory several
# state directories may share, e.g. the fault harness's throwaway brokers);
# storage is formatted once with a persisted cluster id; the broker listens on
# 127.0.0.1:$KAFKA_PORT. See deploy/README.md.

set -euo pipefail

ITINERA_COMPONENT=kafka
# shellcheck source-path=SCRIPTDIR source=env.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

KAFKA_CONF_SRC=$ITINERA_ROOT/deploy/kafka
KAFKA_STATE=$STATE_DIR/kafka
# Jars are read-only once fetched: brokers of other state directories may use the same ones.
KAFKA_LIBS=${ITINERA_KAFKA_LIBS:-$KAFKA_STATE/libs}
KAFKA_DATA_DIR=$KAFKA_STATE/data
KAFKA_LOGS=$KAFKA_STATE/logs
KAFKA_PIDFILE=$KAFKA_STATE/kafka.pid
KAFKA_CONFIG=$KAFKA_STATE/server.properties
KAFKA_CLUSTER_ID_FILE=$KAFKA_STATE/cluster.id

# Modest heap: the same small machine runs PostgreSQL and the Python services.
KAFKA_HEAP_OPTS=${ITINERA_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
START_TIMEOUT=${ITINERA_KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${ITINERA_KAFKA_STOP_TIMEOUT:-30}

JAVA=

# ------------------------------------------------------------ prerequisites ---

# java_major JAVA_BIN: print the major version (8, 11, 17, ...) or nothing.
java_major() {
  local v
  v=$("$1" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1) || true
  [[ -n $v ]] || return 0
  case $v in
    1.*) v=${v#1.} ;;
  esac
  printf '%s\n' "${v%%[.+-]*}"
}

# ensure_java: set JAVA to a Java >= 17 binary, installing one if needed.
ensure_java() {
  local candidate major
  local -a candidates=()
  [[ -n ${JAVA_HOME:-} ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  candidates+=(/usr/lib/jvm/*/bin/java)
  for attempt in 1 2; do
    for candidate in "${candidates[@]}"; do
      [[ -x $candidate ]] || continue
      major=$(java_major "$candidate")
      if [[ -n $major ]] && ((major >= 17)); then
        JAVA=$candidate
        return 0
      fi
    done
    [[ $attempt -eq 1 ]] || break
    apt_install openjdk-17-jre-headless
    candidates=(/usr/lib/jvm/*/bin/java)
  done
  die "no Java >= 17 found (install openjdk-17-jre-headless)"
}

# fetch_jars: copy the broker's runtime classpath into $KAFKA_LIBS with Maven.
# Skipped when the jars were already fetched for the current pom.xml.
fetch_jars() {
  local stamp tmp mvn_log
  stamp=$(sha256sum "$KAFKA_CONF_SRC/pom.xml" | cut -d' ' -f1)
  if [[ -f $KAFKA_LIBS/.pom.sha256 && $(<"$KAFKA_LIBS/.pom.sha256") == "$stamp" ]]; then
    return 0
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    apt_install maven
  fi
  log "fetching Kafka jars with Maven (first run only; may take a few minutes)"
  tmp=$KAFKA_STATE/libs.tmp
  mvn_log=$KAFKA_STATE/mvn.log
  rm -rf -- "$tmp"
  # Maven picks its JDK from JAVA_HOME; point it at the one we checked.
  if ! JAVA_HOME=$(dirname -- "$(dirname -- "$(readlink -f -- "$JAVA")")") \
    mvn -B -f "$KAFKA_CONF_SRC/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
    show_log_tail "$mvn_log" 40
    die "Maven could not fetch the Kafka jars"
  fi
  printf '%s\n' "$stamp" >"$tmp/.pom.sha256"
  rm -rf -- "$KAFKA_LIBS"
  mv -- "$tmp" "$KAFKA_LIBS"
  log "jars ready in $KAFKA_LIBS ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

# render_config: write server.properties from the template for the current
# ports and state directory (cheap, so done on every start).
render_config() {
  local text var pattern
  text=$(<"$KAFKA_CONF_SRC/server.properties.template")
  for var in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_DATA_DIR; do
    pattern="\${$var}"
    text=${text//"$pattern"/"${!var}"}
  done
  # shellcheck disable=SC2016 # a literal '${'
  if [[ $text == *'${'* ]]; then
    die "unreplaced placeholder left in server.properties.template"
  fi
  printf '%s\n' "$text" >"$KAFKA_CONFIG.tmp"
  mv -- "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
}

# tool_cmd: set TOOL_CMD to a small, quick-starting JVM over the local jars,
# for Kafka's command line classes. run_tool CLASS ARGS... runs one.
tool_cmd() {
  TOOL_CMD=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_CONF_SRC/log4j2-tools.properties"
    -cp "$KAFKA_LIBS/*")
}
run_tool() {
  local -a TOOL_CMD
  tool_cmd
  "${TOOL_CMD[@]}" "$@"
}

# format_storage: format the KRaft log directory exactly once. The cluster id
# is generated on first use and kept in $KAFKA_CLUSTER_ID_FILE.
format_storage() {
  [[ -f $KAFKA_DATA_DIR/meta.properties ]] && return 0
  if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
    run_tool kafka.tools.StorageTool random-uuid >"$KAFKA_CLUSTER_ID_FILE.tmp"
    mv -- "$KAFKA_CLUSTER_ID_FILE.tmp" "$KAFKA_CLUSTER_ID_FILE"
  fi
  log "formatting storage in $KAFKA_DATA_DIR (cluster id $(<"$KAFKA_CLUSTER_ID_FILE"))"
  mkdir -p -- "$KAFKA_DATA_DIR"
  run_tool kafka.tools.StorageTool format --config "$KAFKA_CONFIG" \
    --cluster-id "$(<"$KAFKA_CLUSTER_ID_FILE")" --ignore-formatted >/dev/null
}

# ----------------------------------------------------------------- process ---

# broker_pid: print the pid of the broker started from this state directory,
# if it is alive; clean up a stale pid file otherwise.
broker_pid() {
  local pid
  [[ -f $KAFKA_PIDFILE ]] || return 1
  pid=$(<"$KAFKA_PIDFILE")
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f -- "$KAFKA_PIDFILE"
  return 1
}

# broker_answers: true when the broker serves metadata (lists topics).
broker_answers() {
  local -a TOOL_CMD
  tool_cmd
  timeout 20 "${TOOL_CMD[@]}" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
}

# wait_ready PID: wait (bounded) until the port is open and metadata answers.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! pid_alive "$pid"; then
      show_log_tail "$KAFKA_LOGS/server.log" 60
      show_log_tail "$KAFKA_LOGS/kafka.out" 20
      die "broker exited during startup"
    fi
    if port_open "$KAFKA_PORT" && broker_answers; then
      return 0
    fi
    sleep 0.5
  done
  show_log_tail "$KAFKA_LOGS/server.log" 60
  die "broker not ready after ${START_TIMEOUT}s (pid $pid still running; see $KAFKA_LOGS)"
}

# ---------------------------------------------------------------- commands ---

cmd_start() {
  local pid
  mkdir -p -- "$KAFKA_STATE" "$KAFKA_LOGS"
  # One start at a time per state directory. fd 9 is closed for the broker.
  exec 9>"$KAFKA_STATE/.lock"
  flock -w 300 9 || die "another kafka.sh holds $KAFKA_STATE/.lock"

  if pid=$(broker_pid); then
    log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    log "127.0.0.1:$KAFKA_PORT is already in use by a process this script did not start; leaving it alone"
    return 0
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is in use by another process"
  fi

  ensure_java
  fetch_jars
  render_config
  format_storage

  log "starting broker on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
  # setsid: the broker gets its own session, so it outlives this shell and
  # its terminal. The inner shell records its own pid, then execs java.
  # shellcheck disable=SC2086,SC2016 # KAFKA_HEAP_OPTS is a list of JVM flags;
  # $$, $1 and $@ expand in the inner shell.
  setsid bash -c 'echo "$$" >"$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
    "$JAVA" $KAFKA_HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_LOGS" \
    -Dlog4j2.configurationFile="$KAFKA_CONF_SRC/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" \
    </dev/null >"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &

  local waited=0
  until [[ -s $KAFKA_PIDFILE ]]; do
    ((waited++ < 50)) || die "broker process did not start"
    sleep 0.1
  done
  pid=$(<"$KAFKA_PIDFILE")
  wait_ready "$pid"
  log "ready (pid $pid) on 127.0.0.1:$KAFKA_PORT; logs in $KAFKA_LOGS"
}

cmd_stop() {
  local pid deadline
  if ! pid=$(broker_pid); then
    if port_open "$KAFKA_PORT"; then
      log "not started by this script, but 127.0.0.1:$KAFKA_PORT is in use; leaving it alone"
    else
      log "not running"
    fi
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if pid_alive "$pid"; then
    log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.2
    done
    pid_alive "$pid" && die "could not stop pid $pid"
  fi
  rm -f -- "$KAFKA_PIDFILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    if port_open "$KAFKA_PORT"; then
      log "running (pid $pid) on 127.0.0.1:$KAFKA_PORT; data in $KAFKA_DATA_DIR"
    else
      log "process $pid is up but 127.0.0.1:$KAFKA_PORT is not open (starting or stuck?)"
    fi
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    log "127.0.0.1:$KAFKA_PORT is open, but not by a broker this script started"
    return 0
  fi
  log "not running"
  return 3
}

cmd_reset() {
  cmd_stop
  # Keep the downloaded jars (libs/): only the broker's state goes.
  rm -rf -- "$KAFKA_DATA_DIR" "$KAFKA_LOGS" "$KAFKA_CLUSTER_ID_FILE" "$KAFKA_CONFIG"
  log "data deleted ($KAFKA_STATE, jars kept)"
}

cmd_topics() {
  ensure_java
  fetch_jars
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"
}

usage() {
  sed -n '6,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    topics) cmd_topics "$@" ;;
    *) usage ;;
  esac
}

main "$@"
