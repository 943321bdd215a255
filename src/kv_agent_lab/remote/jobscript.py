"""A Snakemake jobscript, read and re-aimed at another machine.

The executor writes one shell script per job: a ``# properties = {...}`` line (rule,
wildcards, inputs, outputs, logs) and ``cd WORKDIR && PYTHON -m snakemake ...`` that runs
exactly that job. On the GPU host the same command runs in the host's copy of the project,
so the rule, its script and its log behave as they do locally."""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Options that name this machine's caches; the host has its own (Snakemake makes them).
_DROP_WITH_VALUE = {"--runtime-source-cache-path", "--scheduler-solver-path"}


class JobscriptError(ValueError):
    """Not a jobscript this module understands."""


@dataclass
class Jobscript:
    path: Path
    properties: dict[str, Any]
    workdir: str  # the local working directory of the job
    command: list[str] = field(default_factory=list)  # python -m snakemake ... (after the cd)

    @classmethod
    def read(cls, path: str | Path) -> "Jobscript":
        text = Path(path).read_text("utf-8")
        found = re.search(r"^# properties = (.*)$", text, re.MULTILINE)
        if not found:
            raise JobscriptError(f"{path}: no '# properties = ' line; not a Snakemake jobscript")
        properties = json.loads(found.group(1))
        for line in text.splitlines():
            if line.startswith("cd ") and " -m snakemake " in line:
                cd_part, _, rest = line.partition(" && ")
                workdir = shlex.split(cd_part)[1]
                return cls(Path(path), properties, workdir, shlex.split(rest))
        raise JobscriptError(f"{path}: no 'cd ... && python -m snakemake' line")

    @property
    def rule(self) -> str:
        return self.properties["rule"]

    @property
    def inputs(self) -> list[str]:
        return list(self.properties.get("input") or [])

    @property
    def outputs(self) -> list[str]:
        return list(self.properties.get("output") or [])

    @property
    def logs(self) -> list[str]:
        return list(self.properties.get("log") or [])

    def benchmark(self, patterns: dict[str, str]) -> str | None:
        """The job's benchmark file: the rule's pattern (from the workflow, see
        rules/placement.smk) filled with the job's wildcards."""
        pattern = patterns.get(self.rule)
        if not pattern:
            return None
        wildcards = self.properties.get("wildcards") or {}
        return re.sub(r"\{(\w+)(,[^}]*)?\}", lambda m: str(wildcards[m.group(1)]), pattern)

    def remote_command(self, remote_workdir: str, remote_python: str) -> list[str]:
        """The job's command for the host: its python, its copy of the project, and
        Snakemake's greedy scheduler (a single job needs no ILP solver there)."""
        local = self.workdir.rstrip("/")
        argv = [remote_python]
        tokens = iter(self.command[1:])
        for token in tokens:
            if token in _DROP_WITH_VALUE:
                next(tokens, None)
                continue
            if token == "--scheduler":
                next(tokens, None)
                argv += ["--scheduler", "greedy"]
                continue
            if token == local:
                token = remote_workdir
            elif token.startswith(local + "/"):
                token = remote_workdir + token[len(local):]
            argv.append(token)
        return argv

    def relative(self, path: str) -> str:
        """A job path relative to the working directory (refuses one outside it: the host
        only has the project's tree)."""
        absolute = os.path.normpath(os.path.join(self.workdir, path))
        relative = os.path.relpath(absolute, self.workdir)
        if relative.startswith(".."):
            raise JobscriptError(f"{path} lies outside the working directory {self.workdir}; "
                                 "a remote job can only use files inside the project")
        return relative
