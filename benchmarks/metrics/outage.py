#!/usr/bin/env python3
"""PostgreSQL killed for 30 s in the middle of a run: the pipeline's throughput beside a run without PostgreSQL.

  benchmarks/metrics/outage.py [--events 250000] [--outage 30] [--pairs 1] [--buffer 200]

Each pair is two runs of `vectorstream run --source generator --events N --json` on the embedded stores, one after
the other on this machine: one with the metrics history in a PostgreSQL of its own (scripts/services/postgres.sh
start-instance metrics-outage 15452; written every second, a buffer of --buffer points so that the outage leaves a
gap; the run must last well beyond the outage's end, 10 s + --outage, for the resumption to show) whose postmaster is SIGKILLed 10 s after the run starts and started again --outage seconds later, and one
without PostgreSQL. Printed per run: events/s (the run's own figure), and for the PostgreSQL run the points dropped
(the gap, from the history's metrics_points_dropped series), whether points were written after the restart, and how
many events_stored increases the gap lost. The last line is the ratio of the mean rates (with / without).
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("VECTORSTREAM_BIN", str(ROOT / ".build" / "release" / "vectorstream"))
PG = ["bash", str(ROOT / "scripts" / "services" / "postgres.sh")]


def pg(*args: str) -> str:
    out = subprocess.run([*PG, *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-500:])
    return (out.stdout.strip().splitlines() or [""])[-1]


def psql(url: str, sql: str) -> str:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qtAX", "-c", sql], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()[-400:]}")
    return out.stdout.strip()


def run(events: int, postgres: str | None, buffer: int, outage: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECTORSTREAM_")}
    data = tempfile.mkdtemp(prefix="vs-outage-")
    env.update(VECTORSTREAM_DATA_DIR=data, VECTORSTREAM_WORKER_ID="outage-worker")
    if postgres:
        env.update(VECTORSTREAM_POSTGRES_URL=postgres, VECTORSTREAM_POSTGRES_WRITE_INTERVAL="1s",
                   VECTORSTREAM_POSTGRES_BUFFER_POINTS=str(buffer))
    timeline = {}

    def outage_thread(start: float) -> None:
        time.sleep(10)
        pg("kill-instance", "metrics-outage")
        timeline["killed"] = time.time() - start
        time.sleep(outage)
        pg("start-instance", "metrics-outage", "15452")
        timeline["restarted"] = time.time() - start

    start = time.time()
    t = threading.Thread(target=outage_thread, args=(start,)) if postgres else None
    if t:
        t.start()
    p = subprocess.run([BIN, "run", "--no-server", "--source", "generator", "--events", str(events), "--json"],
                       env=env, capture_output=True, text=True, timeout=1800)
    took = time.time() - start
    if t:
        t.join()
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    out = {"events_per_second": summary["events_per_second"], "stored": summary["events_stored"], "seconds": round(took, 1),
           "log_lines_about_outage": sum("not writable" in line for line in p.stderr.splitlines()), **timeline}
    if postgres:
        out["points_dropped"] = int(psql(postgres, "SELECT coalesce(sum(value), 0)::bigint FROM vectorstream_metric_points WHERE worker = 'outage-worker' AND metric = 'metrics_points_dropped'") or 0)
        out["events_stored_in_history"] = int(psql(postgres, "SELECT coalesce(sum(value), 0)::bigint FROM vectorstream_metric_points WHERE worker = 'outage-worker' AND metric = 'events_stored'") or 0)
        after = psql(postgres, "SELECT count(*) FROM vectorstream_metric_points WHERE worker = 'outage-worker' AND time > now() - interval '%d seconds'" % int(took - timeline["restarted"]))
        out["points_after_restart"] = int(after or 0)
        psql(postgres, "TRUNCATE vectorstream_metric_points, vectorstream_metric_rollup_1m")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=250000)
    ap.add_argument("--outage", type=float, default=30)
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--buffer", type=int, default=200)
    a = ap.parse_args()
    url = pg("start-instance", "metrics-outage", "15452")
    with_pg, without = [], []
    try:
        for i in range(a.pairs):
            # Alternating which goes first, so a machine that gets busier or quieter does not favour one side.
            for with_postgres in ([True, False] if i % 2 == 0 else [False, True]):
                r = run(a.events, url if with_postgres else None, a.buffer, a.outage)
                label = f"with PostgreSQL (killed {a.outage:.0f} s)" if with_postgres else "without PostgreSQL"
                print(f"pair {i + 1} {label}: {json.dumps(r)}", flush=True)
                (with_pg if with_postgres else without).append(r["events_per_second"])
    finally:
        pg("stop-instance", "metrics-outage")
    m1, m0 = sum(with_pg) / len(with_pg), sum(without) / len(without)
    print(f"events/s with PostgreSQL killed {a.outage:.0f} s: {m1:.0f}; without PostgreSQL: {m0:.0f}; ratio {m1 / m0:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
