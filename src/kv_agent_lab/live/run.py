"""One live run: a workload against a server in one mode, to ``<out_dir>/report.json``.

``run_live`` ties the parts together: it reads what the server says about itself (version,
model, ``cache_config_info``), reads the counters, starts the gauge sampler, lets the
scheduler send every request through the streaming client while each finished request goes
to ``requests.jsonl`` at once, reads the counters again, and writes the report
(schemas/report.schema.json, shared with the estimator) with ``write_report``.

``server_metrics`` covers this invocation only: after a ``--resume`` the counters of the
earlier invocations belong to another server process, so ``server_metrics.requests_sent``
says how many requests the delta is made of (records carry the ``invocation`` they ran in).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from .. import __version__
from ..remote.provenance import remote_provenance
from ..report import file_sha256, summarize, write_report
from ..workload import Request, Workload
from .client import LiveClient, RetryPolicy, public_url
from .metrics import MetricsSampler, ServerInfo, counter_delta, counters
from .scheduler import DependencyScheduler
from .store import RequestStore, StoreError, latest_records

REPORT_FILE = "report.json"
Log = Callable[[str], None]


class LiveRunError(Exception):
    """The run cannot start as asked (bad input): nothing was sent."""


@dataclass
class LiveOptions:
    """How to run. ``api_key`` is only ever put in an HTTP header (repr hides it too)."""

    base_url: str
    out_dir: Path
    mode: str = "prefix_reuse"
    target: str = "local-cpu"
    max_concurrency: int = 16
    request_timeout_s: float = 600.0
    ignore_eos: bool = True
    time_scale: float = 1.0
    api_key: str | None = field(default=None, repr=False)
    resume: bool = False
    launch: dict[str, Any] | None = None      # how kvlab started the server, when it did
    model: str | None = None                  # served model name; default: /v1/models' first
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sample_interval_s: float = 1.0
    progress: bool = True
    check_mode: bool = True                   # refuse a server whose prefix caching contradicts mode


def options_from_config(live: dict[str, Any], base_url: str, out_dir: str | Path,
                        **overrides: Any) -> LiveOptions:
    """Options from the checked config's ``live`` section; ``overrides`` that are None are
    ignored, so CLI flags left unset fall back to the config."""
    client = live.get("client", {})
    api_key_env = client.get("api_key_env", "KVLAB_API_KEY")
    values: dict[str, Any] = {
        "target": live.get("target", "local-cpu"),
        "max_concurrency": client.get("max_concurrency", 16),
        "request_timeout_s": client.get("request_timeout_s", 600.0),
        "ignore_eos": client.get("ignore_eos", True),
        "time_scale": client.get("time_scale", 1.0),
        "api_key": os.environ.get(api_key_env) or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return LiveOptions(base_url=base_url, out_dir=Path(out_dir), **values)


def git_commit() -> str | None:
    """The lab checkout's commit (``git rev-parse HEAD``), None outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(max(value, 0.0), 6)


