"""``format("vectorstream")``: a Structured Streaming sink that stores rows through VectorStream's ``POST /v1/ingest``."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Iterator, List, Optional

from pyspark.sql.datasource import DataSource, DataSourceStreamWriter, WriterCommitMessage

from .client import IngestClient

log = logging.getLogger("vectorstream_spark")

# Spark sets these local properties on every task of a micro-batch (MicroBatchExecution / StreamExecution).
BATCH_ID_PROPERTY = "streaming.sql.batchId"
QUERY_ID_PROPERTY = "sql.streaming.queryId"


@dataclass
class IngestCommit(WriterCommitMessage):
    """What one task stored: the server's counts summed over its chunks."""

    partition: int
    chunks: int = 0
    counts: dict = field(default_factory=dict)


def _add(total: dict, counts: dict) -> None:
    for key in ("received", "accepted", "rejected", "deduplicated", "stored", "products_embedded", "embedding_cache_hits"):
        total[key] = total.get(key, 0) + int(counts.get(key, 0))
    replayed = counts.get("_replayed")
    if replayed:
        total["replayed_chunks"] = total.get("replayed_chunks", 0) + 1


def _value(row) -> bytes:
    """The raw event of a row: its `value` column (binary as Kafka sources give it, or string), else the row as
    JSON; on one line (see `_one_line`)."""
    fields = row.__fields__ if hasattr(row, "__fields__") else []
    if "value" in fields:
        v = row["value"]
        if v is None:
            return b"null"
        if isinstance(v, (bytes, bytearray)):
            return _one_line(bytes(v))
        return _one_line(str(v).encode("utf-8"))
    return json.dumps(row.asDict(recursive=True), default=str).encode("utf-8")


def _one_line(record: bytes) -> bytes:
    """Chunks go as JSON lines, so a record must not hold a line break. In a record that is JSON (pretty-printed,
    CRLF) line breaks can only be whitespace between tokens (JSON strings escape them): they become spaces, the same
    JSON value, nothing re-encoded. A record that is not JSON keeps its bytes; it is a dead letter either way, one per
    line (README: "Records with line breaks")."""
    if b"\n" not in record and b"\r" not in record:
        return record
    try:
        json.loads(record)
    except ValueError:
        return record
    return record.replace(b"\r", b" ").replace(b"\n", b" ")


class VectorStreamDataSource(DataSource):
    """Options: ``url`` (required, e.g. http://host:8080), ``api_key``, ``chunk_size`` (records per request,
    default 2000), ``timeout`` (seconds per request, default 120), ``retries`` (default 12, exponential backoff from
    0.5 s up to ``max_backoff`` 30 s; a server down for a minute is waited out)."""

    @classmethod
    def name(cls) -> str:
        return "vectorstream"

    def schema(self) -> str:
        return "value string"

    def streamWriter(self, schema, overwrite: bool) -> "VectorStreamStreamWriter":
        return VectorStreamStreamWriter(self.options)


class VectorStreamStreamWriter(DataSourceStreamWriter):
    def __init__(self, options):
        url = options.get("url")
        if not url:
            raise ValueError("format('vectorstream') needs .option('url', 'http://host:8080')")
        self.url = url
        self.api_key = options.get("api_key") or options.get("apiKey")
        self.chunk_size = int(options.get("chunk_size", options.get("chunkSize", 2000)))
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.timeout = float(options.get("timeout", 120))
        self.retries = int(options.get("retries", 12))
        self.max_backoff = float(options.get("max_backoff", 30))

    def write(self, iterator: Iterator) -> IngestCommit:
        from pyspark import TaskContext

        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        batch_id = context.getLocalProperty(BATCH_ID_PROPERTY) if context else None
        query_id = context.getLocalProperty(QUERY_ID_PROPERTY) if context else None
        client = IngestClient(self.url, self.api_key, timeout=self.timeout, retries=self.retries,
                              max_backoff=self.max_backoff)
        commit = IngestCommit(partition=partition)
        chunk: List[bytes] = []

        def flush():
            key = self.key(query_id, batch_id, partition, commit.chunks, chunk)
            counts = client.post(chunk, key)
            _add(commit.counts, counts)
            commit.chunks += 1
            chunk.clear()

        for row in iterator:
            chunk.append(_value(row))
            if len(chunk) >= self.chunk_size:
                flush()
        if chunk:
            flush()
        return commit

    @staticmethod
    def key(query_id: Optional[str], batch_id: Optional[str], partition: int, chunk: int, records: List[bytes]) -> str:
        """``{query_id}:{batch_id}:{partition}:{chunk}``. The query id survives restarts from the checkpoint and a
        replayed batch has the same id and rows, so a replay gets the same keys. Without those properties (an old
        Spark) the key is a hash of the chunk's records, which is as stable."""
        if query_id and batch_id is not None:
            return f"{query_id}:{batch_id}:{partition}:{chunk}"
        digest = hashlib.sha256(b"\n".join(records)).hexdigest()[:32]
        return f"content:{digest}:{partition}:{chunk}"

    def commit(self, messages, batchId: int) -> None:
        total: dict = {}
        chunks = 0
        for m in messages:
            if m is not None:
                _add(total, m.counts)
                chunks += m.chunks
        log.info("vectorstream batch %d stored: %d chunks, %s", batchId, chunks, json.dumps(total, sort_keys=True))

    def abort(self, messages, batchId: int) -> None:
        # Nothing to undo: what was stored is deduplicated when Spark runs the batch again.
        log.warning("vectorstream batch %d aborted; Spark runs it again and the stored part is deduplicated", batchId)
