#!/usr/bin/env bash
# make demo: three Conclave agents with real PostgreSQL 15 on 127.0.0.1,
# under a temporary folder. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/conclave
source scripts/lib.sh
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

if [ ! -x "$PG_BIN/postgres" ]; then
  echo "demo: PostgreSQL 15 server binaries not found in $PG_BIN; install them with 'apt-get install postgresql-15' (or set PG_BIN)" >&2
  exit 1
fi
run_as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || { echo "demo: running as root needs the postgres OS user (apt-get install postgresql-15 creates it)" >&2; exit 1; }
  run_as=(runuser -u postgres --)
fi

W=$(mktemp -d /tmp/conclave-demo.XXXXXX)
chmod 755 "$W"
cp "$BIN" "$W/conclave"
BIN=$W/conclave
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo cluster..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in 1 2 3; do
    if [ -f "$W/node$i/data/postmaster.pid" ]; then
      "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$W/node$i/data" stop -m immediate >/dev/null 2>&1 || true
    fi
    # An agent that died leaves its watchdog process behind on purpose.
    wd=$(cat "$W/node$i/raft/watchdog.pid" 2>/dev/null || true)
    if [ -n "$wd" ] && grep -qa "watchdog" "/proc/$wd/cmdline" 2>/dev/null; then kill -TERM "$wd" 2>/dev/null || true; fi
  done
  rm -rf "$W"
  echo "removed $W"
}
trap cleanup INT TERM EXIT

# The Raft port runs mutual TLS: a CA and one certificate per node (README,
# "Raft port security").
RAFT_TLS_DIR=$W/tls
mkdir -p "$RAFT_TLS_DIR"
"$BIN" tls ca create --dir "$RAFT_TLS_DIR" >/dev/null
for i in 1 2 3; do "$BIN" tls cert create --dir "$RAFT_TLS_DIR" "node$i" >/dev/null; done
export RAFT_TLS_DIR
echo "Raft port TLS: CA and node certificates in $RAFT_TLS_DIR"

# Ports: PostgreSQL 254x1.., REST 258x1.., Raft 259x1.. (pick a free base).
start_three "$W" "$BIN" demo md5
base=$BASE
echo "starting three agents under $W (logs: $W/node*/agent.log) ..."

ready=""
streaming_for=0
for _ in $(seq 1 180); do
  out=$("$BIN" -c "$W/node1/conclave.yml" list 2>/dev/null || true)
  if [ "$(grep -c '| Leader  | running' <<<"$out")" = 1 ] && [ "$(grep -c 'streaming' <<<"$out")" = 2 ]; then
    # A replica's first report can predate its catching up (a lag of 16 MB
    # on an idle cluster); give the reports a few seconds to show lag 0.
    streaming_for=$((streaming_for + 1))
    if [ "$(grep -cE '\| streaming \| +[0-9]+ \| +0 \|' <<<"$out")" = 2 ] || [ "$streaming_for" -ge 10 ]; then ready=1; break; fi
  fi
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "demo: an agent exited; see $W/node*/agent.log" >&2; tail -n 20 "$W"/node*/agent.log >&2; exit 1; }; done
  sleep 1
done
[ -n "$ready" ] || { echo "demo: the cluster did not become healthy in 180 s; last log lines:" >&2; tail -n 20 "$W"/node*/agent.log >&2; exit 1; }

echo
"$BIN" -c "$W/node1/conclave.yml" list
echo
for i in 1 2 3; do echo "node$i REST API: http://127.0.0.1:$((base + 100 + i))/patroni   PostgreSQL: 127.0.0.1:$((base + i))"; done
echo
echo "try:  $BIN -c $W/node1/conclave.yml list"
echo "      curl -s http://127.0.0.1:$((base + 101))/cluster"
echo "      psql 'host=127.0.0.1,127.0.0.1,127.0.0.1 port=$((base + 1)),$((base + 2)),$((base + 3)) user=postgres password=postgres target_session_attrs=read-write'"
echo
echo "Ctrl-C stops the cluster and removes $W"
wait
