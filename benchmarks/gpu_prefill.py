"""Prefill (and decode) times of a Qwen2.5-3B-shaped model on a real GPU, against the roofline.

A one-shot calibration run for ``kv_agent_lab.estimate.roofline`` (docs/kv-model.md, section
"Calibration against a real GPU"). No download and nothing outside this repository: the model
is built from ``transformers.Qwen2Config`` with the shapes of ``specs/models.yaml`` and random
bf16 weights, attention "sdpa". For each case it times forward passes with CUDA events (warm-ups,
then the median of several repeats, under ``torch.inference_mode``), and compares them with
``RooflineModel(load_model(...), load_gpu(<detected>)).prefill_time_s(new, cached)``:

  prefill, no cache      prompt lengths 512 .. 16k, one forward over the whole prompt
  prefill, cached prefix the prefix's KV is computed first (a DynamicCache), then only the
                         suffix's forward is timed, with the cache (the cache is cropped back
                         to the prefix between repeats, outside the timed region)
  decode                 one token per sequence after a 4k context, batch 1 / 8 / 32
  ceilings               a large bf16 matmul (FLOP/s) and a device copy (bytes/s): what the
                         hardware gives outside the model, to separate GPU from framework

Logits are computed for the last position only (``logits_to_keep=1``), as vLLM does. Everything
goes to ``--out`` as JSON (rewritten after each case, so a cut-off run keeps what it measured):
the environment (GPU name, torch/transformers versions, CUDA's total memory), each measurement
with all repeats, the prediction, the ratio measured/predicted and the implied MFU/MBU.

    PYTHONPATH=src python3 benchmarks/gpu_prefill.py --out $OUT/gpu_prefill.json
    PYTHONPATH=src python3 benchmarks/gpu_prefill.py --device cpu --tiny --out /tmp/gp.json

The second form (the lab's tiny model on the CPU, compared with the ``local-cpu`` spec) only
checks that the script runs; its numbers mean little.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # as PYTHONPATH=src does

from kv_agent_lab.estimate.roofline import Efficiency, RooflineModel, StepBatch  # noqa: E402
from kv_agent_lab.specs import GpuSpec, ModelSpec, load_gpu, load_model  # noqa: E402

FULL = dict(model="Qwen2.5-3B-Instruct",
            uncached=(512, 1024, 2048, 4096, 8192, 16384),
            cached=((3072, 1024), (6144, 2048), (12288, 4096), (4096, 512), (15360, 1024)),
            decode=((1, 4096), (8, 4096), (32, 4096)),
            matmul_n=8192, copy_bytes=1 << 30, warmup=2, repeats=5)
TINY = dict(model="kvlab-tiny",
            uncached=(64, 128, 256, 512),
            cached=((192, 64), (384, 128)),
            decode=((1, 256), (4, 256)),
            matmul_n=1024, copy_bytes=64 << 20, warmup=1, repeats=3)
GPU_NAMES = (("H200", "H200"), ("H100", "H100-SXM"), ("A100", "A100-80GB"), ("L40S", "L40S"))


def log(message: str) -> None:
    print(message, flush=True)


class Timer:
    """Seconds of ``fn()``: CUDA events on a GPU, perf_counter (after the work) on the CPU."""

    def __init__(self, torch, device: str) -> None:
        self.torch, self.cuda = torch, device.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def once(self, fn) -> float:
        if self.cuda:
            start = self.torch.cuda.Event(enable_timing=True)
            end = self.torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        begin = time.perf_counter()
        fn()
        return time.perf_counter() - begin

    def median(self, fn, warmup: int, repeats: int, between=None) -> list[float]:
        """All timed repeats; ``between()`` runs after every call, outside the timing."""
        for _ in range(warmup):
            fn()
            if between:
                between()
        self.sync()
        times = []
        for _ in range(repeats):
            times.append(self.once(fn))
            if between:
                between()
            self.sync()
        return times


def detect_gpu(torch, device: str, override: str | None) -> GpuSpec:
    if override:
        return load_gpu(override)
    if not device.startswith("cuda"):
        return load_gpu("local-cpu")
    name = torch.cuda.get_device_name(0).upper()
    for key, spec in GPU_NAMES:
        if key in name:
            if key == "H100" and ("PCIE" in name or "NVL" in name):
                log(f"warning: {name} is not the SXM part; comparing with H100-SXM anyway")
            return load_gpu(spec)
    log(f"warning: unknown GPU {name!r}; comparing with H100-SXM (pass --gpu)")
    return load_gpu("H100-SXM")


def build_model(torch, spec: ModelSpec, device: str, max_tokens: int):
    """A Qwen2ForCausalLM with ``spec``'s shapes and random bf16 weights, made on ``device``."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(vocab_size=spec.vocab_size, hidden_size=spec.hidden_size,
                 intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_layers,
                 num_attention_heads=spec.num_attention_heads,
                 num_key_value_heads=spec.num_kv_heads, head_dim=spec.head_dim,
                 tie_word_embeddings=spec.tie_word_embeddings,
                 max_position_embeddings=max(spec.max_context, max_tokens),
                 use_sliding_window=False, attn_implementation="sdpa")
    try:
        config = Qwen2Config(torch_dtype=torch.bfloat16, **shape)
    except TypeError:  # a transformers that only knows `dtype`
        config = Qwen2Config(dtype=torch.bfloat16, **shape)
    config._attn_implementation = "sdpa"
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=torch.bfloat16).eval()


