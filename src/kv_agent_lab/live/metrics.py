"""The server's own accounting: vLLM's Prometheus ``/metrics``, ``/version`` and ``/v1/models``.

Counters are read once before and once after a run; their difference is exactly what this
run cost the server (vLLM's counters only grow, and nothing else should be sending to a
server under measurement). Gauges (KV-cache usage, running and waiting requests) are sampled
by ``MetricsSampler`` while the run goes on. Parsing is prometheus_client's text parser.

Names: vLLM exposes ``vllm:prefix_cache_hits_total`` etc.; the parser reports a counter family
without its ``_total``. Each value is the sum over the family's samples (one per engine and,
for ``request_success``, per finish reason), so a data-parallel server adds up.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from prometheus_client.parser import text_string_to_metric_families

# report name -> vLLM counter family (prometheus_client's name, without "_total")
COUNTERS = {
    "prefix_cache_queries": "vllm:prefix_cache_queries",
    "prefix_cache_hits": "vllm:prefix_cache_hits",
    "prompt_tokens_cached": "vllm:prompt_tokens_cached",
    "prompt_tokens": "vllm:prompt_tokens",
    "generation_tokens": "vllm:generation_tokens",
    "preemptions": "vllm:num_preemptions",
    "requests_success": "vllm:request_success",
    "external_prefix_cache_queries": "vllm:external_prefix_cache_queries",
    "external_prefix_cache_hits": "vllm:external_prefix_cache_hits",
}
# report name -> vLLM gauge, sampled during a run
GAUGES = {
    "kv_cache_usage": "vllm:kv_cache_usage_perc",
    "running": "vllm:num_requests_running",
    "waiting": "vllm:num_requests_waiting",
}
CACHE_CONFIG = "vllm:cache_config_info"


def parse_families(text: str, wanted: set[str] | None = None) -> dict[str, list[Any]]:
    """family name -> its samples, for the families in ``wanted`` (all when None).
    Series created by prometheus_client's ``_created`` convention are left out."""
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        if wanted is not None and family.name not in wanted:
            continue
        out[family.name] = [s for s in family.samples if not s.name.endswith("_created")]
    return out


def _sum(samples: list[Any] | None) -> float | None:
    return float(sum(s.value for s in samples)) if samples else None


def counters(text: str) -> dict[str, float | None]:
    """The counters of ``COUNTERS`` from a /metrics text; None for one the server lacks."""
    families = parse_families(text, set(COUNTERS.values()))
    return {name: _sum(families.get(family)) for name, family in COUNTERS.items()}


def counter_delta(before: dict[str, float | None],
                  after: dict[str, float | None]) -> dict[str, float | None]:
    """after - before per counter; None where either read is missing or the counter went
    down (the server restarted in between, so the difference means nothing)."""
    delta: dict[str, float | None] = {}
    for name in COUNTERS:
        b, a = before.get(name), after.get(name)
        delta[name] = a - b if a is not None and b is not None and a >= b else None
    return delta


def gauges(text: str) -> dict[str, float | None]:
    """Current KV-cache usage (the largest over engines, 0..1) and request counts (summed)."""
    wanted = set(GAUGES.values())
    # Keep only the lines of the three gauges: /metrics carries hundreds of histogram lines,
    # and the sampler must stay cheap next to a server on the same few cores.
    lines = [line for line in text.splitlines()
             if any(line.startswith(n) or line.startswith(f"# TYPE {n} ")
                    or line.startswith(f"# HELP {n} ") for n in wanted)]
    families = parse_families("\n".join(lines) + "\n", wanted)
    usage = families.get(GAUGES["kv_cache_usage"])
    return {
        "kv_cache_usage": max(s.value for s in usage) if usage else None,
        "running": _sum(families.get(GAUGES["running"])),
        "waiting": _sum(families.get(GAUGES["waiting"])),
    }


def cache_config(text: str) -> dict[str, str]:
    """The labels of ``vllm:cache_config_info`` (block_size, enable_prefix_caching,
    num_gpu_blocks, ...), as the server reports them; {} when it has none."""
    samples = parse_families(text, {CACHE_CONFIG}).get(CACHE_CONFIG)
    return dict(samples[0].labels) if samples else {}


class MetricsSampler(threading.Thread):
    """Polls the gauges every ``interval_s`` until ``stop()``; ``samples`` holds
    ``{"t_s", "kv_cache_usage", "running", "waiting"}`` with t_s from ``clock_zero``.
    A failed read (server busy or gone) is skipped, never raised: sampling is an
    observation of the run, not part of it."""

    def __init__(self, fetch_text: Callable[[], str], interval_s: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter, clock_zero: float | None = None):
        super().__init__(name="kvlab-metrics-sampler", daemon=True)
        self._fetch_text = fetch_text
        self.interval_s = interval_s
        self._clock = clock
        self._zero = clock() if clock_zero is None else clock_zero
        self._stop_event = threading.Event()
        self.samples: list[dict[str, float | None]] = []
        self.failures = 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample_once()
            self._stop_event.wait(self.interval_s)

    def sample_once(self) -> None:
        t_s = self._clock() - self._zero
        try:
            values = gauges(self._fetch_text())
        except Exception:  # noqa: BLE001 - any failure of an observation is only counted
            self.failures += 1
            return
        self.samples.append({"t_s": round(t_s, 6), **values})

    def stop(self) -> list[dict[str, float | None]]:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=self.interval_s + 15)
        return self.samples


class ServerInfo:
    """What a server says about itself, read once per run (each read may fail alone)."""

    def __init__(self, get_json: Callable[[str], Any], get_text: Callable[[str], str]):
        self.version: str | None = None
        self.model: str | None = None
        self.model_root: str | None = None
        self.max_model_len: int | None = None
        self.cache_config: dict[str, str] = {}
        try:
            self.version = get_json("/version").get("version")
        except Exception:  # noqa: BLE001 - not every OpenAI-compatible server has /version
            pass
        try:
            models = get_json("/v1/models").get("data") or []
            if models:
                self.model = models[0].get("id")
                self.model_root = models[0].get("root")
                self.max_model_len = models[0].get("max_model_len")
        except Exception:  # noqa: BLE001
            pass
        try:
            self.cache_config = cache_config(get_text("/metrics"))
        except Exception:  # noqa: BLE001
            pass

    def prefix_caching(self) -> bool | None:
        """Whether the server caches prefixes, from cache_config_info; None if unknown."""
        value = self.cache_config.get("enable_prefix_caching")
        return None if value is None else value == "True"
