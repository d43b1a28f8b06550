#!/usr/bin/env python3
"""Soak helper for `scripts/bench.sh soak` (standard library only; 127.0.0.1 only).

REST ports come from BENCH_REST="p1,p2,p3" (node1, node2, node3), as for cl.py.

  soak.py snapshot                      -> one JSON line: leader per /cluster of each node, timelines,
                                           Raft term/leader/state per /patroni of each node
  soak.py poll DURATION SAMPLES_JSONL   -> polls GET /cluster and GET /patroni on every node once a
                                           second for DURATION seconds (or until SIGTERM/SIGINT, or,
                                           with SOAK_ABORT_ON_TESTS=1, until an integration test or
                                           go test run shows up: "aborted" in the summary);
                                           each sample is a JSON line in SAMPLES_JSONL; changes are
                                           printed to stderr as they happen; prints one JSON summary
                                           line on stdout at the end
  soak.py loggrep LABEL=FILE:OFFSET ... -> fence/lease lines and WARN/ERROR/plan lines written after
                                           OFFSET; one JSON summary line on stdout
  soak.py window T0 T1 BEFORE AFTER LABEL=FILE:OFFSET ...
                                        -> the log lines stamped in [T0-BEFORE, T1+AFTER] (epoch s)
  soak.py pgbench LOG                   -> one JSON line: transactions, tps, 10-s progress figures
  soak.py report PROFILE POLL LOGGREP PGBENCH PGLOG_COUNT JSONL
                                        -> appends the soak's JSON lines to JSONL (metrics false_failovers,
                                           raft_term_changes, fence_events, pgbench_tps, ...) and prints
                                           the summary

A "false failover" is any change, during the run, of the leader member seen in /cluster by any
node (including the leader disappearing) or of any member's timeline. Consecutive deviating
samples form one episode; each episode counts once. Raft term increments and Raft leader changes
are counted separately (a Raft election alone does not move the PostgreSQL primary).
"""
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

REST = [int(p) for p in os.environ.get("BENCH_REST", "").split(",") if p]


def get(port, path, timeout):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


def iso(t):
    return datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def probe(timeout=0.9):
    """One sample: per node, its /cluster view and its /patroni, queried in parallel."""
    out = {}

    def one(i, port):
        d = {"port": port}
        t = time.time()
        try:
            c = get(port, "/cluster", timeout)
            ms = c.get("members", [])
            d["leader"] = next((m.get("name") for m in ms if m.get("role") == "leader"), "")
            d["members"] = {m.get("name"): [m.get("role"), m.get("state"), m.get("timeline")] for m in ms}
        except Exception as e:  # noqa: BLE001 - any failure is "no answer"
            d["cluster_err"] = type(e).__name__ + ": " + str(e)[:80]
        try:
            p = get(port, "/patroni", timeout)
            r = p.get("raft") or {}
            d["role"], d["state"], d["timeline"] = p.get("role"), p.get("state"), p.get("timeline")
            d["term"], d["raft_leader"], d["raft_state"] = r.get("term"), r.get("leader"), r.get("state")
        except Exception as e:  # noqa: BLE001
            d["patroni_err"] = type(e).__name__ + ": " + str(e)[:80]
        d["ms"] = round((time.time() - t) * 1000)
        out[f"node{i + 1}"] = d

    th = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(REST)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    return {k: out[k] for k in sorted(out)}


