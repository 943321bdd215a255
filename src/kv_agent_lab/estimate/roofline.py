"""Step times for continuous batching, from a roofline model of one model on one accelerator.

A step (one forward pass of vLLM's engine) runs some prefill chunks, each ``(n, c)``: ``n`` new
tokens after ``c`` tokens already in the KV cache, and some decode sequences, each one new token
after ``c`` cached tokens (a decode is a chunk with n = 1). Per step, with P = non-embedding
parameters, T = all new tokens, S = sequences in the step:

    FLOPs  = 2 P T                                                  linear layers
           + 2 hidden vocab S                                       lm_head, one row per sequence
           + 4 layers heads head_dim sum(n c + n (n + 1) / 2)       QK^T and PV, causal
    bytes  = dtype (P + [S > 0] vocab hidden)                       weights, read once per step
           + kv_bytes_per_token sum(c + n)                          KV read by attention
           + kv_bytes_per_token T                                   KV written
           + activation bytes (below)
    time   = max(FLOPs / (peak x mfu), bytes / (bandwidth x mbu)) + step_overhead_s

Every sequence in a step produces logits, the partial prefill chunks included: vLLM v1 computes
them at ``logits_indices = query_start_loc[1:] - 1`` and discards the partial requests' samples
(``vllm/v1/worker/gpu_model_runner.py``, ``_prepare_inputs``). KV loaded from a CPU offload tier
costs ``tokens x kv_bytes_per_token / (host link x host_link efficiency)`` (``load_time_s``), a
cost the caller adds where the transfer is not overlapped. docs/kv-model.md has the derivation
and worked examples.

Speed: the serving simulator calls ``step_time_from_sums`` once per simulated step with sums it
keeps incrementally; every constant is folded in ``__init__``, so a call is a few float ops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from kv_agent_lab.specs import GpuSpec, ModelSpec, load_gpu, load_model

LOGIT_BYTES = 4  # vLLM's sampler works on float32 logits


@dataclass(frozen=True)
class Efficiency:
    """Fractions of the datasheet peaks that real kernels reach, and the fixed cost per step.

    Defaults are typical published figures, to be replaced by a calibration
    (benchmarks/gpu_prefill.py measures them on a real GPU):
      mfu 0.55            compute-bound steps (long prefills) reach 50-60 % of peak BF16 FLOP/s
                          with FlashAttention-2/3 and cuBLAS GEMMs on H100/A100
      mbu 0.75            memory-bound steps (decode) reach 70-80 % of peak HBM bandwidth
      host_link 0.8       PCIe DMA of pinned buffers reaches about 80 % of the link rate
      step_overhead_s     2 ms: scheduler, input preparation, sampling and kernel launches per
                          step (vLLM v1 with CUDA graphs: about 1-3 ms; eager PyTorch more)
      activation_io 1.0   scales the activation-traffic term (0 drops it)
    """

    mfu: float = 0.55
    mbu: float = 0.75
    host_link: float = 0.8
    step_overhead_s: float = 0.002
    activation_io: float = 1.0

    def __post_init__(self) -> None:
        for name in ("mfu", "mbu", "host_link"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"Efficiency.{name} must be in (0, 1], got {value}")
        if self.step_overhead_s < 0 or self.activation_io < 0:
            raise ValueError("Efficiency.step_overhead_s and activation_io must be >= 0")


@dataclass(frozen=True)
class StepBatch:
    """One engine step's work."""

    prefill_chunks: tuple[tuple[int, int], ...] = ()  # (new_tokens, context_tokens_before)
    decode_contexts: tuple[int, ...] = ()             # tokens cached before each decode token


