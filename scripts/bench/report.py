#!/usr/bin/env python3
"""Table for scripts/bench.sh: Conclave figures (results.jsonl) beside Patroni's.

  report.py RESULTS_JSONL [PATRONI_RESULTS_JSONL]

Every Patroni figure comes from the results.jsonl of a Patroni anchor run
(../shared/bench/patroni/run.sh, profile "default") made beside this one; none
is read from a README. Without that file the Patroni column stays empty.

How the figures are counted:
- a round that timed out counts in "worst" as at least its timeout ("≥ 60"),
  and the row says how many rounds timed out;
- "PostgreSQL crash, restarted in place" leaves out rounds in which a replica
  was promoted instead, and says how many;
- REST figures are 2xx answers per second only, measured on the leader for
  both paths (as the anchor does); non-2xx answers are reported apart.
"""
import datetime
import json
import os
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


def select(rows, test, metric, profile=None):
    return [r for r in rows if r.get("test") == test and r.get("metric") == metric
            and (profile is None or r.get("profile") == profile)]


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Fig:
    """One figure over rounds: the median of the measured rounds, the worst
    (timeouts counted as at least their timeout), and the counts."""

    def __init__(self, rows, keep=lambda r: True, timeout=None):
        self.rows = rows
        self.timeout = timeout  # for rows that do not record their own
        kept = [r for r in rows if keep(r)]
        self.left_out = len(rows) - len(kept)
        self.values = [r["value"] for r in kept if num(r.get("value"))]
        self.failed = [r for r in kept if not num(r.get("value"))]
        self.n = len(kept)

    def median(self):
        return statistics.median(self.values) if self.values else None

    def worst(self):
        """(value, at_least): a failed round counts as its timeout."""
        timeouts = [r.get("timeout_s", self.timeout) for r in self.failed]
        if self.failed and all(num(t) for t in timeouts):
            return max(self.values + timeouts), True
        if self.failed:
            return None, True  # failed without a known timeout: unbounded
        return (max(self.values) if self.values else None), False

    def runs(self):
        return f"{len(self.values)}/{self.n}" if self.n else "0"


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
        return f"{r:.2f}× ({pv / cv:.1f}× less)" if r < 1 else f"{r:.2f}×"
    return f"{r:.2f}×"


