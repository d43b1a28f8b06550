#!/usr/bin/env bash
# make bench: Conclave's figures measured the way /work/shared/bench/patroni measures
# Patroni (three nodes, PostgreSQL 15, 127.0.0.1 only), printed next to the figures of
# a Patroni run made beside it (that anchor's results.jsonl, never its README) with the ratio.
#
#   ./scripts/bench.sh              # as root (agents run as the postgres OS user) or a normal user
#   ./scripts/bench.sh switchover   # bootstrap rounds, then RUNS planned switchovers: write gap (scripts/bench/switchover.sh)
#   ./scripts/bench.sh soak         # soak: a fresh healthy cluster left alone for SOAK_S seconds while
#                                   # pgbench (-c 4 -j 2 on the leader) and two CPU burners keep both cores
#                                   # busy; counts false failovers (leader member or timeline changes),
#                                   # Raft term changes, fence events; pgbench tps. Exit 0 either way.
#
# Env: RUNS (rounds of each of: PostgreSQL crash, failover async, failover synchronous mode;
#      default 10), BOOT_RUNS (default 3),
#      JITTER (1: sleep a random 0..1 s (loop_wait) before each kill; 0: none),
#      OUTDIR (default /tmp/conclave-bench-out: results.jsonl, table.md, logs/),
#      PATRONI_BENCH (default ../shared/bench/patroni: writer.py, analyze.py, run.sh),
#      PATRONI_RESULTS (the anchor's results.jsonl, default /tmp/anchor-patroni-out/results.jsonl),
#      PATRONI_RUN (1: run "$PATRONI_BENCH/run.sh default" with the same RUNS/BOOT_RUNS first, as root,
#      so both columns come from the same hour; alternate: RUNS blocks of one round of Patroni and one of
#      Conclave in turn (ABBA, scripts/bench/alternate.sh), so both see the same load even on a busy
#      machine; 0 (default): read PATRONI_RESULTS from an earlier run;
#      the table says when that run was made, or leaves the Patroni column empty without one),
#      CONCLAVE_BIN (default bin/conclave), KEEP_WORKDIR=1 (keep the work dir for inspection),
#      PG_BIN, BOOT_TIMEOUT (180), HEALTH_TIMEOUT (120), RTO_TIMEOUT (60), REJOIN_TIMEOUT (120), IDLE_S (10).
# Soak env: SOAK_S (default 600), SOAK_SCALE (pgbench -i -s, default 10), OUTDIR (default
#      /tmp/conclave-soak-out: results.jsonl, soak-samples.jsonl, pgbench.log, logs/),
#      SOAK_WAIT_TESTS (other engineers' integration tests / go test runs: seconds to wait for them,
#      polling every 30 s, then SOAK_QUIET_S (60) without any before starting; one starting during
#      the soak aborts it (load stopped at once) and it starts again later; default 2400; 0: neither
#      wait nor abort, only flag). The Patroni anchor is not needed.
# Conclave runs with its default dynamic config (ttl 3, loop_wait 1, retry_timeout 1).
set -uo pipefail   # no -e: a failed round is reported and the run goes on
cd "$(dirname "$0")/.."
MODE=${1:-bench}
case $MODE in bench|soak|switchover) ;; *) echo "usage: $0 [soak|switchover]" >&2; exit 2 ;; esac
REPO=$PWD
HERE=$REPO/scripts/bench
# shellcheck source=lib.sh
source "$REPO/scripts/lib.sh"
SRC_BIN=${CONCLAVE_BIN:-$REPO/bin/conclave}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# ../shared next to the main checkout: in a git worktree that is next to the
# repository the worktree belongs to, not next to the worktree.
MAIN_CHECKOUT=$(cd "$(git -C "$REPO" rev-parse --git-common-dir 2>/dev/null || echo .git)/.." 2>/dev/null && pwd || echo "$REPO")
ANCHOR=${PATRONI_BENCH:-$MAIN_CHECKOUT/../shared/bench/patroni}
PATRONI_RESULTS=${PATRONI_RESULTS:-/tmp/anchor-patroni-out/results.jsonl}
RUNS=${RUNS:-10}
BOOT_RUNS=${BOOT_RUNS:-3}
JITTER=${JITTER:-1}
if [ "$MODE" = switchover ]; then OUTDIR=${OUTDIR:-/tmp/conclave-switchover-out}; elif [ "$MODE" = soak ]; then OUTDIR=${OUTDIR:-/tmp/conclave-soak-out}; else OUTDIR=${OUTDIR:-/tmp/conclave-bench-out}; fi
BOOT_TIMEOUT=${BOOT_TIMEOUT:-180}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-120}
RTO_TIMEOUT=${RTO_TIMEOUT:-60}
REJOIN_TIMEOUT=${REJOIN_TIMEOUT:-120}
IDLE_S=${IDLE_S:-10}
PROFILE=conclave-default