class RooflineModel:
    """Step, prefill, decode and host-link load times of ``model`` on ``gpu``."""

    def __init__(self, model: ModelSpec, gpu: GpuSpec,
                 efficiency: Efficiency | None = None) -> None:
        self.model, self.gpu = model, gpu
        self.efficiency = efficiency = efficiency or Efficiency()
        dtype_bytes = model.dtype_bytes
        self._flops_per_token = 2.0 * model.non_embedding_parameters
        self._flops_per_logit_seq = 2.0 * model.hidden_size * model.vocab_size
        # Per query-key pair, all layers: QK^T and PV, 2 FLOPs per multiply-add each.
        self._flops_per_attended_pair = (4.0 * model.num_layers * model.num_attention_heads
                                         * model.head_dim)
        self._kv_bytes_per_token = float(model.kv_bytes_per_token)
        self._body_weight_bytes = float(model.non_embedding_parameters * dtype_bytes)
        self._lm_head_bytes = float(model.vocab_size * model.hidden_size * dtype_bytes)
        # Activations that leave on-chip memory, per token and layer: the qkv, attention-output,
        # o_proj and down_proj outputs (about 4 hidden) and gate/up/act (3 intermediate), each
        # written once and read once; plus the embedding row read per token.
        per_layer = 4 * model.hidden_size + 3 * model.intermediate_size
        self._activation_bytes_per_token = efficiency.activation_io * dtype_bytes * (
            2.0 * model.num_layers * per_layer + model.hidden_size)
        self._logit_bytes_per_seq = efficiency.activation_io * float(model.vocab_size * LOGIT_BYTES)
        self._flop_rate = gpu.peak_bf16_flops * efficiency.mfu
        self._byte_rate = gpu.memory_bandwidth_bytes_per_s * efficiency.mbu
        self._host_link_rate = gpu.host_link_bytes_per_s * efficiency.host_link
        self._overhead_s = efficiency.step_overhead_s

    @classmethod
    def from_names(cls, model: str, gpu: str,
                   efficiency: Efficiency | None = None) -> RooflineModel:
        return cls(load_model(model), load_gpu(gpu), efficiency)

    # -- the fast path -------------------------------------------------------------------------

    def step_time_from_sums(self, num_prefill_tokens: int, sum_n_c: int, sum_n_sq: int,
                            num_logit_seqs: int, num_decode: int, sum_decode_context: int,
                            sum_prefill_context: int = 0) -> float:
        """Step time from sums over the step's prefill chunks (n, c) and decodes (context c):
        ``num_prefill_tokens`` = sum n, ``sum_n_c`` = sum n*c, ``sum_n_sq`` = sum n*n,
        ``num_logit_seqs`` = sequences producing logits (all chunks + decodes in vLLM v1),
        ``num_decode``, ``sum_decode_context`` = sum of decode c, ``sum_prefill_context`` =
        sum of chunk c (the cached KV the chunks' attention reads; pass it: the default 0 leaves
        that read out). An empty step takes 0 s."""
        tokens = num_prefill_tokens + num_decode
        if tokens <= 0:
            return 0.0
        attended = (sum_n_c + 0.5 * (sum_n_sq + num_prefill_tokens)
                    + sum_decode_context + num_decode)
        compute_s = (self._flops_per_token * tokens
                     + self._flops_per_logit_seq * num_logit_seqs
                     + self._flops_per_attended_pair * attended) / self._flop_rate
        memory_s = (self._body_weight_bytes
                    + (self._lm_head_bytes if num_logit_seqs else 0.0)
                    + self._kv_bytes_per_token * (sum_prefill_context + sum_decode_context
                                                  + 2 * tokens)
                    + self._activation_bytes_per_token * tokens
                    + self._logit_bytes_per_seq * num_logit_seqs) / self._byte_rate
        return (compute_s if compute_s > memory_s else memory_s) + self._overhead_s

    # -- convenience forms ---------------------------------------------------------------------

    @staticmethod
    def batch_sums(batch: StepBatch) -> tuple[int, int, int, int, int, int, int]:
        """The arguments of ``step_time_from_sums`` for ``batch``."""
        chunks, decodes = batch.prefill_chunks, batch.decode_contexts
        return (sum(n for n, _ in chunks), sum(n * c for n, c in chunks),
                sum(n * n for n, _ in chunks), len(chunks) + len(decodes),
                len(decodes), sum(decodes), sum(c for _, c in chunks))

    def step_time_s(self, batch: StepBatch) -> float:
        return self.step_time_from_sums(*self.batch_sums(batch))

    def prefill_time_s(self, new_tokens: int, cached_tokens: int = 0) -> float:
        """One request alone: its whole uncached prompt as one chunk after ``cached_tokens``."""
        return self.step_time_from_sums(new_tokens, new_tokens * cached_tokens,
                                        new_tokens * new_tokens, 1 if new_tokens > 0 else 0,
                                        0, 0, cached_tokens if new_tokens > 0 else 0)

    def decode_step_time_s(self, contexts: Iterable[int]) -> float:
        """One step of decodes only; ``contexts`` holds each sequence's cached tokens."""
        contexts = tuple(contexts)
        return self.step_time_from_sums(0, 0, 0, len(contexts), len(contexts), sum(contexts))

    def load_time_s(self, tokens: int) -> float:
        """Moving ``tokens`` tokens of KV over the host link (the CPU offload tier)."""
        return tokens * self._kv_bytes_per_token / self._host_link_rate

    def breakdown(self, batch: StepBatch) -> dict[str, float | str]:
        """Where ``step_time_s(batch)`` comes from: FLOPs and bytes by term, the compute and
        memory times, the overhead, the total and which bound applies."""
        (prefill_tokens, sum_n_c, sum_n_sq, logit_seqs, num_decode, sum_decode_context,
         sum_prefill_context) = self.batch_sums(batch)
        tokens = prefill_tokens + num_decode
        attended = sum_n_c + 0.5 * (sum_n_sq + prefill_tokens) + sum_decode_context + num_decode
        terms = {
            "flops_linear": self._flops_per_token * tokens,
            "flops_lm_head": self._flops_per_logit_seq * logit_seqs,
            "flops_attention": self._flops_per_attended_pair * attended,
            "bytes_weights": self._body_weight_bytes + (self._lm_head_bytes if logit_seqs else 0.0),
            "bytes_kv_read": self._kv_bytes_per_token * (sum_prefill_context + sum_decode_context
                                                         + tokens),
            "bytes_kv_write": self._kv_bytes_per_token * tokens,
            "bytes_activations": (self._activation_bytes_per_token * tokens
                                  + self._logit_bytes_per_seq * logit_seqs),
        }
        if tokens <= 0:
            terms = dict.fromkeys(terms, 0.0)
        flops = terms["flops_linear"] + terms["flops_lm_head"] + terms["flops_attention"]
        total_bytes = (terms["bytes_weights"] + terms["bytes_kv_read"] + terms["bytes_kv_write"]
                       + terms["bytes_activations"])
        compute_s, memory_s = flops / self._flop_rate, total_bytes / self._byte_rate
        return {
            "flops": flops, "bytes": total_bytes, **terms,
            "compute_s": compute_s, "memory_s": memory_s,
            "overhead_s": self._overhead_s if tokens > 0 else 0.0,
            "time_s": self.step_time_from_sums(prefill_tokens, sum_n_c, sum_n_sq, logit_seqs,
                                               num_decode, sum_decode_context, sum_prefill_context),
            "bound": "idle" if tokens <= 0 else ("compute" if compute_s > memory_s else "memory"),
        }

    def describe(self) -> dict[str, object]:
        """The model, GPU and efficiency this instance uses (for result files)."""
        return {"model": self.model.name, "gpu": self.gpu.name,
                "efficiency": asdict(self.efficiency)}


__all__ = ["Efficiency", "RooflineModel", "StepBatch"]
