"""The HTTP side of a live run: one pooled session, the API key, retries.

``LiveClient`` owns a ``requests.Session`` whose connection pool holds ``max_concurrency``
connections (requests' default of 10 would make the 11th concurrent stream open and close a
fresh connection every time). The API key, read by the caller from an environment variable,
lives only in the session's headers: it is never returned, logged or written.

Retries: only for a connection error before any response (refused, reset, a pooled
connection the server had closed) and HTTP 429/503, with exponential backoff (``Retry-After``
honoured up to the cap); ``attempts`` records how many were made. A stream cut mid-way, a
500 or a read timeout is not retried: the server has started on it and counted it in its
metrics, and a run must measure what happened, not hide it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from .stream import StreamResult, stream_chat


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4        # first try included
    backoff_s: float = 0.5       # wait before the 2nd attempt; doubles each time
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        if retry_after:
            try:
                wait = max(wait, min(self.backoff_max_s, float(retry_after)))
            except ValueError:
                pass  # an HTTP date: keep our own backoff
        return wait


def public_url(url: str) -> str:
    """``url`` without user:password, fit to be written to a report."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class LiveClient:
    """Talks to one OpenAI-compatible server. Thread-safe: requests' Session is safe for
    concurrent requests once configured, and nothing here mutates it after ``__init__``."""

    def __init__(self, base_url: str, *, api_key: str | None = None, max_concurrency: int = 16,
                 timeout_s: float = 600.0, retry: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry
        self._sleep = sleep
        self._closed = threading.Event()
        self.session = requests.Session()
        pool = max(1, max_concurrency) + 2  # + the metrics sampler and provenance reads
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def chat(self, payload: dict[str, Any]) -> tuple[StreamResult, int]:
        """Stream one chat completion, retrying where that is safe; (result, attempts)."""
        attempt = 0
        while True:
            attempt += 1
            result = stream_chat(self.session, self.url("/v1/chat/completions"), payload,
                                 self.timeout_s)
            if (result.status == "ok" or not result.retryable
                    or attempt >= self.retry.max_attempts or self._closed.is_set()):
                return result, attempt
            self._sleep(self.retry.delay(attempt, result.retry_after))

    def get(self, path: str, timeout_s: float = 10.0) -> requests.Response:
        response = self.session.get(self.url(path), timeout=timeout_s)
        response.raise_for_status()
        return response

    def get_json(self, path: str, timeout_s: float = 10.0) -> Any:
        return self.get(path, timeout_s).json()

    def close(self) -> None:
        self._closed.set()
        self.session.close()

    def __enter__(self) -> "LiveClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
