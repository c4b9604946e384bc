#!/usr/bin/env python3
"""A Qdrant stand-in that holds every request to Qdrant's own OpenAPI document.

No Qdrant server can be installed where VectorStream is tested, so the vector store's contract is checked
against the vendor's published document (testdata/qdrant-openapi-v1.19.json) instead:

- every request must be an operation of the document (method and path template), its query parameters must be
  declared there, and its JSON body must validate against the operation's request schema (JSON Schema 2020-12
  over the document's components; OpenAPI's `nullable` mapped to null; object schemas that list their
  properties refuse properties they do not list, so a field the API does not take is caught);
- every answer is built to the document's response schema and validated against it before it is sent;
- what the store uses has real semantics: collections (create, exists, info, delete), payload indexes, upsert,
  retrieve, count, scroll, and the Query API (exact search by cosine or dot product, filters with must /
  must_not / should over match value, match any and range, limit, with_payload, with_vector).

A request the document does not allow gets HTTP 422 with {"status": {"error": "contract: ..."}} naming the
schema path that refused it, and a line in the violations file (JSON lines, with the collection), which the
tests read. Usage: qdrant_standin.py --port P --document D --violations FILE
"""
import argparse
import copy
import json
import math
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = "urn:qdrant-openapi"


def convert(node, strict):
    """OpenAPI 3.0 schema -> JSON Schema 2020-12: `nullable` becomes a null type; optionally strict objects."""
    if isinstance(node, list):
        return [convert(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: convert(v, strict) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") is True:
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        elif not any(k in out for k in ("$ref", "anyOf", "oneOf", "allOf", "properties")):
            out = {"type": "null"}
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    if "$ref" in out and out["$ref"].startswith("#/"):
        out["$ref"] = ROOT + out["$ref"]
    if strict and out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Contract:
    def __init__(self, path):
        with open(path) as f:
            self.document = json.load(f)
        self.operations = []  # (method, regex, template, operation)
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", r"([^/]+)", template) + "$"
            for method, operation in item.items():
                self.operations.append((method.upper(), re.compile(pattern), template, operation))
        self.validators = {}
        for strict in (False, True):
            converted = convert(self.document, strict)
            converted["$id"] = ROOT
            registry = Registry().with_resource(ROOT, Resource.from_contents(converted, default_specification=DRAFT202012))
            self.validators[strict] = (converted, registry)

    def find(self, method, path):
        for m, regex, template, operation in self.operations:
            if m == method and regex.match(path):
                return template, operation, [unquote(g) for g in regex.match(path).groups()]
        return None

    def validate(self, schema, instance, strict, where):
        """Returns None, or the first error as 'where: schema path: message'."""
        converted, registry = self.validators[strict]
        schema = convert(schema, strict)
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), list(e.schema_path)))
        if not errors:
            return None
        e = errors[0]
        best = jsonschema.exceptions.best_match(validator.iter_errors(instance)) or e
        return "%s: at %s (schema %s): %s" % (
            where, "/".join(map(str, best.absolute_path)) or "(root)",
            "/".join(map(str, best.absolute_schema_path)), best.message[:300])


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.collections = {}
        self.version = 0

    # Filters ------------------------------------------------------------------------------------------------
    @staticmethod
    def as_list(x):
        if x is None:
            return []
        return x if isinstance(x, list) else [x]

    def condition(self, cond, point_id, payload):
        if "has_id" in cond:
            return point_id in cond["has_id"]
        if "must" in cond or "must_not" in cond or "should" in cond:
            return self.matches(cond, point_id, payload)
        key = cond["key"]
        value = payload.get(key)
        values = value if isinstance(value, list) else [value]
        if cond.get("match") is not None:
            m = cond["match"]
            if "value" in m:
                return m["value"] in values
            if "any" in m:
                return any(v in m["any"] for v in values)
            if "except" in m:
                return value is not None and all(v not in m["except"] for v in values)
            raise ValueError("stand-in: match %s is not implemented" % list(m))
        if cond.get("range") is not None:
            r = cond["range"]
            nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            return any((r.get("gt") is None or v > r["gt"]) and (r.get("gte") is None or v >= r["gte"])
                       and (r.get("lt") is None or v < r["lt"]) and (r.get("lte") is None or v <= r["lte"])
                       for v in nums)
        raise ValueError("stand-in: condition %s is not implemented" % list(cond))

    def matches(self, f, point_id, payload):
        if not f:
            return True
        if not all(self.condition(c, point_id, payload) for c in self.as_list(f.get("must"))):
            return False
        if any(self.condition(c, point_id, payload) for c in self.as_list(f.get("must_not"))):
            return False
        should = self.as_list(f.get("should"))
        return not should or any(self.condition(c, point_id, payload) for c in should)

    @staticmethod
    def select_payload(payload, with_payload):
        if with_payload is None or with_payload is False:
            return None
        if with_payload is True:
            return payload
        if isinstance(with_payload, list):
            return {k: v for k, v in payload.items() if k in with_payload}
        if isinstance(with_payload, dict):
            if "include" in with_payload:
                return {k: v for k, v in payload.items() if k in with_payload["include"]}
            if "exclude" in with_payload:
                return {k: v for k, v in payload.items() if k not in with_payload["exclude"]}
        return payload

    def record(self, point_id, point, with_payload, with_vector):
        out = {"id": point_id}
        payload = self.select_payload(point["payload"], with_payload)
        if payload is not None:
            out["payload"] = payload
        if with_vector:
            out["vector"] = point["vector"]
        return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    contract = None
    store = None
    violations_path = None

    def log_message(self, *args):
        pass

    # Plumbing -------------------------------------------------------------------------------------------------
    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def violation(self, message, collection=None):
        line = json.dumps({"time": time.time(), "method": self.command, "path": self.path,
                           "collection": collection, "violation": message})
        with open(self.violations_path, "a") as f:
            f.write(line + "\n")
        self.send_json(422, {"status": {"error": "contract: " + message}, "time": 0.0})

    def error(self, status, message):
        self.send_json(status, {"status": {"error": message}, "time": 0.0})

    def respond(self, operation, result, collection):
        body = {"result": result, "status": "ok", "time": 0.0001}
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        problem = self.contract.validate(schema, body, False, "response")
        if problem:
            return self.violation("stand-in answer outside the document: " + problem, collection)
        self.send_json(200, body)

    def handle_any(self):
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        found = self.contract.find(self.command, path)
        if not found:
            named = re.match(r"^/collections/([^/]+)", path)
            return self.violation("no operation %s %s in the document" % (self.command, path),
                                  unquote(named.group(1)) if named else None)
        template, operation, args = found
        collection = args[0] if args and "{collection_name}" in template else None
        declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
        for name, values in query.items():
            if name not in declared:
                return self.violation("query parameter '%s' is not declared for %s %s" % (name, self.command, template),
                                      collection)
            value = values[-1]
            schema = declared[name].get("schema", {})
            typed = value
            kind = convert(schema, False).get("type")
            if kind == "boolean":
                if value not in ("true", "false"):
                    return self.violation("query parameter '%s' must be true or false" % name, collection)
                typed = value == "true"
            elif kind == "integer":
                try:
                    typed = int(value)
                except ValueError:
                    return self.violation("query parameter '%s' must be an integer" % name, collection)
            problem = self.contract.validate(schema, typed, False, "query parameter " + name)
            if problem:
                return self.violation(problem, collection)
        body = None
        if "requestBody" in operation:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return self.violation("body is not JSON", collection)
            if body is None and not operation["requestBody"].get("required", False):
                body = {}
            problem = self.contract.validate(schema, body, True, "request body")
            if problem:
                return self.violation(problem, collection)
        elif raw:
            return self.violation("%s %s takes no body" % (self.command, template), collection)
        try:
            self.dispatch(template, operation, args, query, body, collection)
        except ValueError as e:
            self.violation(str(e), collection)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    # Semantics ------------------------------------------------------------------------------------------------
    def dispatch(self, template, operation, args, query, body, collection):
        s = self.store
        m = self.command
        if template == "/readyz":
            return self.send_text(200, "all shards are ready")
        if template == "/healthz":
            return self.send_text(200, "healthz check passed")
        if template == "/":
            return self.respond_plain(operation, {"title": "qdrant - vector search engine (stand-in)", "version": "1.19.0"})
        with s.lock:
            c = s.collections.get(collection) if collection is not None else None
            if template == "/collections/{collection_name}/exists":
                return self.respond(operation, {"exists": c is not None}, collection)
            if template == "/collections/{collection_name}" and m == "PUT":
                if c is not None:
                    return self.error(409, "Wrong input: Collection `%s` already exists!" % collection)
                vectors = body["vectors"]
                if "size" not in vectors:
                    raise ValueError("stand-in: named vectors are not implemented")
                s.collections[collection] = {"size": vectors["size"], "distance": vectors["distance"],
                                             "hnsw": body.get("hnsw_config") or {}, "points": {}, "indexes": {}}
                return self.respond(operation, True, collection)
            if c is None:
                return self.error(404, "Not found: Collection `%s` doesn't exist!" % collection)
            if template == "/collections/{collection_name}" and m == "DELETE":
                del s.collections[collection]
                return self.respond(operation, True, collection)
            if template == "/collections/{collection_name}" and m == "GET":
                hnsw = {"m": c["hnsw"].get("m", 16), "ef_construct": c["hnsw"].get("ef_construct", 100),
                        "full_scan_threshold": 10000}
                info = {
                    "status": "green", "optimizer_status": "ok", "segments_count": 1,
                    "points_count": len(c["points"]), "indexed_vectors_count": 0,
                    "config": {"params": {"vectors": {"size": c["size"], "distance": c["distance"]}},
                               "hnsw_config": hnsw,
                               "optimizer_config": {"default_segment_number": 0, "flush_interval_sec": 5}},
                    "payload_schema": {k: {"data_type": v, "points": len(c["points"])} for k, v in c["indexes"].items()},
                }
                return self.respond(operation, info, collection)
            if template == "/collections/{collection_name}/index":
                schema = body["field_schema"]
                c["indexes"][body["field_name"]] = schema if isinstance(schema, str) else schema.get("type", "keyword")
                s.version += 1
                return self.respond(operation, {"operation_id": s.version, "status": "completed"}, collection)
            if template == "/collections/{collection_name}/points" and m == "PUT":
                if "points" not in body:
                    raise ValueError("stand-in: batch upserts are not implemented")
                for p in body["points"]:
                    vector = p["vector"]
                    if not isinstance(vector, list) or len(vector) != c["size"]:
                        return self.error(400, "Wrong input: Vector dimension error: expected dim: %d" % c["size"])
                    s.version += 1
                    c["points"][p["id"]] = {"vector": vector, "payload": p.get("payload") or {}, "version": s.version}
                return self.respond(operation, {"operation_id": s.version, "status": "completed"}, collection)
            if template == "/collections/{collection_name}/points" and m == "POST":
                records = [s.record(i, c["points"][i], body.get("with_payload", True), body.get("with_vector", False))
                           for i in body["ids"] if i in c["points"]]
                return self.respond(operation, records, collection)
            if template == "/collections/{collection_name}/points/count":
                n = sum(1 for i, p in c["points"].items() if s.matches(body.get("filter"), i, p["payload"]))
                return self.respond(operation, {"count": n}, collection)
            if template == "/collections/{collection_name}/points/scroll":
                ids = sorted(i for i, p in c["points"].items() if s.matches(body.get("filter"), i, p["payload"]))
                start = body.get("offset")
                if start is not None:
                    ids = [i for i in ids if i >= start]
                limit = body.get("limit") or 10
                page, rest = ids[:limit], ids[limit:]
                result = {"points": [s.record(i, c["points"][i], body.get("with_payload", True),
                                              body.get("with_vector", False)) for i in page],
                          "next_page_offset": rest[0] if rest else None}
                return self.respond(operation, result, collection)
            if template == "/collections/{collection_name}/points/query":
                return self.query(operation, c, body, collection)
        raise ValueError("stand-in: %s %s is in the document but not implemented here" % (m, template))

    def respond_plain(self, operation, body):
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        problem = self.contract.validate(schema, body, False, "response")
        if problem:
            return self.violation("stand-in answer outside the document: " + problem)
        self.send_json(200, body)

    def query(self, operation, c, body, collection):
        s = self.store
        if body.get("prefetch"):
            raise ValueError("stand-in: prefetch is not implemented")
        q = body.get("query")
        if isinstance(q, dict) and "nearest" in q:
            q = q["nearest"]
        if not isinstance(q, list):
            raise ValueError("stand-in: only a plain vector query is implemented")
        if len(q) != c["size"]:
            return self.error(400, "Wrong input: Vector dimension error: expected dim: %d, got %d" % (c["size"], len(q)))

        def normalised(v):
            n = math.sqrt(sum(x * x for x in v)) or 1.0
            return [x / n for x in v]
        cosine = c["distance"] == "Cosine"
        qv = normalised(q) if cosine else q
        scored = []
        for i, p in c["points"].items():
            if not s.matches(body.get("filter"), i, p["payload"]):
                continue
            pv = normalised(p["vector"]) if cosine else p["vector"]
            scored.append((sum(a * b for a, b in zip(qv, pv)), i, p))
        scored.sort(key=lambda t: (-t[0], str(t[1])))
        offset = body.get("offset") or 0
        limit = body.get("limit") or 10
        threshold = body.get("score_threshold")
        points = []
        for score, i, p in scored[offset:offset + limit]:
            if threshold is not None and score < threshold:
                continue
            point = {"id": i, "version": p["version"], "score": score}
            payload = s.select_payload(p["payload"], body.get("with_payload", False))
            if payload is not None:
                point["payload"] = payload
            if body.get("with_vector"):
                point["vector"] = p["vector"]
            points.append(point)
        return self.respond(operation, {"points": points}, collection)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--document", required=True)
    parser.add_argument("--violations", required=True)
    a = parser.parse_args()
    Handler.contract = Contract(a.document)
    Handler.store = Store()
    Handler.violations_path = a.violations
    open(a.violations, "a").close()
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    print("qdrant stand-in on http://%s:%d (contract: %s)" % (a.host, a.port, a.document), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
