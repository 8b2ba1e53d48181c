#!/usr/bin/env bash
# deploy/local/services.sh - run Itinera's five services a local mail sink and a channel sink (SMS, webhooks)
# as background processes, without Docker.
#
#   bash deploy/local/services.sh start|stop|status
#
# Each service runs `python -m services.<name> serve` (API + consumers + outbox relay)
# from the project's virtualenv, logs to $STATE_DIR/logs/<name>.log and keeps its pid
# in $STATE_DIR/run/<name>.pid. Starting twice does not start twice. The mail sink is
# a real SMTP server (aiosmtpd, with SMTPUTF8 for internationalised addresses) on
# 127.0.0.1:1025 writing a Maildir under
# $STATE_DIR/mail, so confirmation emails can be read locally. The channel sink
# (deploy/local/sinks.py) on 127.0.0.1:1080 takes texts the way an SMS provider's API
# does and webhook posts at /webhooks/<name>, writing each under $STATE_DIR/sinks.
set -euo pipefail
ITINERA_COMPONENT=services
# shellcheck source=deploy/local/env.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/env.sh"

PY=${ITINERA_PYTHON:-$ITINERA_ROOT/.venv/bin/python}
RUN_DIR=$STATE_DIR/run
LOG_DIR=$STATE_DIR/logs
MAIL_DIR=$STATE_DIR/mail
SMTP_PORT=${ITINERA_SMTP_PORT:-1025}
SINK_DIR=$STATE_DIR/sinks
SINK_PORT=${ITINERA_SINK_PORT:-1080}
SERVICES=(profile preferences feedback notifications value privacy trips)
declare -A PORTS=([profile]=8001 [preferences]=8002 [feedback]=8003 [notifications]=8004 [value]=8005 [privacy]=8006 [trips]=8007)

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_one() {  # name, command...
  local name=$1; shift
  local pidfile=$RUN_DIR/$name.pid
  if alive "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  (cd "$ITINERA_ROOT" && exec setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null) &
  echo $! >"$pidfile"
  log "$name started (pid $!, log $LOG_DIR/$name.log)"
}

wait_ready() {  # name, port
  local name=$1 port=$2 deadline=$((SECONDS + 90))
  local path=/readyz
  [[ $name == console ]] && path=/healthz
  until "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$port$path" >/dev/null 2>&1; do
    if ! alive "$RUN_DIR/$name.pid"; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited during start-up"
    fi
    ((SECONDS < deadline)) || { tail -n 30 "$LOG_DIR/$name.log" >&2; die "$name not ready after 90 s"; }
    sleep 0.5
  done
}

cmd_start() {
  [[ -x $PY ]] || die "no virtualenv at $PY: run 'make venv' first"
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$MAIL_DIR"/{tmp,new,cur}
  start_one mailsink "$PY" -m aiosmtpd -n -u -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAIL_DIR"
  start_one channelsink "$PY" deploy/local/sinks.py --dir "$SINK_DIR" --port "$SINK_PORT"
  for svc in "${SERVICES[@]}"; do
    # Escalations whose assignee has no work address in the staff directory reach the demo's supervisors.
    start_one "$svc" env ITINERA_SMTP_HOST=127.0.0.1 ITINERA_SMTP_PORT="$SMTP_PORT" \
      ITINERA_NOTIFICATIONS_SMS_PROVIDER="${ITINERA_NOTIFICATIONS_SMS_PROVIDER:-http}" \
      ITINERA_NOTIFICATIONS_SMS_API_URL="${ITINERA_NOTIFICATIONS_SMS_API_URL:-http://127.0.0.1:$SINK_PORT}" \
      ITINERA_NOTIFICATIONS_STAFF_FALLBACK_EMAIL="${ITINERA_NOTIFICATIONS_STAFF_FALLBACK_EMAIL:-supervisors@itinera.example}" \
      "$PY" -m "services.$svc" serve
  done
  start_one console "$PY" -m services.console serve
  for svc in "${SERVICES[@]}"; do
    wait_ready "$svc" "${PORTS[$svc]}"
  done
  wait_ready console 8000
  log "all services ready"
}

stop_one() {
  local name=$1 pidfile=$RUN_DIR/$1.pid
  alive "$pidfile" || { rm -f "$pidfile"; return; }
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "$name stopped"
}

cmd_stop() {
  for svc in console trips privacy value notifications feedback preferences profile channelsink mailsink; do
    stop_one "$svc"
  done
}

cmd_status() {
  for svc in mailsink channelsink "${SERVICES[@]}" console; do
    if alive "$RUN_DIR/$svc.pid"; then echo "$svc: running (pid $(cat "$RUN_DIR/$svc.pid"))"; else echo "$svc: stopped"; fi
  done
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
