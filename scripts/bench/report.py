#!/usr/bin/env python3
"""Table for scripts/bench.sh: Conclave figures (results.jsonl) beside Patroni's.

  report.py RESULTS_JSONL PATRONI_README [PATRONI_RESULTS_JSONL]

Patroni figures come from the "default" row of the table in the Patroni anchor
README; a figure the README lacks (bootstrap, worst RTO, /health rps) is taken
from the anchor's own results.jsonl (profile "default") when that file exists.
"""
import json
import os
import re
import statistics
import sys


def load(path):
    rows = []
    if path and os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def values(rows, test, metric, profile=None):
    return [r.get("value") for r in rows if r.get("test") == test and r.get("metric") == metric
            and (profile is None or r.get("profile") == profile)]


def nums(vs):
    return [v for v in vs if isinstance(v, (int, float))]


def med(vs):
    ok = nums(vs)
    return statistics.median(ok) if ok else None


def first_num(s):
    m = re.search(r"[-+]?\d[\d,]*(?:\.\d+)?", s or "")
    return float(m.group(0).replace(",", "")) if m else None


def readme_default_row(path):
    """Returns {column header (lower case): cell} for the 'default' profile row."""
    if not os.path.exists(path):
        return {}
    header = None
    for line in open(path):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].lower() == "profile":
            header = [c.lower() for c in cells]
        elif header and cells and cells[0].lower().startswith("default"):
            return dict(zip(header, cells))
    return {}


def cell(row, *keys):
    for h, v in row.items():
        if all(k in h for k in keys):
            return v
    return None


def main():
    res = load(sys.argv[1])
    readme = sys.argv[2]
    prow = readme_default_row(readme)
    pres = load(sys.argv[3] if len(sys.argv) > 3 else "")
    src_note = []
    if not prow:
        src_note.append(f"could not read the Patroni table in {readme}; Patroni column left empty")

    def p_from_results(test, metric, how=med):
        vs = nums(values(pres, test, metric, "default"))
        return how(vs) if vs else None

    rto_cell = cell(prow, "failover")
    rss_cell = cell(prow, "rss")
    p = {
        "bootstrap": first_num(cell(prow, "bootstrap")) if cell(prow, "bootstrap") else p_from_results("bootstrap", "to_3_streaming_s"),
        "rto": first_num(rto_cell),
        "rto_max": p_from_results("failover_nosync", "rto_s", max),
        "rejoin": first_num(cell(prow, "rejoin")),
        "crash": first_num(cell(prow, "crash")),
        "rss": first_num(rss_cell),
        "etcd": first_num((re.search(r"\+\s*([\d.]+)\s*MiB\s*etcd", rss_cell or "") or [None, None])[1]),
        "primary": first_num(cell(prow, "/primary")),
        "health": p_from_results("rest_health", "req_per_s"),
    }
    if cell(prow, "bootstrap") is None:
        src_note.append("Patroni bootstrap: not in the README; " + (
            "median from " + sys.argv[3] if p["bootstrap"] is not None else "no anchor results.jsonl found (run the anchor's run.sh to get it)"))

    c_rss = nums(values(res, "idle_rss", "agent_rss_mib"))
    c = {
        "bootstrap": med(values(res, "bootstrap", "to_3_streaming_s")),
        "rss": med(c_rss),
        "binary": med(values(res, "binary", "size_mib")),
        "rto": med(values(res, "failover", "rto_s")),
        "rto_max": max(nums(values(res, "failover", "rto_s")), default=None),
        "rejoin": med(values(res, "failover", "rejoin_s")),
        "crash": med(values(res, "pg_crash", "writes_resume_s")),
        "primary": med(values(res, "rest_primary", "req_per_s")),
        "health": med(values(res, "rest_health", "req_per_s")),
    }
    c_total = sum(c_rss) + sum(nums(values(res, "idle_rss", "watchdog_rss_mib"))) if len(c_rss) == 3 else None
    p_total = 3 * p["rss"] + p["etcd"] if p["rss"] is not None and p["etcd"] is not None else None

    def n_fail(test, metric):
        vs = values(res, test, metric)
        return len(vs), len(vs) - len(nums(vs))

    def fmt(v, unit=""):
        if v is None:
            return "–"
        if unit == "rps":
            return f"{v:,.0f}"
        return f"{v:.3g}" if v < 10 else f"{v:.1f}"

    def ratio(cv, pv, kind):
        if cv is None or pv is None or pv == 0 or cv == 0:
            return "–"
        r = cv / pv
        if kind == "lower":
            return f"{r:.2f}× ({pv / cv:.1f}× {'faster' if r < 1 else 'slower'})"
        if kind == "less":
            return f"{r:.2f}× ({pv / cv:.1f}× {'less' if r < 1 else 'more'})" if r < 1 else f"{r:.2f}×"
        return f"{r:.2f}×"

    def runs(test, metric):
        n, f = n_fail(test, metric)
        return f"{n - f}/{n}" if n else "0"

    rows = [
        ("bootstrap to 1 running + 2 streaming (s, median)", c["bootstrap"], p["bootstrap"], "lower", runs("bootstrap", "to_3_streaming_s")),
        ("idle RSS per agent (MiB, median of 3)", c["rss"], p["rss"], "less", f"{len(c_rss)} agents"),
        ("idle RSS, whole cluster: 3 agents (+ watchdogs; + etcd for Patroni) (MiB)", c_total, p_total, "less", ""),
        ("binary size bin/conclave (MiB)", c["binary"], None, "", ""),
        ("failover RTO after node crash, async (s, median)", c["rto"], p["rto"], "lower", runs("failover", "rto_s")),
        ("failover RTO, worst (s)", c["rto_max"], p["rto_max"], "lower", ""),
        ("rejoin of the crashed node (s, median)", c["rejoin"], p["rejoin"], "lower", runs("failover", "rejoin_s")),
        ("PostgreSQL crash -> writes resume (s, median)", c["crash"], p["crash"], "lower", runs("pg_crash", "writes_resume_s")),
        ("REST GET /primary on the leader (req/s)", c["primary"], p["primary"], "higher", ""),
        ("REST GET /health on a replica (req/s)", c["health"], p["health"], "higher", ""),
    ]
    w0 = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{w0}} | {'Conclave':>9} | {'Patroni':>9} | {'Conclave/Patroni':<22} | {'ok runs':<8} |")
    print(f"|{'-' * (w0 + 2)}|{'-' * 11}|{'-' * 11}|{'-' * 24}|{'-' * 10}|")
    for name, cv, pv, kind, n in rows:
        unit = "rps" if "req/s" in name else ""
        print(f"| {name:<{w0}} | {fmt(cv, unit):>9} | {fmt(pv, unit):>9} | {ratio(cv, pv, kind):<22} | {n:<8} |")
    wd = nums(values(res, "idle_rss", "watchdog_rss_mib"))
    lost = nums(values(res, "failover", "acked_ids_missing"))
    print()
    print("Patroni: default profile (ttl 30, loop_wait 10) of " + readme + "; Conclave: default dynamic config (ttl 3, loop_wait 1, retry_timeout 1).")
    if wd:
        print(f"Plus Conclave's detached watchdog process per node: {statistics.median(wd):.1f} MiB RSS (median), not in the agent figure.")
    if lost:
        print(f"Acknowledged writes missing on the new leader after failover (async): {int(sum(lost))} in {len(lost)} rounds.")
    print("wrk: -t2 -c8 -d10s, as the Patroni anchor.")
    for n in src_note:
        print("note: " + n)


if __name__ == "__main__":
    main()