now() { date +%s.%N; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
sub() { echo "$1 - $2" | bc | sed 's/^\./0./; s/^-\./-0./'; }

# ---- prerequisites -------------------------------------------------------------------------
for f in writer.py analyze.py run.sh; do
  [ "$MODE" = soak ] && break   # the soak does not compare with Patroni
  [ -f "$ANCHOR/$f" ] || die "$ANCHOR/$f not found: the Patroni anchor (writer.py, analyze.py, run.sh) is expected in ../shared/bench/patroni next to this repository (or set PATRONI_BENCH)"
done
[ "$MODE" = soak ] || ANCHOR=$(cd "$ANCHOR" && pwd)
[ -x "$SRC_BIN" ] || die "$SRC_BIN not found; run 'make build' (or 'make bench')"
[ -x "$PG_BIN/postgres" ] || die "PostgreSQL 15 server binaries not found in $PG_BIN; install postgresql-15 (or set PG_BIN)"
command -v bc >/dev/null || die "bc is needed (apt-get install bc)"
ROOTUSER=""; [ "$(id -u)" = 0 ] && ROOTUSER=1
apt_install() {  # $1 package; root only
  log "installing $1 with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1; }
}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3) || die "python3 is needed"
if [ "$MODE" != soak ] && ! "$PY" -c 'import psycopg2' 2>/dev/null; then
  [ -n "$ROOTUSER" ] && apt_install python3-psycopg2
  "$PY" -c 'import psycopg2' 2>/dev/null || die "$PY cannot import psycopg2 (needed by writer.py/analyze.py): apt-get install python3-psycopg2"
