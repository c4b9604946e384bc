#!/usr/bin/env python3
"""VectorStream fault scenarios: crash, outage, poison and fuzz, each checked against the stores themselves.

Every scenario compares what the stores hold (ClickHouse over HTTP, Milvus over REST, the dead-letter topic read
with confluent-kafka, the embedded SQLite file read with sqlite3) with the generated input file, validated here by
an independent Python validator. The pipeline's own summary is never trusted; it is only printed beside the counts.

    python3 benchmarks/faults/faults.py SCENARIO [options]

Scenarios: kill-kafka, kill-embedded, two-workers, bounce --server redis|clickhouse|milvus|kafka, poison-kafka, spark,
poison-file, fuzz --api-key on|off, sigterm --stall clickhouse|dead-letter. run.sh runs them all; the servers'
addresses come from its environment (FAULTS_KAFKA, FAULTS_REDIS, FAULTS_CLICKHOUSE, FAULTS_MILVUS).

Each prints `PASS name: ...` / `FAIL name: ...` lines with the counts and exits 1 when any check failed.
Loopback only: every address is 127.0.0.1.
"""
from __future__ import annotations

import argparse
import atexit
import base64
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("VECTORSTREAM_BIN", str(ROOT / ".build" / "release" / "vectorstream"))
SERVICES = ROOT / "scripts" / "services"
RUN_ID = os.environ.get("FAULTS_RUN_ID") or time.strftime("%m%d%H%M%S")
OUT = Path(os.environ.get("FAULTS_OUT") or ROOT / "benchmarks" / "out" / "faults" / RUN_ID)
KAFKA = os.environ.get("FAULTS_KAFKA", "127.0.0.1:19192")
REDIS = os.environ.get("FAULTS_REDIS", "redis://127.0.0.1:16479")
CLICKHOUSE = os.environ.get("FAULTS_CLICKHOUSE", "http://127.0.0.1:18223")
MILVUS = os.environ.get("FAULTS_MILVUS", "http://127.0.0.1:19530")
# Claim lease for the Redis dedup: short, so that a crashed worker's claims expire within a scenario's time
# (the default is 60 s; this is a documented setting, redis.claim_lease_seconds).
LEASE_SECONDS = int(os.environ.get("FAULTS_CLAIM_LEASE_SECONDS", "10"))

EVENT_TYPES = {"view", "add_to_cart", "remove_from_cart", "purchase", "wishlist_add", "search"}
MAX_RECORD_BYTES = 64 * 1024
MAX_TEXT_BYTES = 8 * 1024
ISO_RE = re.compile(rb"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")

BATCH = 1000   # pipeline.max_events_per_trigger of the workers (--batch): many batches, many commit points
RESULTS: list[dict] = []
PROCS: list[subprocess.Popen] = []


# ---------------------------------------------------------------- reporting

def report(ok: bool, name: str, message: str, **figures) -> bool:
    line = f"{'PASS' if ok else 'FAIL'} {name}: {message}"
    print(line, flush=True)
    RESULTS.append({"ok": ok, "name": name, "message": message, **figures})
    return ok


def info(name: str, message: str) -> None:
    print(f"     {name}: {message}", flush=True)


def save_results(scenario: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"{scenario}.results.json", "w") as f:
        json.dump(RESULTS, f, indent=1)


# ---------------------------------------------------------------- processes

def cleanup() -> None:
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def service_env(name: str) -> dict:
    """The service scripts' environment. Milvus is the machine's one (.run/milvus): its embedded etcd's ports are
    fixed, so a second instance cannot run beside it."""
    env = dict(os.environ)
    if name == "milvus":
        env["VECTORSTREAM_RUN_DIR"] = os.environ.get("FAULTS_MILVUS_RUN_DIR", str(ROOT / ".run"))
    return env


def service(name: str, action: str, timeout: float = 300) -> str:
    r = subprocess.run([str(SERVICES / f"{name}.sh"), action], capture_output=True, text=True, timeout=timeout,
                       env=service_env(name))
    if r.returncode != 0 and action == "start":
        raise RuntimeError(f"{name}.sh {action} failed: {r.stderr.strip()[-500:]}")
    return r.stdout.strip()


def service_pid(name: str) -> int | None:
    run_dir = Path(service_env(name).get("VECTORSTREAM_RUN_DIR", ROOT / ".run"))
    f = run_dir / ("milvus/child.pid" if name == "milvus" else f"{name}.pid")
    try:
        return int(f.read_text().strip())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Names:
    """Everything one scenario writes to, so that runs never see each other's data."""
    scenario: str
    redis_db: int

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", f"{self.scenario}_{RUN_ID}".lower())

    @property
    def topic(self) -> str:
        return f"faults-{self.slug}"

    @property
    def dlq(self) -> str:
        return f"faults-{self.slug}-dlq"

    @property
    def group(self) -> str:
        return f"faults-{self.slug}"

    @property
    def database(self) -> str:
        return f"faults_{self.slug}"

    @property
    def collection(self) -> str:
        return f"faults_{self.slug}"

    @property
    def redis_url(self) -> str:
        return f"{REDIS}/{self.redis_db}"

    @property
    def dir(self) -> Path:
        d = OUT / self.slug
        d.mkdir(parents=True, exist_ok=True)
        return d


def worker_env(n: Names, worker: str = "w1", kafka=True, redis=True, clickhouse=True, milvus=True,
               batch: int | None = None, trigger: str = "1s", extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VECTORSTREAM_") or k in ("VECTORSTREAM_MODEL_DIR", "VECTORSTREAM_EMBEDDER_PRECISION",
                                                         "VECTORSTREAM_EMBEDDER_MATRIX_KERNEL")}
    env.update({
        "VECTORSTREAM_WORKER_ID": f"{n.slug}-{worker}",
        "VECTORSTREAM_DATA_DIR": str(n.dir / f"data-{worker}"),
        "VECTORSTREAM_TRIGGER_INTERVAL": trigger,
        "VECTORSTREAM_MAX_EVENTS_PER_TRIGGER": str(batch or BATCH),
        "VECTORSTREAM_HTTP_HOST": "127.0.0.1",
    })
    if kafka:
        env.update({"VECTORSTREAM_KAFKA_BROKERS": KAFKA, "VECTORSTREAM_KAFKA_TOPIC": n.topic,
                    "VECTORSTREAM_KAFKA_DEAD_LETTER_TOPIC": n.dlq, "VECTORSTREAM_KAFKA_GROUP": n.group,
                    "VECTORSTREAM_KAFKA_EMBEDDINGS_READY_TOPIC": f"{n.topic}-ready",
                    "VECTORSTREAM_KAFKA_FILE_PROCESSED_TOPIC": f"{n.topic}-files"})
    if redis:
        env.update({"VECTORSTREAM_REDIS_URL": n.redis_url, "VECTORSTREAM_REDIS_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS)})
    if clickhouse:
        env.update({"VECTORSTREAM_CLICKHOUSE_URL": CLICKHOUSE, "VECTORSTREAM_CLICKHOUSE_DATABASE": n.database})
    if milvus:
        env.update({"VECTORSTREAM_MILVUS_URL": MILVUS, "VECTORSTREAM_VECTOR_COLLECTION": n.collection})
    env.update(extra or {})
    return env


class Worker:
    """One `vectorstream` process in its own process group, its output in a log file."""

    def __init__(self, n: Names, args: list[str], env: dict, label: str, program: list[str] | None = None):
        self.log_path = n.dir / f"{label}.log"
        self.out_path = n.dir / f"{label}.out"
        self.log = open(self.log_path, "ab")
        self.out = open(self.out_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([*(program or [BIN]), *args], env=env, stdout=self.out, stderr=self.log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=str(n.dir))
        PROCS.append(self.proc)
        self.label = label

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.proc.pid, sig)
        except OSError:
            pass

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def summary(self) -> dict | None:
        try:
            text = self.out_path.read_text().strip().splitlines()
            return json.loads(text[-1]) if text else None
        except (OSError, ValueError):
            return None

    def log_tail(self, n: int = 5) -> str:
        try:
            lines = self.log_path.read_bytes().decode("utf-8", "replace").strip().splitlines()
            return " | ".join(l.strip()[:200] for l in lines[-n:])
        except OSError:
            return ""


# ---------------------------------------------------------------- the independent validator

@dataclass
class Record:
    raw: bytes
    valid: bool
    reason: str
    event_id: str | None = None
    product_id: str | None = None
    user_id: str | None = None
    name: str = ""           # for poison records: what it is
    offset: int = -1         # file byte offset
    position: tuple | None = None  # (partition, offset) once produced


def _reject_constant(c):
    raise ValueError(f"non-standard constant {c}")


def classify(raw: bytes) -> tuple[bool, str, dict | None]:
    """What the README promises: valid events are stored, everything else is a dead letter with a reason."""
    if len(raw) > MAX_RECORD_BYTES:
        return False, "record_too_large", None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False, "not_json(utf8)", None
    if not text.strip():
        return False, "not_json(empty)", None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return False, "too_deep", None
    except ValueError:
        return False, "not_json", None
    if not isinstance(obj, dict):
        return False, "not_an_object", None

    def text_field(o, key, allow_empty=False):
        if key not in o:
            raise LookupError(f"missing_field:{key}")
        v = o[key]
        if not isinstance(v, str):
            raise LookupError(f"wrong_type:{key}")
        if len(v.encode("utf-8")) > MAX_TEXT_BYTES:
            raise LookupError(f"text_too_long:{key}")
        if not allow_empty and v == "":
            raise LookupError(f"empty_field:{key}")
        return v

    try:
        for k in ("event_id", "user_id", "session_id", "event_type"):
            if k in obj:
                text_field(obj, k)
        ts = obj.get("timestamp")
        if ts is not None and not isinstance(ts, str):
            raise LookupError("wrong_type:timestamp")
        product = obj.get("product")
        if product is not None:
            if not isinstance(product, dict):
                raise LookupError("wrong_type:product")
            for k in ("id", "name", "category"):
                if k in product:
                    text_field(product, k)
            if "description" in product:
                text_field(product, "description", allow_empty=True)
            if "price" in product:
                p = product["price"]
                if isinstance(p, bool) or not isinstance(p, (int, float)):
                    raise LookupError("wrong_type:price")
                if not math.isfinite(float(p)) or p < 0 or p > 1e9:
                    raise LookupError("invalid_price")
        text_field(obj, "event_id")
        if "timestamp" not in obj:
            raise LookupError("missing_field:timestamp")
        m = ISO_RE.match(ts.encode())
        if not m or not (1970 <= int(m.group(1)) <= 2105) or not (1 <= int(m.group(2)) <= 12) \
                or not (1 <= int(m.group(3)) <= 31) or int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6)) > 60:
            raise LookupError("bad_timestamp")
        text_field(obj, "user_id")
        et = text_field(obj, "event_type")
        if et not in EVENT_TYPES:
            raise LookupError("unknown_event_type")
        if product is None:
            raise LookupError("missing_field:product")
        for k in ("id", "name", "description", "category", "price"):
            if k not in product:
                raise LookupError(f"missing_field:product.{k}")
        text_field(obj, "session_id")
    except LookupError as e:
        return False, str(e.args[0]), None
    return True, "", obj