def forward(model, ids, cache=None):
    return model(input_ids=ids, past_key_values=cache, use_cache=cache is not None,
                 logits_to_keep=1)


def make_cache(model, torch, prefix_ids):
    """The prefix's KV (a DynamicCache) and a function that restores it after a timed call."""
    output = model(input_ids=prefix_ids, use_cache=True, logits_to_keep=1)
    cache, prefix_len = output.past_key_values, prefix_ids.shape[1]
    if hasattr(cache, "crop") and hasattr(cache, "get_seq_length"):
        def crop():  # a negative crop drops that many tokens (positive crops are deprecated)
            excess = cache.get_seq_length() - prefix_len
            if excess > 0:
                cache.crop(-excess)
            if cache.get_seq_length() != prefix_len:
                raise RuntimeError(f"cache crop left {cache.get_seq_length()} tokens, "
                                   f"not {prefix_len}")
        return cache, crop
    pristine = copy.deepcopy(cache)  # no crop in this transformers: restore a copy instead

    holder = {"cache": cache}

    def restore():
        holder["cache"] = copy.deepcopy(pristine)
    return holder, restore


def compare(roofline: RooflineModel, gpu: GpuSpec, batch: StepBatch, times: list[float]) -> dict:
    predicted = roofline.breakdown(batch)
    measured = statistics.median(times)
    return {"measured_s": measured, "all_s": times, "predicted_s": predicted["time_s"],
            "ratio_measured_over_predicted": measured / predicted["time_s"],
            "implied_mfu": predicted["flops"] / (measured * gpu.peak_bf16_flops),
            "implied_mbu": predicted["bytes"] / (measured * gpu.memory_bandwidth_bytes_per_s),
            "predicted": predicted}