fi
if [ "$MODE" != soak ] && ! command -v wrk >/dev/null && [ -n "$ROOTUSER" ]; then apt_install wrk; fi
run_as=()
if [ -n "$ROOTUSER" ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the postgres OS user (apt-get install postgresql-15 creates it)"
  run_as=(runuser -u postgres --)
fi

mkdir -p "$OUTDIR/logs" || die "cannot create $OUTDIR"
RESULTS=$OUTDIR/results.jsonl
: >"$RESULTS"
rm -f "$OUTDIR"/logs/*
record() { echo "$*" >>"$RESULTS"; }
json_get() { "$PY" -c "import json,sys
try: v=json.loads(sys.argv[1]).get(sys.argv[2])
except Exception: v=None
print('null' if v is None else json.dumps(v))" "$1" "$2"; }
jstr() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

W=$(mktemp -d /tmp/conclave-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$W"; mkdir -p "$W/logs"
cp "$SRC_BIN" "$W/conclave"; BIN=$W/conclave
[ -n "$ROOTUSER" ] && chown postgres "$W" "$W/conclave"
LAUNCH=("" "" "" "")   # per node: pid we started (runuser when root, else the agent)
WRITER_PID=""
SOAK_PIDS=()           # soak: pgbench runner, CPU burners, poller (killed with their children)
CLUSTER_NO=0

# ---- processes ----------------------------------------------------------------------------
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1; [[ $s != Z* ]]; }
agent_pid() {  # $1 node -> pid of the conclave process
  local l=${LAUNCH[$1]} c cmd
  [ -n "$l" ] || return 1
  if [ -z "$ROOTUSER" ]; then alive "$l" && echo "$l"; return; fi
  for c in $(ps -o pid= --ppid "$l" 2>/dev/null); do
    cmd=$(tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null)
    if [[ $cmd == "$BIN "* ]]; then echo "$c"; return 0; fi
  done
  return 1
}
# The detached `conclave watchdog` fence process of node $1 (newer agents start one; it outlives the agent).
watchdog_pid() {
  local f=$W/node$1/raft/watchdog.pid p cmd
  [ -f "$f" ] && p=$(head -1 "$f" | tr -dc 0-9) && [ -n "$p" ] && alive "$p" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
  [[ $cmd == *watchdog*"$W/node$1/"* ]] && echo "$p"
}
pm_pid() { local f=$W/node$1/data/postmaster.pid p; [ -f "$f" ] && p=$(head -1 "$f") && [ -n "$p" ] && alive "$p" && echo "$p"; }
reap() {  # $1 launch pid: wait up to 10 s for it to exit, then reap it
  local p=$1
  [ -n "$p" ] || return 0
  for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
  alive "$p" && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}
start_agent() {  # $1 node
  "${run_as[@]}" "$BIN" -c "$W/node$1/conclave.yml" run >>"$W/node$1/agent.log" 2>&1 &
  LAUNCH[$1]=$!
}
stop_cluster() {
  local i p
  for i in 1 2 3; do
    if p=$(agent_pid "$i"); then kill -TERM "$p" 2>/dev/null
    elif [ -n "${LAUNCH[$i]}" ]; then kill -TERM "${LAUNCH[$i]}" 2>/dev/null; fi
  done
  for _ in $(seq 300); do   # 30 s for a clean stop
    local up=0; for i in 1 2 3; do [ -n "${LAUNCH[$i]}" ] && alive "${LAUNCH[$i]}" && up=1; done
    [ $up = 0 ] && break; sleep 0.1
  done
  for i in 1 2 3; do
    if [ -n "${LAUNCH[$i]}" ] && alive "${LAUNCH[$i]}"; then
      log "agent node$i did not stop within 30 s of SIGTERM; SIGKILL (its last log lines:)"
      tail -n 5 "$W/node$i/agent.log" | cut -c1-300 >&2
      p=$(agent_pid "$i") && kill -KILL "$p" 2>/dev/null
    fi
    reap "${LAUNCH[$i]}"; LAUNCH[$i]=""
  done
  local wd=()
  for i in 1 2 3; do p=$(watchdog_pid "$i") && wd+=("$p"); done
  if [ ${#wd[@]} -gt 0 ]; then
    kill -TERM "${wd[@]}" 2>/dev/null
    for _ in $(seq 50); do local up=0; for p in "${wd[@]}"; do alive "$p" && up=1; done; [ $up = 0 ] && break; sleep 0.1; done
    kill -KILL "${wd[@]}" 2>/dev/null
  fi
  for i in 1 2 3; do
    if pm_pid "$i" >/dev/null; then
      "${run_as[@]}" "$PG_BIN/pg_ctl" -D "$W/node$i/data" stop -m immediate -t 20 >/dev/null 2>&1 || true
    fi
  done
  if [ "$CLUSTER_NO" -gt 0 ]; then
    for i in 1 2 3; do
      [ -f "$W/node$i/agent.log" ] && cp "$W/node$i/agent.log" "$OUTDIR/logs/cluster$CLUSTER_NO-node$i.log"
      [ -f "$W/node$i/postgresql-node$i.log" ] && cp "$W/node$i/postgresql-node$i.log" "$OUTDIR/logs/cluster$CLUSTER_NO-node$i-postgresql.log"
    done
  fi
}
start_writer() {  # $1 table, $2 log
  "$PY" "$ANCHOR/writer.py" "$DSN" "$1" "$2" 2>>"$W/logs/writer.err" &
  WRITER_PID=$!
}
stop_writer() {
  [ -n "$WRITER_PID" ] || return 0
  kill -TERM "$WRITER_PID" 2>/dev/null
  for _ in $(seq 50); do alive "$WRITER_PID" || break; sleep 0.1; done
  alive "$WRITER_PID" && kill -KILL "$WRITER_PID" 2>/dev/null
  wait "$WRITER_PID" 2>/dev/null; WRITER_PID=""
}
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
kill_tree() {  # pids this script started: TERM each with its descendants, KILL what is left after 5 s
  local all=() p
  for p in "$@"; do [ -n "$p" ] && alive "$p" && all+=("$p" $(descendants "$p")); done
  [ ${#all[@]} -gt 0 ] || return 0
  kill -TERM "${all[@]}" 2>/dev/null
  for _ in $(seq 50); do local up=0; for p in "${all[@]}"; do alive "$p" && up=1; done; [ $up = 0 ] && break; sleep 0.1; done
  kill -KILL "${all[@]}" 2>/dev/null
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}
soak_stop_load() {
  [ ${#SOAK_PIDS[@]} -gt 0 ] || return 0
  kill_tree "${SOAK_PIDS[@]}"; SOAK_PIDS=()
}
cleanup() {
  trap - EXIT INT TERM
  soak_stop_load
  stop_writer
  stop_cluster
  if [ "${KEEP_WORKDIR:-0}" = 1 ]; then log "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

cl() { BENCH_REST="$((BASE + 101)),$((BASE + 102)),$((BASE + 103))" "$PY" "$HERE/cl.py" "$@"; }
jitter() {
  local j=0.00 x; if [ "$JITTER" = 1 ]; then x=$((RANDOM % 100)); j=$(printf '0.%02d' "$x"); fi
  sleep "$j"; echo "$j"
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_base() {
  local b i busy
  for _ in $(seq 50); do
    b=$((20000 + RANDOM % 20000 / 10 * 10)); busy=""
    for i in 1 2 3; do port_busy $((b + i)) || port_busy $((b + 100 + i)) || port_busy $((b + 200 + i)) || continue; busy=1; done
    [ -z "$busy" ] && { echo "$b"; return; }
  done
  die "no free port base found"
}

# ---- cluster ------------------------------------------------------------------------------
write_config() {  # $1 node
  # Same PostgreSQL settings as the Patroni anchor's config; no ttl/loop_wait/retry_timeout:
  # Conclave's defaults (3/1/1) are what is measured.
  node_config "$W" "$1" "$BASE" bench trust "max_wal_senders: 10
max_replication_slots: 10"
}

# Fresh directories and ports, three agents started; NC_OUT: seconds to healthy or "timeout ...".
# (Not to be called in $(...): it sets LAUNCH, BASE, DSN.)
new_cluster() {
  local i t0
  stop_cluster
  rm -rf "$W"/node1 "$W"/node2 "$W"/node3
  CLUSTER_NO=$((CLUSTER_NO + 1))
  BASE=$(pick_base)
  DSN="host=127.0.0.1,127.0.0.1,127.0.0.1 port=$((BASE + 1)),$((BASE + 2)),$((BASE + 3)) dbname=postgres user=postgres password=postgres target_session_attrs=read-write connect_timeout=2"
  for i in 1 2 3; do write_config "$i"; done
  [ -n "$ROOTUSER" ] && chown -R postgres "$W"/node1 "$W"/node2 "$W"/node3
  t0=$(now)
  for i in 1 2 3; do start_agent "$i"; done
  NC_OUT=$(cl wait-healthy "$BOOT_TIMEOUT" "$t0")
}
tail_logs() {  # $1 tag; node log offsets in OFF[]: survivors' log lines since then -> stderr and OUTDIR
  local i
  for i in 1 2 3; do
    [ -f "$W/node$i/agent.log" ] || continue
    tail -c +"$((${OFF[$i]:-0} + 1))" "$W/node$i/agent.log" >"$OUTDIR/logs/$1-node$i.log"
    echo "----- node$i agent log since the event (last 25 of $(wc -l <"$OUTDIR/logs/$1-node$i.log") lines; all in $OUTDIR/logs/$1-node$i.log)" >&2
    tail -n 25 "$OUTDIR/logs/$1-node$i.log" >&2
  done
}
mark_logs() { local i; OFF=(0 0 0 0); for i in 1 2 3; do OFF[$i]=$(stat -c %s "$W/node$i/agent.log" 2>/dev/null || echo 0); done; }

# Healthy cluster before a round; if it does not heal in HEALTH_TIMEOUT, a fresh one (logged).
ensure_healthy() {  # $1 tag
  local out
  out=$(cl wait-healthy "$HEALTH_TIMEOUT") && return 0
  log "$1: cluster not healthy within ${HEALTH_TIMEOUT}s ($out); agent logs:"
  mark_logs; OFF=(0 0 0 0); tail_logs "$1-unhealthy"
  record "{\"profile\":\"$PROFILE\",\"test\":\"health\",\"metric\":\"rebuilt_before\",\"run\":\"$1\",\"value\":1,\"state\":$(jstr "$out")}"
  log "$1: starting a fresh cluster"
  new_cluster || { log "fresh cluster not healthy either: $NC_OUT"; return 1; }
  return 0
}

# ---- soak ---------------------------------------------------------------------------------
# A fresh healthy cluster, no fault, both cores kept busy (pgbench on the leader + two busy
# loops) for SOAK_S seconds; every second the leader per /cluster of each node, the timelines
# and the Raft terms are read (scripts/bench/soak.py). Any leader member or timeline change is
# a false failover; it is a measurement, so the exit status is 0 either way.
other_tests() { pgrep -af 'integration[.]test|go [t]est' 2>/dev/null | cut -c1-160; }
# Wait until no integration test / go test has run for SOAK_QUIET_S (polling every 30 s while they
# run); the wait budget SOAK_WAIT_TESTS is shared by every wait of this soak. 1: budget exhausted.
SOAK_WAITED=0
wait_for_other_tests() {
  local max=${SOAK_WAIT_TESTS:-2400} quiet=${SOAK_QUIET_S:-60} t q
  [ "$max" = 0 ] && return 0
  while :; do
    t=$(other_tests)
    if [ -z "$t" ]; then   # none now: make sure none starts during the quiet period
      q=0
      while [ "$q" -lt "$quiet" ] && [ -z "$t" ]; do sleep 5; q=$((q + 5)); t=$(other_tests); done
      SOAK_WAITED=$((SOAK_WAITED + q))
      [ -z "$t" ] && return 0
    fi
    if [ "$SOAK_WAITED" -ge "$max" ]; then
      log "integration tests still running after ${SOAK_WAITED}s of waiting: $(echo "$t" | head -3 | tr '\n' ';')"
      return 1
    fi
    log "integration tests are running; waiting for them to finish (every 30 s; waited ${SOAK_WAITED}s of ${max}s): $(echo "$t" | head -3 | tr '\n' ';')"
    sleep 30; SOAK_WAITED=$((SOAK_WAITED + 30))
  done
}
soak_pgbench_runner() {  # background: pgbench on the current leader until $1 (epoch s); restarted if it stops early
  local deadline=$1 seg=0 rem name pg rest rc
  while :; do
    rem=$((deadline - $(date +%s)))
    [ "$rem" -ge 10 ] || break
    if ! read -r name pg rest < <(cl leader); then sleep 1; continue; fi
    seg=$((seg + 1))
    echo "=== segment $seg start $(now) leader $name port $pg T $rem" >>"$PGB_LOG"
    (cd "$W" && exec "${run_as[@]}" env PGPASSWORD="$SU_PASS" PGCONNECT_TIMEOUT=5 "$PG_BIN/pgbench" \
        -h 127.0.0.1 -p "$pg" -U "$SU_USER" -c 4 -j 2 -T "$rem" -P 10 postgres) >>"$PGB_LOG" 2>&1
    rc=$?
    echo "=== segment $seg end $(now) exit $rc" >>"$PGB_LOG"
    [ "$rc" = 0 ] || sleep 1
  done
}
soak_main() {
  local soak_s=${SOAK_S:-600} attempt=0 rc
  [ -x "$PG_BIN/pgbench" ] || die "$PG_BIN/pgbench not found"
  log "Conclave soak: SOAK_S=$soak_s, work dir $W, results $RESULTS"
  rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || rev="$rev+dirty"
  record "{\"profile\":\"$PROFILE\",\"test\":\"meta\",\"metric\":\"revision\",\"run\":0,\"value\":null,\"mode\":\"soak\",\"soak_s\":$soak_s,\"revision\":\"$rev\",\"binary_mtime\":\"$(date -r "$SRC_BIN" -u +%FT%TZ)\",\"host_cpus\":$(nproc)}"
  # Other engineers' integration tests must neither be disturbed by the load nor count against the
  # soak: wait for a quiet machine, and abort (then wait and start again) if one starts meanwhile.
  while :; do
    if ! wait_for_other_tests; then
      record "{\"profile\":\"$PROFILE\",\"test\":\"soak\",\"metric\":\"skipped\",\"run\":1,\"value\":null,\"reason\":\"integration tests kept running\",\"waited_s\":$SOAK_WAITED}"
      log "soak NOT RUN: integration tests kept running for ${SOAK_WAITED}s (SOAK_WAIT_TESTS=0 runs it regardless)"
      return 0
    fi
    attempt=$((attempt + 1))
    soak_attempt "$soak_s" "$attempt"; rc=$?
    [ "$rc" = 2 ] || return 0
    log "soak attempt $attempt aborted: an integration test started; load stopped, cluster stopped; waiting to start again"
  done
}
soak_attempt() {  # $1 seconds, $2 attempt; 2: aborted because other tests started
  local soak_s=$1 scale=${SOAK_SCALE:-10} name pg rest i t_load t_end snap out pglog_n=0 p aborted
  local poll_out=$W/soak-poll.json grep_out=$W/soak-loggrep.json pgb_out=$W/soak-pgbench.json
  PGB_LOG=$OUTDIR/pgbench.log; : >"$PGB_LOG"; : >"$OUTDIR/soak-samples.jsonl"; rm -f "$W/soak-pglines.txt" "$OUTDIR/soak-episode-logs.txt"
  new_cluster || die "no healthy cluster: $NC_OUT; agent logs in $OUTDIR/logs after exit"
  log "cluster healthy after ${NC_OUT}s (ports base $BASE)"
  record "{\"profile\":\"$PROFILE\",\"test\":\"soak\",\"metric\":\"bootstrap_s\",\"run\":$2,\"value\":$NC_OUT}"
  SU_USER=$(sed -n 's/^ *superuser: *{username: *\([^,}]*\), *password: *\([^}]*\)}.*/\1/p' "$W/node1/conclave.yml")
  SU_PASS=$(sed -n 's/^ *superuser: *{username: *\([^,}]*\), *password: *\([^}]*\)}.*/\2/p' "$W/node1/conclave.yml")
  [ -n "$SU_USER" ] || die "superuser not found in $W/node1/conclave.yml"
  read -r name pg rest < <(cl leader) || die "no leader"
  log "pgbench -i -s $scale on leader $name (port $pg)"
  echo "=== init $(now) leader $name port $pg" >>"$PGB_LOG"
  (cd "$W" && exec "${run_as[@]}" env PGPASSWORD="$SU_PASS" "$PG_BIN/pgbench" -h 127.0.0.1 -p "$pg" -U "$SU_USER" \
      -i -s "$scale" -q postgres) >>"$PGB_LOG" 2>&1 || die "pgbench -i failed; see $PGB_LOG"
  out=$(cl wait-healthy "$HEALTH_TIMEOUT") || die "cluster not healthy after pgbench -i: $out"
  snap=$(BENCH_REST="$((BASE + 101)),$((BASE + 102)),$((BASE + 103))" "$PY" "$HERE/soak.py" snapshot) ||
    die "no agreed leader before the soak: $snap"
  log "before the load: $snap"
  record "{\"profile\":\"$PROFILE\",\"test\":\"soak\",\"metric\":\"baseline\",\"run\":1,\"value\":null,\"state\":$snap}"
  mark_logs   # agent logs: only what follows the bootstrap and pgbench -i counts
  WOFF=(0 0 0 0); POFF=(0 0 0 0)
  for i in 1 2 3; do
    WOFF[$i]=$(stat -c %s "$W/node$i/raft/watchdog.log" 2>/dev/null || echo 0)
    POFF[$i]=$(stat -c %s "$W/node$i/postgresql-node$i.log" 2>/dev/null || echo 0)
  done
  SOAK_ABORT_ON_TESTS=$([ "${SOAK_WAIT_TESTS:-2400}" = 0 ] && echo 0 || echo 1) \
    BENCH_REST="$((BASE + 101)),$((BASE + 102)),$((BASE + 103))" "$PY" "$HERE/soak.py" poll "$soak_s" \
    "$OUTDIR/soak-samples.jsonl" >"$poll_out" &
  SOAK_PIDS+=($!); local poll_pid=$!
  sleep 1.5   # the poller's baseline before the load
  t_load=$(date +%s)
  sh -c 'while :; do :; done' & SOAK_PIDS+=($!)
  sh -c 'while :; do :; done' & SOAK_PIDS+=($!)
  soak_pgbench_runner "$((t_load + soak_s))" & SOAK_PIDS+=($!); local pgb_pid=$!
  log "load started: pgbench -c 4 -j 2 -T ~$soak_s -P 10 on $name + 2 CPU burners (pids ${SOAK_PIDS[*]:1}); polling every second for ${soak_s}s"
  wait "$poll_pid"
  aborted=$(json_get "$(tail -n 1 "$poll_out")" aborted)
  if [ "$aborted" = null ]; then   # pgbench ends at -T; 60 s grace
    for _ in $(seq 600); do alive "$pgb_pid" || break; sleep 0.1; done
  fi
  t_end=$(now)
  soak_stop_load
  log "load stopped"
  if [ "$aborted" != null ]; then
    record "{\"profile\":\"$PROFILE\",\"test\":\"soak\",\"metric\":\"aborted\",\"run\":$2,\"value\":null,\"reason\":$aborted}"
    stop_cluster
    return 2
  fi
  BENCH_REST="$((BASE + 101)),$((BASE + 102)),$((BASE + 103))" "$PY" "$HERE/soak.py" loggrep \
    "node1=$W/node1/agent.log:${OFF[1]}" "node2=$W/node2/agent.log:${OFF[2]}" "node3=$W/node3/agent.log:${OFF[3]}" \
    "node1-watchdog=$W/node1/raft/watchdog.log:${WOFF[1]}" "node2-watchdog=$W/node2/raft/watchdog.log:${WOFF[2]}" \
    "node3-watchdog=$W/node3/raft/watchdog.log:${WOFF[3]}" >"$grep_out"
  "$PY" "$HERE/soak.py" pgbench "$PGB_LOG" >"$pgb_out"
  for i in 1 2 3; do
    [ -f "$W/node$i/postgresql-node$i.log" ] || continue
    tail -c +"$((POFF[$i] + 1))" "$W/node$i/postgresql-node$i.log" | sed "s/^/node$i-postgresql: /" >>"$W/soak-pglines.txt"
  done
  pglog_n=$(grep -cE 'shutdown request|selected new timeline|received promote|terminating connection because of crash|was terminated by signal|database system is ready to accept' "$W/soak-pglines.txt" 2>/dev/null || true)
  "$PY" "$HERE/soak.py" report "$PROFILE" "$poll_out" "$grep_out" "$pgb_out" "${pglog_n:-0}" "$RESULTS"
  cp "$poll_out" "$grep_out" "$pgb_out" "$OUTDIR/" 2>/dev/null
  if [ "${pglog_n:-0}" -gt 0 ]; then
    echo "PostgreSQL shutdown/promote/crash lines during the soak:"
    grep -E 'shutdown request|selected new timeline|received promote|terminating connection because of crash|was terminated by signal|database system is ready to accept' "$W/soak-pglines.txt" | head -30
  fi
  # A false failover: the agent and watchdog log lines around each episode, loudly.
  local eps
  eps=$("$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
for e in d.get("episodes", []): print(e["start"], e.get("end") or sys.argv[2])' "$poll_out" "$t_end" 2>/dev/null)
  if [ -n "$eps" ]; then
    echo
    echo "!!!!!!!!!! FALSE FAILOVER(S) DURING THE SOAK: agent log lines from 15 s before to 10 s after each episode !!!!!!!!!!"
    while read -r a b; do
      "$PY" "$HERE/soak.py" window "$a" "$b" 15 10 \
        "node1=$W/node1/agent.log:${OFF[1]}" "node2=$W/node2/agent.log:${OFF[2]}" "node3=$W/node3/agent.log:${OFF[3]}" \
        "node1-watchdog=$W/node1/raft/watchdog.log:${WOFF[1]}" "node2-watchdog=$W/node2/raft/watchdog.log:${WOFF[2]}" \
        "node3-watchdog=$W/node3/raft/watchdog.log:${WOFF[3]}" | tee -a "$OUTDIR/soak-episode-logs.txt"
    done <<<"$eps"
  fi
  for i in 1 2 3; do
    [ -f "$W/node$i/raft/watchdog.log" ] && cp "$W/node$i/raft/watchdog.log" "$OUTDIR/logs/soak-node$i-watchdog.log"
  done
  cp "$W/soak-pglines.txt" "$OUTDIR/logs/soak-postgresql-lines.log" 2>/dev/null
  stop_cluster   # copies the agent and PostgreSQL logs to $OUTDIR/logs/cluster$CLUSTER_NO-*
  echo "JSON lines: $RESULTS; per-second samples: $OUTDIR/soak-samples.jsonl; pgbench output: $PGB_LOG; logs: $OUTDIR/logs/"
}
if [ "$MODE" = soak ]; then soak_main; exit 0; fi

# ---- 0. Patroni beside it (PATRONI_RUN=1) or in turn (PATRONI_RUN=alternate) ----------------
if [ "${PATRONI_RUN:-0}" = alternate ]; then
  # shellcheck source=bench/alternate.sh
  source "$HERE/alternate.sh"
  alternate_main
  exit 0
fi
if [ "${PATRONI_RUN:-0}" = 1 ]; then
  [ -n "$ROOTUSER" ] || die "PATRONI_RUN=1 needs root (the anchor starts Patroni, etcd and PostgreSQL as postgres)"
  command -v patroni >/dev/null || die "PATRONI_RUN=1: patroni is not installed (see README Figures for the apt-get line)"
  log "Patroni anchor first: RUNS=$RUNS BOOT_RUNS=$BOOT_RUNS $ANCHOR/run.sh default -> $PATRONI_RESULTS"
  RUNS=$RUNS BOOT_RUNS=$BOOT_RUNS JITTER=$JITTER OUTDIR=$(dirname "$PATRONI_RESULTS") RESULTS=$PATRONI_RESULTS \
    "$ANCHOR/run.sh" default >"$OUTDIR/logs/patroni-run.log" 2>&1 || log "the Patroni run failed; see $OUTDIR/logs/patroni-run.log"
fi

# ---- 1. bootstrap -------------------------------------------------------------------------
log "Conclave bench: RUNS=$RUNS BOOT_RUNS=$BOOT_RUNS JITTER=$JITTER, work dir $W, results $RESULTS"
rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || rev="$rev+dirty"
record "{\"profile\":\"$PROFILE\",\"test\":\"meta\",\"metric\":\"revision\",\"run\":0,\"value\":null,\"revision\":\"$rev\",\"binary_mtime\":\"$(date -r "$SRC_BIN" -u +%FT%TZ)\",\"host_cpus\":$(nproc)}"
healthy_cluster=""
for b in $(seq "$BOOT_RUNS"); do
  if new_cluster; then
    log "bootstrap run $b: ${NC_OUT}s (ports base $BASE)"
    record "{\"profile\":\"$PROFILE\",\"test\":\"bootstrap\",\"metric\":\"to_3_streaming_s\",\"run\":$b,\"value\":$NC_OUT}"
    healthy_cluster=1
  else
    log "bootstrap run $b FAILED: $NC_OUT; last agent log lines:"; OFF=(0 0 0 0); tail_logs "boot$b"
    record "{\"profile\":\"$PROFILE\",\"test\":\"bootstrap\",\"metric\":\"to_3_streaming_s\",\"run\":$b,\"value\":null}"
    healthy_cluster=""
  fi
done
if [ -z "$healthy_cluster" ]; then
  new_cluster || die "cannot get a healthy cluster ($NC_OUT); see $OUTDIR/logs"
fi

if [ "$MODE" = switchover ]; then
  # shellcheck source=bench/switchover.sh
  source "$HERE/switchover.sh"
  switchover_main
  exit 0
fi

# ---- 2. idle memory, 3. binary size -------------------------------------------------------
sleep "$IDLE_S"
if cl wait-healthy 5 >/dev/null; then
  for i in 1 2 3; do
    p=$(agent_pid "$i") || { log "no agent pid for node$i"; continue; }
    kb=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)
    [ -n "$kb" ] || continue
    mib=$(echo "scale=1; $kb/1024" | bc)
    log "idle RSS node$i (pid $p): ${mib} MiB"
    record "{\"profile\":\"$PROFILE\",\"test\":\"idle_rss\",\"metric\":\"agent_rss_mib\",\"run\":$i,\"value\":$mib,\"pid\":$p}"
    if p=$(watchdog_pid "$i") && kb=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) && [ -n "$kb" ]; then
      mib=$(echo "scale=1; $kb/1024" | bc)
      log "idle RSS node$i watchdog process (pid $p): ${mib} MiB"
      record "{\"profile\":\"$PROFILE\",\"test\":\"idle_rss\",\"metric\":\"watchdog_rss_mib\",\"run\":$i,\"value\":$mib,\"pid\":$p}"
    fi
  done
