"""A small HTTP client for ``POST /v1/ingest`` with retries (standard library only, so executors need nothing else)."""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from typing import Callable, Optional, Sequence

log = logging.getLogger("vectorstream_spark")

# Answers that a later attempt can change: in flight elsewhere (409), saturated (429), server trouble (5xx), timeouts.
RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


class IngestError(Exception):
    """The server refused the chunk for good (4xx other than the retryable ones), or every retry failed."""

    def __init__(self, message: str, status: Optional[int] = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


class IngestClient:
    """Posts chunks of raw events to ``{url}/v1/ingest``.

    Each chunk carries an idempotency key, so a retry (here, or Spark re-running the task or the batch) returns the
    first answer instead of storing anything twice. Connection errors, timeouts, 408/409/429 and 5xx are retried
    with exponential backoff (honouring ``Retry-After``) up to ``retries`` attempts after the first.
    """

    def __init__(self, url: str, api_key: Optional[str] = None, timeout: float = 120.0, retries: int = 12,
                 backoff: float = 0.5, max_backoff: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.url = url.rstrip("/") + "/v1/ingest"
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep

    def post(self, records: Sequence[bytes], idempotency_key: Optional[str]) -> dict:
        """Sends the records as JSON lines; returns the server's counts once they are stored."""
        body = b"\n".join(records)
        headers = {"Content-Type": "application/x-ndjson"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        delay = self.backoff
        attempt = 0
        while True:
            status, reply, retry_after, reason = self._send(body, headers)
            if status == 200:
                return json.loads(reply)
            if status == 409 and "idempotency_key_reused" in reply:
                raise IngestError(f"POST {self.url}: key {idempotency_key} was used for another body: {reply[:300]}", status, reply)
            if status is not None and status not in RETRYABLE:
                raise IngestError(f"POST {self.url} answered {status}: {reply[:500]}", status, reply)
            attempt += 1
            if attempt > self.retries:
                raise IngestError(f"POST {self.url} failed {attempt} times; last: {reason}", status, reply)
            wait = max(delay, retry_after or 0.0) * (0.8 + 0.4 * random.random())
            log.warning("ingest chunk %s: %s; retry %d/%d in %.1f s", idempotency_key, reason, attempt, self.retries, wait)
            self.sleep(wait)
            delay = min(delay * 2, self.max_backoff)

    def _send(self, body: bytes, headers: dict):
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read().decode("utf-8", "replace"), None, "ok"
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            retry_after = None
            try:
                retry_after = float(error.headers.get("Retry-After", ""))
            except ValueError:
                pass
            return error.code, text, retry_after, f"HTTP {error.code} {text[:200]}"
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            return None, "", None, f"{type(error).__name__}: {getattr(error, 'reason', error)}"
