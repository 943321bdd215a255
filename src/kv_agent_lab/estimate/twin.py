"""The estimate twin of a live run: the same workload and mode on the simulated engine, set up
like the server that was measured, so that the two can be compared line by line.

What the twin takes from the live report (not from the study config), because only the server
knows it for sure:
- block size and KV capacity: ``cache_config_info``'s ``block_size`` and ``num_gpu_blocks``
  (vLLM counts its null block in it, as ``block_pool.BlockPool`` does);
- the model: ``model_root`` when it is a model directory on this machine (the local tiny model),
  read from its ``config.json``; else the served model's name, which must be a shipped spec;
- the tokenizer: the same model directory when it has one, so prompt lengths are counted with
  the server's tokenizer and chat template, as the fidelity test does;
- the client's ``time_scale``, which multiplied the workload's arrival gaps and think times.
What comes from the config's ``live.twin`` block: the hardware spec (the server's GPU, or
``local-cpu``) and optional overrides. Scheduler limits and efficiency factors come from the
``estimate`` block, so a calibration set there applies to both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


class TwinError(ValueError):
    """The live report lacks what the twin needs; the message names the field."""


def twin_setup(live_report: Mapping[str, Any], twin: Mapping[str, Any],
               estimate_settings: Mapping[str, Any], tokenizer: str,
               report_path: str = "live report") -> tuple[str, str, dict[str, Any]]:
    """(model, gpu, settings) for ``estimate.run.estimate`` that mirror ``live_report``'s server."""
    server = live_report.get("provenance", {}).get("server") or {}
    cache = server.get("cache_config") or {}
    problems = [f"{report_path}: provenance.server.cache_config.{key}: missing (the server's "
                "vllm:cache_config_info had no such label)"
                for key in ("block_size", "num_gpu_blocks") if not cache.get(key)]
    if problems:
        raise TwinError("\n".join(problems))
    model_root = server.get("model_root")
    local_model = model_root if model_root and (Path(model_root) / "config.json").is_file() else None
    model = twin.get("model") or local_model or server.get("model")
    if not model:
        raise TwinError(f"{report_path}: provenance.server.model: missing, and live.twin.model "
                        "is not set")
    settings = {
        **dict(estimate_settings),
        "block_size": int(cache["block_size"]),
        "num_blocks": int(cache["num_gpu_blocks"]),
        "tokenizer": twin.get("tokenizer") or local_model or tokenizer,
    }
    # The client's time scale shaped the live run's arrivals; the twin's must match.
    client = live_report.get("provenance", {}).get("client") or {}
    settings["time_scale"] = float(client.get("time_scale", 1.0))
    argv = list((server.get("launch") or {}).get("argv") or ())
    if live_report.get("mode") == "cpu_offload":
        for i, arg in enumerate(argv):  # "--kv-offloading-size N" or "--kv-offloading-size=N"
            if arg == "--kv-offloading-size" and i + 1 < len(argv):
                settings["cpu_offload_gib"] = float(argv[i + 1])
            elif arg.startswith("--kv-offloading-size="):
                settings["cpu_offload_gib"] = float(arg.split("=", 1)[1])
    return str(model), str(twin.get("gpu") or "local-cpu"), settings
