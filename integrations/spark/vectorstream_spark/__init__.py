"""Apache Spark Structured Streaming <-> VectorStream.

- ``format("vectorstream")``: a streaming sink posting each partition's rows to ``POST /v1/ingest`` in chunks,
  each with the idempotency key ``{query_id}:{batch_id}:{partition}:{chunk}``;
- ``format("vectorstream_kafka")``: a Kafka source on confluent-kafka whose offsets live in Spark's checkpoint;
- ``python -m vectorstream_spark``: the reference job (Kafka -> Spark -> VectorStream).

Call :func:`register` once per SparkSession.
"""

from .client import IngestClient, IngestError
from .kafka_source import VectorStreamKafkaDataSource
from .sink import VectorStreamDataSource

__all__ = ["IngestClient", "IngestError", "VectorStreamDataSource", "VectorStreamKafkaDataSource", "register"]


def register(spark) -> None:
    """Registers both data sources with the session (``format("vectorstream")``, ``format("vectorstream_kafka")``)."""
    spark.dataSource.register(VectorStreamDataSource)
    spark.dataSource.register(VectorStreamKafkaDataSource)
