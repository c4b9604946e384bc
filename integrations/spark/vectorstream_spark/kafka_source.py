"""``format("vectorstream_kafka")``: a Kafka source for Structured Streaming on confluent-kafka.

Offsets live in Spark's checkpoint (``{"<partition>": next_offset}``), not in a consumer group; each Kafka partition
of a micro-batch is one Spark input partition. End offsets come from the high watermark that fetch replies carry,
not from a ListOffsets "latest" request: tansu (the broker the tests use) answers ListOffsets latest wrongly (1 or
589 where the end was 1,000), while the watermark of its fetch replies is right.
"""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

try:  # pyspark >= 4.2
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow
except ImportError:  # pragma: no cover
    ReadAllAvailable = ReadMaxRows = ReadLimit = None  # type: ignore
    SupportsTriggerAvailableNow = object  # type: ignore

SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


def _kafka_conf(options) -> dict:
    """Brokers from ``kafka.bootstrap.servers`` (as Spark's Kafka source) or ``bootstrap.servers``; every other
    ``kafka.*`` option is passed to librdkafka as it is (SASL, SSL, ...)."""
    brokers = options.get("kafka.bootstrap.servers") or options.get("bootstrap.servers") or options.get("brokers")
    if not brokers:
        raise ValueError("format('vectorstream_kafka') needs .option('kafka.bootstrap.servers', 'host:9092')")
    conf = {"bootstrap.servers": brokers}
    for key, value in options.items():
        if key.startswith("kafka.") and key != "kafka.bootstrap.servers":
            conf[key[len("kafka."):]] = value
    return conf


@dataclass
class KafkaRange(InputPartition):
    """One Kafka partition's records [start, end) of a micro-batch."""

    topic: str
    partition: int
    start: int
    end: int


