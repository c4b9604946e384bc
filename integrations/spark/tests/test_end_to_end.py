"""Spark Structured Streaming -> VectorStream, end to end, on real servers.

tansu Kafka (scripts/services/kafka.sh), `vectorstream serve` on the embedded store, and local Spark (local[2],
one session at a time) running the reference job under spark-submit with a short trigger. Counts are taken from the store itself
(SQLite), not from the job's or the server's answers.

    python3 integrations/spark/tests/test_end_to_end.py [--events N] [--trigger 2s]

Skips (exit 0, with the reason) when pyspark, Java or confluent-kafka are missing; CI installs them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("VECTORSTREAM_BIN", os.path.join(ROOT, ".build", "release", "vectorstream"))
sys.path.insert(0, os.path.join(ROOT, "integrations", "spark"))


def skip_reason():
    for module in ("pyspark", "confluent_kafka", "pandas", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            return f"python module {module} is not installed (scripts/setup.sh installs it)"
    if shutil.which("java") is None:
        return "java is not installed (scripts/setup.sh installs openjdk-17-jre-headless)"
    if not os.path.exists(BIN):
        return f"{BIN} is not built"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka():
    out = subprocess.run([os.path.join(ROOT, "scripts", "services", "kafka.sh"), "start"], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


class Server:
    """`vectorstream serve` on an embedded store in its own folder."""

    def __init__(self, data_dir, port, brokers=None, log_path=None):
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path or os.path.join(data_dir, "serve.log")
        self.proc = None

    def start(self):
        env = dict(os.environ, VECTORSTREAM_DATA_DIR=self.data_dir, VECTORSTREAM_HTTP_PORT=str(self.port),
                   VECTORSTREAM_TRIGGER_INTERVAL="1s")
        env.pop("VECTORSTREAM_KAFKA_BROKERS", None)
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=open(self.log_path, "a"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=2)
                return self
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"vectorstream serve exited; log {self.log_path}")
                time.sleep(0.5)
        raise RuntimeError("vectorstream serve did not answer /health in 120 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def generate(brokers, topic, events, invalid_ratio, seed=19, rate=None):
    cmd = [BIN, "generate", "--seed", str(seed), "--events", str(events), "--invalid-ratio", str(invalid_ratio),
           "--kafka", brokers, "--topic", topic]
    if rate:
        cmd += ["--rate", str(rate)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def count_store(data_dir):
    db = sqlite3.connect(os.path.join(data_dir, "vectorstream.sqlite"))
    try:
        events = db.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events").fetchone()
        dead = dict(db.execute("SELECT code, COUNT(*) FROM dead_letters GROUP BY code").fetchall())
        dead_reasons_missing = db.execute("SELECT COUNT(*) FROM dead_letters WHERE reason = ''").fetchone()[0]
        vectors = db.execute("SELECT COUNT(*), COUNT(DISTINCT product_id) FROM product_vectors").fetchone()
        products = db.execute("SELECT COUNT(DISTINCT product_id) FROM events").fetchone()[0]
        return {"events": events[0], "distinct_events": events[1], "dead_letters": dead,
                "dead_letters_without_reason": dead_reasons_missing, "vectors": vectors, "event_products": products}
    finally:
        db.close()


def products_embedded(url):
    """The server's count of products embedded since it started (`vectorstream_products_embedded_total`)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("vectorstream_products_embedded_total"):
                return int(float(line.split()[-1]))
    return 0


def spark_submit():
    import pyspark

    return os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")


