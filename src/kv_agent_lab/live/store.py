"""Durable per-request results of a live run, and what ``--resume`` reads back.

``<out_dir>/requests.jsonl`` gets one JSON line per finished request (ok or error), written,
flushed and fsynced before the next one, so a crash of the client or the server loses at
most the requests in flight. Each line carries the reply text: a resumed run of a
generated-history workload needs the real replies that later turns resend.

``<out_dir>/run.json`` (the manifest) pins what the records belong to (workload sha256,
mode, target) and when the run started, so a resume can refuse a different workload and keep
one clock across invocations.

Resume rules:
- a request whose latest record is ``ok`` is finished and is never sent again;
- a request whose latest record is ``error`` is sent again (after a server crash that is
  what one wants); its old record stays in the file as history, and the latest record of
  each id is the one that counts;
- a torn last line (the client died mid-write) is cut off before appending.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from ..atomic import write_atomic

REQUESTS_FILE = "requests.jsonl"
MANIFEST_FILE = "run.json"


class StoreError(Exception):
    """The output folder cannot be used as asked (the message says why and what to do)."""


def latest_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """id -> the record that counts: the last ``ok`` one, else the last one."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        previous = latest.get(record["id"])
        if previous is None or previous["status"] != "ok" or record["status"] == "ok":
            latest[record["id"]] = record
    return latest


class RequestStore:
    """Appends finished requests to ``requests.jsonl``. Thread-safe: workers of the
    scheduler call ``append`` concurrently; a lock keeps every line whole."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / REQUESTS_FILE
        self.manifest_path = self.out_dir / MANIFEST_FILE
        self._lock = threading.Lock()
        self._handle = None

    # --- reading ---------------------------------------------------------------------------
    def read(self) -> list[dict[str, Any]]:
        """Every record in the file, oldest first ([] when there is none).
        A torn final line is ignored here and cut off by ``open(resume=True)``."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        records = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                if number == len(lines):  # the last line, without its newline: torn
                    break
                raise StoreError(f"{self.path}:{number}: not a JSON record ({exc}); "
                                 "the file is damaged: remove it to start over") from exc
            if not isinstance(record, dict) or "id" not in record or "status" not in record:
                raise StoreError(f"{self.path}:{number}: not a request record")
            records.append(record)
        return records

    def read_manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise StoreError(f"{self.manifest_path}: not JSON ({exc})") from exc

    # --- writing ---------------------------------------------------------------------------
    def prepare(self, manifest: dict[str, Any], resume: bool) -> dict[str, Any]:
        """Check that a run can start (or, with ``resume``, continue) here and return the
        manifest in force; writes nothing, so a refused run leaves no trace.

        A fresh start refuses a folder that already holds records, so no measured request
        is thrown away by accident. A resume refuses records of another workload or mode."""
        previous = self.read_manifest()
        has_records = self.path.exists() and self.path.stat().st_size > 0
        if not resume:
            if has_records:
                raise StoreError(f"{self.path} already holds requests of an earlier run; "
                                 "pass --resume to finish that run, or remove the folder")
            return manifest
        if previous is None:
            if has_records:
                raise StoreError(f"{self.manifest_path} is missing: cannot tell which run "
                                 f"{self.path} belongs to")
            return manifest  # nothing to resume: a fresh start
        for key in ("workload_sha256", "mode"):
            if previous.get(key) != manifest.get(key):
                raise StoreError(f"--resume: {self.out_dir} holds a run with {key} "
                                 f"{previous.get(key)!r}, not {manifest.get(key)!r}")
        return {**previous, "invocations": previous.get("invocations", 1) + (1 if has_records else 0)}

    def open(self, manifest: dict[str, Any], resume: bool) -> None:
        """Write the manifest ``prepare`` returned and open the file for appending."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._cut_torn_tail()
        else:
            self.path.unlink(missing_ok=True)
        write_atomic(self.manifest_path, json.dumps(manifest, indent=2) + "\n")
        self._handle = open(self.path, "ab")

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (flush + fsync) before returning."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._handle is None:
                raise StoreError("RequestStore.append before open")
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