class VectorStreamKafkaDataSource(DataSource):
    """Options: ``kafka.bootstrap.servers``, ``subscribe`` (one topic), ``startingOffsets`` (earliest, the
    default, or latest), ``maxOffsetsPerTrigger`` (a read limit: at most this many records per micro-batch),
    ``fetchTimeout`` (seconds an executor waits for a record it knows exists, default 120), and ``kafka.*``
    passed to librdkafka."""

    @classmethod
    def name(cls) -> str:
        return "vectorstream_kafka"

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema) -> "KafkaStreamReader":
        return KafkaStreamReader(self.options)


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options):
        # Spark's options are case-insensitive and read back lowercased (`dict(options)` has "maxoffsetspertrigger"):
        # every name is looked up lowercased, so maxOffsetsPerTrigger and startingOffsets are never lost.
        self.options = {str(k).lower(): v for k, v in dict(options).items()}
        self.conf = _kafka_conf(self.options)
        self.topic = self.options.get("subscribe") or self.options.get("topic")
        if not self.topic or "," in self.topic:
            raise ValueError("format('vectorstream_kafka') needs .option('subscribe', 'one-topic')")
        self.starting = self.options.get("startingoffsets", "earliest").lower()
        if self.starting not in ("earliest", "latest"):
            raise ValueError(f"startingOffsets must be earliest or latest (got {self.starting!r})")
        limit = self.options.get("maxoffsetspertrigger")
        self.max_per_trigger = int(limit) if limit else None
        if self.max_per_trigger is not None and self.max_per_trigger < 1:
            raise ValueError(f"maxOffsetsPerTrigger must be at least 1 (got {limit!r})")
        self.fetch_timeout = float(self.options.get("fetchtimeout", 120))
        self._probe = None
        self._ends: Dict[int, int] = {}
        self._target: Optional[Dict[str, int]] = None

    # Driver side --------------------------------------------------------------------------------------------

    def _consumer(self):
        from confluent_kafka import Consumer

        if self._probe is None:
            self._probe = Consumer({
                **self.conf,
                "group.id": f"vectorstream-spark-probe-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                # Fetch replies carry the high watermark; one small reply per partition is enough.
                "fetch.wait.max.ms": 50,
                "max.partition.fetch.bytes": 1,
            })
        return self._probe

    def _partitions(self) -> List[int]:
        metadata = self._consumer().list_topics(self.topic, timeout=30)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            raise RuntimeError(f"topic {self.topic!r} is not available: {getattr(topic, 'error', 'missing')}")
        return sorted(topic.partitions.keys())

    def end_offsets(self, positions: Dict[int, int], timeout: float = 30.0) -> Dict[int, int]:
        """The high watermark of each partition, as fetch replies report it (see the module's doc), read by fetching
        from the last known end: an end-of-partition event there says nothing is new; a record says there is more,
        and the watermark of the reply that brought it says how much."""
        from confluent_kafka import KafkaError, TopicPartition

        consumer = self._consumer()
        start = {p: max(positions.get(p, 0), self._ends.get(p, 0)) for p in positions}
        consumer.assign([TopicPartition(self.topic, p, o) for p, o in start.items()])
        ends: Dict[int, int] = {}
        deadline = time.time() + timeout
        try:
            while len(ends) < len(start):
                if time.time() > deadline:
                    missing = sorted(set(start) - set(ends))
                    raise TimeoutError(f"no fetch reply from partitions {missing} of {self.topic!r} in {timeout:.0f} s")
                message = consumer.poll(0.2)
                if message is None:
                    continue
                p = message.partition()
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        ends.setdefault(p, message.offset())
                    continue
                _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), cached=True)
                if high is not None and high >= 0:
                    ends[p] = max(ends.get(p, 0), high, message.offset() + 1)
        finally:
            consumer.unassign()
        for p, e in ends.items():
            self._ends[p] = max(self._ends.get(p, 0), e)
        return {p: self._ends[p] for p in start}

    def initialOffset(self) -> dict:
        partitions = self._partitions()
        if self.starting == "latest":
            return {str(p): o for p, o in self.end_offsets({p: 0 for p in partitions}).items()}
        from confluent_kafka import TopicPartition

        lows = {}
        for p in partitions:
            low, _ = self._consumer().get_watermark_offsets(TopicPartition(self.topic, p), timeout=30, cached=False)
            lows[str(p)] = max(low, 0)
        return lows

    def getDefaultReadLimit(self):
        if self.max_per_trigger and ReadMaxRows is not None:
            return ReadMaxRows(self.max_per_trigger)
        return ReadAllAvailable() if ReadAllAvailable is not None else None

    def prepareForTriggerAvailableNow(self) -> None:
        positions = {p: 0 for p in self._partitions()}
        self._target = {str(p): e for p, e in self.end_offsets(positions).items()}

    def latestOffset(self, start: dict, limit=None) -> dict:
        positions = {int(p): int(o) for p, o in start.items()}
        for p in self._partitions():  # partitions added since the query started begin at 0
            positions.setdefault(p, 0)
        ends = self.end_offsets(positions)
        if self._target is not None:
            ends = {p: min(e, self._target.get(str(p), e)) for p, e in ends.items()}
        available = {p: max(ends[p] - positions[p], 0) for p in positions}
        budget = getattr(limit, "max_rows", None)  # ReadMaxRows; the attribute is max_rows (not maxRows)
        take = self.share(available, budget) if budget is not None else available
        return {str(p): positions[p] + take[p] for p in sorted(positions)}

    @staticmethod
    def share(available: Dict[int, int], budget: int) -> Dict[int, int]:
        """At most `budget` records over the partitions, each its fair share, what one cannot use going to the rest."""
        take = {p: 0 for p in available}
        left = max(int(budget), 0)
        open_ = [p for p in sorted(available) if available[p] > 0]
        while left > 0 and open_:
            each = max(left // len(open_), 1)
            still = []
            for p in open_:
                if left == 0:
                    break
                n = min(each, available[p] - take[p], left)
                take[p] += n
                left -= n
                if take[p] < available[p]:
                    still.append(p)
            open_ = still
        return take

    def reportLatestOffset(self):
        return {str(p): e for p, e in sorted(self._ends.items())} or None

    def partitions(self, start: dict, end: dict):
        ranges = []
        for p, e in sorted(end.items(), key=lambda kv: int(kv[0])):
            s = int(start.get(p, 0))
            if int(e) > s:
                ranges.append(KafkaRange(self.topic, int(p), s, int(e)))
        return ranges

    def commit(self, end: dict) -> None:
        pass  # Spark's checkpoint holds the offsets; nothing is committed to Kafka.

    def stop(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    # Executor side ------------------------------------------------------------------------------------------

    def read(self, partition: KafkaRange) -> Iterator[tuple]:
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        consumer = Consumer({**self.conf, "group.id": f"vectorstream-spark-reader-{uuid.uuid4()}",
                             "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            consumer.assign([TopicPartition(partition.topic, partition.partition, partition.start)])
            next_offset = partition.start
            deadline = time.time() + self.fetch_timeout
            while next_offset < partition.end:
                messages = consumer.consume(min(10_000, partition.end - next_offset), 1.0)
                if not messages and time.time() > deadline:
                    raise TimeoutError(f"{partition.topic}[{partition.partition}]: no record at offset {next_offset} "
                                       f"(batch end {partition.end}) in {self.fetch_timeout:.0f} s")
                for m in messages:
                    if m.error() is not None:
                        if m.error().code() != KafkaError._PARTITION_EOF:
                            raise RuntimeError(f"{partition.topic}[{partition.partition}]: {m.error()}")
                        continue
                    if m.offset() < next_offset:
                        continue
                    if m.offset() >= partition.end:
                        next_offset = partition.end
                        break
                    deadline = time.time() + self.fetch_timeout
                    next_offset = m.offset() + 1
                    kind, ms = m.timestamp()
                    ts = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc) if ms and ms > 0 else None
                    yield (m.key(), m.value(), m.topic(), m.partition(), m.offset(), ts)
        finally:
            consumer.close()