else
  log "cluster not healthy after ${IDLE_S}s idle; idle RSS not measured"
fi
size=$(stat -c %s "$SRC_BIN")
record "{\"profile\":\"$PROFILE\",\"test\":\"binary\",\"metric\":\"size_mib\",\"run\":1,\"value\":$(echo "scale=2; $size/1048576" | bc | sed 's/^\./0./'),\"bytes\":$size}"

# ---- 6. REST throughput (on the idle cluster, as the anchor does: both paths on the leader) ---
# Only 2xx answers count as throughput: wrk's "Non-2xx or 3xx responses" are reported apart.
if command -v wrk >/dev/null; then
  if read -r lname _ lrest < <(cl leader); then
    for ep in primary health; do
      f=$W/logs/wrk_$ep.txt
      timeout 40 wrk -t2 -c8 -d10s --latency "http://127.0.0.1:$lrest/$ep" >"$f" 2>&1
      all_rps=$(awk '/Requests\/sec/{print $2}' "$f")
      total=$(awk '/requests in/{print $1}' "$f")
      non2xx=$(awk '/Non-2xx/{print $NF}' "$f"); non2xx=${non2xx:-0}
      rps=null   # wrk's rate times the share of 2xx answers
      if [ -n "$total" ] && [ "$total" -gt 0 ] 2>/dev/null && [ -n "$all_rps" ]; then
        rps=$(echo "scale=2; $all_rps * ($total - $non2xx) / $total" | bc | sed 's/^\./0./')
      fi
      cp "$f" "$OUTDIR/logs/"
      log "REST /$ep on the leader $lname: ${rps} req/s answered 2xx (${all_rps:-?} req/s in all, $non2xx non-2xx answers)"
      [ "$non2xx" != 0 ] && log "WARNING: /$ep on the leader answered $non2xx requests with a non-2xx status; they are not counted"
      record "{\"profile\":\"$PROFILE\",\"test\":\"rest_$ep\",\"metric\":\"req_per_s\",\"run\":1,\"value\":$rps,\"member\":\"$lname\",\"role\":\"leader\",\"requests\":${total:-null},\"non_2xx\":$non2xx,\"all_req_per_s\":${all_rps:-null}}"
    done
  else
    log "no leader found for the REST test"
  fi
