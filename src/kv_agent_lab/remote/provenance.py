"""Where a live run ran, for ``provenance.remote`` in its report: the SSH host that the
gpu-remote profile sent it to, or the Slurm job that ran it. Read from the environment,
which the submit step (``KVLAB_RUN_*``) or Slurm (``SLURM_*``) sets; None for a run that
neither started."""

from __future__ import annotations

import os
from typing import Any, Mapping


def remote_provenance(environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    if environ.get("KVLAB_RUN_VIA") == "ssh":
        return {"via": "ssh", "host": environ.get("KVLAB_RUN_HOST"),
                "user": environ.get("KVLAB_RUN_USER"),
                "port": int(environ["KVLAB_RUN_PORT"]) if environ.get("KVLAB_RUN_PORT") else None,
                "workdir": environ.get("KVLAB_RUN_WORKDIR")}
    if environ.get("SLURM_JOB_ID"):
        return {"via": "slurm", "job_id": environ["SLURM_JOB_ID"],
                "cluster": environ.get("SLURM_CLUSTER_NAME"),
                "partition": environ.get("SLURM_JOB_PARTITION"),
                "node": environ.get("SLURMD_NODENAME"),
                # GPUs Slurm gave the job (gres); None when it asked for none
                "gpus": environ.get("SLURM_JOB_GPUS") or environ.get("CUDA_VISIBLE_DEVICES")}
    return None