def cpu_times():
    """(busy, total) jiffies of all CPUs from /proc/stat; busy excludes idle and iowait."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v[:8]) - v[3] - v[4], sum(v[:8])
    except (OSError, ValueError, IndexError):
        return None


def busy_pct(a, b):
    if not a or not b or b[1] <= a[1]:
        return None
    return round(100.0 * (b[0] - a[0]) / (b[1] - a[1]), 1)


def views(s):
    """Leader name per node whose /cluster answered ("" = no leader)."""
    return {n: d["leader"] for n, d in s.items() if "leader" in d}


def timelines(s):
    tls = {}
    for n, d in s.items():
        if d.get("timeline"):
            tls[f"{n}/patroni"] = d["timeline"]
        for m, (_, _, tl) in (d.get("members") or {}).items():
            if tl:
                tls[f"{n}/cluster:{m}"] = tl
    return tls


def terms(s):
    return {n: d["term"] for n, d in s.items() if d.get("term") is not None}


def raft_leaders(s):
    return {n: d.get("raft_leader") for n, d in s.items() if d.get("term") is not None}


def snapshot():
    s = probe()
    v = views(s)
    tls = timelines(s)
    leaders = sorted(set(v.values()))
    out = {
        "leader": leaders[0] if len(leaders) == 1 else None, "leader_views": v,
        "timeline": max(tls.values()) if tls else None, "timelines": sorted(set(tls.values())),
        "raft_terms": terms(s), "raft_leaders": raft_leaders(s),
        "roles": {n: [d.get("role"), d.get("state")] for n, d in s.items()},
    }
    print(json.dumps(out))
    return 0 if out["leader"] and len(v) == len(REST) else 1


def other_tests():
    """Command lines of integration tests / go test runs on this machine (not ours)."""
    found = []
    for pat in ("integration[.]test", "go [t]est"):
        try:
            r = subprocess.run(["pgrep", "-af", pat], capture_output=True, text=True, timeout=5)
            found += [ln.strip()[:160] for ln in r.stdout.splitlines() if ln.strip()]
        except Exception:  # noqa: BLE001
            pass
    return found


def poll(duration, samples_path):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def say(msg):
        print(f"[{time.strftime('%H:%M:%S')}] soak: {msg}", file=sys.stderr, flush=True)

    base = None
    for _ in range(30):  # a baseline where every node answers and agrees on the leader
        s = probe()
        v = views(s)
        if len(v) == len(REST) and len(set(v.values())) == 1 and next(iter(v.values())):
            base = s
            break
        time.sleep(1)
    if base is None:
        print(json.dumps({"error": "no agreed leader at the start", "last": s}))
        return 1
    t_start = time.time()
    cur_leader = next(iter(views(base).values()))
    cur_tl = max(timelines(base).values())
    t0_terms = terms(base)
    max_term = max(t0_terms.values()) if t0_terms else 0
    term_events, raft_leader_events = [], []
    rl = set(x for x in raft_leaders(base).values() if x)
    cur_raft_leader = rl.pop() if len(rl) == 1 else None
    episodes, ep = [], None
    unreachable = {n: 0 for n in base}
    slow = {n: 0 for n in base}          # answers slower than 500 ms
    max_ms = {n: 0 for n in base}
    leader_not_running = []               # samples where the leader's own /patroni is not a running primary
    tests_seen, last_tests_check = [], 0.0
    cpu_first = cpu_win = None             # from the 3rd sample on (the load starts ~1.5 s after the baseline)
    cpu_windows = []
    abort_on_tests = os.environ.get("SOAK_ABORT_ON_TESTS") == "1"   # stop at once so as not to disturb them
    aborted = None
    n_samples = 0
    say(f"baseline: leader {cur_leader}, timeline {cur_tl}, raft terms {t0_terms}, raft leader {cur_raft_leader}")
    f = open(samples_path, "a")
    s = base
    k = 0
    while not stop.is_set():
        k += 1
        target = t_start + k
        if target > t_start + duration:
            break
        if stop.wait(max(0.0, target - time.time())):
            break
        now = time.time()
        if k == 3:
            cpu_first = cpu_win = cpu_times()
        elif k > 3 and (k - 3) % 60 == 0:
            c = cpu_times()
            cpu_windows.append(busy_pct(cpu_win, c))
            cpu_win = c
        s = probe()
        n_samples += 1
        f.write(json.dumps({"t": round(now, 3), "s": s}) + "\n")
        f.flush()
        for n, d in s.items():
            if "cluster_err" in d or "patroni_err" in d:
                unreachable[n] += 1
            if d["ms"] > 500:
                slow[n] += 1
            max_ms[n] = max(max_ms[n], d["ms"])
        # ---- PostgreSQL leader / timeline ----
        v = views(s)
        tls = timelines(s)
        dev = {n: x for n, x in v.items() if x != cur_leader}
        tdev = {k2: x for k2, x in tls.items() if x != cur_tl}
        if dev or tdev:
            if ep is None:
                ep = {"start": now, "start_hms": iso(now), "from_leader": cur_leader, "from_timeline": cur_tl,
                      "leaders_seen": set(), "timelines_seen": set(),
                      "first": {"leader_views": v, "timelines_off": tdev}}
                say(f"!!! LEADER/TIMELINE CHANGE: /cluster leader views {v} (was {cur_leader}); "
                    f"timelines off {cur_tl}: {tdev}")
            ep["leaders_seen"] |= set(v.values())
            ep["timelines_seen"] |= set(tls.values())
            ls = set(v.values())
            if len(v) == len(REST) and len(ls) == 1 and next(iter(ls)) and len(set(tls.values())) == 1:
                # every node agrees on a (new) leader and on one timeline: the change is over
                ep["end"] = now
                cur_leader, cur_tl = next(iter(ls)), next(iter(tls.values()))
                ep = close_episode(ep, episodes, say, cur_leader, cur_tl)
        elif ep is not None and len(v) >= 2:
            ep["end"] = now   # back to the leader and timeline of before
            ep = close_episode(ep, episodes, say, cur_leader, cur_tl)
        # ---- the leader's own view of itself ----
        ld = s.get(cur_leader) or {}
        if "patroni_err" not in ld and (ld.get("role") != "primary" or ld.get("state") != "running"):
            leader_not_running.append({"t": iso(now), "role": ld.get("role"), "state": ld.get("state")})
            if len(leader_not_running) <= 5:
                say(f"!!! leader {cur_leader} reports role {ld.get('role')} state {ld.get('state')}")
        # ---- Raft ----
        ts = terms(s)
        if ts and max(ts.values()) > max_term:
            term_events.append({"t": iso(now), "from": max_term, "to": max(ts.values()), "terms": ts,
                                "raft_leaders": raft_leaders(s)})
            say(f"raft term {max_term} -> {max(ts.values())} (terms {ts}, raft leaders {raft_leaders(s)})")
            max_term = max(ts.values())
        rls = set(x for x in raft_leaders(s).values() if x)
        if len(rls) == 1:
            r = next(iter(rls))
            if r != cur_raft_leader:
                raft_leader_events.append({"t": iso(now), "from": cur_raft_leader, "to": r})
                say(f"raft leader {cur_raft_leader} -> {r}")
                cur_raft_leader = r
        # ---- other engineers' tests ----
        if now - last_tests_check >= 5:
            last_tests_check = now
            ot = other_tests()
            if ot:
                tests_seen.append({"t": iso(now), "procs": ot})
                if abort_on_tests:
                    aborted = f"other tests started at {iso(now)}: {ot}"
                    say(f"ABORTING: {aborted}")
                    break
                if len(tests_seen) == 1:
                    say(f"WARNING: other tests are running during the soak: {ot}")
        if k % 60 == 0:
            say(f"{k}s: leader {cur_leader} tl {cur_tl}, raft terms {ts}, episodes {len(episodes) + (1 if ep else 0)}, "
                f"max REST ms {max(d['ms'] for d in s.values())}")
    f.close()
    if ep is not None:
        ep["end"] = None
        ep["open_at_end"] = True
        ep["last_views"], ep["last_timelines"] = views(s), timelines(s)
        close_episode(ep, episodes, say)
    t_end_terms = terms(s)
    out = {
        "duration_s": round(time.time() - t_start, 1), "samples": n_samples,
        "baseline": {"leader": next(iter(views(base).values())), "timeline": max(timelines(base).values()),
                     "raft_terms": t0_terms, "raft_leaders": raft_leaders(base)},
        "end": {"leader": cur_leader, "timeline": cur_tl, "raft_terms": t_end_terms,
                "raft_leaders": raft_leaders(s)},
        "false_failovers": len(episodes), "episodes": episodes,
        "raft_term_changes": max_term - (max(t0_terms.values()) if t0_terms else 0),
        "raft_term_events": term_events, "raft_leader_changes": len(raft_leader_events),
        "raft_leader_events": raft_leader_events,
        "leader_not_running_samples": len(leader_not_running), "leader_not_running": leader_not_running[:20],
        "rest_unanswered_samples": unreachable, "rest_slow_samples_500ms": slow, "rest_max_ms": max_ms,
        "other_tests_seen": tests_seen[:10], "other_tests_checks_positive": len(tests_seen),
        "aborted": aborted,
        "cpu_busy_pct": busy_pct(cpu_first, cpu_times()), "cpu_busy_pct_per_minute": cpu_windows,
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    print(json.dumps(out))
    return 0


def close_episode(ep, episodes, say, to_leader=None, to_tl=None):
    ep["to_leader"], ep["to_timeline"] = to_leader, to_tl
    kinds = []
    if ep.get("open_at_end"):
        kinds.append("unsettled_at_end")
    if any(x and x != ep["from_leader"] for x in ep["leaders_seen"]):
        kinds.append("leader_changed")
    if "" in ep["leaders_seen"]:
        kinds.append("leader_lost")
    if any(x != ep["from_timeline"] for x in ep["timelines_seen"]):
        kinds.append("timeline_changed")
    ep["kinds"] = kinds
    ep["leaders_seen"] = sorted(ep["leaders_seen"])
    ep["timelines_seen"] = sorted(ep["timelines_seen"])
    ep["end_hms"] = iso(ep["end"]) if ep.get("end") else None
    ep["duration_s"] = round(ep["end"] - ep["start"], 1) if ep.get("end") else None
    say(f"!!! FALSE FAILOVER episode {len(episodes) + 1}: {'+'.join(kinds)} {ep['from_leader']}/tl{ep['from_timeline']}"
        f" -> {ep['to_leader']}/tl{ep['to_timeline']} ({ep['start_hms']} .. {ep['end_hms']})")
    episodes.append(ep)
    return None


# ---- logs -----------------------------------------------------------------------------------
TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)([+-]\d{4}|Z)")
FENCE = re.compile(r"fencing|lease expired|acquired the leader key|sent SIGQUIT|lease deadline passed", re.I)
LEVEL = re.compile(r"\[(WARN|ERROR)\]")
PLAN = re.compile(r"\[INFO\]\s+\S+\.ha: ")


def stamp(line):
    m = TS.match(line)
    if not m:
        return None
    tz = m.group(2)
    tz = "+0000" if tz == "Z" else tz
    try:
        return datetime.datetime.strptime(m.group(1)[:23] + tz, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return None


def read_since(spec):
    label, rest = spec.split("=", 1)
    path, off = rest.rsplit(":", 1)
    try:
        with open(path, "rb") as fh:
            fh.seek(int(off or 0))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return label, []
    return label, data.splitlines()


def loggrep(specs):
    fence, warn, plans = [], [], []
    for spec in specs:
        label, lines = read_since(spec)
        for ln in lines:
            if FENCE.search(ln):
                fence.append(f"{label}: {ln[:400]}")
            elif LEVEL.search(ln):
                warn.append(f"{label}: {ln[:400]}")
            elif PLAN.search(ln):
                plans.append(f"{label}: {ln[:400]}")
    print(json.dumps({"fence_events": len(fence), "fence_lines": fence, "warn_error": len(warn),
                      "warn_error_lines": warn[:200], "plan_changes": len(plans), "plan_lines": plans[:200]}))
    return 0


def window(t0, t1, before, after, specs):
    lo, hi = t0 - before, t1 + after
    for spec in specs:
        label, lines = read_since(spec)
        keep = False
        out = []
        for ln in lines:
            ts = stamp(ln)
            if ts is not None:
                keep = lo <= ts <= hi
            if keep:
                out.append(ln[:400])
        print(f"----- {label}: {len(out)} lines from {iso(lo)} to {iso(hi)}")
        for ln in out[-300:]:
            print(f"{label}: {ln}")
    return 0


# ---- pgbench --------------------------------------------------------------------------------
def pgbench(path):
    segs, cur = [], None
    prog = []
    for ln in open(path, errors="replace"):
        ln = ln.rstrip("\n")
        m = re.match(r"=== segment (\d+) start ([\d.]+) leader (\S+) port (\d+) T (\d+)", ln)
        if m:
            cur = {"segment": int(m.group(1)), "start": float(m.group(2)), "leader": m.group(3),
                   "port": int(m.group(4)), "T": int(m.group(5)), "processed": None, "tps": None,
                   "failed": None, "errors": []}
            segs.append(cur)
            continue
        m = re.match(r"=== segment (\d+) end ([\d.]+) exit (\d+)", ln)
        if m and cur:
            cur["end"], cur["exit"] = float(m.group(2)), int(m.group(3))
            cur["wall_s"] = round(cur["end"] - cur["start"], 1)
            continue
        if cur is None:
            continue
        m = re.match(r"progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms stddev ([\d.]+|NaN)(?:, (\d+) failed)?", ln)
        if m:
            prog.append({"seg": cur["segment"], "at_s": float(m.group(1)), "tps": float(m.group(2)),
                         "lat_ms": float(m.group(3))})
            continue
        m = re.match(r"number of transactions actually processed: (\d+)", ln)
        if m:
            cur["processed"] = int(m.group(1))
        m = re.match(r"number of failed transactions: (\d+)", ln)
        if m:
            cur["failed"] = int(m.group(1))
        m = re.match(r"tps = ([\d.]+)", ln)
        if m:
            cur["tps"] = float(m.group(1))
        if "error" in ln.lower() or "abort" in ln.lower():
            cur["errors"].append(ln[:300])
    processed = sum(s["processed"] or 0 for s in segs)
    wall = sum(s.get("wall_s") or 0 for s in segs)
    busy = sum(s["processed"] / s["tps"] for s in segs if s["processed"] and s["tps"])
    ptps = [p["tps"] for p in prog]
    med = statistics.median(ptps) if ptps else None
    out = {
        "segments": len(segs), "processed": processed, "wall_s": round(wall, 1),
        # pgbench's own figure (transactions over its measured time, summed over the runs)
        "tps": round(processed / busy, 1) if busy else None,
        "tps_wall": round(processed / wall, 1) if wall else None,
        "pgbench_tps": [s["tps"] for s in segs],
        "failed": sum(s["failed"] or 0 for s in segs),
        "progress_intervals": len(ptps),
        "progress_tps_min": min(ptps) if ptps else None, "progress_tps_median": med,
        "progress_tps_max": max(ptps) if ptps else None,
        "progress_lat_ms_max": max((p["lat_ms"] for p in prog), default=None),
        "stall_intervals": [p for p in prog if med and p["tps"] < 0.2 * med][:20],
        "exits": [s.get("exit") for s in segs],
        "errors": [e for s in segs for e in s["errors"]][:20],
    }
    print(json.dumps(out))
    return 0


def load1(path):
    try:
        with open(path) as fh:
            txt = fh.read().strip().splitlines()
        return json.loads(txt[-1]) if txt else {}
    except (OSError, ValueError):
        return {}


def report(profile, poll_p, grep_p, pgb_p, pglog_count, jsonl):
    po, gr, pb = load1(poll_p), load1(grep_p), load1(pgb_p)
    base = {"profile": profile, "test": "soak", "run": 1}

    def rec(metric, value, **kw):
        with open(jsonl, "a") as fh:
            fh.write(json.dumps(dict(base, metric=metric, value=value, **kw)) + "\n")

    eps = po.get("episodes", [])
    rec("false_failovers", po.get("false_failovers"), duration_s=po.get("duration_s"), samples=po.get("samples"),
        baseline=po.get("baseline"), end=po.get("end"),
        episodes=[{k: e.get(k) for k in ("start_hms", "end_hms", "duration_s", "kinds", "from_leader", "to_leader",
                                          "from_timeline", "to_timeline", "leaders_seen", "first")} for e in eps],
        leader_not_running_samples=po.get("leader_not_running_samples"),
        other_tests_checks_positive=po.get("other_tests_checks_positive"), error=po.get("error"))
    rec("raft_term_changes", po.get("raft_term_changes"), raft_leader_changes=po.get("raft_leader_changes"),
        terms_start=(po.get("baseline") or {}).get("raft_terms"), terms_end=(po.get("end") or {}).get("raft_terms"),
        events=po.get("raft_term_events"), raft_leader_events=po.get("raft_leader_events"))
    rec("fence_events", gr.get("fence_events"), lines=gr.get("fence_lines"))
    rec("pgbench_tps", pb.get("tps"), detail=pb)
    rec("rest_unanswered_samples", sum((po.get("rest_unanswered_samples") or {}).values()) if po else None,
        per_node=po.get("rest_unanswered_samples"), slow_500ms=po.get("rest_slow_samples_500ms"),
        max_ms=po.get("rest_max_ms"))
    rec("cpu_busy_pct", po.get("cpu_busy_pct"), per_minute=po.get("cpu_busy_pct_per_minute"),
        loadavg=po.get("loadavg"))
    rec("warn_error_lines", gr.get("warn_error"), plan_changes=gr.get("plan_changes"),
        postgresql_restart_lines=int(pglog_count or 0))

    ff = po.get("false_failovers")
    bl = po.get("baseline") or {}
    en = po.get("end") or {}
    print()
    print("=" * 78)
    print(f"SOAK SUMMARY ({po.get('duration_s')} s, {po.get('samples')} one-second samples)")
    print(f"  leader / timeline   : {bl.get('leader')}/{bl.get('timeline')} -> {en.get('leader')}/{en.get('timeline')}")
    if ff:
        print(f"  FALSE FAILOVERS     : {ff}   <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<")
        for e in eps:
            print(f"      {e.get('start_hms')} .. {e.get('end_hms')}: {'+'.join(e.get('kinds') or [])}"
                  f" {e.get('from_leader')}/tl{e.get('from_timeline')} -> {e.get('to_leader')}/tl{e.get('to_timeline')}"
                  f" (leaders seen {e.get('leaders_seen')})")
    else:
        print(f"  false failovers     : {ff}")
    print(f"  leader not running  : {po.get('leader_not_running_samples')} samples")
    print(f"  raft term changes   : {po.get('raft_term_changes')} (terms {bl.get('raft_terms')} -> {en.get('raft_terms')});"
          f" raft leader changes {po.get('raft_leader_changes')}")
    for e in (po.get("raft_term_events") or [])[:10]:
        print(f"      {e['t']}: term {e['from']} -> {e['to']}, raft leaders {e['raft_leaders']}")
    print(f"  fence events        : {gr.get('fence_events')}")
    for ln in (gr.get("fence_lines") or [])[:20]:
        print(f"      {ln[:300]}")
    print(f"  pgbench             : {pb.get('tps')} tps over {pb.get('wall_s')} s ({pb.get('processed')} transactions,"
          f" {pb.get('failed')} failed, {pb.get('segments')} run(s), exits {pb.get('exits')});"
          f" 10-s progress tps min/median/max {pb.get('progress_tps_min')}/{pb.get('progress_tps_median')}"
          f"/{pb.get('progress_tps_max')}, max latency {pb.get('progress_lat_ms_max')} ms")
    if pb.get("stall_intervals"):
        print(f"      intervals below 20% of the median: {pb['stall_intervals']}")
    print(f"  CPU busy (all cores): {po.get('cpu_busy_pct')}% over the run; per minute {po.get('cpu_busy_pct_per_minute')};"
          f" load average at the end {po.get('loadavg')}")
    print(f"  REST unanswered     : {po.get('rest_unanswered_samples')} (answers > 500 ms: "
          f"{po.get('rest_slow_samples_500ms')}, max ms {po.get('rest_max_ms')})")
    print(f"  agent WARN/ERROR    : {gr.get('warn_error')} lines; HA plan changes: {gr.get('plan_changes')};"
          f" PostgreSQL shutdown/promote/crash lines: {pglog_count}")
    for ln in (gr.get("warn_error_lines") or [])[:15]:
        print(f"      {ln[:300]}")
    for ln in (gr.get("plan_lines") or [])[:15]:
        print(f"      {ln[:300]}")
    if po.get("other_tests_checks_positive"):
        print(f"  WARNING: other tests were running during the soak ({po['other_tests_checks_positive']} checks):"
              f" {po.get('other_tests_seen', [])[:2]}")
    if po.get("error"):
        print(f"  ERROR: {po['error']}")
    print("=" * 78)
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    if a[0] == "snapshot":
        return snapshot()
    if a[0] == "poll":
        return poll(float(a[1]), a[2])
    if a[0] == "loggrep":
        return loggrep(a[1:])
    if a[0] == "window":
        return window(float(a[1]), float(a[2]), float(a[3]), float(a[4]), a[5:])
    if a[0] == "pgbench":
        return pgbench(a[1])
    if a[0] == "report":
        return report(*a[1:7])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
