"""When each request of a workload is sent: arrivals, dependencies, think time, concurrency.

Timing (all scaled by ``time_scale``; 0 sends everything as soon as its dependencies allow):
- a request with no dependency is ready at its session's start (``session_start_times()``)
  plus its ``think_time_s``;
- any other request is ready when the last of ``Workload.dependencies(r)`` (the previous turn
  of its thread and its ``after`` list: a sub-agent waits for its planner's reply) has
  finished, plus its ``think_time_s``;
- at most ``max_concurrency`` requests are in flight; a ready request waits for a free slot
  in ready-time order (the wait shows as ``send_time_s - scheduled_time_s``).

Generated history: the real reply of every finished request is kept and passed to
``PromptRenderer.messages``, so later turns resend what the server actually wrote.

A request whose dependency failed is not sent: it is finished at once as an error
"dependency X failed", and so, in turn, are its own dependents. Nothing waits forever.

Resume: requests listed in ``finished`` (id -> reply text) count as done before the run
starts. Their dependents become ready ``think_time_s`` after the start; sessions with no
finished request keep their arrival gaps, shifted so the earliest starts at once.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from typing import Any, Callable, Mapping

from ..workload import Request, Workload
from ..workload.render import PromptRenderer

# execute(request, messages, scheduled_time_s) -> record with at least "status" and "reply"
Execute = Callable[[Request, list[dict[str, str]], float], dict[str, Any]]
# on_finish(request, record): called once per request of this run, from one recorder thread
OnFinish = Callable[[Request, dict[str, Any]], None]


class DependencyScheduler:
    """Runs one workload's requests against ``execute`` in dependency order.

    Invariant: a request is sent only after every dependency finished ok, and every request
    not in ``finished`` reaches ``on_finish`` exactly once (sent, or failed by a dependency),
    after which ``run`` returns."""

    def __init__(self, workload: Workload, execute: Execute, on_finish: OnFinish, *,
                 max_concurrency: int = 16, time_scale: float = 1.0,
                 finished: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.workload = workload
        self.renderer = PromptRenderer(workload)
        self._execute = execute
        self._on_finish = on_finish
        self.max_concurrency = max_concurrency
        self.time_scale = time_scale
        self._clock = clock
        self.replies: dict[str, str] = dict(finished or {})
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []
        self._waiting: dict[str, set[str]] = {}
        self._dependents: dict[str, list[str]] = {}
        self._last_dependency_s: dict[str, float] = {}  # latest dependency finish, run clock
        self._order = itertools.count()                  # ties in ready time: first come first
        self._remaining = 0
        self._fatal: BaseException | None = None
        self._start = 0.0

    # --- set-up ----------------------------------------------------------------------------
    def pending(self) -> list[Request]:
        return [r for r in self.workload.requests if r.id not in self.replies]

    def _session_offsets(self, pending: list[Request]) -> dict[str, float]:
        starts = self.workload.session_start_times()
        started = {r.session for r in self.workload.requests if r.id in self.replies}
        fresh = {r.session for r in pending} - started
        shift = min((starts[s] for s in fresh), default=0.0)
        return {s: (0.0 if s in started else starts[s] - shift) for s in starts}

    def _prepare(self) -> None:
        pending = self.pending()
        offsets = self._session_offsets(pending)
        for request in pending:
            deps = {d for d in self.workload.dependencies(request) if d not in self.replies}
            for dep in deps:
                self._dependents.setdefault(dep, []).append(request.id)
            if deps:
                self._waiting[request.id] = deps
            else:
                has_done_deps = bool(self.workload.dependencies(request))
                base = 0.0 if has_done_deps else offsets[request.session] * self.time_scale
                self._push(request, base)
        self._remaining = len(pending)

    def _push(self, request: Request, after_s: float) -> None:
        ready = after_s + request.think_time_s * self.time_scale
        heapq.heappush(self._heap, (ready, next(self._order), request.id))

    def now(self) -> float:
        """Seconds since ``run`` started."""
        return self._clock() - self._start

    # --- running ---------------------------------------------------------------------------
    def run(self, start: float | None = None) -> None:
        """Send every pending request; return when all have finished. ``start``: the
        clock value the run's times count from (default: now)."""
        self._start = self._clock() if start is None else start
        done: queue.SimpleQueue[tuple[Request, dict[str, Any]] | None] = queue.SimpleQueue()
        with self._lock:
            self._prepare()
            threads = [threading.Thread(target=self._record, args=(done,), daemon=True,
                                        name="kvlab-live-recorder")]
            threads += [threading.Thread(target=self._send, args=(done,), daemon=True,
                                         name=f"kvlab-live-{i}")
                        for i in range(min(self.max_concurrency, self._remaining))]
            # Started under the lock, so all are up before any sends: starting 64 threads
            # while the first requests already keep the server (and the cores) busy took
            # seconds, and the first wave went out a few streams at a time.
            for thread in threads:
                thread.start()
        try:
            with self._lock:
                while self._remaining and self._fatal is None:
                    self._lock.wait(0.5)
                if self._fatal is not None:
                    raise self._fatal
        except BaseException as exc:  # also Ctrl-C: no sender takes another request
            self._stop(exc)
            raise
        finally:
            done.put(None)  # the recorder ends; senders end on _remaining == 0 or _fatal

    def _send(self, done: queue.SimpleQueue) -> None:
        """One of ``max_concurrency`` senders: takes the next ready request, sends it, hands
        its record to the recorder and takes the next one at once.

        Why senders pull, rather than a dispatcher starting a thread per request: with the
        server keeping every core busy (the local CPU backend on 2 cores) each scheduler
        wake-up of another thread took tens to hundreds of ms, and the dispatcher paid them one
        request after another, so at 16-64 streams far fewer than ``max_concurrency`` were in
        flight. Here a finished stream's thread sends the next request itself."""
        try:
            while True:
                with self._lock:
                    while True:
                        if self._fatal is not None or self._remaining == 0:
                            return
                        if self._heap and self._heap[0][0] <= self.now():
                            ready_s, _, request_id = heapq.heappop(self._heap)
                            break
                        timeout = (self._heap[0][0] - self.now()) if self._heap else None
                        self._lock.wait(timeout)
                request = self.workload.request(request_id)
                try:
                    messages = self.renderer.messages(request, self.replies)
                    record = self._execute(request, messages, ready_s)
                except Exception as exc:  # noqa: BLE001 - a bug must not hang the run
                    record = {"status": "error",
                              "error": f"internal error: {type(exc).__name__}: {exc}"}
                # Stamped here, not when the recorder gets to it: finishes queue behind one
                # another's fsyncs, and a dependent's think time counts from the reply.
                done.put((request, record, self.now()))
        except BaseException as exc:  # noqa: BLE001 - a dead sender would hang the run
            self._stop(exc)

    def _record(self, done: queue.SimpleQueue) -> None:
        """Records finished requests in the order they finish (the store fsyncs each one:
        on a busy machine that can take 100+ ms, which a sender must not wait for)."""
        while (item := done.get()) is not None:
            try:
                self._finish(*item)
            except BaseException as exc:  # recording failed (disk full...): stop the run
                self._stop(exc)
                return

    def _stop(self, exc: BaseException) -> None:
        with self._lock:
            self._fatal = exc
            self._lock.notify_all()

    def _finish(self, request: Request, record: dict[str, Any],
                finished_at: float | None = None) -> None:
        """Record one request, then release or fail its dependents; they become ready
        ``finished_at`` (the run clock when the reply ended; default: now) + think time."""
        finished_at = self.now() if finished_at is None else finished_at
        failed = [(request, record)]
        while failed:
            current, current_record = failed.pop()
            ok = current_record.get("status") == "ok"
            if ok:
                # Before any dependent can be scheduled, so its prompt sees the reply.
                self.replies[current.id] = current_record.get("reply") or ""
            self._on_finish(current, current_record)
            with self._lock:
                self._remaining -= 1
                for dependent_id in self._dependents.get(current.id, ()):
                    waiting = self._waiting.get(dependent_id)
                    if waiting is None:  # already failed through another dependency
                        continue
                    dependent = self.workload.request(dependent_id)
                    if not ok:
                        del self._waiting[dependent_id]
                        failed.append((dependent, dependency_failed(current.id)))
                        continue
                    waiting.discard(current.id)
                    last = max(self._last_dependency_s.get(dependent_id, 0.0), finished_at)
                    self._last_dependency_s[dependent_id] = last
                    if not waiting:
                        del self._waiting[dependent_id]
                        self._push(dependent, last)
                self._lock.notify_all()


def dependency_failed(dependency_id: str) -> dict[str, Any]:
    """The record of a request that was not sent because ``dependency_id`` failed."""
    return {"status": "error", "error": f"dependency {dependency_id} failed", "attempts": 0}
