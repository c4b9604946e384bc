"""Unit tests of vectorstream_spark without Spark or Kafka: the HTTP client's retries, the sink's keys, the read
limit's share over partitions. `python3 integrations/spark/tests/test_unit.py`"""

import http.server
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vectorstream_spark.client import IngestClient, IngestError  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    script = []  # (status, headers) answered in order, then 200
    reply = None  # the body answered, when set
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.seen.append((self.headers.get("Idempotency-Key"), self.headers.get("X-API-Key"), body))
        status, headers = Handler.script.pop(0) if Handler.script else (200, {})
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(Handler.reply or {"stored": body.count(b"\n") + 1, "error": "request_in_flight"}).encode())

    def log_message(self, *args):
        pass


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def setUp(self):
        Handler.script, Handler.seen = [], []
        self.sleeps = []

    def client(self, retries=5):
        return IngestClient(self.url, api_key="k", retries=retries, sleep=self.sleeps.append)

    def test_retries_transient_answers_with_the_same_key_and_honours_retry_after(self):
        Handler.script = [(503, {"Retry-After": "3"}), (429, {"Retry-After": "1"}), (409, {})]
        reply = self.client().post([b"{}", b"{}"], "q:1:0:0")
        self.assertEqual(reply["stored"], 2)
        self.assertEqual([s[0] for s in Handler.seen], ["q:1:0:0"] * 4)
        self.assertEqual({s[1] for s in Handler.seen}, {"k"})
        self.assertGreaterEqual(self.sleeps[0], 3 * 0.8)  # Retry-After respected (with jitter)
        self.assertEqual(len(self.sleeps), 3)

    def test_bad_request_is_not_retried(self):
        Handler.script = [(400, {})]
        with self.assertRaises(IngestError) as raised:
            self.client().post([b"x"], "q:1:0:1")
        self.assertEqual(raised.exception.status, 400)
        self.assertEqual(len(Handler.seen), 1)

    def test_key_reused_for_another_body_is_not_retried(self):
        Handler.script = [(409, {})]
        Handler.reply = {"error": "idempotency_key_reused"}
        try:
            with self.assertRaises(IngestError):
                self.client().post([b"x"], "q:1:0:3")
        finally:
            Handler.reply = None
        self.assertEqual(len(Handler.seen), 1)

    def test_gives_up_after_the_retries(self):
        Handler.script = [(503, {})] * 10
        with self.assertRaises(IngestError):
            self.client(retries=2).post([b"x"], "q:1:0:2")
        self.assertEqual(len(Handler.seen), 3)

    def test_server_down_is_retried(self):
        client = IngestClient("http://127.0.0.1:9", retries=2, sleep=self.sleeps.append, timeout=2)
        with self.assertRaises(IngestError):
            client.post([b"x"], "k")
        self.assertEqual(len(self.sleeps), 2)
        self.assertEqual(self.sleeps[1] > self.sleeps[0] * 0.5, True)


class SinkAndSourceTests(unittest.TestCase):
    def test_keys(self):
        from vectorstream_spark.sink import VectorStreamStreamWriter as W

        self.assertEqual(W.key("qid", "7", 1, 3, [b"a"]), "qid:7:1:3")
        self.assertEqual(W.key(None, None, 1, 3, [b"a"]), W.key(None, None, 1, 3, [b"a"]))
        self.assertNotEqual(W.key(None, None, 1, 3, [b"a"]), W.key(None, None, 1, 3, [b"b"]))

    def test_read_limit_shares_rows_over_partitions(self):
        from vectorstream_spark.kafka_source import KafkaStreamReader as R

        self.assertEqual(R.share({0: 100, 1: 100, 2: 100}, 90), {0: 30, 1: 30, 2: 30})
        self.assertEqual(R.share({0: 5, 1: 100, 2: 0}, 50), {0: 5, 1: 45, 2: 0})
        self.assertEqual(sum(R.share({0: 7, 1: 8, 2: 9}, 10).values()), 10)
        self.assertEqual(R.share({0: 3, 1: 4}, 100), {0: 3, 1: 4})

    def test_source_options_as_spark_passes_them(self):
        """Spark hands a data source its options in a case-insensitive dict whose keys read back lowercased: the
        camelCase options of Spark's Kafka source must still be read (maxOffsetsPerTrigger was ignored: a 20,000-row
        backlog came as one batch, not batches of 2,000)."""
        try:
            from pyspark.sql.datasource import CaseInsensitiveDict
        except ImportError:
            self.skipTest("pyspark is not installed")
        from pyspark.sql.streaming.datasource import ReadMaxRows
        from vectorstream_spark.kafka_source import KafkaStreamReader as R

        reader = R(CaseInsensitiveDict({"kafka.bootstrap.servers": "127.0.0.1:9", "subscribe": "events",
                                        "maxOffsetsPerTrigger": "2000", "startingOffsets": "latest",
                                        "fetchTimeout": "7"}))
        self.assertEqual(reader.getDefaultReadLimit(), ReadMaxRows(2000))
        self.assertEqual(reader.starting, "latest")
        self.assertEqual(reader.fetch_timeout, 7.0)
        self.assertEqual(reader.topic, "events")
        with self.assertRaises(ValueError):
            R(CaseInsensitiveDict({"kafka.bootstrap.servers": "127.0.0.1:9", "subscribe": "events",
                                   "startingOffsets": "sometimes"}))

    def test_records_go_on_one_line_with_their_bytes(self):
        from vectorstream_spark.sink import _one_line, _value

        class Row(dict):
            __fields__ = ["value"]

        pretty = b'{\r\n  "event_id": "e1",\n  "name": "a \\n b"\n}'
        flat = _one_line(pretty)
        self.assertNotIn(b"\n", flat)
        self.assertNotIn(b"\r", flat)
        self.assertEqual(json.loads(flat), json.loads(pretty))
        # Not JSON: the bytes as they came (a cut multi-byte character included), not re-encoded.
        cut = '{"name": "caf\u00e9'.encode("utf-8")[:-1]
        self.assertEqual(_value(Row(value=bytearray(cut))), cut)
        self.assertEqual(_one_line(b"not json\nat all"), b"not json\nat all")
        self.assertEqual(_value(Row(value='{"a": 1}')), b'{"a": 1}')

    def test_job_runs_as_a_file(self):
        """spark-submit runs the job as a file, not as a module: `from . import` fails there ("attempted relative
        import with no known parent package"); the job must import its package by name."""
        import subprocess

        job = os.path.join(os.path.dirname(__file__), "..", "vectorstream_spark", "job.py")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        r = subprocess.run([sys.executable, job, "--help"], capture_output=True, text=True, env=env, timeout=60,
                           cwd="/")
        self.assertEqual(r.returncode, 0, r.stderr[-500:])
        self.assertIn("--vectorstream-url", r.stdout)


if __name__ == "__main__":
    unittest.main()
