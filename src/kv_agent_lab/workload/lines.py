"""Read a workload JSONL file line by line into checked records.

Every problem is collected (never the first one only) as ``FILE:LINE: FIELD: message``
so a user fixes a file in one pass. This module checks one line at a time: encoding,
JSON syntax and the JSON Schema. Cross-line rules live in ``semantics``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

import jsonschema
from jsonschema.exceptions import ValidationError


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    """One thing wrong with a workload file; ``str()`` gives the report line."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class WorkloadError(Exception):
    """Raised with every problem found in one or more files."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.path, p.line, p.field))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    record: dict[str, Any]
    schema_ok: bool


def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("kv_agent_lab").joinpath("schemas", name).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def _validator() -> jsonschema.Draft202012Validator:
    schema = load_schema("workload.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class _Constant(float):
    """NaN or (-)Infinity, which Python's json accepts but JSON does not."""

    def __new__(cls, name: str) -> "_Constant":
        value = super().__new__(cls, name)
        value.name = name
        return value


def _parse(text: str) -> tuple[Any, list[tuple[list[Any], str]]]:
    """json.loads that also returns, as (path, message), every duplicate key and every
    NaN/Infinity, so the line is still read (its ids stay known) and all are reported."""
    duplicates: list[tuple[dict[str, Any], str]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                duplicates.append((obj, key))
            obj[key] = value
        return obj

    record = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=_Constant)
    found: list[tuple[list[Any], str]] = []
    where: dict[int, list[Any]] = {}
    stack: list[tuple[list[Any], Any]] = [([], record)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            where[id(value)] = path
            stack.extend((path + [k], v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((path + [i], v) for i, v in enumerate(value))
        elif isinstance(value, _Constant):
            found.append((path, f"{value.name} is not valid JSON; write a number"))
    found += [(where[id(obj)] + [key], "key appears twice in the object")
              for obj, key in duplicates if id(obj) in where]  # else its parent key repeats
    return record, sorted(found, key=lambda f: list(map(str, f[0])))


_KINDS = {bool: "true or false", int: "a number", float: "a number", str: "a string",
          list: "an array", dict: "an object", type(None): "null"}


def _describe(value: Any) -> str:
    """A JSON value in words: 'the string "32"', 'an array', 'null'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return _KINDS.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as the user wrote it: strings quoted as in the other messages, JSON
    spelling for null/true/false, arrays and objects; long ones cut short."""
    text = repr(value) if isinstance(value, (str, int, float)) and not isinstance(
        value, bool) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def format_path(path: Iterable[Any]) -> str:
    text = ""
    for item in path:
        text += f"[{item}]" if isinstance(item, int) else (f".{item}" if text else str(item))
    return text


def _leaf_errors(error: ValidationError) -> list[ValidationError] | tuple[str, str]:
    """oneOf says only "not valid under any of the given schemas". Find the branch the
    value meant (its ``const`` discriminator matched, else the one with fewest errors)
    and return that branch's errors; (field, message) when no branch stands out."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = {i: errs for i, errs in branches.items()
                 if not any(e.validator == "const" and len(e.relative_path) == 1 for e in errs)}
    if not plausible:
        consts = [e for errs in branches.values() for e in errs
                  if e.validator == "const" and len(e.relative_path) == 1]
        names = {e.relative_path[0] for e in consts}
        if len(names) == 1:  # the discriminator (e.g. arrival.process) matches no branch
            allowed = ", ".join(str(e.validator_value) for e in consts)
            field = format_path(list(error.absolute_path) + list(names))
            return field, f"{_show(consts[0].instance)} is not one of: {allowed}"
        plausible = branches
    fewest = min(len(errs) for errs in plausible.values())
    best = [errs for errs in plausible.values() if len(errs) == fewest]
    if len(best) == 1:
        return [leaf for sub in best[0] for leaf in _as_list(_leaf_errors(sub))]
    keys = list(dict.fromkeys(k for sub in error.validator_value
                              for k in sub.get("required", [])[:1]))
    field = format_path(error.absolute_path) or "(record)"
    if len(keys) > 1:
        message = "expected an object with exactly one of: " + ", ".join(keys)
        if not isinstance(error.instance, dict):
            message += f"; got {_describe(error.instance)}"
        return field, message
    if not isinstance(error.instance, dict):
        return field, f"expected an object, got {_describe(error.instance)}"
    if keys and keys[0] not in error.instance:
        return format_path(list(error.absolute_path) + keys[:1]), "is required"
    return field, "matches none of the forms the workload schema allows"


def _as_list(found: list[ValidationError] | tuple[str, str]) -> list[ValidationError]:
    return found if isinstance(found, list) else []


def _schema_problems(path: str, number: int, error: ValidationError) -> list[Problem]:
    found = _leaf_errors(error)
    if isinstance(found, tuple):
        return [Problem(path, number, *found)]
    return [problem for leaf in found for problem in _schema_problem(path, number, leaf)]


_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "object": "an object", "array": "an array", "boolean": "true or false",
               "null": "null"}


def _schema_problem(path: str, number: int, error: ValidationError) -> list[Problem]:
    field = format_path(error.absolute_path)
    message = error.message
    instance = error.instance
    if error.validator == "required":
        missing = message.split("'")[1] if "'" in message else ""
        field = f"{field}.{missing}" if field else missing
        message = "is required"
    elif error.validator == "additionalProperties":  # one problem per unknown field
        extras = sorted(set(instance) - set(error.schema.get("properties", {})))
        return [Problem(path, number, f"{field}.{name}" if field else name,
                        "unknown field (not in the workload schema)") for name in extras]
    elif error.validator == "type":
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else wanted
        message = (f"must be {' or '.join(_TYPE_WORDS.get(t, t) for t in wanted)}, "
                   f"not {_describe(instance)}")
    elif error.validator == "pattern" and len(instance) > 128:  # only ids have a pattern
        message = f"is {len(instance):,} characters long; an id has at most 128"
    elif error.validator == "pattern":
        message = (f"{_show(instance)} is not a valid id: use letters, digits and . _ : / - only, "
                   "starting with a letter or digit, at most 128 characters")
    elif error.validator in ("minLength", "minItems") and error.validator_value == 1:
        message = "must not be empty"
    elif error.validator in ("minLength", "maxLength"):
        words = "at least" if error.validator == "minLength" else "at most"
        message = (f"is {len(instance):,} characters long; must be {words} "
                   f"{error.validator_value:,}")
    elif error.validator in ("minItems", "maxItems"):
        words = "at least" if error.validator == "minItems" else "at most"
        message = f"has {len(instance):,} items; must have {words} {error.validator_value:,}"
    elif error.validator == "uniqueItems":
        repeated = next((v for i, v in enumerate(instance) if v in instance[:i]), None)
        message = f"lists {_show(repeated)} more than once"
    elif error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bound = error.validator_value
        words = {"minimum": "at least", "exclusiveMinimum": "greater than",
                 "maximum": "at most", "exclusiveMaximum": "less than"}[error.validator]
        message = f"{_show(instance)} is out of range: must be {words} {bound}"
    elif error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        message = f"{_show(instance)} is not one of: {allowed}"
    elif error.validator == "const":
        message = f"must be {_show(error.validator_value)}, not {_show(instance)}"
    return [Problem(path, number, field or "(record)", message)]


def read_lines(path: str, data: bytes) -> tuple[list[Line], list[Problem]]:
    """Split ``data`` into JSONL records; return the parsed lines and the problems."""
    problems: list[Problem] = []
    lines: list[Line] = []
    if not data.strip():
        return [], [Problem(path, 1, "(file)", "file is empty: a workload needs a header and requests")]
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # the final newline ends the last line; it does not start one
    validator = _validator()
    for number, raw in enumerate(raw_lines, start=1):
        raw = raw.removesuffix(b"\r")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            problems.append(Problem(path, number, "(encoding)", "the file starts with a "
                                    "byte order mark (BOM); save it as UTF-8 without BOM"))
            raw = raw[3:]
        bad_encoding = False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(path, number, "(encoding)",
                                    f"invalid UTF-8 at byte {exc.start + 1} of the line"))
            # Read on with replacement characters, so the line's ids stay known and do
            # not cascade into "unknown request" reports; report nothing more for it.
            text, bad_encoding = raw.decode("utf-8", errors="replace"), True
        if not text.strip():
            problems.append(Problem(path, number, "(line)",
                                    "blank line: JSONL holds one JSON object on every line"))
            continue
        try:
            record, found = _parse(text)
        except json.JSONDecodeError as exc:
            if not bad_encoding:
                problems.append(Problem(path, number, "(json)",
                                        f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        except RecursionError:  # json.loads raises it for very deep nesting
            if not bad_encoding:
                problems.append(Problem(path, number, "(json)",
                                        "invalid JSON: arrays or objects nested too deeply"))
            continue
        except ValueError as exc:  # e.g. Python's limit on digits of an integer
            if not bad_encoding:
                reason = ("a number has too many digits" if "integer string conversion"
                          in str(exc) else str(exc))
                problems.append(Problem(path, number, "(json)", f"invalid JSON: {reason}"))
            continue
        if not isinstance(record, dict):
            if not bad_encoding:
                problems.append(Problem(path, number, "(line)",
                                        f"expected a JSON object, got {_describe(record)}"))
            continue
        if bad_encoding:
            lines.append(Line(number, record, schema_ok=False))
            continue
        reported = {format_path(where) or "(json)" for where, _ in found}
        seen: set[str] = set()
        for where, message in found:
            problem = Problem(path, number, format_path(where) or "(json)", message)
            if str(problem) not in seen:  # a key given three times is one finding
                seen.add(str(problem))
                problems.append(problem)
        errors = sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
        if record.get("record") not in ("workload", "prompt", "session", "request"):
            # Without a known record type every if/then of the schema applies; report
            # only the missing or unknown "record" itself.
            errors = [e for e in errors if not e.schema_path or e.schema_path[0] != "allOf"]
        for error in errors:
            for problem in _schema_problems(path, number, error):
                # if/then branches can repeat one finding; a NaN or repeated key already
                # reported for a field is not reported again as a schema error
                if str(problem) not in seen and problem.field not in reported:
                    seen.add(str(problem))
                    problems.append(problem)
        lines.append(Line(number, record, schema_ok=not errors and not found))
    return lines, problems
