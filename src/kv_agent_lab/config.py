"""The study configuration (config/config.yaml): reading and checking it.

The JSON Schema (config/config.schema.yaml, shipped in the package too) checks types
and ranges; this module adds the rules a schema cannot say (min <= max, known
personas and roles) and fills defaults, so ``kvlab`` and the Snakefile agree.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .workload.lines import format_path


class ConfigError(Exception):
    """Every problem found in a configuration file, one ``FILE: FIELD: message`` a line."""

    def __init__(self, path: str | Path, problems: list[tuple[str, str]]):
        self.problems = [f"{path}: {field}: {message}" for field, message in problems]
        super().__init__("\n".join(self.problems))


@lru_cache(maxsize=None)
def config_schema() -> dict[str, Any]:
    text = resources.files("kv_agent_lab").joinpath("schemas", "config.schema.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = sub["default"]
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def check_config(config: dict[str, Any], path: str | Path = "config") -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled) or raise ConfigError."""
    schema = config_schema()
    validator = jsonschema.Draft202012Validator(schema)
    problems = [(format_path(e.absolute_path) or "(top)", e.message)
                for e in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path)))]
    if problems:
        raise ConfigError(path, problems)
    _fill_defaults(config, schema, schema)
    from .generate.text import PERSONAS, ROLES  # late: the generator needs no config to import

    for name, entry in config["workloads"].items():
        spec = entry.get("generator")
        if not spec:
            continue
        where = f"workloads.{name}.generator"
        for key, value in spec.items():
            if isinstance(value, dict) and {"min", "max"} <= value.keys() and value["min"] > value["max"]:
                problems.append((f"{where}.{key}", f"min {value['min']} is greater than max {value['max']}"))
        if "persona" in spec and spec["persona"] not in PERSONAS:
            problems.append((f"{where}.persona", f"unknown persona {spec['persona']!r}; "
                             f"known: {', '.join(PERSONAS)}"))
        for role in spec.get("roles", []):
            if role not in ROLES:
                problems.append((f"{where}.roles", f"unknown role {role!r}; known: {', '.join(ROLES)}"))
    if problems:
        raise ConfigError(path, problems)
    return config


def load_config(path: str | Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(path, [("(file)", f"cannot read: {exc.strerror or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, [("(yaml)", str(exc).replace("\n", " "))]) from exc
    if not isinstance(config, dict):
        raise ConfigError(path, [("(top)", "the configuration must be a mapping")])
    return check_config(config, path)
