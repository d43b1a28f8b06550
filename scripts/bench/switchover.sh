# Sourced by scripts/bench.sh in "switchover" mode (./scripts/bench.sh switchover): after the
# bootstrap rounds, RUNS planned switchovers to a named candidate under the anchor's writer,
# measured exactly as ../shared/bench/patroni/run.sh measures Patroni's (analyze.py switchover:
# the first acknowledged write on another port minus the last one on the old primary's port).
# Prints the median and the worst write gap and of the bootstrap figures; JSON lines in $RESULTS.

switchover_round() {  # $1 run
  local r=$1 tag=sw_$1 name pg rest i c lg ev res t1 out
  ensure_healthy "$tag" || { record "{\"profile\":\"$PROFILE\",\"test\":\"switchover\",\"metric\":\"write_gap_s\",\"run\":$r,\"value\":null,\"error\":\"no healthy cluster\"}"; return; }
  read -r name pg rest < <(cl leader) || { log "$tag: no leader"; return; }
  i=${name#node}; c=$((i % 3 + 1))
  lg=$W/logs/$tag.log
  start_writer "t_$tag" "$lg"; sleep 2
  mark_logs
  ev=$(now)
  out=$("${run_as[@]}" "$BIN" -c "$W/node$i/conclave.yml" switchover --leader "$name" --candidate "node$c" --force 2>&1)
  t1=$(sub "$(now)" "$ev")
  res=$("$PY" "$ANCHOR/analyze.py" switchover "$lg" "$ev" "$pg" 30)
  sleep 1; stop_writer
  log "$tag: $name -> node$c: gap $(json_get "$res" gap_s)s (CLI returned after ${t1}s: $(echo "$out" | grep -E 'over to|failed' | tail -1))"
  [ "$(json_get "$res" gap_s)" = null ] && tail_logs "$tag"
  record "{\"profile\":\"$PROFILE\",\"test\":\"switchover\",\"metric\":\"write_gap_s\",\"run\":$r,\"value\":$(json_get "$res" gap_s),\"cli_s\":$t1,\"old\":\"$name\",\"new\":\"node$c\",\"detail\":${res:-null}}"
}

switchover_main() {
  local r
  for r in $(seq "$RUNS"); do switchover_round "$r"; done
  stop_writer
  stop_cluster
  "$PY" - "$RESULTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for test, metric, label in (("bootstrap", "to_3_streaming_s", "bootstrap: three fresh agents to one leader + two streaming"),
                            ("switchover", "write_gap_s", "planned switchover: writer's write-unavailability window")):
    vals = [r["value"] for r in rows if r.get("test") == test and r.get("metric") == metric]
    ok = sorted(v for v in vals if v is not None)
    if not ok:
        print(f"{label}: no successful round of {len(vals)}")
        continue
    worst = "timeout" if len(ok) < len(vals) else f"{ok[-1]:.3f} s"
    print(f"{label}: median {statistics.median(ok):.3f} s, best {ok[0]:.3f} s, worst {worst} ({len(vals)} rounds)")
PYEOF
}
