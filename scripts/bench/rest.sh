#!/usr/bin/env bash
# REST health-check throughput: a three-node cluster on 127.0.0.1 (PostgreSQL 15),
# then wrk against one node's health endpoints, each run right after a run
# against a trivial Go net/http handler (scripts/bench/bare) on the same machine,
# so the ratio holds even on a busy shared machine.
#
#   make build && ./scripts/bench/rest.sh        # as root (agents run as postgres) or a normal user
#
# Env: ROUNDS (alternations per figure, default 2), DURATION (wrk -d, default 10s),
#      CONNS (default "8 50"), THREADS (wrk -t, default 2), PG_BIN, CONCLAVE_BIN,
#      KEEP_WORKDIR=1. Prints one line per figure: median req/s, p99, and the
#      median of the per-round ratios to the bare handler.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
source scripts/lib.sh
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
BIN=${CONCLAVE_BIN:-$REPO/bin/conclave}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-"8 50"}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "rest.sh: wrk is needed (apt-get install wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "rest.sh: $BIN missing: run make build" >&2; exit 1; }
run_as=()
[ "$(id -u)" = 0 ] && run_as=(runuser -u postgres --)

W=$(mktemp -d /tmp/conclave-rest-bench.XXXXXX)
chmod 755 "$W"
cp "$BIN" "$W/conclave"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for i in 1 2 3; do
    [ -f "$W/node$i/data/postmaster.pid" ] && "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$W/node$i/data" stop -m immediate >/dev/null 2>&1 || true
    wd=$(cat "$W/node$i/raft/watchdog.pid" 2>/dev/null || true)
    if [ -n "$wd" ] && grep -qa watchdog "/proc/$wd/cmdline" 2>/dev/null; then kill -TERM "$wd" 2>/dev/null || true; fi
  done
  [ "${KEEP_WORKDIR:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup INT TERM EXIT

go build -o "$W/bare" ./scripts/bench/bare
start_three "$W" "$W/conclave" restbench trust
base=$BASE
ready=""
for _ in $(seq 1 180); do
  out=$("$W/conclave" -c "$W/node1/conclave.yml" list 2>/dev/null || true)
  if [ "$(grep -c '| Leader  | running' <<<"$out")" = 1 ] && [ "$(grep -c streaming <<<"$out")" = 2 ]; then ready=1; break; fi
  sleep 1
done
[ -n "$ready" ] || { echo "rest.sh: cluster not healthy in 180 s" >&2; tail -n 20 "$W"/node*/agent.log >&2; exit 1; }
leader=""; replica=""
for i in 1 2 3; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 100 + i))/primary")
  if [ "$code" = 200 ]; then leader=$((base + 100 + i)); else replica=$((base + 100 + i)); fi
done
bport=$((base + 99))
"$W/bare" -listen "127.0.0.1:$bport" &
pids+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$bport/" >/dev/null && break; sleep 0.1; done

# wrk_run URL CONNS -> "rps p99_ms non2xx"
wrk_run() {
  local out rps p99 non
  out=$(wrk -t"$THREADS" -c"$2" -d"$DURATION" --latency "$1" 2>&1)
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' <<<"$out")
  non=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps $p99 ${non:-0}"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-34s %5s %10s %8s %10s %8s %8s\n' figure conns req/s p99_ms bare_req/s bare_p99 ratio
for c in $CONNS; do
  for fig in "leader /primary:$leader/primary" "replica /primary (503):$replica/primary" "replica /replica:$replica/replica" "leader /health:$leader/health"; do
    name=${fig%%:*}; target=${fig#*:}
    rs=(); ps=(); bs=(); bps=(); ratios=()
    for _ in $(seq 1 "$ROUNDS"); do
      read -r brps bp99 _ < <(wrk_run "http://127.0.0.1:$bport/" "$c")
      read -r rps p99 _ < <(wrk_run "http://127.0.0.1:$target" "$c")
      rs+=("$rps"); ps+=("$p99"); bs+=("$brps"); bps+=("$bp99"); ratios+=("$(awk -v a="$rps" -v b="$brps" 'BEGIN {printf "%.3f", a/b}')")
    done
    printf '%-34s %5s %10.0f %8.2f %10.0f %8.2f %8.2f\n' "$name" "$c" \
      "$(printf '%s\n' "${rs[@]}" | median)" "$(printf '%s\n' "${ps[@]}" | median)" \
      "$(printf '%s\n' "${bs[@]}" | median)" "$(printf '%s\n' "${bps[@]}" | median)" "$(printf '%s\n' "${ratios[@]}" | median)"
  done
done
