# Sourced by scripts/bench.sh for PATRONI_RUN=alternate: Patroni and Conclave
# measured in turn, one round of each per block, so both see the same load
# (a busy machine slows both alike) and the ratios hold even when the
# absolute figures do not. Blocks go ABBA: Patroni first in odd blocks,
# Conclave first in even ones, so a load that grows or shrinks during the run
# does not favour either. Each block is a whole run of one round
# (RUNS=1 BOOT_RUNS=1) of "$ANCHOR/run.sh default" and of this bench; their
# results.jsonl are merged with "run" set to the block number and the table
# is printed from the merged files.
#
# Uses bench.sh's ANCHOR, REPO, HERE, PY, RUNS, JITTER, OUTDIR, RESULTS,
# PATRONI_RESULTS, ROOTUSER, log and die.

alternate_main() {
  [ -n "$ROOTUSER" ] || die "PATRONI_RUN=alternate needs root (the anchor starts Patroni, etcd and PostgreSQL as postgres)"
  command -v patroni >/dev/null || die "PATRONI_RUN=alternate: patroni is not installed (see README Figures for the apt-get line)"
  local alt=$OUTDIR/alternate k
  rm -rf "$alt"; mkdir -p "$alt" || die "cannot create $alt"
  mkdir -p "$(dirname "$PATRONI_RESULTS")" || die "cannot create the folder of $PATRONI_RESULTS"
  : >"$RESULTS"; : >"$PATRONI_RESULTS"
  log "alternating Patroni and Conclave: $RUNS blocks of one round each (ABBA), block outputs in $alt"
  for k in $(seq "$RUNS"); do
    if [ $((k % 2)) = 1 ]; then alt_patroni "$k"; alt_conclave "$k"; else alt_conclave "$k"; alt_patroni "$k"; fi
  done
  echo
  BENCH_ALTERNATED=$RUNS "$PY" "$HERE/report.py" "$RESULTS" "$PATRONI_RESULTS" | tee "$OUTDIR/table.md"
  echo
  echo "JSON lines: $RESULTS (Conclave) and $PATRONI_RESULTS (Patroni), merged from the blocks in $alt"
}

alt_patroni() {  # $1 block
  local d=$alt/patroni-$1
  mkdir -p "$d"
  log "block $1: Patroni (RUNS=1 BOOT_RUNS=1 $ANCHOR/run.sh default)"
  RUNS=1 BOOT_RUNS=1 JITTER=$JITTER OUTDIR=$d RESULTS=$d/results.jsonl \
    "$ANCHOR/run.sh" default >"$d/run.log" 2>&1 || log "block $1: the Patroni run failed; see $d/run.log"
  alt_merge "$1" "$d/results.jsonl" "$PATRONI_RESULTS"
}

alt_conclave() {  # $1 block
  local d=$alt/conclave-$1
  mkdir -p "$d"
  log "block $1: Conclave (RUNS=1 BOOT_RUNS=1 scripts/bench.sh)"
  PATRONI_RUN=0 RUNS=1 BOOT_RUNS=1 JITTER=$JITTER OUTDIR=$d PATRONI_RESULTS=$d/no-patroni.jsonl PATRONI_BENCH=$ANCHOR \
    "$REPO/scripts/bench.sh" >"$d/run.log" 2>&1 || log "block $1: the Conclave run failed; see $d/run.log"
  alt_merge "$1" "$d/results.jsonl" "$RESULTS"
}

alt_merge() {  # $1 block, $2 block results, $3 merged results (appended)
  [ -f "$2" ] || { log "block $1: no results in $2"; return; }
  "$PY" -c 'import json,sys
k, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(dst, "a") as out:
    for line in open(src):
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        r["run"] = k
        r["block"] = k
        out.write(json.dumps(r) + "\n")' "$1" "$2" "$3"
}