class _Recorder:
    """Builds each request's record from a stream result and stores it at once."""

    def __init__(self, client: LiveClient, store: RequestStore, options: LiveOptions,
                 model: str, invocation: int, offset_s: float, clock_zero: float, bar: tqdm):
        self.client, self.store, self.options = client, store, options
        self.model, self.invocation = model, invocation
        self.offset_s, self.clock_zero, self.bar = offset_s, clock_zero, bar
        self.sent = 0      # requests sent in this invocation (workers update it: under _lock)
        self.errors = 0
        self._lock = threading.Lock()

    def payload(self, request: Request, messages: list[dict[str, str]]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model, "messages": messages, "max_tokens": request.max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True},
            # vLLM: token ids per event, so tokens that decode to no text yet still count
            "return_token_ids": True,
        }
        if self.options.ignore_eos:
            payload["ignore_eos"] = True
        return payload

    def execute(self, request: Request, messages: list[dict[str, str]],
                scheduled_s: float) -> dict[str, Any]:
        result, attempts = self.client.chat(self.payload(request, messages))
        with self._lock:
            self.sent += 1
        send_s = (self.offset_s + result.send_clock - self.clock_zero
                  if result.send_clock is not None else None)
        return {
            "status": result.status, "error": result.error, "http_status": result.http_status,
            "attempts": attempts, "scheduled_time_s": _round(self.offset_s + scheduled_s),
            "send_time_s": _round(send_s), "queue_time_s": None,
            "ttft_s": _round(result.ttft_s), "tpot_s": _round(result.tpot_s),
            "e2e_s": _round(result.e2e_s), "itl_s": [_round(g) for g in result.itl_s],
            "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
            "cached_tokens": result.cached_tokens, "streamed_tokens": result.streamed_tokens,
            "finish_reason": result.finish_reason, "reply": result.reply,
        }

    def finish(self, request: Request, record: dict[str, Any]) -> None:
        full = {"id": request.id, "session": request.session, "thread": request.thread,
                "turn": request.turn, "class": request.cls, "invocation": self.invocation}
        defaults = {"error": None, "http_status": None, "send_time_s": None, "ttft_s": None,
                    "tpot_s": None, "e2e_s": None, "prompt_tokens": None,
                    "completion_tokens": None, "cached_tokens": None, "reply": ""}
        full.update(defaults)
        full.update(record)
        self.store.append(full)
        with self._lock:
            if full["status"] != "ok":
                self.errors += 1
                self.bar.set_postfix(errors=self.errors, refresh=False)
            self.bar.update(1)


def _duration_s(records: list[dict[str, Any]]) -> float | None:
    """Active time: for each invocation, first send to last completion, summed (a resumed
    run's downtime is not time the server spent on it). None: let ``summarize`` decide."""
    spans: dict[int, list[float]] = {}
    for r in records:
        if r["status"] == "ok" and r.get("send_time_s") is not None and r.get("e2e_s") is not None:
            span = spans.setdefault(r.get("invocation", 1), [float("inf"), float("-inf")])
            span[0] = min(span[0], r["send_time_s"])
            span[1] = max(span[1], r["send_time_s"] + r["e2e_s"])
    if len(spans) <= 1:
        return None
    return round(sum(end - start for start, end in spans.values()), 6)


def run_live(workload: Workload, options: LiveOptions, log: Log | None = None) -> dict[str, Any]:
    """Run ``workload`` against ``options.base_url`` and write ``<out_dir>/report.json``.

    Returns the report. Raises LiveRunError when the run cannot start as asked (nothing
    sent then); a failing request is a record, never an exception."""
    log = log or (lambda message: print(message, file=sys.stderr))
    workload_sha = file_sha256(workload.path)
    store = RequestStore(options.out_dir)
    client = LiveClient(options.base_url, api_key=options.api_key,
                        max_concurrency=options.max_concurrency,
                        timeout_s=options.request_timeout_s, retry=options.retry)
    try:
        try:
            manifest = store.prepare({"workload_sha256": workload_sha, "workload": workload.name,
                                      "mode": options.mode, "target": options.target,
                                      "started_at": _utc_now(), "t0_unix": time.time(),
                                      "invocations": 1}, options.resume)
            previous = latest_records(store.read()) if options.resume else {}
        except StoreError as exc:
            raise LiveRunError(str(exc)) from exc
        unknown = sorted(set(previous) - {r.id for r in workload.requests})
        if unknown:
            raise LiveRunError(f"--resume: {store.path} has requests this workload lacks "
                               f"({', '.join(unknown[:5])})")
        info = ServerInfo(client.get_json, lambda path: client.get(path).text)
        caching = info.prefix_caching()
        if options.check_mode and caching is not None and caching != (options.mode != "baseline"):
            raise LiveRunError(
                f"mode {options.mode!r} but the server at {public_url(options.base_url)} has "
                f"enable_prefix_caching={caching}: start it for this mode (kvlab serve) or pass "
                f"the mode it runs")
        model = options.model or info.model
        if not model:
            raise LiveRunError(f"{public_url(options.base_url)}: no model listed by /v1/models "
                               "(is the server up?); pass the served model name")
        store.open(manifest, options.resume)
        finished = {i: r.get("reply") or "" for i, r in previous.items() if r["status"] == "ok"}
        if options.resume:
            log(f"kvlab live: resuming {options.out_dir}: {len(finished)} finished requests kept, "
                f"{len(workload.requests) - len(finished)} to send")
        return _run(workload, options, client, store, info, model, manifest, finished, log)
    finally:
        store.close()
        client.close()


