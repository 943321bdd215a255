"""Checking and writing comparison outputs: schema-valid and whole, or not written at all."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jsonschema

from ..atomic import write_atomic
from ..workload.lines import load_schema

SCHEMAS = {"comparison": "comparison.schema.json", "parity": "parity.schema.json"}


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def output_problems(document: Mapping[str, Any]) -> list[str]:
    """Every way a comparison or parity document departs from its schema ('path: message')."""
    name = SCHEMAS.get(document.get("kind", ""))
    if name is None:
        return [f"kind: {document.get('kind')!r} is not one of {sorted(SCHEMAS)}"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in _validator(name).iter_errors(document)]


def to_json(document: Mapping[str, Any]) -> str:
    """The document as JSON text, after the schema check. NaN or infinity is a bug of ours
    (every undefined value is null), so ``allow_nan=False`` refuses it instead of writing
    JSON other tools cannot read."""
    problems = output_problems(document)
    if problems:
        raise ValueError(f"{document.get('kind')} output does not match its schema:\n"
                         + "\n".join(problems[:20]))
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def write_output(document: Mapping[str, Any], path: str | Path) -> None:
    write_atomic(path, to_json(document))