def write(path: Path, result: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--tiny", action="store_true", help="the lab's tiny model and short prompts")
    ap.add_argument("--gpu", help="GPU spec to compare with (default: detected)")
    ap.add_argument("--model", help="model spec to build (default: Qwen2.5-3B-Instruct, or "
                                    "kvlab-tiny with --tiny); must be Qwen2-shaped")
    ap.add_argument("--lengths", type=int, nargs="*", help="uncached prompt lengths")
    ap.add_argument("--cached", nargs="*", help="PREFIX:NEW pairs, e.g. 3072:1024")
    ap.add_argument("--decode", nargs="*", help="BATCH:CONTEXT pairs, e.g. 32:4096")
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--budget-s", type=float, default=200.0,
                    help="skip the remaining cases after this many seconds (default 200)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    plan = dict(TINY if args.tiny else FULL)
    if args.model:
        plan["model"] = args.model
    if args.lengths is not None:
        plan["uncached"] = tuple(args.lengths)
    if args.cached is not None:
        plan["cached"] = tuple(tuple(int(v) for v in pair.split(":")) for pair in args.cached)
    if args.decode is not None:
        plan["decode"] = tuple(tuple(int(v) for v in pair.split(":")) for pair in args.decode)
    warmup = plan["warmup"] if args.warmup is None else args.warmup
    repeats = plan["repeats"] if args.repeats is None else args.repeats

    import torch
    import transformers

    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        log("error: CUDA is not available (use --device cpu --tiny for a CPU check)")
        return 2
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    timer = Timer(torch, device)
    spec = load_model(plan["model"])
    gpu = detect_gpu(torch, device, args.gpu)
    roofline = RooflineModel(spec, gpu, Efficiency())
    args.out.parent.mkdir(parents=True, exist_ok=True)

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "device": device,
           "cuda": torch.version.cuda, "host": platform.node(), "cpu_count": os.cpu_count()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        env.update(gpu_name=torch.cuda.get_device_name(0), total_memory_bytes=props.total_memory,
                   total_memory_gib=props.total_memory / 2**30, mem_get_info_total_bytes=total,
                   mem_get_info_free_bytes=free, sm_count=props.multi_processor_count,
                   capability=f"{props.major}.{props.minor}")
    result = {"script": "benchmarks/gpu_prefill.py", "env": env, "plan": {
                  **{k: v for k, v in plan.items()}, "warmup": warmup, "repeats": repeats},
              "roofline": roofline.describe(), "model_spec": spec.name, "gpu_spec": gpu.name,
              "ceilings": {}, "prefill": [], "decode": [], "skipped": [], "errors": []}
    log(f"device {env.get('gpu_name', device)}; torch {torch.__version__}; transformers "
        f"{transformers.__version__}; model {spec.name}; compared with {gpu.name}")
    write(args.out, result)

    def over_budget(case: str) -> bool:
        if time.perf_counter() - started > args.budget_s:
            result["skipped"].append(case)
            log(f"skip {case}: past the {args.budget_s:.0f} s budget")
            return True
        return False

    # -- hardware ceilings, outside the model --------------------------------------------------
    with torch.inference_mode():
        n = plan["matmul_n"]
        a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        times = timer.median(lambda: a @ b, warmup, repeats)
        result["ceilings"]["matmul_bf16"] = {
            "n": n, "all_s": times, "flops_per_s": 2 * n**3 / statistics.median(times),
            "fraction_of_peak": 2 * n**3 / statistics.median(times) / gpu.peak_bf16_flops}
        x = torch.empty(plan["copy_bytes"], dtype=torch.uint8, device=device)
        y = torch.empty_like(x)
        x.fill_(1)
        times = timer.median(lambda: y.copy_(x), warmup, repeats)
        rate = 2 * plan["copy_bytes"] / statistics.median(times)  # read + write
        result["ceilings"]["copy"] = {"bytes": plan["copy_bytes"], "all_s": times,
                                      "bytes_per_s_read_plus_write": rate,
                                      "fraction_of_peak": rate / gpu.memory_bandwidth_bytes_per_s}
        del a, b, x, y
    log(f"ceilings: matmul {result['ceilings']['matmul_bf16']['flops_per_s'] / 1e12:.1f} TFLOP/s, "
        f"copy {result['ceilings']['copy']['bytes_per_s_read_plus_write'] / 1e9:.0f} GB/s")
    write(args.out, result)

    # -- the model -----------------------------------------------------------------------------
    longest = max([*plan["uncached"], *(p + s for p, s in plan["cached"]),
                   *(c + 1 for _, c in plan["decode"]), 1])
    built = time.perf_counter()
    model = build_model(torch, spec, device, longest)
    timer.sync()
    parameters = sum(p.numel() for p in model.parameters())
    result["model"] = {"build_s": time.perf_counter() - built, "parameters": parameters,
                       "spec_parameters": spec.num_parameters,
                       "parameters_match_spec": parameters == spec.num_parameters,
                       "attn_implementation": getattr(model.config, "_attn_implementation", None)}
    log(f"model built in {result['model']['build_s']:.1f} s: {parameters:,} parameters "
        f"(spec {spec.num_parameters:,}), attention {result['model']['attn_implementation']}")
    write(args.out, result)
    vocab = spec.vocab_size

    def ids(batch: int, length: int):
        return torch.randint(0, vocab, (batch, length), device=device)

    def report(kind: str, row: dict) -> None:
        what = (f"batch {row['batch']:>3} context {row['context']:>6}" if kind == "decode" else
                f"new {row['new_tokens']:>6} cached {row['cached_tokens']:>6}")
        log(f"{kind:8s} {what}: measured "
            f"{row['measured_s'] * 1e3:9.2f} ms, predicted {row['predicted_s'] * 1e3:9.2f} ms, "
            f"ratio {row['ratio_measured_over_predicted']:5.2f}, implied MFU "
            f"{row['implied_mfu']:.2f}, MBU {row['implied_mbu']:.2f}")

    def run_case(kind: str, label: str, body) -> None:
        if over_budget(label):
            return
        try:
            with torch.inference_mode():
                body()
        except Exception as error:  # an OOM or an API difference: record it, go on
            result["errors"].append({"case": label, "error": f"{type(error).__name__}: {error}"})
            log(f"error in {label}: {type(error).__name__}: {error}")
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        write(args.out, result)

    for length in plan["uncached"]:
        def body(length=length):
            prompt = ids(1, length)
            times = timer.median(lambda: forward(model, prompt), warmup, repeats)
            row = {"new_tokens": length, "cached_tokens": 0,
                   **compare(roofline, gpu, StepBatch(((length, 0),)), times)}
            result["prefill"].append(row)
            report("prefill", row)
        run_case("prefill", f"prefill {length}", body)

    for prefix, new in plan["cached"]:
        def body(prefix=prefix, new=new):
            cache, restore = make_cache(model, torch, ids(1, prefix))
            suffix = ids(1, new)
            if isinstance(cache, dict):  # deep-copy fallback
                call = lambda: forward(model, suffix, cache["cache"])  # noqa: E731
            else:
                call = lambda: forward(model, suffix, cache)  # noqa: E731
            times = timer.median(call, warmup, repeats, between=restore)
            row = {"new_tokens": new, "cached_tokens": prefix,
                   **compare(roofline, gpu, StepBatch(((new, prefix),)), times)}
            row["predicted_without_cache_s"] = roofline.prefill_time_s(prefix + new)
            result["prefill"].append(row)
            report("cached", row)
        run_case("cached", f"cached {prefix}+{new}", body)

    for batch, context in plan["decode"]:
        def body(batch=batch, context=context):
            cache, restore = make_cache(model, torch, ids(batch, context))
            step = ids(batch, 1)
            if isinstance(cache, dict):
                call = lambda: forward(model, step, cache["cache"])  # noqa: E731
            else:
                call = lambda: forward(model, step, cache)  # noqa: E731
            times = timer.median(call, warmup, max(repeats, 5), between=restore)
            row = {"batch": batch, "context": context,
                   **compare(roofline, gpu, StepBatch((), (context,) * batch), times)}
            result["decode"].append(row)
            report("decode", row)
        run_case("decode", f"decode {batch}x{context}", body)

    result["wall_s"] = time.perf_counter() - started
    write(args.out, result)
    log(f"done in {result['wall_s']:.1f} s -> {args.out}"
        + (f"; {len(result['errors'])} errors" if result["errors"] else ""))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
