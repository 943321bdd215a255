"""``kvlab live``: argument plumbing around ``run_live`` (and ``VllmServer`` with ``--serve``).

Exit status: 0 when the run completed, even if some requests failed (they are recorded);
2 on bad input (invalid workload or configuration, a mode the server or backend cannot run,
an output folder that holds another run); 1 when the server could not be started; 130 on
Ctrl-C (finished requests are in requests.jsonl: ``--resume`` continues).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_INVALID = 2


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_live(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from ..workload import check_workload
    from .run import LiveRunError, options_from_config, run_live

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_INVALID
    workload, problems = check_workload(args.workload)
    if problems or workload is None:
        for problem in problems:
            _err(str(problem))
        _err(f"kvlab live: {args.workload} is not a valid workload; nothing was sent")
        return EXIT_INVALID
    options = options_from_config(
        config["live"], args.base_url or "", args.out_dir, mode=args.mode, target=args.target,
        max_concurrency=args.max_concurrency, time_scale=args.time_scale, resume=args.resume,
        progress=False if args.no_progress else None)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through VllmServer.__exit__: no server left behind

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if args.serve:
            return _serve_and_run(config, workload, options, args, run_live)
        run_live(workload, options)
        return 0
    except LiveRunError as exc:
        _err(f"kvlab live: {exc}")
        return EXIT_INVALID
    except KeyboardInterrupt:
        _err(f"kvlab live: interrupted; finished requests are in {Path(args.out_dir) / 'requests.jsonl'} "
             "(--resume continues the run)")
        if os.environ.get("SLURM_JOB_ID"):
            # The usual reason inside Slurm: scancel, or the job ran past its time limit.
            _err(f"kvlab live: Slurm stopped job {os.environ['SLURM_JOB_ID']} (scancel, or it ran past "
                 "its time limit, runtime in the profile's set-resources); the server was stopped. "
                 "Raise runtime if the run needs longer, then run snakemake again")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_and_run(config: dict[str, Any], workload: Any, options: Any,
                   args: argparse.Namespace, run_live: Any) -> int:
    from ..serve import ModeRefused, ServerError, ServerSpec, VllmServer, check_mode, free_port

    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port or free_port(config["live"]["server"].get("host", "127.0.0.1"))
    try:
        spec = ServerSpec.from_config(config, options.mode, **overrides)
        check_mode(spec)
    except (ModeRefused, ValueError) as exc:
        _err(f"kvlab live: {exc}")
        return EXIT_INVALID
    log_path = args.server_log or Path(args.out_dir) / "server.log"
    server = VllmServer(spec, log_path=log_path)
    try:
        _err(f"kvlab live: starting vLLM ({spec.mode}); log {log_path}")
        with server:
            options.base_url = server.base_url
            options.launch = server.launch
            run_live(workload, options)
    except ServerError as exc:
        _err(f"kvlab live: {exc}")
        return 1
    return 0
