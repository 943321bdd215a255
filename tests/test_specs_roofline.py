"""Model/GPU specs (kv_agent_lab.specs) and the roofline step-time model (estimate.roofline)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kv_agent_lab.estimate.roofline import Efficiency, RooflineModel, StepBatch
from kv_agent_lab.specs import (GIB, DEFAULT_RESERVE_BYTES, GpuSpec, ModelSpec, UnknownSpecError,
                                count_parameters, known_gpus, known_models, kv_bytes_per_token,
                                kv_capacity_blocks, load_gpu, load_model, weights_bytes)

REPO = Path(__file__).resolve().parents[1]

# Rounded totals the model cards / safetensors metadata publish.
PUBLISHED_PARAMETERS = {"Qwen2.5-3B-Instruct": 3.09e9, "Qwen2.5-7B-Instruct": 7.61e9,
                        "Llama-3.1-8B-Instruct": 8.03e9, "Llama-3.1-70B-Instruct": 70.6e9,
                        "Qwen3-8B": 8.2e9, "Mistral-7B-Instruct-v0.3": 7.25e9}

QWEN25_3B_CONFIG = {  # Qwen/Qwen2.5-3B-Instruct config.json (the fields that matter)
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 2048,
    "intermediate_size": 11008, "max_position_embeddings": 32768, "num_attention_heads": 16,
    "num_hidden_layers": 36, "num_key_value_heads": 2, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "vocab_size": 151936, "_name_or_path": "Qwen/Qwen2.5-3B-Instruct"}
LLAMA31_8B_CONFIG = {  # meta-llama/Llama-3.1-8B-Instruct config.json: no head_dim
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
    "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
    "mlp_bias": False, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "vocab_size": 128256}
QWEN3_8B_CONFIG = {  # Qwen/Qwen3-8B config.json: explicit head_dim, q/k norms
    "model_type": "qwen3", "attention_bias": False, "head_dim": 128, "hidden_size": 4096,
    "intermediate_size": 12288, "max_position_embeddings": 40960, "num_attention_heads": 32,
    "num_hidden_layers": 36, "num_key_value_heads": 8, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "vocab_size": 151936}
MISTRAL_CONFIG = {  # mistralai/Mistral-7B-Instruct-v0.3 config.json, tie left out, head_dim null
    "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "head_dim": None,
    "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "torch_dtype": "bfloat16", "vocab_size": 32768}

SHAPE_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim",
                "intermediate_size", "vocab_size", "tie_word_embeddings", "num_parameters",
                "dtype", "max_context", "qkv_bias", "o_bias", "mlp_bias", "qk_norm")


def shapes(spec: ModelSpec) -> dict:
    return {name: getattr(spec, name) for name in SHAPE_FIELDS}


def write_config(tmp_path: Path, name: str, config: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# -- specs -------------------------------------------------------------------------------------

def test_kv_bytes_per_token_of_the_two_reference_models():
    assert kv_bytes_per_token("Qwen2.5-3B-Instruct") == 36 * 2 * 2 * 128 * 2 == 36_864
    assert kv_bytes_per_token("Llama-3.1-8B-Instruct") == 32 * 2 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token("kvlab-tiny") == 2 * 2 * 2 * 64 * 2 == 1_024


def test_shipped_models_parameter_counts_follow_from_the_shapes():
    for name in known_models():
        spec = load_model(name)
        assert spec.num_parameters == spec.shape_parameters, name
        if name in PUBLISHED_PARAMETERS:
            assert spec.num_parameters == pytest.approx(PUBLISHED_PARAMETERS[name], rel=0.005)
    # Model-card non-embedding figures: Qwen2.5-3B 2.77B, Qwen3-8B 6.95B.
    non_embedding = {name: load_model(name).non_embedding_parameters
                     for name in ("Qwen2.5-3B-Instruct", "Qwen3-8B")}
    assert non_embedding == pytest.approx({"Qwen2.5-3B-Instruct": 2.77e9, "Qwen3-8B": 6.95e9},
                                          rel=0.005)
    assert load_model("kvlab-tiny").num_parameters == 2_958_848  # the built model.safetensors


def test_every_spec_names_its_sources():
    assert set(PUBLISHED_PARAMETERS) | {"kvlab-tiny"} == set(known_models())
    for name in known_models():
        spec = load_model(name)
        assert {"config", "num_parameters", "dtype", "max_context"} <= set(spec.sources), name
        assert spec.dtype == "bfloat16"
    assert {"H100-SXM", "H200", "A100-80GB", "L40S", "local-cpu"} == set(known_gpus())
    for name in known_gpus():
        gpu = load_gpu(name)
        wanted = {"peak_bf16_flops", "memory_bandwidth_bytes_per_s", "memory_gb",
                  "host_link_bytes_per_s"}
        assert wanted <= set(gpu.sources), name
        assert gpu.cuda_total_memory_gib is None or "cuda_total_memory_gib" in gpu.sources
    assert load_gpu("local-cpu").rough and not load_gpu("H100-SXM").rough


def test_gpu_figures():
    h100, h200 = load_gpu("H100-SXM"), load_gpu("H200")
    assert (h100.peak_bf16_flops, h100.memory_bandwidth_bytes_per_s) == (989e12, 3.35e12)
    assert (h200.peak_bf16_flops, h200.memory_bandwidth_bytes_per_s) == (989e12, 4.8e12)
    assert h100.host_link_bytes_per_s == h200.host_link_bytes_per_s == 64e9
    assert load_gpu("A100-80GB").host_link_bytes_per_s == 32e9
    assert load_gpu("L40S").memory_bandwidth_bytes_per_s == 0.864e12
    assert h100.memory_bytes == round(79.11 * GIB)  # CUDA's total, not the datasheet's 80 GB
    unknown_total = GpuSpec(name="x", peak_bf16_flops=1, memory_bandwidth_bytes_per_s=1,
                            memory_gb=80, host_link_bytes_per_s=1)
    assert unknown_total.memory_bytes == 80_000_000_000


def test_names_and_aliases_are_case_insensitive():
    assert load_gpu("h100") is load_gpu("H100-SXM") is load_gpu("NVIDIA H100 80GB HBM3")
    assert load_gpu("cpu") is load_gpu("local-cpu")
    assert load_model("qwen2.5-3b-instruct") is load_model("Qwen/Qwen2.5-3B-Instruct")


def test_unknown_names_say_what_is_known():
    with pytest.raises(UnknownSpecError, match=r"'GPT-5'.*Qwen2\.5-3B-Instruct.*kvlab-tiny"):
        load_model("GPT-5")
    with pytest.raises(UnknownSpecError, match=r"'B200'.*H100-SXM.*local-cpu"):
        load_gpu("B200")
    with pytest.raises(LookupError):
        kv_capacity_blocks("Qwen2.5-3B-Instruct", "TPU", 16)


def test_weights_and_capacity_arithmetic():
    qwen, h100 = load_model("Qwen2.5-3B-Instruct"), load_gpu("H100-SXM")
    assert weights_bytes(qwen) == 3_085_938_688 * 2 == 6_171_877_376
    requested = math.ceil(round(79.11 * GIB) * 0.9)
    expected = (requested - 6_171_877_376 - 3 * GIB) // (36_864 * 16)
    assert DEFAULT_RESERVE_BYTES == 3 * GIB
    assert kv_capacity_blocks(qwen, h100, 16) == expected == 113_688
    no_reserve = (requested - 6_171_877_376) // (36_864 * 16)
    assert kv_capacity_blocks(qwen, h100, 16, reserve_bytes=0) == no_reserve
    blocks_of_32 = (requested - 6_171_877_376 - 3 * GIB) // (36_864 * 32)
    assert kv_capacity_blocks(qwen, h100, 32) == blocks_of_32
    assert kv_capacity_blocks(qwen, h100, 16, gpu_memory_utilization=0.5) < expected
    assert kv_capacity_blocks("Qwen2.5-3B-Instruct", "H100", 16, num_blocks=1234) == 1234
    with pytest.raises(ValueError, match="does not fit"):
        kv_capacity_blocks("Llama-3.1-70B-Instruct", "L40S", 16)
    with pytest.raises(ValueError):
        kv_capacity_blocks(qwen, h100, 0)
    with pytest.raises(ValueError):
        kv_capacity_blocks(qwen, h100, 16, num_blocks=1)


# -- Hugging Face config.json ------------------------------------------------------------------

def test_from_hf_config_qwen2_matches_the_shipped_spec(tmp_path):
    folder = write_config(tmp_path, "qwen", QWEN25_3B_CONFIG)
    spec = ModelSpec.from_hf_config(folder / "config.json")
    shipped = load_model("Qwen2.5-3B-Instruct")
    assert spec.name == "Qwen/Qwen2.5-3B-Instruct"
    assert shapes(spec) == shapes(shipped)
    assert spec.head_dim == 128 and spec.qkv_bias and not spec.o_bias
    assert load_model(folder) == spec == load_model(str(folder / "config.json"))


def test_from_hf_config_llama_mistral_qwen3(tmp_path):
    llama = ModelSpec.from_hf_config(write_config(tmp_path, "llama", LLAMA31_8B_CONFIG))
    assert llama.name == "llama"  # no _name_or_path: the folder's name
    assert llama.head_dim == 128 and not llama.qkv_bias and not llama.tie_word_embeddings
    assert llama.kv_bytes_per_token == 131_072
    assert llama.num_parameters == 8_030_261_248
    assert llama.num_parameters == load_model("Llama-3.1-8B-Instruct").num_parameters
    mistral = ModelSpec.from_hf_config(write_config(tmp_path, "mistral", MISTRAL_CONFIG))
    assert mistral.head_dim == 128 and not mistral.tie_word_embeddings
    assert mistral.num_parameters == load_model("Mistral-7B-Instruct-v0.3").num_parameters
    qwen3 = ModelSpec.from_hf_config(write_config(tmp_path, "qwen3", QWEN3_8B_CONFIG))
    assert qwen3.qk_norm and not qwen3.qkv_bias
    assert qwen3.num_parameters == load_model("Qwen3-8B").num_parameters == 8_190_735_360
    biased = ModelSpec.from_hf_config(write_config(
        tmp_path, "biased", {**LLAMA31_8B_CONFIG, "attention_bias": True, "mlp_bias": True}))
    assert biased.num_parameters == llama.num_parameters + 32 * (
        (4096 + 2 * 1024 + 4096) + (2 * 14336 + 4096))


def test_from_hf_config_of_the_built_tiny_model():
    from kv_agent_lab.backend import local_backend_info

    backend = local_backend_info()
    if backend is None:
        pytest.skip("the local backend (tiny model) is not set up")
    spec = load_model(backend.model_dir)
    shipped = load_model("kvlab-tiny")
    assert shapes(spec) == shapes(shipped)


def test_count_parameters_by_hand():
    # 1 layer, hidden 4, 2 heads x 2, 1 KV head, intermediate 6, vocab 10, tied, Qwen2 biases:
    # embed 40; q 16 + k 8 + v 8 + o 16 = 48; biases 4 + 2 + 2 = 8; mlp 3*4*6 = 72; norms 8;
    # final norm 4.
    assert count_parameters(num_layers=1, hidden_size=4, num_attention_heads=2, num_kv_heads=1,
                            head_dim=2, intermediate_size=6, vocab_size=10,
                            tie_word_embeddings=True, qkv_bias=True) == 40 + 48 + 8 + 72 + 8 + 4


# -- roofline ----------------------------------------------------------------------------------

def roofline(model: str = "Qwen2.5-3B-Instruct", gpu: str = "H100-SXM",
             **efficiency) -> RooflineModel:
    return RooflineModel(load_model(model), load_gpu(gpu), Efficiency(**efficiency))


def test_prefill_time_grows_with_tokens_and_a_cached_prefix_saves_time():
    model = roofline()
    times = [model.prefill_time_s(n) for n in (16, 128, 512, 1024, 4096, 16384)]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert model.prefill_time_s(1024, cached_tokens=3072) < model.prefill_time_s(4096)
    # the same new tokens after a longer context cost more (attention, KV reads)
    assert model.prefill_time_s(1024, 3072) > model.prefill_time_s(1024, 0)
    decode = [model.decode_step_time_s([ctx] * 32) for ctx in (128, 1024, 4096, 16384)]
    assert decode == sorted(decode)
    assert model.decode_step_time_s([4096] * 64) > model.decode_step_time_s([4096] * 32)


def test_bounds_on_h100():
    model = roofline()
    assert model.breakdown(StepBatch((), (4096,)))["bound"] == "memory"
    assert model.breakdown(StepBatch((), (4096,) * 8))["bound"] == "memory"
    assert model.breakdown(StepBatch(((4096, 0),)))["bound"] == "compute"
    assert model.breakdown(StepBatch(((16384, 0),)))["bound"] == "compute"
    assert model.breakdown(StepBatch())["bound"] == "idle"
    assert model.step_time_s(StepBatch()) == 0.0 and model.prefill_time_s(0) == 0.0


def tiny_spec() -> ModelSpec:
    shapes = dict(num_layers=2, hidden_size=8, num_attention_heads=2, num_kv_heads=1, head_dim=4,
                  intermediate_size=16, vocab_size=10, tie_word_embeddings=True)
    return ModelSpec(name="hand", num_parameters=count_parameters(**shapes), **shapes)


def test_hand_computed_flops_and_bytes():
    spec = tiny_spec()
    # embed 80; per layer: q 32 + k 32 + v 32 + o 32... (head_dim 4: q_out 8, kv_out 4)
    # q 8*8 = 64, k 8*4 = 32, v 32, o 64 -> 192; mlp 3*8*16 = 384; norms 16 -> 592 per layer.
    assert spec.num_parameters == 80 + 2 * 592 + 8 == 1272
    assert spec.non_embedding_parameters == 1192
    assert spec.kv_bytes_per_token == 2 * 2 * 1 * 4 * 2 == 32
    gpu = GpuSpec(name="unit", peak_bf16_flops=1e6, memory_bandwidth_bytes_per_s=1e6,
                  memory_gb=1, host_link_bytes_per_s=1e3)
    model = RooflineModel(spec, gpu, Efficiency(mfu=1, mbu=1, host_link=1, step_overhead_s=0.5,
                                                activation_io=0))
    # one prefill chunk of 3 new tokens after 2 cached, one decode after 5 cached
    out = model.breakdown(StepBatch(((3, 2),), (5,)))
    assert out["flops_linear"] == 2 * 1192 * 4
    assert out["flops_lm_head"] == 2 * 8 * 10 * 2
    # QK^T + PV: 4 x layers 2 x heads 2 x head_dim 4 = 64 per attended pair;
    # chunk: 3*2 + 3*4/2 = 12 pairs, decode: 5 + 1 = 6 pairs
    assert out["flops_attention"] == 64 * (12 + 6)
    assert out["flops"] == 9536 + 320 + 1152
    assert out["bytes_weights"] == 2 * (1192 + 80)          # body + the (tied) lm_head matrix
    assert out["bytes_kv_read"] == 32 * ((2 + 3) + (5 + 1))
    assert out["bytes_kv_write"] == 32 * 4
    assert out["bytes_activations"] == 0
    assert out["compute_s"] == pytest.approx(11008 / 1e6)
    assert out["memory_s"] == pytest.approx((2544 + 352 + 128) / 1e6)
    assert out["time_s"] == pytest.approx(11008 / 1e6 + 0.5)
    assert model.load_time_s(10) == pytest.approx(10 * 32 / 1e3)


def test_activation_term_and_efficiencies_scale_as_documented():
    spec = load_model("Qwen2.5-3B-Instruct")
    base = roofline(step_overhead_s=0)
    no_act = roofline(step_overhead_s=0, activation_io=0)
    batch = StepBatch(((512, 0),), (1000, 2000))
    per_token = 2 * (2 * 36 * (4 * 2048 + 3 * 11008) + 2048)
    extra = (base.breakdown(batch)["bytes_activations"]
             - no_act.breakdown(batch)["bytes_activations"])
    assert no_act.breakdown(batch)["bytes_activations"] == 0
    assert extra == per_token * 514 + 151_936 * 4 * 3  # 514 tokens; float32 logits of 3 sequences
    slow = roofline(mfu=0.275, step_overhead_s=0)
    long_prefill = StepBatch(((8192, 0),))
    assert slow.step_time_s(long_prefill) == pytest.approx(2 * base.step_time_s(long_prefill))
    load_s = 1000 * spec.kv_bytes_per_token / (64e9 * 0.8)
    assert roofline().load_time_s(1000) == pytest.approx(load_s)
    with pytest.raises(ValueError):
        Efficiency(mfu=0)
    with pytest.raises(ValueError):
        Efficiency(step_overhead_s=-1)


def test_fast_path_equals_the_general_path():
    rng = random.Random(7)
    for name in ("Qwen2.5-3B-Instruct", "Llama-3.1-70B-Instruct", "kvlab-tiny"):
        model = roofline(name, "H200")
        for _ in range(200):
            chunks = tuple((rng.randint(1, 4096), rng.randint(0, 30000))
                           for _ in range(rng.randint(0, 4)))
            decodes = tuple(rng.randint(0, 30000) for _ in range(rng.randint(0, 64)))
            batch = StepBatch(chunks, decodes)
            fast = model.step_time_from_sums(
                sum(n for n, _ in chunks), sum(n * c for n, c in chunks),
                sum(n * n for n, _ in chunks), len(chunks) + len(decodes), len(decodes),
                sum(decodes), sum(c for _, c in chunks))
            out = model.breakdown(batch)
            assert model.step_time_s(batch) == fast == out["time_s"]
            if chunks or decodes:
                assert fast == pytest.approx(max(out["compute_s"], out["memory_s"]) + 0.002)
        assert model.prefill_time_s(3000, 500) == model.step_time_s(StepBatch(((3000, 500),)))
        assert model.decode_step_time_s([7, 9]) == model.step_time_s(StepBatch((), (7, 9)))


def test_fast_path_is_fast():
    model = roofline()
    step = model.step_time_from_sums
    begin = time.perf_counter()
    for i in range(100_000):
        step(512, 512 * i, 262_144, 9, 8, 8 * i, i)
    assert time.perf_counter() - begin < 2.0  # about 1 us a call; 20 us would still be fine


def test_specs_and_roofline_import_without_the_pipeline_stack():
    code = ("import sys, kv_agent_lab.specs, kv_agent_lab.estimate.roofline; "
            "heavy = {'snakemake', 'matplotlib', 'requests', 'pandas', 'jsonschema', 'numpy'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gpu_prefill_script_runs_on_the_cpu_with_the_tiny_model(tmp_path):
    from kv_agent_lab.backend import local_backend_info

    backend = local_backend_info()
    if backend is None:
        pytest.skip("needs the local backend's python (torch + transformers)")
    out = tmp_path / "gp.json"
    subprocess.run([str(backend.python), str(REPO / "benchmarks" / "gpu_prefill.py"),
                    "--device", "cpu", "--tiny", "--lengths", "32", "64", "--cached", "32:32",
                    "--decode", "2:32", "--warmup", "0", "--repeats", "1", "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=300,
                   env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin",
                        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    result = json.loads(out.read_text())
    assert result["gpu_spec"] == "local-cpu" and result["model_spec"] == "kvlab-tiny"
    assert result["model"]["parameters_match_spec"] and not result["errors"]
    prefills = [(r["new_tokens"], r["cached_tokens"]) for r in result["prefill"]]
    assert prefills == [(32, 0), (64, 0), (32, 32)]
    assert [(r["batch"], r["context"]) for r in result["decode"]] == [(2, 32)]
    for row in result["prefill"] + result["decode"]:
        assert row["measured_s"] > 0 and row["predicted_s"] > 0
