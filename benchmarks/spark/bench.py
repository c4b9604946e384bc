"""Spark Structured Streaming -> VectorStream on 200,000 events, with faults, beside the native Kafka path.

1. faults: events produced at --rate to a topic while the reference job (10 s trigger) reads them into
   `vectorstream serve`; the Spark driver is killed with kill -9 mid-stream and restarted from its checkpoint, later
   the server is stopped for 30 s and started again. Then the store is counted: every record stored once or a dead
   letter with its reason, one vector per product.
2. spark: the same events (same seed and rate) to a fresh topic, read by the job into a fresh server: throughput and
   end-to-end latency (event time, stamped live at production, to `ingested_at` in the store).
3. native: the same again, read by `vectorstream run` from Kafka (its own consumer group) into a fresh store.
4. spark-backlog and native-backlog: capacity. Every event is produced first, then each path drains the backlog
   (50,000 records per trigger at most, on both paths); stored/s from the launch of the job or worker to the last
   event stored (drain), and over the store's span (after the catalog's first embedding). ingest-backlog: the same
   events posted straight to POST /v1/ingest by two threads (no Spark), to tell the route's cost from Spark's.

Products embedded are counted by the server (`vectorstream_products_embedded_total` on /metrics, read before each
stop; the native run's --json summary), beside the number of products: none may be embedded twice (fewer
embeddings than products where products share a text: the embedding cache is keyed by text).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "integrations", "spark", "tests"))
sys.path.insert(0, os.path.join(ROOT, "integrations", "spark"))
import test_end_to_end as e2e  # noqa: E402

BIN = e2e.BIN


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def produce(brokers, topic, events, rate, invalid):
    cmd = [BIN, "generate", "--seed", "23", "--events", str(events), "--invalid-ratio", str(invalid),
           "--live-timestamps", "--kafka", brokers, "--topic", topic] + (["--rate", str(rate)] if rate else [])
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def drain(out, started):
    """Capacity figures of a backlog run: from the launch of the job or worker (JVM or process start, the catalog's
    embedding included) to the last event stored."""
    db = sqlite3.connect(out.pop("_db"))
    try:
        last = db.execute("SELECT MAX(ingested_at) FROM events").fetchone()[0] or 0
    finally:
        db.close()
    seconds = max(last / 1000 - started, 0.001)
    out.update({"drain_seconds": round(seconds, 1), "drain_per_second": round(out["stored"] / seconds, 1)})


def figures(data_dir):
    db = sqlite3.connect(os.path.join(data_dir, "vectorstream.sqlite"))
    try:
        n, first, last = db.execute("SELECT COUNT(*), MIN(ingested_at), MAX(ingested_at) FROM events").fetchone()
        lat = [r[0] for r in db.execute("SELECT ingested_at - ts FROM events ORDER BY 1")]
        dead = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        nameless = db.execute("SELECT COUNT(*) FROM dead_letters WHERE reason = ''").fetchone()[0]
        vectors = db.execute("SELECT COUNT(*) FROM product_vectors").fetchone()[0]
        products = db.execute("SELECT COUNT(DISTINCT product_id) FROM events").fetchone()[0]
    finally:
        db.close()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None  # noqa: E731
    span = max((last or 0) - (first or 0), 1) / 1000
    return {"stored": n, "dead_letters": dead, "dead_letters_without_reason": nameless, "vectors": vectors,
            "products": products, "stored_per_second": round(n / span, 1), "span_seconds": round(span, 1),
            "latency_p50_ms": q(0.5), "latency_p99_ms": q(0.99),
            "_db": os.path.join(data_dir, "vectorstream.sqlite")}


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


BACKLOG_PER_TRIGGER = 50_000


def spark_run(brokers, events, rate, invalid, work, faults, backlog=False):
    topic = f"spark-bench-{uuid.uuid4().hex[:8]}"
    data = os.path.join(work, "data-spark" + ("-faults" if faults else "") + ("-backlog" if backlog else ""))
    os.makedirs(data)
    port = e2e.free_port()
    server = e2e.Server(data, port).start()
    checkpoint = os.path.join(work, "checkpoint-" + topic)
    job_log = os.path.join(work, f"job-{topic}.log")
    progress = os.path.join(work, f"progress-{topic}.jsonl")
    producer = produce(brokers, topic, events, None if backlog else rate, invalid)
    if backlog:
        producer.wait()
    time.sleep(3)
    start = time.time()
    extra = ("--max-offsets-per-trigger", str(BACKLOG_PER_TRIGGER)) if backlog else ()
    job = e2e.run_job(brokers, topic, server.url, checkpoint, "10s", 40, job_log, progress, extra)
    embedded = 0
    notes = []
    if faults:
        time.sleep(45)
        log(f"kill -9 the Spark driver (pid group {job.pid})")
        kill_group(job)
        job.wait()
        notes.append(f"driver killed at {time.time() - start:.0f} s")
        time.sleep(3)
        job = e2e.run_job(brokers, topic, server.url, checkpoint, "10s", 40, job_log, progress)
        log("driver restarted from its checkpoint")
        time.sleep(40)
        log("stopping the VectorStream server for 30 s")
        embedded += e2e.products_embedded(server.url)
        server.stop()
        notes.append(f"server stopped at {time.time() - start:.0f} s for 30 s")
        time.sleep(30)
        server = e2e.Server(data, port).start()
        log("server started again")
    producer.wait()
    rc = job.wait(timeout=3600)
    embedded += e2e.products_embedded(server.url)
    server.stop()
    out = figures(data)
    out.update({"job_rc": rc, "wall_seconds": round(time.time() - start, 1), "notes": notes,
                "products_embedded": embedded})
    if backlog:
        drain(out, start)
    out.pop("_db", None)
    return out


def ingest_run(events, invalid, work):
    """The HTTP route without Spark: the same events (generated to a list, not Kafka) posted to a fresh
    `vectorstream serve` in chunks of 2,000 by two threads (as Spark's two local tasks do), with the sink's client."""
    import threading

    from vectorstream_spark.client import IngestClient

    data = os.path.join(work, "data-ingest-backlog")
    os.makedirs(data)
    server = e2e.Server(data, e2e.free_port()).start()
    lines = subprocess.run([BIN, "generate", "--seed", "23", "--events", str(events), "--invalid-ratio", str(invalid)],
                           capture_output=True, check=True).stdout.splitlines()
    chunks = [lines[i:i + 2000] for i in range(0, len(lines), 2000)]
    client = IngestClient(server.url)
    start = time.time()

    def post(part):
        for i, chunk in enumerate(chunks[part::2]):
            client.post(chunk, f"bench-{part}-{i}")

    threads = [threading.Thread(target=post, args=(p,)) for p in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    embedded = e2e.products_embedded(server.url)
    server.stop()
    out = figures(data)
    # The generated events carry the generator's clock, not live timestamps: no latency here.
    out.update({"wall_seconds": round(time.time() - start, 1), "products_embedded": embedded,
                "latency_p50_ms": None, "latency_p99_ms": None})
    drain(out, start)
    out.pop("_db", None)
    return out


def native_run(brokers, events, rate, invalid, work, backlog=False):
    topic = f"native-bench-{uuid.uuid4().hex[:8]}"
    data = os.path.join(work, "data-native" + ("-backlog" if backlog else ""))
    os.makedirs(data)
    env = dict(os.environ, VECTORSTREAM_DATA_DIR=data, VECTORSTREAM_KAFKA_BROKERS=brokers, VECTORSTREAM_KAFKA_TOPIC=topic,
               VECTORSTREAM_KAFKA_GROUP=f"bench-{topic}", VECTORSTREAM_KAFKA_DEAD_LETTER_TOPIC=topic + "-dlq",
               VECTORSTREAM_TRIGGER_INTERVAL="10s")
    if backlog:
        env["VECTORSTREAM_MAX_EVENTS_PER_TRIGGER"] = str(BACKLOG_PER_TRIGGER)
    producer = produce(brokers, topic, events, None if backlog else rate, invalid)
    if backlog:
        producer.wait()
    time.sleep(3)
    start = time.time()
    run = subprocess.run([BIN, "run", "--until-idle", "40", "--no-server", "--json"], env=env, capture_output=True,
                         text=True, timeout=3600)
    producer.wait()
    out = figures(data)
    out.update({"run_rc": run.returncode, "wall_seconds": round(time.time() - start, 1)})
    if backlog:
        drain(out, start)
    out.pop("_db", None)
    try:
        out["products_embedded"] = json.loads(run.stdout.strip().splitlines()[-1]).get("products_embedded")
    except (IndexError, ValueError, AttributeError):
        out["products_embedded"] = None
    if run.returncode != 0:
        out["stderr"] = run.stderr[-1000:]
    return out


PHASES = ("faults", "spark", "native", "spark-backlog", "ingest-backlog", "native-backlog")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--rate", type=float, default=1500)
    p.add_argument("--invalid-ratio", type=float, default=0.01)
    p.add_argument("--skip", action="append", default=[], choices=list(PHASES))
    args = p.parse_args(argv)
    reason = e2e.skip_reason()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    work = tempfile.mkdtemp(prefix="vectorstream-spark-bench-")
    brokers = e2e.kafka()
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()
    result = {"events": args.events, "rate": args.rate, "invalid_ratio": args.invalid_ratio, "machine": cpu,
              "load_at_start": [round(x, 2) for x in load], "work": work}
    failures = []
    for phase in PHASES:
        if phase in args.skip:
            continue
        log(f"phase {phase}")
        backlog = phase.endswith("-backlog")
        r = ingest_run(args.events, args.invalid_ratio, work) if phase == "ingest-backlog" else \
            native_run(brokers, args.events, args.rate, args.invalid_ratio, work, backlog) \
            if phase.startswith("native") else \
            spark_run(brokers, args.events, args.rate, args.invalid_ratio, work, faults=phase == "faults", backlog=backlog)
        result[phase] = r
        log(json.dumps(r))
        if r["stored"] + r["dead_letters"] != args.events:
            failures.append(f"{phase}: {r['stored']} stored + {r['dead_letters']} dead letters != {args.events}")
        if r["vectors"] != r["products"]:
            failures.append(f"{phase}: {r['vectors']} vectors for {r['products']} products")
        if r.get("products_embedded") is not None and not 0 < r["products_embedded"] <= r["products"]:
            failures.append(f"{phase}: {r['products_embedded']} products embedded for {r['products']} products")
        if r["dead_letters_without_reason"]:
            failures.append(f"{phase}: dead letters without a reason")
    result["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["failures"] = failures
    for f in failures:
        print("FAIL", f)
    print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