def load_input(path: Path) -> list[Record]:
    records = []
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            start = offset
            offset += len(line)
            raw = line[:-1] if line.endswith(b"\n") else line
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw.strip(b" \t\r"):
                continue   # the file source skips blank lines
            ok, reason, obj = classify(raw)
            r = Record(raw=raw, valid=ok, reason=reason, offset=start)
            if ok:
                r.event_id, r.product_id, r.user_id = obj["event_id"], obj["product"]["id"], obj["user_id"]
            records.append(r)
    return records


def generate(n: Names, events: int, seed: int, products: int, invalid_ratio: float) -> Path:
    path = n.dir / "input.jsonl"
    r = subprocess.run([BIN, "generate", "--seed", str(seed), "--events", str(events), "--products", str(products),
                        "--invalid-ratio", str(invalid_ratio), "--out", str(path)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"generate failed: {r.stderr[-500:]}")
    return path


# ---------------------------------------------------------------- Kafka

def kafka_conf(**extra) -> dict:
    return {"bootstrap.servers": KAFKA, "socket.timeout.ms": 10000, "log_level": 3, **extra}


def create_topics(topics: dict[str, int]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(kafka_conf())
    futures = admin.create_topics([NewTopic(t, num_partitions=p, replication_factor=1) for t, p in topics.items()],
                                  operation_timeout=10, request_timeout=15)
    for t, fut in futures.items():
        try:
            fut.result(20)
        except Exception as e:  # noqa: BLE001 - "already exists" is fine
            if "exist" not in str(e).lower():
                raise


def produce(records: list[Record], topic: str, paced_seconds: float = 0) -> int:
    """Produces the records in order, keyed by user id when the record has one; returns how many failed.
    Each record's (partition, offset) comes from its delivery report."""
    from confluent_kafka import Producer
    p = Producer(kafka_conf(**{"message.max.bytes": 4_000_000, "linger.ms": 20, "enable.idempotence": True,
                               "acks": "all", "batch.size": 1_000_000}))
    failed = [0]

    def delivered(err, msg, rec):
        if err is not None:
            failed[0] += 1
        else:
            rec.position = (msg.partition(), msg.offset())

    per = paced_seconds / max(len(records), 1)
    started = time.monotonic()
    for i, rec in enumerate(records):
        key = rec.user_id.encode() if rec.user_id else None
        while True:
            try:
                p.produce(topic, value=rec.raw, key=key, on_delivery=lambda e, m, r=rec: delivered(e, m, r))
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
        if per > 0:
            wait = started + per * (i + 1) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
    left = p.flush(60)
    return failed[0] + left


def read_topic(topic: str, expect: int = 0, idle: float = 5.0, limit: float = 90.0) -> list[dict]:
    """Every message of the topic from the beginning (all partitions), stopping after `idle` seconds without one
    once at least `expect` were read, or after `limit` seconds."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer(kafka_conf(**{"group.id": f"faults-reader-{os.getpid()}-{time.monotonic_ns()}",
                               "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    try:
        md = c.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            return []
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in t.partitions])
        out = []
        started = last = time.monotonic()
        while True:
            msgs = c.consume(1000, 0.5)
            now = time.monotonic()
            for m in msgs:
                if m.error():
                    continue
                out.append({"partition": m.partition(), "offset": m.offset(), "value": m.value() or b"",
                            "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}})
                last = now
            # Done when quiet for `idle` with everything expected read, or quiet for long whatever was read.
            if now - last > idle and (len(out) >= expect or now - last > max(3 * idle, 15)):
                break
            if now - started > limit:
                break
        return out
    finally:
        c.close()


def committed_offsets(group: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(kafka_conf(**{"group.id": group, "enable.auto.commit": False}))
    try:
        md = c.list_topics(topic, timeout=10)
        parts = list(md.topics[topic].partitions) if topic in md.topics else []
        res = c.committed([TopicPartition(topic, p) for p in parts], timeout=15)
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


# ---------------------------------------------------------------- ClickHouse, Milvus, SQLite

def ch_query(sql: str, timeout: float = 30) -> str:
    req = urllib.request.Request(CLICKHOUSE + "/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def ch_events(db: str) -> list[tuple[str, str, int, int]] | None:
    """(event_id, source_topic, source_partition, source_offset) of every row of the events table; None when
    the table does not exist."""
    try:
        text = ch_query(f"SELECT event_id, source_topic, source_partition, source_offset FROM {db}.events FORMAT TabSeparated")
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")
        if "doesn't exist" in body or "UNKNOWN_TABLE" in body or "Code: 60" in body or "Code: 81" in body:
            return None
        raise
    rows = []
    for line in text.splitlines():
        if line:
            a, b, c, d = line.split("\t")
            rows.append((a, b, int(c), int(d)))
    return rows


def ch_count(db: str) -> int | None:
    try:
        return int(ch_query(f"SELECT count() FROM {db}.events", timeout=5).strip())
    except Exception:  # noqa: BLE001 - down or not created yet
        return None


def milvus_post(path: str, body: dict, timeout: float = 20) -> dict:
    req = urllib.request.Request(MILVUS + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def milvus_products(collection: str) -> list[str] | None:
    """product_id of every row in the collection; None when it does not exist (or cannot be read)."""
    r = milvus_post("/v1/vector/query", {"collectionName": collection, "filter": "id > 0",
                                         "outputFields": ["product_id"], "limit": 16384})
    if r.get("code") not in (0, 200):
        return None
    return [row.get("product_id") for row in r.get("data", [])]


def milvus_products_settled(collection: str, settle: float = 3.0, limit: float = 40.0) -> list[str] | None:
    """Milvus 2.3's REST v1 reads are Bounded-consistent: read until two reads `settle` s apart agree."""
    deadline = time.monotonic() + limit
    last = None
    while True:
        try:
            cur = milvus_products(collection)
        except Exception:  # noqa: BLE001 - restarting
            cur = None
        if cur is not None and last is not None and sorted(cur) == sorted(last):
            return cur
        if time.monotonic() > deadline:
            return cur
        last = cur
        time.sleep(settle)


def milvus_drop(collection: str) -> None:
    try:
        milvus_post("/v1/vector/collections/drop", {"collectionName": collection})
    except Exception:  # noqa: BLE001
        pass


def sqlite_rows(db_path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------- the checks

@dataclass
class Expected:
    records: list[Record]

    @property
    def valid(self) -> list[Record]:
        return [r for r in self.records if r.valid]

    @property
    def invalid(self) -> list[Record]:
        return [r for r in self.records if not r.valid]

    @property
    def event_ids(self) -> set[str]:
        return {r.event_id for r in self.valid}

    @property
    def products(self) -> set[str]:
        return {r.product_id for r in self.valid}


def check_events(name: str, exp: Expected, stored_ids: list[str] | None, store: str) -> bool:
    want = exp.event_ids
    if stored_ids is None:
        return report(False, f"{name} events", f"no events table in {store} (expected {len(want)})",
                      expected=len(want), stored=0, missing=len(want), doubled=0, unexpected=0)
    got = set(stored_ids)
    missing = len(want - got)
    doubled = len(stored_ids) - len(got)
    unexpected = len(got - want)
    ok = missing == 0 and doubled == 0 and unexpected == 0 and len(stored_ids) == len(want)
    return report(ok, f"{name} events", f"{store}: expected {len(want)} valid, rows {len(stored_ids)}, distinct "
                  f"{len(got)}, lost {missing}, doubled {doubled}, unexpected {unexpected}",
                  expected=len(want), stored=len(stored_ids), missing=missing, doubled=doubled, unexpected=unexpected)


def check_vectors(name: str, exp: Expected, products: list[str] | None, store: str) -> bool:
    want = exp.products
    if products is None:
        return report(False, f"{name} vectors", f"no collection in {store} (expected {len(want)} products)",
                      expected=len(want), vectors=0)
    got = set(products)
    dup = len(products) - len(got)
    missing = len(want - got)
    extra = len(got - want)
    ok = dup == 0 and missing == 0 and extra == 0
    return report(ok, f"{name} vectors", f"{store}: {len(want)} products expected, {len(products)} vectors, "
                  f"{len(got)} products, without a vector {missing}, with more than one {dup}, unexpected {extra}",
                  expected=len(want), vectors=len(products), missing=missing, duplicates=dup, unexpected=extra)


def check_dead_letters_kafka(name: str, exp: Expected, dlq: list[dict], source_topic: str) -> bool:
    """Matches each dead letter to its input record by the source position in its headers."""
    by_pos = {r.position: r for r in exp.records if r.position is not None}
    unpositioned = sum(1 for r in exp.records if r.position is None)
    seen: dict[tuple, int] = {}
    no_reason = unknown = valid_dead = wrong_bytes = truncated = 0
    for m in dlq:
        h = m["headers"]
        try:
            pos = (int(h.get("vectorstream.source_partition", "")), int(h.get("vectorstream.source_offset", "")))
        except ValueError:
            pos = None
        rec = by_pos.get(pos) if pos is not None and h.get("vectorstream.source_topic") == source_topic else None
        if rec is None:
            unknown += 1
            continue
        seen[pos] = seen.get(pos, 0) + 1
        if not h.get("vectorstream.reason", "").strip():
            no_reason += 1
        if rec.valid:
            valid_dead += 1
        if m["value"] != rec.raw:
            if h.get("vectorstream.truncated") == "true" and h.get("vectorstream.original_sha256") == \
                    hashlib.sha256(rec.raw).hexdigest() and rec.raw.startswith(m["value"]):
                truncated += 1
            else:
                wrong_bytes += 1
    want = {r.position for r in exp.invalid}
    missing = len(want - set(seen))
    copies = sum(seen.values()) - len(seen)
    ok = missing == 0 and no_reason == 0 and unknown == 0 and valid_dead == 0 and wrong_bytes == 0 and unpositioned == 0
    msg = (f"{len(want)} invalid expected, {len(dlq)} dead letters, {len(seen)} distinct positions, missing {missing}, "
           f"without a reason {no_reason}, valid events dead-lettered {valid_dead}, not from this input {unknown}, "
           f"bytes differ {wrong_bytes}, truncated with hash {truncated}, repeated copies {copies}")
    if unpositioned:
        msg += f", records without a delivery position {unpositioned}"
    return report(ok, f"{name} dead letters", msg, expected=len(want), dead_letters=len(dlq), missing=missing,
                  no_reason=no_reason, unknown=unknown, copies=copies)


def check_acknowledged(name: str, exp: Expected, group: str, topic: str, stored_ids: set[str], dlq: list[dict]) -> bool:
    """Nothing acknowledged that is not stored: every record below the group's committed offsets is stored (valid)
    or dead-lettered (invalid). Also says how much was acknowledged at all."""
    try:
        committed = committed_offsets(group, topic)
    except Exception as e:  # noqa: BLE001
        return report(False, f"{name} acknowledged", f"cannot read the group's offsets: {e}")
    dead_pos = set()
    for m in dlq:
        h = m["headers"]
        try:
            dead_pos.add((int(h["vectorstream.source_partition"]), int(h["vectorstream.source_offset"])))
        except (KeyError, ValueError):
            pass
    acked = unstored = 0
    for r in exp.records:
        if r.position is None:
            continue
        part, off = r.position
        c = committed.get(part, -1001)
        if c is not None and c >= 0 and off < c:
            acked += 1
            if (r.valid and r.event_id not in stored_ids) or (not r.valid and r.position not in dead_pos):
                unstored += 1
    offsets = ", ".join(f"p{p}={o}" for p, o in sorted(committed.items()))
    return report(unstored == 0, f"{name} acknowledged",
                  f"{acked} of {len(exp.records)} records below the committed offsets ({offsets}), of them not stored "
                  f"{unstored}", acknowledged=acked, acknowledged_unstored=unstored)


def full_stack_checks(name: str, n: Names, exp: Expected, summary: dict | None = None) -> bool:
    rows = ch_events(n.database)
    ids = [r[0] for r in rows] if rows is not None else None
    ok = check_events(name, exp, ids, f"ClickHouse {n.database}.events")
    ok &= check_vectors(name, exp, milvus_products_settled(n.collection), f"Milvus {n.collection}")
    dlq = read_topic(n.dlq, expect=len(exp.invalid))
    ok &= check_dead_letters_kafka(name, exp, dlq, n.topic)
    ok &= check_acknowledged(name, exp, n.group, n.topic, set(ids or []), dlq)
    if summary is not None:
        info(name, "pipeline summary (not trusted, for comparison): " + json.dumps(
            {k: summary.get(k) for k in ("events_total", "events_valid", "events_rejected", "events_stored",
                                         "events_deduplicated", "batch_retries", "store")}))
    return ok


def embedded_checks(name: str, n: Names, exp: Expected, data_dir: Path, input_path: Path) -> bool:
    db = data_dir / "vectorstream.sqlite"
    if not db.exists():
        return report(False, f"{name} events", f"no SQLite file at {db}")
    ids = [r[0] for r in sqlite_rows(db, "SELECT event_id FROM events")]
    ok = check_events(name, exp, ids, "SQLite events")
    ok &= check_vectors(name, exp, [r[0] for r in sqlite_rows(db, "SELECT product_id FROM product_vectors")],
                        "SQLite product_vectors")
    topic = "file:" + str(input_path.resolve())
    dead = sqlite_rows(db, "SELECT source_topic, source_offset, code, reason, raw FROM dead_letters")
    by_off = {r.offset: r for r in exp.records}
    want = {r.offset for r in exp.invalid}
    seen, no_reason, unknown, valid_dead, wrong = set(), 0, 0, 0, 0
    for t, off, code, reason, raw in dead:
        rec = by_off.get(off) if t == topic else None
        if rec is None:
            unknown += 1
            continue
        seen.add(off)
        if not (reason or "").strip() or not (code or "").strip():
            no_reason += 1
        if rec.valid:
            valid_dead += 1
        if bytes(raw) != rec.raw:
            wrong += 1
    missing = len(want - seen)
    ok &= report(missing == 0 and no_reason == 0 and unknown == 0 and valid_dead == 0 and wrong == 0,
                 f"{name} dead letters", f"SQLite dead_letters: {len(want)} invalid expected, {len(dead)} rows, missing "
                 f"{missing}, without a reason {no_reason}, valid events dead-lettered {valid_dead}, not from this "
                 f"input {unknown}, bytes differ {wrong}", expected=len(want), dead_letters=len(dead), missing=missing)
    committed = sqlite_rows(db, f"SELECT next_offset FROM source_offsets WHERE topic = '{topic}'")
    c = committed[0][0] if committed else 0
    stored = set(ids)
    unstored = sum(1 for r in exp.records if r.offset < c and ((r.valid and r.event_id not in stored)
                                                                or (not r.valid and r.offset not in seen)))
    ok &= report(unstored == 0, f"{name} acknowledged", f"committed byte offset {c} of {input_path.stat().st_size}; "
                 f"records before it not stored {unstored}", acknowledged_unstored=unstored)
    return ok


def reset_stores(n: Names) -> None:
    try:
        ch_query(f"DROP DATABASE IF EXISTS {n.database}")
    except Exception:  # noqa: BLE001
        pass
    milvus_drop(n.collection)
    subprocess.run(["redis-cli", "-u", n.redis_url, "FLUSHDB"], capture_output=True, timeout=10)


def run_final(n: Names, env: dict, idle: float, bound: float, label: str = "final", extra_args=()) -> tuple[Worker, int | None, float]:
    w = Worker(n, ["run", "--no-server", "--until-idle", str(idle), "--json", *extra_args], env, label)
    rc = w.wait(bound)
    took = time.monotonic() - w.started
    if rc is None:
        w.kill9()
    return w, rc, took


# ---------------------------------------------------------------- scenarios

def wait_stored(n: Names, target: int, timeout: float, worker: Worker | None = None, stall: float = 90) -> int:
    """Polls ClickHouse's row count until it reaches `target`; gives up after `timeout`, when the worker exited,
    or when the count has not moved for `stall` seconds."""
    deadline = time.monotonic() + timeout
    count = 0
    moved = time.monotonic()
    while time.monotonic() < deadline:
        now_count = ch_count(n.database) or count
        if now_count != count:
            count, moved = now_count, time.monotonic()
        if count >= target:
            return count
        if worker is not None and not worker.alive():
            return count
        if time.monotonic() - moved > stall:
            return count
        time.sleep(1)
    return count


def kill_moment(w: Worker, i: int, rng: random.Random, a, progress) -> str:
    """Sleeps until the moment to kill worker `w` (its i-th life): every fifth at a random moment of its start-up
    (model load, group join); the others at a random moment within a few seconds after it stored something
    itself, i.e. while batches are in flight. Returns how the moment was chosen."""
    if i % 5 == 4:
        delay = rng.uniform(0.5, a.kill_min + 4)
        time.sleep(delay)
        return f"during start-up, {delay:.1f} s after start"
    base = progress()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and w.alive():
        cur = progress()
        if cur is not None and base is not None and cur > base:
            break
        if base is None:
            base = cur
        time.sleep(0.2)
    delay = rng.uniform(0, a.kill_max - a.kill_min)
    time.sleep(delay)
    return f"{delay:.1f} s after its first stored batch ({time.monotonic() - w.started:.1f} s after start)"


def scenario_kill_kafka(a) -> bool:
    n = Names("kill-kafka", 1)
    reset_stores(n)
    rng = random.Random(a.seed)
    exp = Expected(load_input(generate(n, a.events, a.seed, a.products, a.invalid_ratio)))
    create_topics({n.topic: 3})
    failed = produce(exp.records, n.topic)
    info("kill-kafka", f"produced {len(exp.records)} records ({len(exp.valid)} valid, {len(exp.invalid)} invalid, "
         f"{len(exp.products)} products), {failed} failed, to {n.topic}")
    kills = 0
    env = worker_env(n)
    for i in range(a.kills):
        w = Worker(n, ["run", "--no-server"], env, f"worker-{i}")
        when = kill_moment(w, i, rng, a, lambda: ch_count(n.database) or 0)
        if not w.alive():
            info("kill-kafka", f"worker {i} exited by itself (rc {w.proc.returncode}) before the kill: {w.log_tail(2)}")
            continue
        w.kill9()
        kills += 1
        info("kill-kafka", f"kill -9 #{kills} {when}; ClickHouse rows now {ch_count(n.database)}")
    final, rc, took = run_final(n, env, a.idle, a.bound)
    ok = report(rc == 0, "kill-kafka final run", f"exit {rc} after {took:.0f} s (bound {a.bound:.0f} s); {kills} kills",
                kills=kills, seconds=round(took))
    ok &= full_stack_checks("kill-kafka", n, exp, final.summary())
    RESULTS.append({"figure": "kills", "scenario": "kill-kafka", "kills": kills, "ok": ok})
    return ok


def scenario_kill_embedded(a) -> bool:
    n = Names("kill-embedded", 0)
    rng = random.Random(a.seed + 1)
    # The embedded path is several times faster than the full stack: five times the events, so that every kill
    # lands while there is still work to do.
    path = generate(n, a.events * 5, a.seed + 1, a.products, a.invalid_ratio)
    exp = Expected(load_input(path))
    info("kill-embedded", f"{len(exp.records)} records ({len(exp.valid)} valid, {len(exp.invalid)} invalid) in {path}")
    data = n.dir / "data-w1"
    shutil.rmtree(data, ignore_errors=True)
    env = worker_env(n, kafka=False, redis=False, clickhouse=False, milvus=False)
    kills = 0
    def stored():
        try:
            return sqlite_rows(data / "vectorstream.sqlite", "SELECT count(*) FROM events")[0][0]
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    for i in range(a.kills):
        w = Worker(n, ["run", "--no-server", "--source", str(path)], env, f"worker-{i}")
        when = kill_moment(w, i, rng, a, stored)
        if not w.alive():
            info("kill-embedded", f"worker {i} exited by itself (rc {w.proc.returncode}) before the kill")
            continue
        w.kill9()
        kills += 1
        info("kill-embedded", f"kill -9 #{kills} {when}; SQLite rows now {stored()}")
    final = Worker(n, ["run", "--no-server", "--source", str(path), "--until-idle", str(a.idle), "--json"],
                   env, "final")
    rc = final.wait(a.bound)
    took = time.monotonic() - final.started
    if rc is None:
        final.kill9()
    ok = report(rc == 0, "kill-embedded final run", f"exit {rc} after {took:.0f} s; {kills} kills", kills=kills)
    ok &= embedded_checks("kill-embedded", n, exp, data, path)
    s = final.summary()
    if s:
        info("kill-embedded", "pipeline summary (not trusted): " + json.dumps(
            {k: s.get(k) for k in ("events_total", "events_rejected", "events_stored", "store")}))
    RESULTS.append({"figure": "kills", "scenario": "kill-embedded", "kills": kills, "ok": ok})
    return ok


def scenario_two_workers(a) -> bool:
    n = Names("two-workers", 2)
    reset_stores(n)
    rng = random.Random(a.seed + 2)
    exp = Expected(load_input(generate(n, a.events, a.seed + 2, a.products, a.invalid_ratio)))
    create_topics({n.topic: 3})
    produce(exp.records, n.topic)
    # Both start at once, as a deployment does: both migrate the new database's schema at the same moment.
    wa = Worker(n, ["run", "--no-server"], worker_env(n, "a"), "worker-a")
    b_args = ["run", "--no-server", "--until-idle", str(a.idle), "--json"]
    wb = Worker(n, b_args, worker_env(n, "b"), "worker-b")
    time.sleep(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and wa.alive() and wb.alive() and not (ch_count(n.database) or 0):
        time.sleep(0.5)
    early = [(w.label, w.proc.returncode, w.log_tail(1)) for w in (wa, wb) if not w.alive()]
    report(not early, "two-workers start together", "both running after the start" if not early else
           "exited at start: " + "; ".join(f"{l} rc {rc}: {t[:200]}" for l, rc, t in early))
    if not wa.alive():
        wa = Worker(n, ["run", "--no-server"], worker_env(n, "a"), "worker-a-again")
    if not wb.alive():
        wb = Worker(n, b_args, worker_env(n, "b"), "worker-b-again")
    # And the same race alone, a few times: `migrate` twice at once on a new database.
    races = []
    for i in range(a.migrate_races):
        db = f"{n.database}_race{i}"
        env = worker_env(n, extra={"VECTORSTREAM_CLICKHOUSE_DATABASE": db})
        ps = [subprocess.Popen([BIN, "migrate"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for _ in range(2)]
        for p in ps:
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                races.append(err.decode("utf-8", "replace").strip().splitlines()[-1][:200])
        try:
            ch_query(f"DROP DATABASE IF EXISTS {db}")
        except Exception:  # noqa: BLE001
            pass
    report(not races, "two-workers concurrent migrate", f"{a.migrate_races} times two `migrate` at once on a new "
           f"database: {len(races)} failed" + (f" ({races[0]})" if races else ""))
    when = kill_moment(wa, 0, rng, a, lambda: ch_count(n.database) or 0)
    killed = wa.alive()
    wa.kill9()
    info("two-workers", f"kill -9 of worker a {when} (alive then: {killed}); ClickHouse rows {ch_count(n.database)}")
    rc = wb.wait(a.bound)
    took = time.monotonic() - wb.started
    if rc is None:
        wb.kill9()
    ok = report(rc == 0, "two-workers survivor", f"worker b exit {rc} after {took:.0f} s (bound {a.bound:.0f} s)")
    ok &= full_stack_checks("two-workers", n, exp, wb.summary())
    RESULTS.append({"figure": "kills", "scenario": "two-workers", "kills": int(killed), "ok": ok})
    return ok


def bounce(server: str, down: float) -> str:
    """Takes the server away for `down` seconds and brings it back through its script; says what was done."""
    if server == "redis":
        pid = service_pid("redis")
        os.kill(pid, signal.SIGKILL)
        time.sleep(down)
        service("redis", "start")
        return f"redis-server pid {pid} killed -9, restarted (no persistence: its keys are gone) after {down:.0f} s"
    if server == "clickhouse":
        service("clickhouse", "stop")
        time.sleep(down)
        service("clickhouse", "start")
        return f"clickhouse stopped for {down:.0f} s and started"
    if server == "milvus":
        pid = service_pid("milvus")
        os.kill(pid, signal.SIGKILL)   # the milvus binary; the wrapper stays (F7)
        time.sleep(down)
        t0 = time.monotonic()
        try:
            service("milvus", "start", timeout=400)
        except RuntimeError as e:
            # Say so, and try once more so that the machine's Milvus is left running.
            report(False, "bounce-milvus restart", f"milvus.sh start after the kill failed after "
                   f"{time.monotonic() - t0:.0f} s: {str(e).strip().splitlines()[-1][:200]}")
            service("milvus", "start", timeout=400)
        return f"milvus child pid {pid} killed -9, started again after {down:.0f} s (took {time.monotonic() - t0:.0f} s)"
    if server == "kafka":
        service("kafka", "stop")
        time.sleep(down)
        service("kafka", "start")
        return f"tansu stopped for {down:.0f} s and started (memory storage: topics and offsets gone)"
    raise ValueError(server)


def scenario_bounce(a) -> bool:
    server = a.server
    name = f"bounce-{server}"
    n = Names(name, {"redis": 3, "clickhouse": 4, "milvus": 5, "kafka": 6}[server])
    reset_stores(n)
    exp = Expected(load_input(generate(n, a.events, a.seed + 3, a.products, a.invalid_ratio)))
    half = len(exp.records) // 2
    create_topics({n.topic: 3, n.dlq: 3})
    env = worker_env(n)
    ok = True
    if server == "kafka":
        # tansu keeps everything in memory: a restart loses topics, records and group offsets. So the broker goes
        # away while the worker is in the group and waiting for records, and everything is produced afterwards:
        # this shows the worker survives a broker outage and resumes (rejoins, reads, stores exactly once).
        w = Worker(n, ["run", "--no-server"], env, "worker")
        time.sleep(a.kill_min + 8)
        what = bounce("kafka", a.down)
        # A real broker keeps its topics over a restart: create again every topic the worker had (it creates them
        # only at its start), so that what is tested is the outage, not tansu's memory storage.
        create_topics({n.topic: 3, n.dlq: 3, f"{n.topic}-ready": 3, f"{n.topic}-files": 3})
        produce(exp.records, n.topic)
    else:
        produce(exp.records[:half], n.topic)
        w = Worker(n, ["run", "--no-server"], env, "worker")
        first = wait_stored(n, 1, 120, w)   # mid-run: the first batch is stored
        info(name, f"first batch stored ({first} rows); bouncing {server}")
        what = bounce(server, a.down)
        produce(exp.records[half:], n.topic)
    info(name, what)
    alive_after = w.alive()
    target = len(exp.valid)
    stored = wait_stored(n, target, a.bound, w)
    # Let the last batch's vectors and dead letters settle, then stop it the way an operator does.
    time.sleep(3)
    w.signal(signal.SIGTERM)
    t0 = time.monotonic()
    rc = w.wait(30)
    stop_s = time.monotonic() - t0
    if rc is None:
        w.kill9()
    ok &= report(alive_after and stored >= target, f"{name} resumed",
                 f"worker alive after the bounce: {alive_after}; stored {stored} of {target} valid events within "
                 f"{a.bound:.0f} s after it; exit {rc} {stop_s:.1f} s after SIGTERM; log: {w.log_tail(1)[:160]}",
                 outage=server)
    ok &= full_stack_checks(name, n, exp)
    RESULTS.append({"figure": "outages", "scenario": name, "outages": 1, "ok": ok})
    return ok


# Poison records: (name, bytes). Through Kafka all of them; through a file those that fit on one line.
def poison_records(rng: random.Random, template: dict) -> list[tuple[str, bytes]]:
    def ev(**changes):
        e = json.loads(json.dumps(template))
        e["event_id"] = f"poison-{rng.getrandbits(64):016x}"
        for k, v in changes.items():
            if k.startswith("product_"):
                if v is _DROP:
                    e["product"].pop(k[8:], None)
                else:
                    e["product"][k[8:]] = v
            elif v is _DROP:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def enc(o) -> bytes:
        return json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode()

    good = enc(ev())
    garbage = bytes(b for b in rng.randbytes(4096) if b != 0x0A)
    big = ev(product_description="x" * 2000)
    big_raw = enc(big)
    oversized = big_raw[:-1] + b',"padding":"' + b"y" * (1_100_000 - len(big_raw)) + b'"}'
    records = [
        ("invalid JSON (truncated)", good[: len(good) // 2]),
        ("invalid JSON (trailing garbage)", good + b"}}"),
        ("invalid JSON (single quotes)", good.replace(b'"', b"'")),
        ("invalid JSON (NaN price)", enc(ev(product_price=0)).replace(b'"price":0', b'"price":NaN')),
        ("invalid UTF-8 in a string", enc(ev(user_id="u-\u00e9")).replace("\u00e9".encode(), b"\xc3\x28")),
        ("not an object (array)", b'["a","b"]'),
        ("not an object (string)", b'"hello"'),
        ("not an object (null)", b"null"),
        ("missing event_id", enc(ev(event_id=_DROP))),
        ("missing product", enc(ev(product=_DROP))),
        ("missing product.price", enc(ev(product_price=_DROP))),
        ("missing timestamp", enc(ev(timestamp=_DROP))),
        ("wrong type: price as string", enc(ev(product_price="12.50"))),
        ("wrong type: price as bool", enc(ev(product_price=True))),
        ("wrong type: user_id as number", enc(ev(user_id=12345))),
        ("wrong type: product as string", enc(ev(product="p-1"))),
        ("wrong type: timestamp as number", enc(ev(timestamp=1767225600000))),
        ("empty event_id", enc(ev(event_id=""))),
        ("unknown event type", enc(ev(event_type="teleport"))),
        ("negative price", enc(ev(product_price=-1.5))),
        ("huge price 1e308", enc(ev(product_price=1e308))),
        ("price 1e999 (infinite)", enc(ev(product_price=0)).replace(b'"price":0', b'"price":1e999')),
        ("timestamp year 0000", enc(ev(timestamp="0000-01-01T00:00:00Z"))),
        ("timestamp year 9999", enc(ev(timestamp="9999-12-31T23:59:59Z"))),
        ("timestamp month 13", enc(ev(timestamp="2026-13-01T00:00:00Z"))),
        ("timestamp not ISO-8601", enc(ev(timestamp="yesterday at noon"))),
        ("text too long (name 9000 bytes)", enc(ev(product_name="n" * 9000))),
        ("record over 64 KiB", enc(ev(junk="z" * 70_000))),
        ("oversized record 1.1 MB", oversized),
        ("binary garbage", garbage),
        ("NUL bytes", b"\x00" * 64),
        ("deeply nested array (30,000 levels)", b"[" * 30_000 + b"]" * 30_000),
        ("deeply nested objects (10,000 levels)", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
        ("empty record", b""),
        ("whitespace only", b"   "),
    ]
    return records


class _Drop:
    pass


_DROP = _Drop()


def poison_set(a, n: Names) -> tuple[Expected, list[tuple[str, Record]]]:
    """A few hundred valid events with every poison record spread among them; every poison must be a dead letter
    (the independent validator agrees, else the scenario's own list is wrong)."""
    path = generate(n, a.poison_valid, a.seed + 4, min(a.products, 200), 0.0)
    valid = load_input(path)
    rng = random.Random(a.seed + 4)
    template = json.loads(valid[0].raw)
    poison = []
    for pname, raw in poison_records(rng, template):
        ok, reason, _ = classify(raw)
        if ok:
            raise RuntimeError(f"poison record '{pname}' is valid by the validator: fix the list")
        poison.append((pname, Record(raw=raw, valid=False, reason=reason, name=pname)))
    records = list(valid)
    step = max(len(valid) // (len(poison) + 1), 1)
    for i, (_, rec) in enumerate(poison):
        records.insert(min((i + 1) * step + i, len(records)), rec)
    return Expected(records), poison


def poison_detail(name: str, poison: list[tuple[str, Record]], dead: dict) -> None:
    """One line per poison kind: dead-lettered with which reason, or not."""
    for pname, rec in poison:
        d = dead.get(id(rec))
        if d is None:
            info(name, f"  NOT dead-lettered: {pname} ({len(rec.raw)} bytes)")
        else:
            info(name, f"  {pname} ({len(rec.raw)} bytes) -> {d[:120]}")


def scenario_poison_kafka(a) -> bool:
    name = "poison-kafka"
    n = Names(name, 7)
    reset_stores(n)
    exp, poison = poison_set(a, n)
    create_topics({n.topic: 3})
    failed = produce(exp.records, n.topic)
    info(name, f"produced {len(exp.records)} records ({len(poison)} poison kinds), {failed} failed")
    final, rc, took = run_final(n, worker_env(n), a.idle, a.poison_bound)
    ok = report(rc == 0, f"{name} no stall, no crash", f"run --until-idle exit {rc} after {took:.0f} s (bound "
                f"{a.poison_bound:.0f} s); log: {final.log_tail(1)[:200]}", seconds=round(took))
    ok &= full_stack_checks(name, n, exp, final.summary())
    dlq = read_topic(n.dlq, expect=len(exp.invalid), idle=3)
    by_pos = {}
    for m in dlq:
        h = m["headers"]
        by_pos[(int(h.get("vectorstream.source_partition", -1)), int(h.get("vectorstream.source_offset", -1)))] = \
            f"{h.get('vectorstream.reason_code', '?')}: {h.get('vectorstream.reason', '')}" + \
            (" [truncated]" if h.get("vectorstream.truncated") == "true" else "")
    poison_detail(name, poison, {id(r): by_pos.get(r.position) for _, r in poison if r.position in by_pos})
    RESULTS.append({"figure": "bad_inputs", "scenario": name, "kinds": len(poison), "ok": ok})
    return ok


def scenario_poison_file(a) -> bool:
    name = "poison-file"
    n = Names(name, 0)
    exp, poison = poison_set(a, n)
    path = n.dir / "poison.jsonl"
    # A line cannot hold a newline: records with one are left out of the file (none of the list has one), and blank
    # lines are skipped by the file source by design (the empty record is tried through Kafka).
    kept = [r for r in exp.records if b"\n" not in r.raw and r.raw.strip(b" \t\r")]
    with open(path, "wb") as f:
        for r in kept:
            r.offset = f.tell()
            f.write(r.raw + b"\n")
    exp = Expected(kept)
    data = n.dir / "data-w1"
    shutil.rmtree(data, ignore_errors=True)
    env = worker_env(n, kafka=False, redis=False, clickhouse=False, milvus=False)
    w = Worker(n, ["run", "--no-server", "--source", str(path), "--json"], env, "run")
    rc = w.wait(a.poison_bound)
    took = time.monotonic() - w.started
    if rc is None:
        w.kill9()
    ok = report(rc == 0, f"{name} no stall, no crash", f"run --source exit {rc} after {took:.0f} s (bound "
                f"{a.poison_bound:.0f} s); log: {w.log_tail(1)[:200]}")
    ok &= embedded_checks(name, n, exp, data, path)
    db = data / "vectorstream.sqlite"
    dead = {}
    if db.exists():
        offs = {off: f"{code}: {reason}" for off, code, reason in
                sqlite_rows(db, "SELECT source_offset, code, reason FROM dead_letters")}
        dead = {id(r): offs[r.offset] for _, r in poison if r.offset in offs}
    poison_detail(name, [(p, r) for p, r in poison if r in kept], dead)
    RESULTS.append({"figure": "bad_inputs", "scenario": name, "kinds": len([1 for _, r in poison if r in kept]), "ok": ok})
    return ok


def scenario_fuzz(a) -> bool:
    keyed = a.api_key == "on"
    name = f"fuzz-key-{a.api_key}"
    n = Names(name, 8)
    port = free_port()
    key = "faults-" + base64.urlsafe_b64encode(os.urandom(12)).decode() if keyed else None
    if keyed:
        # The production path: `run` over Kafka, Redis, ClickHouse and Milvus, with data in every store.
        reset_stores(n)
        exp = Expected(load_input(generate(n, 3000, a.seed + 5, min(a.products, 300), 0.01)))
        create_topics({n.topic: 3})
        produce(exp.records, n.topic)
        env = worker_env(n, extra={"VECTORSTREAM_API_KEY": key})
        w = Worker(n, ["run", "--port", str(port)], env, "server")
        wait_stored(n, len(exp.valid), 180, w)
    else:
        env = worker_env(n, kafka=False, redis=False, clickhouse=False, milvus=False)
        w = Worker(n, ["demo", "--rate", "50", "--port", str(port), "--data-dir", str(n.dir / "demo")], env, "server")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and w.alive():
        try:
            urllib.request.urlopen(base + "/openapi.json", timeout=2).read()
            break
        except Exception:  # noqa: BLE001
            time.sleep(1)
    if not w.alive():
        return report(False, name, f"server exited (rc {w.proc.returncode}): {w.log_tail(3)}")
    time.sleep(5 if not keyed else 0)   # a few embedded vectors for the search routes
    report_dir = n.dir / "schemathesis"
    shutil.rmtree(report_dir, ignore_errors=True)
    cmd = ["st", "run", base + "/openapi.json", "--checks", "all", "--max-time", str(a.fuzz_seconds),
           "--max-examples", str(a.fuzz_examples), "--seed", str(a.seed), "--workers", "2", "--request-timeout", "10",
           "--report", "har,junit", "--report-dir", str(report_dir), "--continue-on-failure", "--no-color"]
    if keyed:
        cmd += ["-H", f"X-API-Key: {key}"]
    started = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.fuzz_seconds + 300)
    (n.dir / "schemathesis.out").write_text(r.stdout + r.stderr)
    took = time.monotonic() - started
    requests, server_errors, failures = parse_schemathesis(report_dir)
    probes, bypass = (auth_probes(port, key) if keyed else ([], []))
    alive = w.alive()
    w.signal(signal.SIGTERM)
    if w.wait(30) is None:
        w.kill9()
    ok = report(requests > 0 and not server_errors and alive, f"{name} no 5xx",
                f"{requests} requests in {took:.0f} s (schemathesis exit {r.returncode}); 5xx answers "
                f"{len(server_errors)}" + (f" (e.g. {server_errors[0][:160]})" if server_errors else "")
                + f"; server alive after: {alive}", requests=requests)
    detail = "; ".join(f"{k} x{len(v)}, e.g. {v[0][:160]}" for k, v in sorted(failures.items()))
    ok &= report(not failures, f"{name} conformance", f"failed schemathesis checks {sum(len(v) for v in failures.values())}"
                 + (f": {detail}" if detail else "") + f"; reports: {report_dir}")
    if requests == 0:
        info(name, "schemathesis output: " + (r.stdout + r.stderr)[-800:].replace("\n", " | "))
    if keyed:
        ok &= report(not bypass, f"{name} no key, no data", f"{len(probes)} requests without the key or with a wrong "
                     f"one, paths sent as they are; answered 2xx: {len(bypass)}"
                     + (f" ({'; '.join(bypass[:4])})" if bypass else ""), requests=len(probes))
        requests += len(probes)
    RESULTS.append({"figure": "requests", "scenario": name, "requests": requests, "ok": ok})
    return ok


def auth_probes(port: int, key: str) -> tuple[list[str], list[str]]:
    """/v1 routes without the key (and with a wrong one), the path written every way a router might still match it;
    sent with http.client so the path goes exactly as written. Returns (requests, those answered 2xx)."""
    import http.client
    routes = [("GET", "/v1/analytics/funnel", None), ("GET", "/v1/analytics/top-products", None),
              ("GET", "/v1/analytics/categories", None), ("GET", "/v1/products/p-1/similar", None),
              ("GET", "/v1/users/user-1/recommendations", None), ("POST", "/v1/search", b'{"query":"shoes"}')]
    variants = [lambda p: p, lambda p: "/" + p, lambda p: p.replace("/v1/", "/v1//"), lambda p: "/./" + p[1:],
                lambda p: "/x/.." + p, lambda p: p.replace("/v1/", "/%76%31/"), lambda p: p.replace("/v1/", "/V1/"),
                lambda p: p + "?", lambda p: p + "/", lambda p: p.replace("/v1/", "/v1/./")]
    headers_sets = [{}, {"X-API-Key": key + "x"}, {"Authorization": "Bearer " + key[:-1]}, {"X-API-Key": ""}]
    sent, bypass = [], []
    for method, path, body in routes:
        for v in variants:
            for hs in headers_sets:
                p = v(path)
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    h = {"Content-Type": "application/json", **hs}
                    c.request(method, p, body=body, headers=h)
                    status = c.getresponse().status
                except Exception as e:  # noqa: BLE001
                    status = f"error {e}"
                finally:
                    c.close()
                sent.append(f"{method} {p}")
                if isinstance(status, int) and 200 <= status < 300:
                    bypass.append(f"{status} {method} {p} {list(hs) or 'no key'}")
    return sent, bypass


def parse_schemathesis(report_dir: Path) -> tuple[int, list[str], dict[str, list[str]]]:
    """From schemathesis' reports: requests sent (HAR entries), the 5xx answers among them (read from the HAR
    itself, not from schemathesis' verdict), and its failed checks other than "server error" (code and title ->
    curl commands that reproduce them, from the JUnit report)."""
    requests = 0
    server_errors: list[str] = []
    for f in report_dir.glob("har-*.json"):
        try:
            entries = json.load(open(f))["log"]["entries"]
        except (OSError, ValueError, KeyError):
            continue
        requests += len(entries)
        for e in entries:
            status = (e.get("response") or {}).get("status") or 0
            if status >= 500:
                server_errors.append(f"{status} {e['request']['method']} {e['request']['url']}")
    failures: dict[str, list[str]] = {}
    import html
    for f in report_dir.glob("junit-*.xml"):
        text = html.unescape(f.read_text())
        for case in re.split(r"\n\d+\. Test Case ID: ", text):
            codes = re.findall(r"^- (ST\d+ [^\n]+)$", case, re.M)
            curl = re.search(r"Reproduce with:\s*\n\s*(curl [^\n<]+)", case)
            for c in codes:
                if c.startswith("ST101"):
                    continue
                failures.setdefault(c.strip(), []).append(curl.group(1).strip() if curl else "?")
    return requests, server_errors, failures


def scenario_sigterm(a) -> bool:
    """SIGTERM while a batch is stalled and being retried: the worker must exit within a few seconds and must have
    acknowledged nothing it did not store."""
    stall = a.stall
    name = f"sigterm-{stall}"
    n = Names(name, 9 if stall == "clickhouse" else 10)
    reset_stores(n)
    exp = Expected(load_input(generate(n, 4000, a.seed + 6, min(a.products, 300), 0.02)))
    create_topics({n.topic: 3})
    env = worker_env(n)
    if stall == "dead-letter":
        rng = random.Random(a.seed + 6)
        template = json.loads(exp.valid[0].raw)
        big = [r for p, r in poison_records(rng, template) if p == "oversized record 1.1 MB"][0]
        rec = Record(raw=big, valid=False, reason="record_too_large", name="oversized")
        exp.records.insert(len(exp.records) // 3, rec)
    half = len(exp.records) // 2
    produce(exp.records[:half], n.topic)
    w = Worker(n, ["run", "--no-server"], env, "worker")
    stored = wait_stored(n, 1, 120 if stall == "clickhouse" else 40, w)
    if stall == "clickhouse":
        service("clickhouse", "stop")
        produce(exp.records[half:], n.topic)
        time.sleep(8)   # the next batch fails and is retried with backoff
    else:
        produce(exp.records[half:], n.topic)
        time.sleep(12)  # the batch with the 1.1 MB record
    info(name, f"stalled: {stall}; stored before {stored}; worker alive {w.alive()}")
    w.signal(signal.SIGTERM)
    t0 = time.monotonic()
    rc = w.wait(a.sigterm_bound)
    took = time.monotonic() - t0
    if rc is None:
        w.kill9()
    if stall == "clickhouse":
        service("clickhouse", "start")
    ok = report(rc is not None, f"{name} exits", f"exit {rc} {took:.1f} s after SIGTERM (bound {a.sigterm_bound:.0f} s)"
                f"; log: {w.log_tail(1)[:200]}", seconds=round(took, 1))
    rows = ch_events(n.database) or []
    dlq = read_topic(n.dlq, idle=3)
    ok &= check_acknowledged(name, exp, n.group, n.topic, {r[0] for r in rows}, dlq)
    # Then a fresh worker finishes the job: nothing lost, nothing doubled.
    final, rc2, took2 = run_final(n, env, a.idle, a.bound)
    ok &= report(rc2 == 0, f"{name} final run", f"exit {rc2} after {took2:.0f} s")
    ok &= full_stack_checks(name, n, exp, final.summary())
    return ok


def scenario_import_events(a) -> bool:
    """An events file imported (a backfill, `vectorstream import --kind events`) while the same events arrive
    through Kafka and a worker stores them: Redis's event claims must store every event exactly once. Valid events
    only: a dead letter is at-least-once by design, and the file's would carry file positions."""
    n = Names("import-events", 11)
    reset_stores(n)
    path = generate(n, a.events, a.seed + 3, a.products, 0.0)
    exp = Expected(load_input(path))
    create_topics({n.topic: 3})
    env = worker_env(n)
    worker = Worker(n, ["run", "--no-server"], env, "worker")
    importer = Worker(n, ["import", str(path), "--kind", "events", "--name", "backfill.jsonl", "--json"],
                      worker_env(n, "importer"), "importer")
    failed = produce(exp.records, n.topic)
    info("import-events", f"{len(exp.records)} events in {path.name}: imported as a file and produced to {n.topic} "
         f"({failed} failed) at the same time")
    rc_import = importer.wait(a.bound * 2)
    took_import = time.monotonic() - importer.started
    if rc_import is None:
        importer.kill9()
    ok = report(rc_import == 0, "import-events import", f"import exit {rc_import} after {took_import:.0f} s; "
                f"{importer.log_tail(1)}")
    worker.signal(signal.SIGTERM)
    worker.wait(30)
    final, rc, took = run_final(n, env, a.idle, a.bound)
    ok &= report(rc == 0, "import-events final run", f"exit {rc} after {took:.0f} s (bound {a.bound:.0f} s)")
    ok &= full_stack_checks("import-events", n, exp, final.summary())
    notices = read_topic(f"{n.topic}-files", expect=1, idle=3.0, limit=30.0)
    bodies = []
    for m in notices:
        try:
            bodies.append(json.loads(m["value"]))
        except (KeyError, TypeError, ValueError):
            pass
    done = [b for b in bodies if b.get("status") == "done" and b.get("kind") == "events"]
    ok &= report(len(done) == 1, "import-events file_processed",
                 f"{len(done)} done notice(s) of {len(bodies)}: " + (json.dumps({k: done[0].get(k) for k in (
                     "name", "rows_accepted", "rows_rejected", "events_stored", "duration_ms")}) if done else "none"))
    return ok


# ---------------------------------------------------------------- Spark drives the production configuration

def spark_missing() -> str | None:
    for module in ("pyspark", "confluent_kafka", "pandas", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            return f"python module {module} is not installed (scripts/setup.sh installs it)"
    return None if shutil.which("java") else "java is not installed (scripts/setup.sh installs openjdk-17-jre-headless)"


def wait_health(url: str, limit: float, worker: Worker) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and worker.alive():
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    return False


def wait_progress(n: Names, worker: Worker, limit: float = 120) -> int:
    """Waits until ClickHouse's row count moves (a batch is being stored) or `limit` passes; returns the count."""
    base = ch_count(n.database) or 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and worker.alive():
        now = ch_count(n.database) or 0
        if now > base:
            return now
        time.sleep(0.3)
    return ch_count(n.database) or 0


def wait_in_flight(port: int, limit: float, driver: Worker) -> bool:
    """Waits until an ingest request is in flight (True), or `limit` passes: the sink opens one connection per
    request and closes it with the answer, so an established connection to the server's port is a request being
    sent or processed (read with `ss`, from outside the server)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and driver.alive():
        r = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], capture_output=True,
                           text=True, timeout=5)
        if r.returncode == 0 and r.stdout.strip():
            return True
        time.sleep(0.05)
    return False


def spark_checkpoint_offsets(checkpoint: Path) -> tuple[int | None, dict[int, int]]:
    """The last batch Spark committed and the source offsets it ended at ({partition: next offset}), read from the
    checkpoint's files as Spark wrote them (commits/N, offsets/N: version, metadata, then the source's JSON)."""
    commits = [int(f.name) for f in (checkpoint / "commits").glob("[0-9]*") if f.name.isdigit()]
    if not commits:
        return None, {}
    last = max(commits)
    lines = (checkpoint / "offsets" / str(last)).read_text().strip().splitlines()
    return last, {int(k): int(v) for k, v in json.loads(lines[-1]).items()}


def check_dead_letters_by_bytes(name: str, exp: Expected, dlq: list[dict]) -> bool:
    """Dead letters of records that came through POST /v1/ingest carry the request's position, not Kafka's: each is
    matched to an invalid input record by its bytes (as a multiset: the same bad bytes twice are two records)."""
    from collections import Counter
    want = Counter(r.raw for r in exp.invalid)
    got = Counter(m["value"] for m in dlq)
    valid_raw = {r.raw for r in exp.valid}
    missing = sum((want - got).values())
    extra = got - want
    valid_dead = sum(c for raw, c in extra.items() if raw in valid_raw)
    copies = sum(c for raw, c in extra.items() if raw in want)
    unknown = sum(c for raw, c in extra.items() if raw not in want and raw not in valid_raw)
    no_reason = sum(1 for m in dlq if not m["headers"].get("vectorstream.reason", "").strip())
    ok = missing == 0 and no_reason == 0 and valid_dead == 0 and unknown == 0
    return report(ok, f"{name} dead letters", f"{len(exp.invalid)} invalid expected, {len(dlq)} dead letters, missing "
                  f"{missing}, without a reason {no_reason}, valid events dead-lettered {valid_dead}, not from this "
                  f"input {unknown}, repeated copies {copies} (at-least-once)", expected=len(exp.invalid),
                  dead_letters=len(dlq), missing=missing, no_reason=no_reason, unknown=unknown, copies=copies)


def scenario_spark(a) -> bool:
    """Issue #19 against the configuration users run: the reference Spark job (`python -m vectorstream_spark`, local
    Spark, the `vectorstream_kafka` source) reads the topic into `vectorstream serve` with every backend on (Redis
    dedup claims and idempotency keys, ClickHouse, Milvus, the Kafka dead-letter topic). While it runs: the Spark
    driver is killed with kill -9 and restarted from its checkpoint (twice), the VectorStream server is killed with
    kill -9 in the middle of an ingest request and started again, and later stopped for 30 s. Then the stores are
    counted: every valid event once in ClickHouse, one vector per product in Milvus, every invalid record in the
    dead-letter topic with a reason, and everything below the offsets of Spark's last committed batch stored."""
    name = "spark"
    n = Names(name, 12)
    missing = spark_missing()
    if missing:
        return report(False, name, f"cannot run: {missing}")
    reset_stores(n)
    rng = random.Random(a.seed + 12)
    exp = Expected(load_input(generate(n, a.events, a.seed + 12, a.products, a.invalid_ratio)))
    create_topics({n.topic: 3, n.dlq: 3})
    failed = produce(exp.records, n.topic)
    info(name, f"produced {len(exp.records)} records ({len(exp.valid)} valid, {len(exp.invalid)} invalid, "
         f"{len(exp.products)} products), {failed} failed, to {n.topic}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = worker_env(n, "server", extra={"VECTORSTREAM_HTTP_PORT": str(port)})
    server_env.pop("VECTORSTREAM_KAFKA_TOPIC", None)  # serve reads no topic; Kafka is for dead letters and notices
    server_env.update(dict(kv.split("=", 1) for kv in a.spark_server_env))
    checkpoint = n.dir / "checkpoint"
    job_env = dict(os.environ, PYTHONPATH=str(ROOT / "integrations" / "spark"))
    job_args = ["-m", "vectorstream_spark", "--brokers", KAFKA, "--topic", n.topic, "--vectorstream-url", url,
                "--checkpoint", str(checkpoint), "--trigger", a.spark_trigger, "--until-idle", str(a.idle * 2),
                "--max-offsets-per-trigger", str(a.batch * 2), "--chunk-size", str(max(a.batch // 2, 100))]
    lives = {"server": 0, "driver": 0}

    def start_server() -> Worker:
        lives["server"] += 1
        w = Worker(n, ["serve"], server_env, f"server-{lives['server']}")
        if not wait_health(url, 120, w):
            raise RuntimeError(f"vectorstream serve did not answer /health: {w.log_tail(3)}")
        return w

    def start_driver() -> Worker:
        lives["driver"] += 1
        return Worker(n, job_args, job_env, f"driver-{lives['driver']}", program=[sys.executable])

    server = start_server()
    driver = start_driver()
    faults = []
    for i in range(a.spark_driver_kills):
        wait_progress(n, driver)
        time.sleep(rng.uniform(0, 3))
        if not driver.alive():
            info(name, f"driver exited by itself (rc {driver.proc.returncode}) before kill {i + 1}: {driver.log_tail(2)}")
            break
        driver.kill9()
        faults.append("driver kill -9")
        info(name, f"kill -9 of the Spark driver #{i + 1}; ClickHouse rows now {ch_count(n.database)}")
        time.sleep(2)
        driver = start_driver()
    wait_progress(n, driver)
    # In the middle of a request: its Idempotency-Key is in flight in Redis and its events' dedup claims are held,
    # by a server that will never answer or release them. (The earlier kills, after the stored count moved, landed
    # between requests.)
    caught = wait_in_flight(port, 120, driver)
    server.kill9()
    faults.append("server kill -9")
    info(name, f"kill -9 of vectorstream serve {'with' if caught else 'WITHOUT'} an ingest request in flight "
         f"(an established connection to its port); ClickHouse rows now {ch_count(n.database)}")
    ok_kill = report(caught, f"{name} server killed mid-request", "the kill landed while a request was in flight"
                     if caught else "no ingest request seen in flight within 120 s: the kill tested nothing")
    time.sleep(2)
    server = start_server()
    wait_progress(n, driver)
    server.signal(signal.SIGTERM)
    server.wait(60)
    faults.append("server stopped 30 s")
    info(name, f"vectorstream serve stopped (SIGTERM) for 30 s; ClickHouse rows now {ch_count(n.database)}")
    time.sleep(30)
    server = start_server()
    rc = driver.wait(a.bound * 2)
    took = time.monotonic() - driver.started
    if rc is None:
        driver.kill9()
    ok = ok_kill
    ok &= report(rc == 0, f"{name} job", f"the last driver exited {rc} after {took:.0f} s (bound {a.bound * 2:.0f} s) "
                f"after {', '.join(faults)}: {driver.log_tail(1)[:200]}")
    server.signal(signal.SIGTERM)
    server.wait(60)
    rows = ch_events(n.database)
    ids = [r[0] for r in rows] if rows is not None else None
    ok &= check_events(name, exp, ids, f"ClickHouse {n.database}.events")
    ok &= check_vectors(name, exp, milvus_products_settled(n.collection), f"Milvus {n.collection}")
    dlq = read_topic(n.dlq, expect=len(exp.invalid))
    ok &= check_dead_letters_by_bytes(name, exp, dlq)
    batch, committed = spark_checkpoint_offsets(checkpoint)
    stored = set(ids or [])
    dead_raw = {m["value"] for m in dlq}
    below = [r for r in exp.records if r.position and r.position[1] < committed.get(r.position[0], -1)]
    unstored = sum(1 for r in below if (r.event_id not in stored) if r.valid) + \
        sum(1 for r in below if not r.valid and r.raw not in dead_raw)
    ok &= report(unstored == 0 and len(below) == len(exp.records), f"{name} acknowledged",
                 f"Spark's last committed batch {batch} ends at {committed}: {len(below)} of {len(exp.records)} records "
                 f"below it, of them not stored {unstored}", acknowledged=len(below), acknowledged_unstored=unstored)
    retried = {}
    for f in sorted(n.dir.glob("driver-*.log")):
        for line in f.read_text(errors="replace").splitlines():
            if "ingest chunk" in line and "; retry " in line:
                why = "409 in flight" if "request_in_flight" in line else "429" if "HTTP 429" in line else \
                    "connection refused" if "refused" in line else "connection lost" if "Connection" in line or \
                    "RemoteDisconnected" in line else "timeout" if "imeout" in line else "other"
                retried[why] = retried.get(why, 0) + 1
    info(name, f"chunk retries by the Spark sink: {json.dumps(retried, sort_keys=True)}")
    notices = read_topic(f"{n.topic}-ready", idle=3.0, limit=30.0)
    embedded: list[str] = []
    for m in notices:
        try:
            embedded += json.loads(m["value"]).get("product_ids", [])
        except (TypeError, ValueError, AttributeError):
            pass
    info(name, f"embeddings_ready: {len(notices)} notices naming {len(embedded)} products, {len(set(embedded))} "
         f"distinct (a product embedded again after a crash is named again)")
    RESULTS.append({"figure": "kills", "scenario": name, "kills": faults.count("driver kill -9") + 1, "ok": ok})
    RESULTS.append({"figure": "outages", "scenario": name, "outages": 1, "ok": ok})
    return ok


SCENARIOS = {
    "kill-kafka": scenario_kill_kafka, "kill-embedded": scenario_kill_embedded, "two-workers": scenario_two_workers,
    "bounce": scenario_bounce, "poison-kafka": scenario_poison_kafka, "poison-file": scenario_poison_file,
    "fuzz": scenario_fuzz, "sigterm": scenario_sigterm, "import-events": scenario_import_events,
    "spark": scenario_spark,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--products", type=int, default=500)
    p.add_argument("--invalid-ratio", type=float, default=0.02)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--kill-min", type=float, default=2.0, help="start-up kills: up to kill-min + 4 s after start")
    p.add_argument("--kill-max", type=float, default=6.0, help="other kills: up to kill-max - kill-min seconds "
                   "after the worker's first stored batch")
    p.add_argument("--batch", type=int, default=1000, help="pipeline.max_events_per_trigger")
    p.add_argument("--seed", type=int, default=int(os.environ.get("FAULTS_SEED", "7")))
    p.add_argument("--idle", type=float, default=15.0, help="--until-idle of the final runs")
    p.add_argument("--bound", type=float, default=300.0, help="seconds a final run or a recovery may take")
    p.add_argument("--server", choices=["redis", "clickhouse", "milvus", "kafka"])
    p.add_argument("--down", type=float, default=20.0, help="seconds a bounced server stays down")
    p.add_argument("--poison-valid", type=int, default=300)
    p.add_argument("--migrate-races", type=int, default=5)
    p.add_argument("--poison-bound", type=float, default=120.0)
    p.add_argument("--api-key", choices=["on", "off"], default="off")
    p.add_argument("--fuzz-seconds", type=int, default=60)
    p.add_argument("--fuzz-examples", type=int, default=50)
    p.add_argument("--stall", choices=["clickhouse", "dead-letter"], default="clickhouse")
    p.add_argument("--sigterm-bound", type=float, default=10.0)
    p.add_argument("--spark-driver-kills", type=int, default=2)
    p.add_argument("--spark-trigger", default="2s", help="the Spark job's processing-time trigger")
    p.add_argument("--spark-server-env", action="append", default=[], metavar="VECTORSTREAM_X=V",
                   help="a setting of the server under test, e.g. VECTORSTREAM_INGEST_IDEMPOTENCY_LEASE=300s (the old "
                        "lease, which fails this scenario)")
    a = p.parse_args()
    global BATCH
    BATCH = a.batch
    if a.scenario == "bounce" and not a.server:
        p.error("bounce needs --server")
    if not os.access(BIN, os.X_OK):
        print(f"FAIL {a.scenario}: no vectorstream binary at {BIN} (build it: swift build -c release)")
        return 1
    label = a.scenario + (f"-{a.server}" if a.scenario == "bounce" else "") + \
        (f"-{a.api_key}" if a.scenario == "fuzz" else "") + (f"-{a.stall}" if a.scenario == "sigterm" else "")
    started = time.monotonic()
    try:
        ok = SCENARIOS[a.scenario](a)
    except Exception as e:  # noqa: BLE001 - a scenario that cannot run is a failure, said plainly
        import traceback
        traceback.print_exc()
        ok = report(False, label, f"scenario error: {type(e).__name__}: {e}")
    finally:
        cleanup()
    info(label, f"took {time.monotonic() - started:.0f} s")
    save_results(label)
    return 0 if ok and all(r.get("ok", True) for r in RESULTS if "figure" not in r) else 1


if __name__ == "__main__":
    sys.exit(main())
