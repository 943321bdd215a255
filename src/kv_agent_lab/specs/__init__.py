"""Model and accelerator specs as data: shapes, KV bytes per token, weights, KV capacity.

The specs live in ``models.yaml`` and ``gpus.yaml`` beside this file, each value with its source
(docs/kv-model.md lists them). A model can also be read from a Hugging Face ``config.json``
(``ModelSpec.from_hf_config``). Only the standard library and PyYAML are imported here, so the
GPU benchmark can use this module on a machine that has nothing else of the lab installed.

    KV bytes per token = 2 (K and V) x layers x KV heads x head_dim x dtype bytes
    KV capacity (vLLM num_gpu_blocks) = floor((total x utilization - weights - reserve)
                                              / (KV bytes per token x block_size))
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1, "float8_e4m3fn": 1}
GIB = 1 << 30

# Memory vLLM holds besides the weights and the KV cache: the profiled activation peak, CUDA
# graph pools and non-torch allocations (cuBLAS/NCCL workspaces). vLLM measures it at start-up;
# its PR #10511 logged 1.79 GiB non-torch + 1.26 GiB activation peak for Llama-3-8B on an H100
# (https://github.com/vllm-project/vllm/pull/10511). Rough: pass num_blocks for vLLM's own count.
DEFAULT_RESERVE_BYTES = 3 * GIB

# tie_word_embeddings when config.json leaves it out: transformers' per-model config defaults.
_TIE_DEFAULT = {"qwen2": False, "qwen3": False, "llama": False, "mistral": False}


class UnknownSpecError(LookupError):
    """A model or GPU name that neither the spec files nor the filesystem know."""


def count_parameters(*, num_layers: int, hidden_size: int, num_attention_heads: int,
                     num_kv_heads: int, head_dim: int, intermediate_size: int, vocab_size: int,
                     tie_word_embeddings: bool, qkv_bias: bool = False, o_bias: bool = False,
                     mlp_bias: bool = False, qk_norm: bool = False) -> int:
    """Parameters of a Llama-style decoder (RMSNorm, gated MLP), from its shapes: embeddings,
    per layer q/k/v/o projections (+ biases), gate/up/down, two norms (+ Qwen3's q/k norms),
    final norm, and an lm_head unless tied to the embeddings."""
    q_out, kv_out = num_attention_heads * head_dim, num_kv_heads * head_dim
    attention = hidden_size * (q_out + 2 * kv_out) + q_out * hidden_size
    attention += qkv_bias * (q_out + 2 * kv_out) + o_bias * hidden_size
    attention += qk_norm * 2 * head_dim
    mlp = 3 * hidden_size * intermediate_size + mlp_bias * (2 * intermediate_size + hidden_size)
    per_layer = attention + mlp + 2 * hidden_size
    embeddings = vocab_size * hidden_size * (1 if tie_word_embeddings else 2)
    return embeddings + num_layers * per_layer + hidden_size


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer's shapes (Hugging Face config names in the comments)."""

    name: str
    num_layers: int            # num_hidden_layers
    hidden_size: int           # hidden_size
    num_attention_heads: int   # num_attention_heads
    num_kv_heads: int          # num_key_value_heads (GQA)
    head_dim: int              # head_dim, default hidden_size // num_attention_heads
    intermediate_size: int     # intermediate_size (gated MLP: gate, up, down)
    vocab_size: int            # vocab_size
    tie_word_embeddings: bool  # lm_head shares the embedding matrix
    num_parameters: int        # all parameters, a tied matrix counted once
    dtype: str = "bfloat16"
    max_context: int = 0       # max_position_embeddings
    architecture: str = ""     # model_type
    hf_id: str | None = None
    qkv_bias: bool = False     # Qwen2: q/k/v projections have biases
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False      # Qwen3: RMSNorm on q and k per head
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes

    @property
    def embedding_parameters(self) -> int:
        """The embedding matrix, plus the lm_head when it is not tied."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    @property
    def non_embedding_parameters(self) -> int:
        """What every token multiplies through: attention, MLP and norms of all layers."""
        return self.num_parameters - self.embedding_parameters

    @property
    def shape_parameters(self) -> int:
        """``count_parameters`` of this spec's shapes (= num_parameters for the shipped specs)."""
        return count_parameters(
            num_layers=self.num_layers, hidden_size=self.hidden_size,
            num_attention_heads=self.num_attention_heads, num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim, intermediate_size=self.intermediate_size,
            vocab_size=self.vocab_size, tie_word_embeddings=self.tie_word_embeddings,
            qkv_bias=self.qkv_bias, o_bias=self.o_bias, mlp_bias=self.mlp_bias,
            qk_norm=self.qk_norm)

    @classmethod
    def from_hf_config(cls, path: str | Path, name: str | None = None) -> ModelSpec:
        """Read a Hugging Face ``config.json`` (or the directory holding one) of a Qwen2, Qwen3,
        Llama or Mistral model. The parameter count is computed from the shapes; biases follow
        the transformers modeling code: Qwen2 always has q/k/v biases, Llama/Mistral/Qwen3 use
        ``attention_bias`` (q/k/v and o) and Llama ``mlp_bias``; Qwen3 adds q/k norms."""
        path = Path(path)
        config_file = path / "config.json" if path.is_dir() else path
        config = json.loads(config_file.read_text(encoding="utf-8"))
        model_type = str(config.get("model_type", "")).lower()
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        attention_bias = bool(config.get("attention_bias", False))
        shapes: dict[str, Any] = dict(
            num_layers=int(config["num_hidden_layers"]),
            hidden_size=hidden,
            num_attention_heads=heads,
            num_kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            tie_word_embeddings=bool(config.get("tie_word_embeddings",
                                                _TIE_DEFAULT.get(model_type, True))),
            qkv_bias=model_type == "qwen2" or attention_bias,
            o_bias=attention_bias and model_type != "qwen2",
            mlp_bias=bool(config.get("mlp_bias", False)),
            qk_norm=model_type == "qwen3",
        )
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
        if dtype not in DTYPE_BYTES:
            raise ValueError(f"{config_file}: dtype {dtype!r} is not one of {sorted(DTYPE_BYTES)}")
        if name is None:
            name = str(config.get("_name_or_path") or config_file.resolve().parent.name)
        return cls(name=name, num_parameters=count_parameters(**shapes), dtype=dtype,
                   max_context=int(config.get("max_position_embeddings", 0)),
                   architecture=model_type, sources={"config": str(config_file)}, **shapes)


@dataclass(frozen=True)
class GpuSpec:
    """An accelerator's roofline numbers; ``rough`` marks figures measured or guessed here."""

    name: str
    peak_bf16_flops: float                # dense BF16 FLOP/s
    memory_bandwidth_bytes_per_s: float
    memory_gb: float                      # datasheet capacity, decimal GB
    host_link_bytes_per_s: float          # host <-> device, one direction
    cuda_total_memory_gib: float | None = None  # what CUDA reports; vLLM's utilization base
    host_link: str = ""
    display_name: str = ""
    aliases: tuple[str, ...] = ()
    rough: bool = False
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def memory_bytes(self) -> int:
        """The total vLLM multiplies by ``gpu_memory_utilization``: CUDA's device total when known,
        else the datasheet capacity."""
        if self.cuda_total_memory_gib is not None:
            return int(round(self.cuda_total_memory_gib * GIB))
        return int(round(self.memory_gb * 1e9))


def _read_yaml(filename: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return yaml.safe_load(text)


_FLOAT_FIELDS = {"GpuSpec": ("peak_bf16_flops", "memory_bandwidth_bytes_per_s", "memory_gb",
                              "host_link_bytes_per_s", "cuda_total_memory_gib")}


def _build(record_type: type, name: str, values: dict[str, Any]) -> Any:
    known = {f.name for f in fields(record_type)}
    extra = set(values) - known
    if extra:
        raise ValueError(f"{record_type.__name__} {name!r}: unknown fields {sorted(extra)}")
    values = dict(values, name=name)
    for key in _FLOAT_FIELDS.get(record_type.__name__, ()):
        if values.get(key) is not None:
            try:
                values[key] = float(values[key])
            except (TypeError, ValueError):
                raise ValueError(f"{record_type.__name__} {name!r}: {key} must be a number, "
                                 f"got {values[key]!r}") from None
    if "aliases" in values:
        values["aliases"] = tuple(values["aliases"] or ())
    return record_type(**values)


@lru_cache(maxsize=1)
def _models() -> dict[str, ModelSpec]:
    return {name: _build(ModelSpec, name, values)
            for name, values in _read_yaml("models.yaml")["models"].items()}


@lru_cache(maxsize=1)
def _gpus() -> dict[str, GpuSpec]:
    return {name: _build(GpuSpec, name, values)
            for name, values in _read_yaml("gpus.yaml")["gpus"].items()}


def known_models() -> list[str]:
    return list(_models())


def known_gpus() -> list[str]:
    return list(_gpus())


def load_model(name_or_path: str | Path | ModelSpec) -> ModelSpec:
    """A shipped model by name (case-insensitive; the Hugging Face id works too), or a
    ``config.json`` / model directory by path."""
    if isinstance(name_or_path, ModelSpec):
        return name_or_path
    key = str(name_or_path)
    for name, spec in _models().items():
        if key.lower() in (name.lower(), (spec.hf_id or "").lower()):
            return spec
    path = Path(key).expanduser()
    if path.is_file() or (path / "config.json").is_file():
        return ModelSpec.from_hf_config(path)
    raise UnknownSpecError(f"unknown model {key!r}: not a shipped spec "
                           f"({', '.join(known_models())}) and not a config.json or a "
                           "directory holding one")


def load_gpu(name: str | GpuSpec) -> GpuSpec:
    """A shipped GPU by name or alias (case-insensitive)."""
    if isinstance(name, GpuSpec):
        return name
    key = str(name).lower()
    for gpu_name, spec in _gpus().items():
        if key == gpu_name.lower() or key in (a.lower() for a in spec.aliases):
            return spec
    aliases = ", ".join(alias for spec in _gpus().values() for alias in spec.aliases)
    raise UnknownSpecError(f"unknown GPU {name!r}; known: {', '.join(known_gpus())} "
                           f"(aliases: {aliases})")


def kv_bytes_per_token(model: ModelSpec | str) -> int:
    """2 (K and V) x layers x KV heads x head_dim x dtype bytes."""
    return load_model(model).kv_bytes_per_token


def weights_bytes(model: ModelSpec | str) -> int:
    """All parameters in the model's dtype (a tied embedding/lm_head matrix once)."""
    spec = load_model(model)
    return spec.num_parameters * spec.dtype_bytes


def kv_capacity_blocks(model: ModelSpec | str, gpu: GpuSpec | str, block_size: int,
                       gpu_memory_utilization: float = 0.9,
                       reserve_bytes: int = DEFAULT_RESERVE_BYTES,
                       num_blocks: int | None = None) -> int:
    """vLLM's ``num_gpu_blocks`` (null block included, as ``prefix_cache.BlockPool`` takes it):
    ``num_blocks`` when given (``--num-gpu-blocks-override`` or the count vLLM logged), else
    floor((total x utilization - weights - reserve) / (KV bytes per token x block_size)), as
    ``vllm/v1/worker/utils.py: request_memory`` and ``kv_cache_utils`` compute it; the total is
    ``GpuSpec.memory_bytes``. Raises ValueError when the weights and reserve do not fit."""
    if block_size <= 0:
        raise ValueError("block_size must be positive")
    if num_blocks is not None:
        if num_blocks < 2:
            raise ValueError("num_blocks counts vLLM's null block too; it must be >= 2")
        return int(num_blocks)
    spec, device = load_model(model), load_gpu(gpu)
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError("gpu_memory_utilization must be in (0, 1]")
    requested = math.ceil(device.memory_bytes * gpu_memory_utilization)
    available = requested - weights_bytes(spec) - reserve_bytes
    if available <= 0:
        raise ValueError(
            f"{spec.name} does not fit on {device.name}: {requested / GIB:.2f} GiB requested, "
            f"weights {weights_bytes(spec) / GIB:.2f} GiB + reserve {reserve_bytes / GIB:.2f} GiB")
    return available // (spec.kv_bytes_per_token * block_size)


__all__ = ["DEFAULT_RESERVE_BYTES", "DTYPE_BYTES", "GIB", "GpuSpec", "ModelSpec",
           "UnknownSpecError", "count_parameters", "known_gpus", "known_models",
           "kv_bytes_per_token", "kv_capacity_blocks", "load_gpu", "load_model", "weights_bytes"]