def _run(workload: Workload, options: LiveOptions, client: LiveClient, store: RequestStore,
         info: ServerInfo, model: str, manifest: dict[str, Any], finished: dict[str, str],
         log: Log) -> dict[str, Any]:
    invocation = int(manifest.get("invocations", 1))
    metrics_text = lambda: client.get("/metrics").text  # noqa: E731
    try:
        before = counters(metrics_text())
    except Exception as exc:  # noqa: BLE001 - a server without /metrics still runs
        log(f"kvlab live: cannot read /metrics before the run ({exc}); no counter deltas")
        before = {}
    # One clock for scheduling, sending and sampling; offset_s maps it onto the run's first
    # invocation, so the times of a resumed run continue those of the first.
    clock_zero = time.perf_counter()
    offset_s = max(0.0, time.time() - float(manifest["t0_unix"]))
    bar = tqdm(total=len(workload.requests), initial=len(finished), unit="req", file=sys.stderr,
               desc=f"live {workload.name} {options.mode}", disable=not options.progress,
               dynamic_ncols=True)
    recorder = _Recorder(client, store, options, model, invocation, offset_s, clock_zero, bar)
    sampler = MetricsSampler(metrics_text, options.sample_interval_s, clock_zero=clock_zero)
    scheduler = DependencyScheduler(workload, recorder.execute, recorder.finish,
                                    max_concurrency=options.max_concurrency,
                                    time_scale=options.time_scale, finished=finished)
    sampler.start()
    try:
        scheduler.run(start=clock_zero)
    finally:
        samples = sampler.stop()
        bar.close()
    try:
        after = counters(metrics_text())
    except Exception as exc:  # noqa: BLE001
        log(f"kvlab live: cannot read /metrics after the run ({exc}); no counter deltas")
        after = {}
    for sample in samples:
        sample["t_s"] = round(sample["t_s"] + offset_s, 6)

    latest = latest_records(store.read())
    records = [{k: v for k, v in latest[r.id].items() if k != "reply"} for r in workload.requests]
    report = {
        "schema_version": 1, "kind": "live", "mode": options.mode, "target": options.target,
        "workload": {"name": workload.name, "path": str(workload.path),
                     "sha256": manifest["workload_sha256"]},
        "provenance": {
            "lab_version": __version__, "git_commit": git_commit(), "host": socket.gethostname(),
            "started_at": manifest["started_at"], "finished_at": _utc_now(),
            "invocations": invocation,
            "server": {"base_url": public_url(options.base_url), "version": info.version,
                       "model": model, "model_root": info.model_root,
                       "max_model_len": info.max_model_len, "cache_config": info.cache_config,
                       "launch": options.launch},
            "client": {"max_concurrency": options.max_concurrency,
                       "request_timeout_s": options.request_timeout_s,
                       "ignore_eos": options.ignore_eos, "time_scale": options.time_scale,
                       "max_attempts": options.retry.max_attempts,
                       "api_key_set": bool(options.api_key)},
        },
        "requests": records,
        "summary": summarize(records, _duration_s(records)),
        "server_metrics": {"before": before, "after": after,
                           "delta": counter_delta(before, after) if before and after else {},
                           "samples": samples, "requests_sent": recorder.sent,
                           "invocation": invocation},
    }
    remote = remote_provenance()
    if remote is not None:  # a run on a GPU host (gpu-remote) or in a Slurm job (slurm-gpu)
        report["provenance"]["remote"] = remote
    write_report(report, Path(options.out_dir) / REPORT_FILE)
    if any(r["status"] == "ok" and r.get("cached_tokens") is None for r in records):
        # Without the flag every hit rate would read 0 and look like a finding.
        log("kvlab live: warning: the server reported no usage.prompt_tokens_details."
            "cached_tokens; start it with --enable-prompt-tokens-details (kvlab serve always does)")
    overall = report["summary"]["overall"]
    log(f"kvlab live: {overall['ok']} ok, {overall['errors']} errors; "
        f"report {Path(options.out_dir) / REPORT_FILE}")
    return report
