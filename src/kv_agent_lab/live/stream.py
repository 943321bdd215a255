"""One streaming chat completion, timed the way vLLM's own benchmark client times it.

``stream_chat`` sends one ``POST /v1/chat/completions`` with ``stream: true`` and reads the
server-sent events as they arrive, stamping each HTTP chunk on arrival:

- TTFT: from just before the request is written to the first event that carries a
  generated token;
- ITL: every gap between token-carrying events; an event that carries k > 1 tokens (the
  server batched them) adds k - 1 zero gaps, so ``len(itl_s) == tokens - 1``;
- e2e: to the end of the stream (``[DONE]``); TPOT = (e2e - ttft) / (completion_tokens - 1);
- prompt, completion and cached tokens from the final ``usage`` event
  (``usage.prompt_tokens_details.cached_tokens`` with ``--enable-prompt-tokens-details``).

Tokens are counted from vLLM's ``token_ids`` per event (``return_token_ids: true``): vLLM
skips an event whose token decodes to no text yet (half of a UTF-8 character) unless token
ids are asked for, so counting text events alone under-counts. Without ``token_ids`` (another
server) each event with text counts as one token.

Nothing here raises for a server's failure: an HTTP error, a stream cut mid-way or an error
event becomes a ``StreamResult`` with ``status="error"``, so a run records it and goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

RETRYABLE_HTTP = frozenset({429, 503})  # the server asks us to come back later
_BODY_LIMIT = 300                       # characters of an error body kept in the record


@dataclass
class StreamResult:
    """What one attempt of one request measured. Times are seconds; ``send_clock`` is the
    ``time.perf_counter()`` value when the request was sent (the caller maps it to the run's
    clock). ``retryable``: no response came (connection refused, reset or
    dropped before the status line) or the server answered 429/503: the cases the client
    retries. (A connection dropped after the request was written, e.g. by a server crash
    during prefill, may have been admitted and counted by the server; ``attempts`` > 1 in
    the record shows it.)"""

    status: str = "error"
    error: str | None = None
    http_status: int | None = None
    retryable: bool = False
    retry_after: str | None = None
    send_clock: float | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    tpot_s: float | None = None
    itl_s: list[float] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    streamed_tokens: int = 0
    finish_reason: str | None = None
    reply: str = ""


class _SSEReader:
    """Splits a byte stream into SSE ``data`` payloads (one per event, multi-line joined)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        events = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return events
            line, self._buffer = self._buffer[:newline].rstrip(b"\r"), self._buffer[newline + 1:]
            if not line:  # a blank line ends the event
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                self._data.append(line[5:].lstrip(b" "))
            # comments (":...") and other fields (event:, id:, retry:) carry nothing we use

    def flush(self) -> list[bytes]:
        """Whatever a stream that ended without a final blank line left behind."""
        tail = self.feed(b"\n\n") if (self._buffer or self._data) else []
        return tail


class _Accumulator:
    """Turns parsed events into timings and token counts."""

    def __init__(self, send_clock: float):
        self.send_clock = send_clock
        self.first_token_clock: float | None = None
        self.last_token_clock: float | None = None
        self.itl: list[float] = []
        self.tokens = 0
        self.text: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.done = False
        self.error: str | None = None

    def event(self, payload: dict[str, Any], clock: float) -> None:
        if "error" in payload and not payload.get("choices"):
            error = payload["error"]
            self.error = "server error event: " + (error.get("message", str(error))
                                                    if isinstance(error, dict) else str(error))
            return
        if payload.get("usage"):
            self.usage = payload["usage"]
        for choice in payload.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            if content:
                self.text.append(content)
            token_ids = choice.get("token_ids")
            count = len(token_ids) if token_ids is not None else (1 if content else 0)
            if count:
                self._tokens(count, clock)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def _tokens(self, count: int, clock: float) -> None:
        if self.first_token_clock is None:
            self.first_token_clock = clock
        else:
            self.itl.append(clock - self.last_token_clock)
        self.itl.extend([0.0] * (count - 1))
        self.last_token_clock = clock
        self.tokens += count