def main():
    res = load(sys.argv[1])
    ppath = sys.argv[2] if len(sys.argv) > 2 else ""
    pres = [r for r in load(ppath) if r.get("profile") == "default"]
    notes = []
    alternated = os.environ.get("BENCH_ALTERNATED")
    if alternated:
        notes.append(f"alternated: {alternated} blocks of one round of Patroni and one of Conclave in turn (ABBA), "
                     "so both columns saw the same machine load; compare the ratios, not the absolute figures, "
                     "when the machine was busy")
    if pres:
        when = datetime.datetime.fromtimestamp(os.path.getmtime(ppath), datetime.timezone.utc)
        notes.append(f"Patroni: results of the anchor run in {ppath} (profile default: ttl 30, loop_wait 10), "
                     f"finished {when:%Y-%m-%d %H:%M} UTC")
        mine = [r for r in res if r.get("metric") == "revision"]
        if mine:
            age_h = (datetime.datetime.now(datetime.timezone.utc) - when).total_seconds() / 3600
            if age_h > 3:
                notes.append(f"WARNING: that Patroni run is {age_h:.0f} h old: not the same hour "
                             "(PATRONI_RUN=1 runs it beside this one)")
    else:
        notes.append(f"no Patroni results at {ppath or '(none given)'}: Patroni column empty "
                     "(PATRONI_RUN=1 make bench runs the anchor beside this run)")

    def c(test, metric, keep=lambda r: True):
        return Fig(select(res, test, metric), keep)

    def p(test, metric, keep=lambda r: True):
        # The anchor's analyze.py waits 300 s for a figure; its rows do not record it.
        return Fig(select(pres, test, metric, "default"), keep, timeout=300)

    in_place = lambda r: r.get("failed_over") is not True  # noqa: E731
    figs = {
        "bootstrap": (c("bootstrap", "to_3_streaming_s"), p("bootstrap", "to_3_streaming_s")),
        "rto": (c("failover", "rto_s"), p("failover_nosync", "rto_s")),
        "rto_sync": (c("failover_sync", "rto_s"), p("failover_sync", "rto_s")),
        "rejoin": (c("failover", "rejoin_s"), p("failover_nosync", "old_primary_rejoin_s")),
        "crash": (c("pg_crash", "writes_resume_s", in_place), p("pg_crash", "writes_resume_s")),
    }

    rows = []

    def median_row(name, key, kind="lower"):
        cf, pf = figs[key]
        cv, pv = cf.median(), pf.median()
        extra = []
        if cf.failed:
            extra.append(f"{len(cf.failed)} timed out")
        if cf.left_out:
            extra.append(f"{cf.left_out} left out")
        rows.append((name, fmt(cv), fmt(pv), ratio(cv, pv, kind), cf.runs() + (" (" + ", ".join(extra) + ")" if extra else "")))

    def worst_row(name, key):
        cf, pf = figs[key]
        (cv, c_at_least), (pv, p_at_least) = cf.worst(), pf.worst()
        cs = ("≥ " if c_at_least else "") + fmt(cv)
        ps = ("≥ " if p_at_least else "") + fmt(pv)
        n = f"{len(cf.failed)} of {cf.n} timed out" if cf.n else "0"
        rows.append((name, cs, ps, ratio(cv, pv, "lower") if not c_at_least else "–", n))

    c_rss = [r["value"] for r in select(res, "idle_rss", "agent_rss_mib") if num(r.get("value"))]
    c_wd = [r["value"] for r in select(res, "idle_rss", "watchdog_rss_mib") if num(r.get("value"))]
    p_rss = [r["value"] for r in select(pres, "idle_rss", "patroni_rss_mib", "default") if num(r.get("value"))]
    p_etcd = [r["value"] for r in select(pres, "idle_rss", "etcd_rss_mib", "default") if num(r.get("value"))]
    binary = [r["value"] for r in select(res, "binary", "size_mib") if num(r.get("value"))]

    median_row("bootstrap to 1 running + 2 streaming (s, median)", "bootstrap")
    cm, pm = (statistics.median(c_rss) if c_rss else None), (statistics.median(p_rss) if p_rss else None)
    rows.append(("idle RSS per agent (MiB, median)", fmt(cm), fmt(pm), ratio(cm, pm, "less"), f"{len(c_rss)} agents"))
    # Whole cluster: three agents (and watchdogs) at their median; one etcd.
    # With PATRONI_RUN=alternate there are three agents per block.
    ct = 3 * (statistics.median(c_rss) + (statistics.median(c_wd) if c_wd else 0)) if c_rss else None
    pt = 3 * statistics.median(p_rss) + statistics.median(p_etcd) if p_rss and p_etcd else None
    rows.append(("idle RSS, whole cluster: 3 agents (+ watchdogs; + etcd for Patroni) (MiB)", fmt(ct), fmt(pt), ratio(ct, pt, "less"), ""))
    rows.append(("binary size bin/conclave (MiB)", fmt(binary[0] if binary else None), "–", "–", ""))
    median_row("failover RTO after node crash, async (s, median)", "rto")
    worst_row("failover RTO after node crash, async, worst (s)", "rto")
    median_row("failover RTO after node crash, synchronous mode (s, median)", "rto_sync")
    worst_row("failover RTO, synchronous mode, worst (s)", "rto_sync")
    median_row("rejoin of the crashed node (s, median)", "rejoin")
    median_row("PostgreSQL crash -> writes resume, restarted in place (s, median)", "crash")
    for ep in ("primary", "health"):
        cr = select(res, f"rest_{ep}", "req_per_s")
        pr = select(pres, f"rest_{ep}", "req_per_s", "default")
        # The median over blocks (one row per run of wrk; one run without PATRONI_RUN=alternate).
        cvs = [r["value"] for r in cr if num(r.get("value"))]
        pvs = [r["value"] for r in pr if num(r.get("value"))]
        cv = statistics.median(cvs) if cvs else None
        pv = statistics.median(pvs) if pvs else None
        non = sum(r.get("non_2xx", 0) or 0 for r in cr)
        roles = sorted({r.get("role", "?") for r in cr}) or ["?"]
        role = roles[0] if len(roles) == 1 else "/".join(roles)
        rows.append((f"REST GET /{ep} on the leader, 2xx answers (req/s)", fmt(cv, "rps"), fmt(pv, "rps"),
                     ratio(cv, pv, "higher"), f"{non} non-2xx" + ("" if role == "leader" else f" (measured on {role})")))

    w = [max(len(r[i]) for r in rows + [("figure", "Conclave", "Patroni", "Conclave/Patroni", "ok runs")]) for i in range(5)]
    head = ("figure", "Conclave", "Patroni", "Conclave/Patroni", "ok runs")
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print("| " + " | ".join(str(v).ljust(w[i]) for i, v in enumerate(r)) + " |")
    print()
    print("Conclave: default dynamic config (ttl 3, loop_wait 1, retry_timeout 1).")
    if c_wd:
        print(f"Plus Conclave's detached watchdog process per node: {statistics.median(c_wd):.1f} MiB RSS (median), not in the per-agent figure.")
    for test, label in (("failover", "async"), ("failover_sync", "synchronous mode")):
        lost = [r["value"] for r in select(res, test, "acked_ids_missing") if num(r.get("value"))]
        if lost:
            print(f"Acknowledged writes missing on the new leader after failover ({label}): {int(sum(lost))} in {len(lost)} rounds.")
    crash_fo = figs["crash"][0].left_out
    if crash_fo:
        print(f"PostgreSQL crash: {crash_fo} of {len(figs['crash'][0].rows)} rounds failed over to a replica instead of "
              "restarting in place; they are left out of that median.")
    print("Timed-out rounds count in \"worst\" as at least their timeout (\"≥\"). "
          "REST: wrk -t2 -c8 -d10s on the leader for both paths, as the Patroni anchor; only 2xx answers count.")
    print("Patroni's rejoin is until the whole cluster is healthy again (the anchor's measure); Conclave's until the member streams.")
    for n in notes:
        print("note: " + n)


if __name__ == "__main__":
    main()
