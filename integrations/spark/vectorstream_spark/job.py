"""The reference job: Kafka -> Spark Structured Streaming -> VectorStream (``POST /v1/ingest``).

    python -m vectorstream_spark --brokers B --topic T --vectorstream-url U --checkpoint DIR \\
        [--trigger 10s] [--max-offsets-per-trigger N] [--until-idle S] [--source vectorstream_kafka|kafka]

Also runs under spark-submit (see README.md). Logs each StreamingQueryProgress (input and processed rows/s, batch
duration) and, with --until-idle, stops once no batch has brought a row for that many seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

if not __package__:
    # Run as a file (`spark-submit .../vectorstream_spark/job.py`): the package is the folder above this one.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vectorstream_spark import register  # noqa: E402 - after the path above

log = logging.getLogger("vectorstream_spark.job")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m vectorstream_spark", description=__doc__.split("\n\n")[0])
    p.add_argument("--brokers", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    p.add_argument("--topic", required=True, help="topic of raw events")
    p.add_argument("--vectorstream-url", required=True, help="VectorStream API, e.g. http://127.0.0.1:8080")
    p.add_argument("--checkpoint", required=True, help="Spark checkpoint directory (offsets, commits)")
    p.add_argument("--api-key", default=os.environ.get("VECTORSTREAM_API_KEY"), help="API key (default $VECTORSTREAM_API_KEY)")
    p.add_argument("--trigger", default="10s", help="processing-time trigger, e.g. 10s, 500ms (default 10s)")
    p.add_argument("--max-offsets-per-trigger", type=int, default=None, help="records per micro-batch at most")
    p.add_argument("--until-idle", type=float, default=None, help="stop after this many seconds without new rows")
    p.add_argument("--chunk-size", type=int, default=2000, help="records per POST /v1/ingest (default 2000)")
    p.add_argument("--starting-offsets", default="earliest", choices=["earliest", "latest"])
    p.add_argument("--source", default="vectorstream_kafka", choices=["vectorstream_kafka", "kafka"],
                   help="vectorstream_kafka (confluent-kafka, no jars) or Spark's own kafka (needs the "
                        "spark-sql-kafka jars: --packages org.apache.spark:spark-sql-kafka-0-10_2.13:<version>)")
    p.add_argument("--master", default=None, help="Spark master when not under spark-submit (default local[2])")
    p.add_argument("--progress-file", default=None, help="also append each progress as a JSON line to this file")
    return p.parse_args(argv)


def trigger_text(t: str) -> str:
    t = t.strip().lower()
    for suffix, word in (("ms", "milliseconds"), ("s", "seconds"), ("m", "minutes")):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return f"{t[: -len(suffix)]} {word}"
    raise SystemExit(f"--trigger {t}: write it with a unit, e.g. 10s or 500ms")


def build_session(master):
    # Executors (local mode: Python workers) import this package by name: make sure they can find it.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = here + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("vectorstream-spark")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        builder = builder.master(master or "local[2]")
    builder = builder.config("spark.sql.shuffle.partitions", "2").config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    spark = build_session(args.master)
    spark.sparkContext.setLogLevel("WARN")

    register(spark)
    reader = spark.readStream.format(args.source).option("kafka.bootstrap.servers", args.brokers) \
        .option("subscribe", args.topic).option("startingOffsets", args.starting_offsets)
    if args.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(args.max_offsets_per_trigger))
    # The value as Kafka holds it (binary): a CAST to string would turn bytes that are not UTF-8 into U+FFFD, and the
    # dead letter would no longer be the record that came.
    events = reader.load().select("value")
    writer = events.writeStream.format("vectorstream").option("url", args.vectorstream_url) \
        .option("chunk_size", str(args.chunk_size)).option("checkpointLocation", args.checkpoint) \
        .trigger(processingTime=trigger_text(args.trigger))
    if args.api_key:
        writer = writer.option("api_key", args.api_key)
    query = writer.start()
    log.info("query %s (run %s) started: %s -> %s, trigger %s", query.id, query.runId, args.topic,
             args.vectorstream_url, args.trigger)
    seen = -1
    last_rows = time.time()
    progress_out = open(args.progress_file, "a") if args.progress_file else None
    try:
        while query.isActive:
            time.sleep(1)
            for progress in query.recentProgress:
                batch = progress["batchId"]
                if batch <= seen:
                    continue
                seen = batch
                rows = progress.get("numInputRows", 0)
                if rows:
                    last_rows = time.time()
                durations = progress.get("durationMs", {})
                log.info("batch %d: %d rows, input %.1f rows/s, processed %.1f rows/s, batch %d ms (addBatch %d ms)",
                         batch, rows, progress.get("inputRowsPerSecond") or 0.0,
                         progress.get("processedRowsPerSecond") or 0.0, durations.get("triggerExecution", 0),
                         durations.get("addBatch", 0))
                if progress_out:
                    progress_out.write(json.dumps(progress, default=str) + "\n")
                    progress_out.flush()
            status = query.status
            if status.get("isTriggerActive") and status.get("isDataAvailable"):
                last_rows = time.time()  # a batch with data is running: not idle, however long it takes
            if args.until_idle is not None and time.time() - last_rows >= args.until_idle:
                log.info("no new rows for %.0f s; stopping", args.until_idle)
                query.stop()
                break
        if query.exception() is not None:
            log.error("query failed: %s", query.exception())
            return 1
        return 0
    finally:
        if progress_out:
            progress_out.close()
        spark.stop()


if __name__ == "__main__":
    raise SystemExit(main())
