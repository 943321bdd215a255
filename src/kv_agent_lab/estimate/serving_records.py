"""The serving simulator's records: the requests it takes (``ServingRequest``), the engine's
configuration (``ServingConfig``), a request's state while it is served (``_Req``: vLLM's
``Request`` plus times and the decoding group's bookkeeping) and what a run gives back
(``ServingResult``). The simulator itself: ``serving.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .kv_cache_manager import SimRequest

StepTime = Callable[[int, int, int, int, int, int, int], float]
INF = float("inf")


@dataclass(slots=True)
class ServingRequest:
    """One request as the simulator takes it: the adapter that text workloads and block traces
    are turned into. ``block_hashes``: chained hashes/ids of the full blocks of the prompt, then
    of the output where its tokens are known (missing ones match nothing). Arrival: with no
    ``after``, ``arrival_s + think_time_s``; else ``think_time_s`` after the last request named
    in ``after`` (indices into the same list) finished."""

    id: str
    prompt_tokens: int
    output_tokens: int
    block_hashes: Sequence[Hashable]
    arrival_s: float = 0.0
    after: tuple[int, ...] = ()
    think_time_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # session, class, turn ... for reports


@dataclass(frozen=True)
class ServingConfig:
    num_blocks: int                     # vLLM num_gpu_blocks (block 0 is the null block)
    block_size: int = 16
    enable_caching: bool = True         # False: baseline
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    cpu_chunks: int | None = None       # cpu_offload: CPU tier size in blocks; None: no tier
    offload_prompt_only: bool = True    # vLLM's default (kv_offload/base.py)
    sample_interval_s: float = 1.0      # KV-usage samples at most this often


class _Req(SimRequest):
    __slots__ = ("idx", "spec", "pending", "ready_s", "arrival_s", "sched_s", "first_s",
                 "finish_s", "cached", "loaded", "computed", "load_done_s", "load_keys",
                 "next_store", "seen", "dependents", "seq", "g0", "c0", "epoch")

    def __init__(self, spec: ServingRequest, idx: int, block_size: int):
        super().__init__(spec.prompt_tokens, spec.output_tokens, spec.block_hashes, block_size,
                         spec.id)
        self.idx, self.spec, self.pending, self.ready_s = idx, spec, len(spec.after), 0.0
        self.arrival_s = self.sched_s = self.first_s = self.finish_s = None
        self.cached = self.loaded = self.computed = self.next_store = 0
        self.load_done_s, self.load_keys = None, ()
        self.seen: int | set[int] = 0      # (offload._touch)
        self.dependents: list[_Req] = []
        self.seq = self.g0 = self.c0 = self.epoch = 0


@dataclass
class ServingResult:
    requests: list[_Req]                # input order, served
    counters: dict[str, Any]
    kv: dict[str, Any]                  # capacity, peak and time-weighted usage, duration
    samples: list[dict[str, Any]]       # KV usage, running and waiting over time

    def records(self) -> list[dict[str, Any]]:
        """Per request, input order: tokens and times (seconds from the run's start; queue:
        arrival to first scheduled step; TTFT: arrival to the end of the step that sampled
        the first token). ``computed_tokens``: tokens prefilled, recomputations included."""
        out = []
        for r in self.requests:
            a, o = r.arrival_s, r.num_output_tokens
            ttft, e2e = r.first_s - a, r.finish_s - a
            out.append({
                "id": r.request_id, "prompt_tokens": r.num_prompt_tokens,
                "completion_tokens": o, "cached_tokens": r.cached,
                "loaded_from_cpu_tokens": r.loaded, "computed_tokens": r.computed,
                "send_time_s": a, "queue_time_s": r.sched_s - a, "ttft_s": ttft,
                "tpot_s": (e2e - ttft) / (o - 1) if o > 1 else None, "e2e_s": e2e,
                "preemptions": r.num_preemptions})
        return out

