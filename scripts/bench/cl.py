#!/usr/bin/env python3
"""REST helper for scripts/bench.sh (standard library only).

REST ports come from BENCH_REST="p1,p2,p3" (127.0.0.1 only). A member is
"healthy" in the sense of the Patroni anchor: three members, exactly one
leader in state running, the two others (replica or sync_standby) streaming.

  cl.py leader                          -> "name pg_port rest_port" of the running leader (exit 1 if none)
  cl.py wait-healthy TIMEOUT [T0]       -> waits (polls GET /cluster every 100 ms); prints seconds since T0
                                           (default: since the call); exit 1 and prints the last state on timeout
  cl.py wait-streaming NAME TIMEOUT [T0]-> waits until member NAME is streaming; same output
  cl.py replica                         -> "name pg_port rest_port" of a streaming replica (exit 1 if none)
  cl.py wait-sync TIMEOUT [T0]          -> wait-healthy, and one of the streaming members is sync_standby
  cl.py patch-config JSON               -> PATCH /config with JSON on the first node that accepts it (exit 1 if none)
  cl.py state                           -> one-line summary of the members (for logs)
"""
import json
import os
import sys
import time
import urllib.request

REST = [int(p) for p in os.environ["BENCH_REST"].split(",")]


def get(port, path, timeout=0.5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


def cluster():
    for p in REST:
        try:
            return get(p, "/cluster")
        except Exception:
            continue
    return None


def summary(c):
    if not c:
        return "no REST answer"
    return " ".join(f"{m.get('name')}:{m.get('role')}/{m.get('state')}" for m in c.get("members", [])) or "no members"


def healthy(c):
    if not c:
        return False
    ms = c.get("members", [])
    ld = [m for m in ms if m.get("role") == "leader" and m.get("state") == "running"]
    st = [m for m in ms if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming"]
    return len(ms) == 3 and len(ld) == 1 and len(st) == 2


def healthy_sync(c):
    return healthy(c) and any(m.get("role") == "sync_standby" for m in c.get("members", []))


def patch_config(body):
    last = "no REST port answered"
    for p in REST:
        req = urllib.request.Request(f"http://127.0.0.1:{p}/config", data=body.encode(), method="PATCH",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                print(r.read().decode())
                return 0
        except Exception as e:  # noqa: BLE001 - try the next node
            last = f"port {p}: {e}"
    print(last, file=sys.stderr)
    return 1


def streaming(c, name):
    if not c:
        return False
    return any(m.get("name") == name and m.get("role") in ("replica", "sync_standby")
               and m.get("state") == "streaming" for m in c.get("members", []))


def wait(pred, timeout, t0):
    start = time.time()
    t0 = t0 if t0 is not None else start
    c = None
    while time.time() - start < timeout:
        c = cluster()
        if pred(c):
            print(f"{time.time() - t0:.3f}")
            return 0
        time.sleep(0.1)
    print(f"timeout after {timeout:g}s; last state: {summary(c)}")
    return 1


def main():
    cmd = sys.argv[1]
    if cmd == "leader":
        c = cluster()
        for m in (c or {}).get("members", []):
            if m.get("role") == "leader" and m.get("state") == "running":
                rest = m["api_url"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
                print(m["name"], m["port"], rest)
                return 0
        return 1
    if cmd == "replica":
        c = cluster()
        for m in (c or {}).get("members", []):
            if m.get("role") in ("replica", "sync_standby") and m.get("state") == "streaming":
                rest = m["api_url"].split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
                print(m["name"], m["port"], rest)
                return 0
        return 1
    if cmd == "wait-healthy":
        t0 = float(sys.argv[3]) if len(sys.argv) > 3 else None
        return wait(healthy, float(sys.argv[2]), t0)
    if cmd == "wait-sync":
        t0 = float(sys.argv[3]) if len(sys.argv) > 3 else None
        return wait(healthy_sync, float(sys.argv[2]), t0)
    if cmd == "patch-config":
        return patch_config(sys.argv[2])
    if cmd == "wait-streaming":
        name = sys.argv[2]
        t0 = float(sys.argv[4]) if len(sys.argv) > 4 else None
        return wait(lambda c: streaming(c, name), float(sys.argv[3]), t0)
    if cmd == "state":
        print(summary(cluster()))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
