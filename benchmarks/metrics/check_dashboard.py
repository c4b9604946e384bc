#!/usr/bin/env python3
"""Checks the shipped Grafana dashboard and Prometheus rules against a real pipeline run (docs/metrics.md).

  benchmarks/metrics/check_dashboard.py [--events 20000]

1. promtool check config / check rules on deploy/prometheus/.
2. Starts PostgreSQL (a fresh database), tansu Kafka and Prometheus (scraping the worker every second, with the
   shipped rules) through scripts/services/, writes --events generated events (2% invalid) to a new topic, and runs
   one worker (`vectorstream run --until-idle`) with the metrics history in PostgreSQL (written every second).
3. The sum of the worker's `events_stored` points in PostgreSQL must equal the events the run stored.
4. Every PromQL expression of deploy/grafana/vectorstream.json and of the rule files is evaluated through
   /api/v1/query at a time when the worker was still scraped; every SQL query of the dashboard is run against
   the database. Any that errors or returns no data fails the check.

Substitutions (Grafana cannot be installed here; these are what Grafana would send):
  PromQL  $worker -> .*   (the dashboard variable's "All")      $__rate_interval -> 1m
  Alerts  the threshold comparison is removed from each operand of `and` (`x > 0.05` -> `x`): the rule's
          expression must return data; whether the alert fires depends on the run.
  SQL     $__timeFilter(c)            -> c BETWEEN '<run start - 5 min>' AND '<now + 1 min>'  (UTC)
          $__timeGroupAlias(c, '1m')  -> floor(extract(epoch from c)/60)*60 AS "time"   (as Grafana's PostgreSQL macro)
Exit status 0 when everything passed; the last line says `N passed, M failed`.
"""
import argparse, json, os, re, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("VECTORSTREAM_BIN", str(ROOT / ".build" / "release" / "vectorstream"))
passed, failed = 0, 0