def _finish(result: StreamResult, acc: _Accumulator, end_clock: float) -> StreamResult:
    result.itl_s = acc.itl
    result.streamed_tokens = acc.tokens
    result.reply = "".join(acc.text)
    result.finish_reason = acc.finish_reason
    if acc.first_token_clock is not None:
        result.ttft_s = acc.first_token_clock - acc.send_clock
    usage = acc.usage or {}
    result.prompt_tokens = usage.get("prompt_tokens")
    result.completion_tokens = usage.get("completion_tokens", acc.tokens if acc.done else None)
    details = usage.get("prompt_tokens_details") or {}
    result.cached_tokens = details.get("cached_tokens")
    if acc.error:
        result.error = acc.error
        return result
    if not acc.done:
        result.error = "stream ended before [DONE]"
        return result
    result.e2e_s = end_clock - acc.send_clock
    if result.ttft_s is not None and result.completion_tokens and result.completion_tokens > 1:
        result.tpot_s = (result.e2e_s - result.ttft_s) / (result.completion_tokens - 1)
    result.status = "ok"
    return result


def _error_body(response: requests.Response) -> str:
    try:
        text = response.text
    except requests.RequestException:
        return ""
    try:
        message = json.loads(text)
        if isinstance(message, dict):
            inner = message.get("error", message)
            text = inner.get("message", text) if isinstance(inner, dict) else str(inner)
    except ValueError:
        pass
    return " ".join(str(text).split())[:_BODY_LIMIT]


def stream_chat(session: requests.Session, url: str, payload: dict[str, Any], timeout_s: float,
                headers: dict[str, str] | None = None,
                clock: Callable[[], float] = time.perf_counter) -> StreamResult:
    """Send one streaming chat request and measure it; never raises for server faults.

    ``timeout_s`` bounds connecting, every wait for the next bytes, and the whole request."""
    result = StreamResult()
    body = json.dumps(payload).encode("utf-8")
    send_headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                    **(headers or {})}
    result.send_clock = send_clock = clock()
    deadline = send_clock + timeout_s
    try:
        response = session.post(url, data=body, headers=send_headers, stream=True,
                                timeout=(min(timeout_s, 30.0), timeout_s))
    except requests.ConnectionError as exc:  # refused, reset, dropped, ConnectTimeout: no response
        result.error = f"connection error: {_short(exc)}"
        result.retryable = True
        return result
    except requests.RequestException as exc:
        result.error = f"request failed: {_short(exc)}"
        return result
    with response:
        result.http_status = response.status_code
        if response.status_code != 200:
            result.error = f"HTTP {response.status_code}: {_error_body(response)}".rstrip(": ")
            result.retryable = response.status_code in RETRYABLE_HTTP
            result.retry_after = response.headers.get("Retry-After")
            return result
        acc = _Accumulator(send_clock)
        reader = _SSEReader()
        end_clock: float | None = None
        try:
            for chunk in response.iter_content(chunk_size=None):
                now = clock()
                if end_clock is None and _consume(acc, reader.feed(chunk), now):
                    end_clock = now
                    if not acc.done:  # failed: drop the connection
                        break
                    # After [DONE] read on to the end of the body (the chunked terminator is
                    # already on its way): only a fully read response returns its connection
                    # to the pool. Leaving it unread closed it, and every request paid a new
                    # TCP connection (and the server a new accept).
                if now > deadline:
                    if end_clock is None:
                        acc.error = f"timeout: no end of stream after {timeout_s:g} s"
                    break
            else:
                if end_clock is None:
                    now = clock()
                    if _consume(acc, reader.flush(), now):
                        end_clock = now
        except requests.RequestException as exc:  # cut mid-way, reset, read timeout
            if not acc.done:  # after [DONE] the result is complete whatever the socket does
                acc.error = f"stream cut: {_short(exc)}"
        return _finish(result, acc, send_clock if end_clock is None else end_clock)


def _consume(acc: _Accumulator, events: list[bytes], clock: float) -> bool:
    """Apply events; True once the stream is complete ([DONE]) or failed."""
    for data in events:
        if data.strip() == b"[DONE]":
            acc.done = True
            return True
        try:
            payload = json.loads(data)
        except ValueError:
            acc.error = f"malformed event: {data[:80]!r}"
            return True
        acc.event(payload, clock)
        if acc.error:
            return True
    return False


def _short(exc: BaseException) -> str:
    """An exception as one short line (urllib3 wraps causes several levels deep)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:_BODY_LIMIT]}"