def run_job(brokers, topic, url, checkpoint, trigger, until_idle, log_path, progress_file, extra=(), submit=False):
    """The reference job: `python -m vectorstream_spark`, or with `submit` under spark-submit (as a file). Either way
    the package must be importable where Spark starts its Python workers (installed, or on PYTHONPATH)."""
    package = os.path.join(ROOT, "integrations", "spark")
    env = dict(os.environ, PYTHONPATH=package)
    launcher = [spark_submit(), "--master", "local[2]", os.path.join(package, "vectorstream_spark", "job.py")] \
        if submit else [sys.executable, "-m", "vectorstream_spark"]
    cmd = [*launcher, "--brokers", brokers, "--topic", topic, "--vectorstream-url", url,
           "--checkpoint", checkpoint, "--trigger", trigger, "--until-idle", str(until_idle),
           "--progress-file", progress_file, *extra]
    return subprocess.Popen(cmd, env=env, stdout=open(log_path, "a"), stderr=subprocess.STDOUT, start_new_session=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--invalid-ratio", type=float, default=0.02)
    p.add_argument("--trigger", default="2s")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--launcher", choices=["spark-submit", "python"], default="spark-submit",
                   help="run the job under spark-submit (default; the way a cluster runs it) or python -m")
    args = p.parse_args(argv)
    reason = skip_reason()
    if reason:
        print(f"SKIP spark end-to-end: {reason}")
        return 0
    work = tempfile.mkdtemp(prefix="vectorstream-spark-")
    brokers = kafka()
    topic = f"spark-e2e-{uuid.uuid4().hex[:8]}"
    server = Server(os.path.join(work, "data"), free_port())
    os.makedirs(server.data_dir)
    failures = []
    try:
        server.start()
        started = time.time()
        gen = generate(brokers, topic, args.events, args.invalid_ratio)
        _, gen_err = gen.communicate(timeout=600)
        if gen.returncode != 0:
            raise RuntimeError(f"generate failed: {gen_err[-2000:]}")
        lines = subprocess.run([BIN, "generate", "--seed", "19", "--events", str(args.events), "--invalid-ratio",
                                str(args.invalid_ratio)], capture_output=True, check=True).stdout.splitlines()
        valid_ids, products, invalid = set(), set(), 0
        for line in lines:
            try:
                e = json.loads(line)
                ok = isinstance(e, dict) and isinstance(e.get("event_id"), str) and e.get("event_id")
            except Exception:
                ok = False
            if ok:
                valid_ids.add(e["event_id"])
                products.add(e.get("product", {}).get("id"))
            else:
                invalid += 1
        job_log = os.path.join(work, "job.log")
        job = run_job(brokers, topic, server.url, os.path.join(work, "checkpoint"), args.trigger, 20, job_log,
                      os.path.join(work, "progress.jsonl"), submit=args.launcher == "spark-submit")
        rc = job.wait(timeout=900)
        elapsed = time.time() - started
        counts = count_store(server.data_dir)
        # The same chunk replayed is stored once: post the first 100 records twice with one key.
        body = b"\n".join(lines[:100])
        replies = []
        for _ in range(2):
            req = urllib.request.Request(server.url + "/v1/ingest", data=body, method="POST",
                                         headers={"Content-Type": "application/x-ndjson", "Idempotency-Key": "replay-1"})
            with urllib.request.urlopen(req, timeout=120) as r:
                replies.append((r.read(), r.headers.get("Idempotent-Replayed")))
        after = count_store(server.data_dir)
        embedded = products_embedded(server.url)
        rejected = sum(counts["dead_letters"].values())
        summary = {"events": args.events, "ids_produced": len(valid_ids),
                   "stored": counts["events"], "distinct_stored": counts["distinct_events"], "dead_letters": counts["dead_letters"],
                   "vectors": counts["vectors"][0], "event_products": counts["event_products"],
                   "products_embedded": embedded, "job_rc": rc,
                   "seconds": round(elapsed, 1)}
        print(json.dumps(summary))
        if rc != 0:
            failures.append(f"the job exited {rc}; log {job_log}")
        # Every produced record is either stored once or a dead letter with its reason, never both, never twice.
        if counts["events"] + rejected != args.events:
            failures.append(f"{counts['events']} stored + {rejected} dead letters != {args.events} produced")
        if counts["events"] > len(valid_ids):
            failures.append(f"stored {counts['events']} events, more than the {len(valid_ids)} distinct event ids produced")
        if rejected == 0 and args.invalid_ratio > 0:
            failures.append("no dead letters")
        if counts["dead_letters_without_reason"]:
            failures.append(f"{counts['dead_letters_without_reason']} dead letters without a reason")
        # Every product of a stored event has exactly one vector.
        if counts["vectors"][0] != counts["event_products"] or counts["vectors"][0] != counts["vectors"][1]:
            failures.append(f"{counts['vectors'][0]} vectors for {counts['event_products']} products of stored events")
        # Nothing embedded twice: the server's own count is at most one per product of a stored event (fewer when
        # products share a text, or a price change reused the cached vector: the embedding cache is keyed by text).
        if embedded > counts["event_products"] or embedded == 0:
            failures.append(f"{embedded} products embedded for {counts['event_products']} products of stored events")
        if replies[0][0] != replies[1][0] or replies[1][1] != "true" or after["events"] != counts["events"]:
            failures.append("the replayed chunk was not answered from its key, or stored something")
    finally:
        server.stop()
        if not args.keep and not failures:
            shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL", f)
    print(f"spark end-to-end: {'FAILED' if failures else 'passed'} (work dir {work})")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
