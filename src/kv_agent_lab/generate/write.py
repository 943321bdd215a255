"""Generate one workload file: build, check with the validator, then write atomically."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..tokens import load_token_source
from ..workload import WorkloadError, check_workload
from .shapes import generate_jsonl


def write_generated_workload(name: str, generator: dict[str, Any], tokenizer: str | None,
                             out: str | Path) -> int:
    """Write workload ``name`` to ``out``; return its record count.

    The text is checked by the same validator users run before it replaces
    anything, so a generator bug can never leave an invalid workload behind.
    """
    tokens = load_token_source(tokenizer)
    text = generate_jsonl(name, generator, tokens.count)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / f"{name}.jsonl"
        probe.write_text(text, "utf-8")
        _, problems = check_workload(probe)
    if problems:
        raise WorkloadError(problems)
    write_atomic(out, text)
    return text.count("\n")