else
  log "wrk not installed (apt-get install wrk); REST throughput not measured"
fi

# ---- 5. PostgreSQL crash: kill -9 the leader's postmaster, agent alive ---------------------
crash_round() {  # $1 run
  local r=$1 tag=crash_$1 name pg rest i lg ev res j pm v np fo
  ensure_healthy "$tag" || { record "{\"profile\":\"$PROFILE\",\"test\":\"pg_crash\",\"metric\":\"writes_resume_s\",\"run\":$r,\"value\":null,\"error\":\"no healthy cluster\"}"; return; }
  read -r name pg rest < <(cl leader) || { log "$tag: no leader"; return; }
  i=${name#node}
  lg=$W/logs/$tag.log
  start_writer "t_$tag" "$lg"; sleep 2; j=$(jitter)
  pm=$(pm_pid "$i") || { log "$tag: no postmaster pid for $name"; stop_writer; return; }
  mark_logs
  ev=$(now); kill -9 "$pm"
  res=$("$PY" "$ANCHOR/analyze.py" crash "$lg" "$ev" "$pg" "$RTO_TIMEOUT")
  sleep 2; stop_writer
  v=$(json_get "$res" first_new_ack_s); np=$(json_get "$res" new_port)
  if [ "$v" = null ]; then
    log "$tag: $name postmaster $pm killed: writes did not resume within ${RTO_TIMEOUT}s: $res; cluster: $(cl state)"
    tail_logs "$tag"
  else
    fo=""; [ "$np" != "$pg" ] && fo=" (a failover, not a restart)"
    log "$tag: $name postmaster killed (jitter ${j}s): writes resume after ${v}s on port $np$fo"
  fi
  record "{\"profile\":\"$PROFILE\",\"test\":\"pg_crash\",\"metric\":\"writes_resume_s\",\"run\":$r,\"value\":$v,\"leader\":\"$name\",\"failed_over\":$([ "$np" != null ] && [ "$np" != "$pg" ] && echo true || echo false),\"timeout_s\":$RTO_TIMEOUT,\"jitter_s\":$j,\"detail\":${res:-null}}"
}

# ---- 4. node crash: kill -9 the leader's agent, its postmaster and the postmaster's children
# (async, then synchronous_mode: true as the Patroni anchor does; test "failover" / "failover_sync")
failover_round() {  # $1 run, $2 async|sync
  local r=$1 mode=${2:-async} tag test name pg rest i lg ev res j ap pm kids wd v nname npg nrest t0 rj miss acked out
  test=failover; tag=fo_$1
  [ "$mode" = sync ] && { test=failover_sync; tag=fo_sync_$1; }
  ensure_healthy "$tag" || { record "{\"profile\":\"$PROFILE\",\"test\":\"$test\",\"metric\":\"rto_s\",\"run\":$r,\"value\":null,\"timeout_s\":$RTO_TIMEOUT,\"error\":\"no healthy cluster\"}"; return; }
  if [ "$mode" = sync ]; then
    # Idempotent; needed again after ensure_healthy built a fresh cluster.
    cl patch-config '{"synchronous_mode": true}' >/dev/null || log "$tag: PATCH /config synchronous_mode failed"
    out=$(cl wait-sync "$HEALTH_TIMEOUT") || {
      log "$tag: no sync_standby within ${HEALTH_TIMEOUT}s: $out"
      record "{\"profile\":\"$PROFILE\",\"test\":\"$test\",\"metric\":\"rto_s\",\"run\":$r,\"value\":null,\"timeout_s\":$RTO_TIMEOUT,\"error\":\"no sync standby\"}"
      return
    }
  fi
  read -r name pg rest < <(cl leader) || { log "$tag: no leader"; return; }
  i=${name#node}
  lg=$W/logs/$tag.log
  start_writer "t_$tag" "$lg"; sleep 2; j=$(jitter)
  ap=$(agent_pid "$i"); pm=$(pm_pid "$i")
  if [ -z "$ap" ] || [ -z "$pm" ]; then log "$tag: agent pid '$ap' / postmaster pid '$pm' of $name not found"; stop_writer; return; fi
  kids=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
  wd=$(watchdog_pid "$i")   # a node crash takes Conclave's detached watchdog down too
  mark_logs
  ev=$(now); kill -9 "$ap" "$pm" $kids $wd 2>/dev/null
  res=$("$PY" "$ANCHOR/analyze.py" failover "$lg" "$ev" "$pg" "$RTO_TIMEOUT")
  sleep 2; stop_writer
  for p in $ap $pm; do alive "$p" && log "WARNING: pid $p survived kill -9"; done
  nname=""; for _ in $(seq 25); do read -r nname npg nrest < <(cl leader) && [ "$nname" != "$name" ] && break; nname=""; sleep 0.2; done
  if [ -n "$nname" ]; then
    res=$("$PY" "$ANCHOR/analyze.py" failover "$lg" "$ev" "$pg" 0 "$npg" "t_$tag" 2>/dev/null || echo "$res")
  fi
  v=$(json_get "$res" first_new_ack_s)
  if [ "$v" = null ]; then
    log "$tag: killed $name (agent $ap, postmaster $pm; jitter ${j}s): NO FAILOVER within ${RTO_TIMEOUT}s: $res; cluster: $(cl state)"
    tail_logs "$tag"
  else
    log "$tag: killed $name (jitter ${j}s) -> new leader ${nname:-?}: RTO ${v}s, acked ids missing: $(json_get "$res" missing)"
  fi
  miss=$(json_get "$res" missing); acked=$(json_get "$res" acked)
  record "{\"profile\":\"$PROFILE\",\"test\":\"$test\",\"metric\":\"rto_s\",\"run\":$r,\"value\":$v,\"timeout_s\":$RTO_TIMEOUT,\"old\":\"$name\",\"new\":\"$nname\",\"jitter_s\":$j,\"detail\":${res:-null}}"
  record "{\"profile\":\"$PROFILE\",\"test\":\"$test\",\"metric\":\"acked_ids_missing\",\"run\":$r,\"value\":$miss,\"acked\":$acked}"
  # rejoin: restart the killed agent; time until that member streams again
  reap "${LAUNCH[$i]}"
  mark_logs
  t0=$(now); start_agent "$i"
  if out=$(cl wait-streaming "$name" "$REJOIN_TIMEOUT" "$t0"); then
    rj=$out; log "$tag: $name rejoined (streaming) after ${rj}s"
  else
    rj=null; log "$tag: $name did not stream again within ${REJOIN_TIMEOUT}s: $out"; tail_logs "$tag-rejoin"
  fi
  record "{\"profile\":\"$PROFILE\",\"test\":\"$test\",\"metric\":\"rejoin_s\",\"run\":$r,\"value\":$rj,\"timeout_s\":$REJOIN_TIMEOUT,\"member\":\"$name\"}"
}

for r in $(seq "$RUNS"); do crash_round "$r"; done
for r in $(seq "$RUNS"); do failover_round "$r" async; done
for r in $(seq "$RUNS"); do failover_round "$r" sync; done
stop_writer
stop_cluster

# ---- table --------------------------------------------------------------------------------
echo
"$PY" "$HERE/report.py" "$RESULTS" "$PATRONI_RESULTS" | tee "$OUTDIR/table.md"
echo
echo "JSON lines: $RESULTS; agent logs of each cluster and of failed rounds: $OUTDIR/logs/"