def report(ok: bool, name: str, detail: str = "") -> None:
    global passed, failed
    passed, failed = passed + ok, failed + (not ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


def service(name: str, *args: str) -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "services" / f"{name}.sh"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{name}.sh {' '.join(args)} failed: {out.stderr[-800:]}")
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def psql(url: str, sql: str) -> list[str]:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qtAX", "-c", sql], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-600:])
    return [line for line in out.stdout.splitlines() if line.strip()]


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prom_query(prom: str, expr: str, at: float) -> list:
    q = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{prom}/api/v1/query?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", body))
    return body["data"]["result"]


def strip_threshold(expr: str) -> list[str]:
    """The operands of an alert expression without their comparison to a constant."""
    parts = re.split(r"\s+and\s+", expr.strip())
    return [re.sub(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+0-9.eE]+\s*$", "", p).strip() for p in parts]


def dashboard_queries(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    promql, sql = [], []
    for p in json.loads(path.read_text())["panels"]:
        for t in p.get("targets", []):
            name = f"{p['title']} [{t['refId']}]"
            if "expr" in t:
                promql.append((name, t["expr"]))
            if "rawSql" in t:
                sql.append((name, t["rawSql"]))
    return promql, sql


def rule_expressions() -> list[tuple[str, str]]:
    import yaml
    out = []
    for f in sorted((ROOT / "deploy" / "prometheus").glob("*.rules.yml")):
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    out.append((f"record {rule['record']}", rule["expr"]))
                    out.append((f"recorded series {rule['record']}", rule["record"]))
                else:
                    for i, part in enumerate(strip_threshold(rule["expr"])):
                        out.append((f"alert {rule['alert']} ({i + 1})", part))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000)
    a = ap.parse_args()
    started = time.time()

    for what, cmd in [("promtool check config", ["promtool", "check", "config", "deploy/prometheus/prometheus.yml"]),
                      ("promtool check rules", ["promtool", "check", "rules", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "deploy" / "prometheus").glob("*.rules.yml"))])]:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        report(r.returncode == 0, what, (r.stdout + r.stderr).strip().splitlines()[-1] if r.returncode else "")

    pg = service("postgres", "start")
    db = f"vs_dash_{int(time.time())}"
    psql(pg, f"CREATE DATABASE {db}")
    db_url = with_database(pg, db)
    brokers = service("kafka", "start")
    port = free_port()
    prom = service("prometheus", "start", f"127.0.0.1:{port}", "dash-worker")

    slug = f"dash-{int(time.time())}"
    run_start = datetime.now(timezone.utc)
    gen = subprocess.run([BIN, "generate", "--seed", "18", "--events", str(a.events), "--invalid-ratio", "0.02",
                          "--kafka", brokers, "--topic", slug], capture_output=True, text=True, timeout=600)
    report(gen.returncode == 0, f"generate {a.events} events to Kafka", gen.stderr.strip()[-300:] if gen.returncode else "")
    data = tempfile.mkdtemp(prefix="vs-dash-")
    env = dict(os.environ, VECTORSTREAM_KAFKA_BROKERS=brokers, VECTORSTREAM_KAFKA_TOPIC=slug,
               VECTORSTREAM_KAFKA_DEAD_LETTER_TOPIC=f"{slug}-dlq", VECTORSTREAM_KAFKA_GROUP=slug,
               VECTORSTREAM_KAFKA_EMBEDDINGS_READY_TOPIC=f"{slug}-ready", VECTORSTREAM_KAFKA_FILE_PROCESSED_TOPIC=f"{slug}-files",
               VECTORSTREAM_POSTGRES_URL=db_url, VECTORSTREAM_POSTGRES_WRITE_INTERVAL="1s",
               VECTORSTREAM_DATA_DIR=data, VECTORSTREAM_WORKER_ID="dash-worker", VECTORSTREAM_HTTP_HOST="127.0.0.1",
               VECTORSTREAM_HTTP_PORT=str(port), VECTORSTREAM_MAX_EVENTS_PER_TRIGGER="1000", VECTORSTREAM_TRIGGER_INTERVAL="500ms")
    for k in ("VECTORSTREAM_REDIS_URL", "VECTORSTREAM_CLICKHOUSE_URL", "VECTORSTREAM_MILVUS_URL", "VECTORSTREAM_QDRANT_URL"):
        env.pop(k, None)
    # The recording rules are evaluated every 15 s (their group's interval, as shipped); a range function over a
    # recorded series (the lag alert's deriv) needs two of its points, so the worker stays scraped for 35 s idle.
    run = subprocess.run([BIN, "run", "--until-idle", "35", "--json"], env=env, capture_output=True, text=True, timeout=900)
    ended = time.time()
    summary = {}
    try:
        summary = json.loads(run.stdout.strip().splitlines()[-1])
    except Exception:
        pass
    report(run.returncode == 0 and summary.get("events_total") == a.events, "pipeline run",
           f"exit {run.returncode}, events_total {summary.get('events_total')}; {run.stderr.strip()[-400:]}"
           if run.returncode or summary.get("events_total") != a.events else
           f"{summary['events_stored']} stored, {summary['events_rejected']} rejected in {summary.get('elapsed_seconds')} s")

    stored = psql(db_url, "SELECT coalesce(sum(value), 0)::bigint FROM vectorstream_metric_points WHERE metric = 'events_stored'")
    report(summary.get("events_stored") is not None and int(stored[0]) == summary.get("events_stored"),
           "sum of events_stored points = events stored", f"points {stored[0]}, run {summary.get('events_stored')}")
    rolled = psql(db_url, "SELECT round(coalesce(sum(sum), 0))::bigint FROM vectorstream_metric_rollup_1m WHERE metric = 'events_stored'")
    report(int(rolled[0]) == summary.get("events_stored"), "rollup events_stored = events stored", f"rollup {rolled[0]}")

    at = ended - 4  # the worker served /metrics until its exit; Prometheus marks it stale after that
    promql, sql = dashboard_queries(ROOT / "deploy" / "grafana" / "vectorstream.json")
    for name, expr in promql + rule_expressions():
        e = expr.replace("$worker", ".*").replace("$__rate_interval", "1m")
        try:
            result = prom_query(prom, e, at)
            report(len(result) > 0, f"PromQL {name}", "no data" if not result else f"{len(result)} series")
        except Exception as ex:
            report(False, f"PromQL {name}", f"{ex}: {e}")
    lo = (run_start - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S+00")
    hi = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S+00")
    for name, query in sql:
        q = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 BETWEEN '{lo}' AND '{hi}'", query)
        q = re.sub(r"\$__timeGroupAlias\((\w+),\s*'1m'\)", r'floor(extract(epoch from \1)/60)*60 AS "time"', q)
        if "$" in q:
            report(False, f"SQL {name}", f"unsubstituted macro in: {q}")
            continue
        try:
            rows = psql(db_url, q)
            report(len(rows) > 0, f"SQL {name}", "no rows" if not rows else f"{len(rows)} rows")
        except Exception as ex:
            report(False, f"SQL {name}", str(ex))

    service("prometheus", "stop")
    try:
        psql(pg, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    except Exception:
        pass
    print(f"took {time.time() - started:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
