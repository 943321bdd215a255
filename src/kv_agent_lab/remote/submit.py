"""The ``gpu-remote`` profile's submit command: run one Snakemake job on the GPU host.

Snakemake's cluster-sync executor calls ``python -m kv_agent_lab.remote.submit --settings
FILE JOBSCRIPT`` for every job that is not a local rule and waits for it; exit 0 means the
job's outputs are in place here. For a job this:

1. checks the connection, the work directory and rsync on the host,
2. brings the host's copy of the project up to date, checks that the host's python imports
   the lab and Snakemake (it may live in that copy's .venv), copies the job's inputs there,
3. runs the job's own Snakemake command there (the same rule, script and log as locally),
4. copies the log back always, and the outputs and benchmark only when the job succeeded,
   into a staging folder first, so a failed job or a broken copy leaves no half an output.

Every failure ends with one ``kvlab remote: <kind>:`` line saying what failed and what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Mapping, Sequence

from .jobscript import Jobscript, JobscriptError
from .settings import ENV_VARS, RemoteSettings, SettingsError
from .ssh import SSH_FAILED, RemoteError, SshHost

# Never synced to the host: environments, caches, and what the pipeline makes (inputs a job
# needs are copied one by one, outputs come back one by one).
PROJECT_EXCLUDES = (".git/", ".venv/", "venv/", ".snakemake/", "/results/", "/charts/",
                    "__pycache__/", "*.egg-info/", ".pytest_cache/", "/report.html")
# Lines kvlab live prints when vLLM could not be started (kv_agent_lab.serve.ServerError).
SERVER_START_MARKERS = ("during start-up", "/health within", "backend is not set up",
                        "is already in use")
_ENV_MISSING = {10: "cannot create or enter the remote work directory",
                11: "rsync is not installed on the host",
                12: "the remote python does not exist",
                13: "the remote python cannot import kv_agent_lab and snakemake"}


def _say(message: str) -> None:
    print(f"kvlab remote: {message}", file=sys.stderr, flush=True)


def _home_path(path: str) -> str:
    """A path for the remote shell, with ~ expanded there, not here."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + (("/" + shlex.quote(path[2:])) if len(path) > 2 else "")
    return shlex.quote(path)


def _check(host: SshHost, script: str) -> str:
    """Run a check script; map its exit status to the missing piece of the environment."""
    s = host.settings
    result = host.run(script)
    if result.returncode in _ENV_MISSING:
        what = _ENV_MISSING[result.returncode]
        raise RemoteError("environment", (
            f"the remote environment is missing on {s.host}: {what} (workdir {s.workdir}, python "
            f"{s.python}; {result.stderr.strip()[-300:] or 'no message'}). Set it up once on the "
            f"host (docs/remote-linux-gpu-runbook.md): install rsync, then in {s.workdir} (the "
            f"project is synced there) python3 -m venv .venv && .venv/bin/pip install -e . ; or "
            f"point python ({ENV_VARS['python']}) at an interpreter that has the lab."))
    if result.returncode != 0:
        raise RemoteError("environment", f"checking the environment on {s.host} failed "
                          f"(exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout.strip().splitlines()[-1]


def prepare_workdir(host: SshHost) -> str:
    """Check the connection, rsync and the work directory; return its absolute path."""
    workdir = _home_path(host.settings.workdir)
    return _check(host, f"""
mkdir -p {workdir} 2>/dev/null && cd {workdir} || exit 10
command -v rsync >/dev/null 2>&1 || exit 11
pwd
""")


def check_python(host: SshHost, workdir: str) -> str:
    """Check the project's python on the host (after the sync: it may live in the project's
    .venv); return its absolute path."""
    return _check(host, f"""
cd {shlex.quote(workdir)} || exit 10
py={_home_path(host.settings.python)}
case "$py" in */*) [ -x "$py" ] || exit 12; case "$py" in /*) ;; *) py="$PWD/$py";; esac;;
  *) py=$(command -v "$py") || exit 12;; esac
"$py" -c 'import kv_agent_lab, snakemake' 1>&2 || exit 13
echo "$py"
""")


def _remote_script(job: Jobscript, workdir: str, python: str, products: Sequence[str],
                   settings: RemoteSettings) -> str:
    tmpdir = job.relative(str(job.path.parent))
    provenance = {"KVLAB_RUN_VIA": "ssh", "KVLAB_RUN_HOST": settings.host,
                  "KVLAB_RUN_USER": settings.user, "KVLAB_RUN_PORT": str(settings.port),
                  "KVLAB_RUN_WORKDIR": workdir}
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in provenance.items())
    return (f"cd {shlex.quote(workdir)} && rm -f {shlex.join(products)} && "
            f"mkdir -p {shlex.quote(tmpdir)} && export {exports} && "
            f"exec {shlex.join(job.remote_command(workdir, python))}")


def _explain_job_failure(job: Jobscript, status: int, host: SshHost, workdir: str) -> RemoteError:
    where = host.settings.host
    if status == SSH_FAILED:
        return RemoteError("unreachable", (
            f"the connection to {where} broke during {job.rule} (ssh exit 255); the job may "
            f"still be running there. Check the host, then rerun the same snakemake command."))
    log_text = ""
    for log in job.logs:
        path = Path(job.workdir) / log
        if path.is_file():
            log_text += path.read_text("utf-8", errors="replace")
    server_lines = [line for line in log_text.splitlines()
                    if line.startswith("kvlab live:") and any(m in line for m in SERVER_START_MARKERS)]
    if server_lines:
        out_dir = str(Path(job.outputs[0]).parent) if job.outputs else "."
        return RemoteError("server_start", (
            f"vLLM did not start on {where}: {server_lines[0][len('kvlab live: '):].split('; log ')[0]}. "
            f"The server log is on the host: {workdir}/{out_dir}/server.log. Check live.server in "
            f"the config (model directory on the host, python with vLLM, GPU memory, port) and "
            f"start it by hand there to see why: kvlab serve --mode {job.properties.get('wildcards', {}).get('mode', 'MODE')}."))
    return RemoteError("job_failed", (
        f"{job.rule} failed on {where} (exit {status}); its log is here: "
        f"{', '.join(job.logs) or '(none)'}, and the job's files are on the host in {workdir}."))


def _bring_back(host: SshHost, job: Jobscript, workdir: str, products: Sequence[str]) -> None:
    """All products into a staging folder, then each moved into place: all or nothing."""
    root = Path(job.workdir)
    staging = root / ".snakemake" / "remote-staging" / f"{job.rule}-{job.properties.get('jobid')}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        host.pull_files(workdir, products, staging)
        missing = [p for p in products if not (staging / p).is_file()]
        if missing:
            raise RemoteError("transfer", f"the job succeeded on {host.settings.host} but did not "
                              f"leave {', '.join(missing)} in {workdir}")
        for product in products:
            (root / product).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / product, root / product)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def submit(jobscript_path: str, settings_path: str | None,
           environ: Mapping[str, str] = os.environ) -> int:
    try:
        job = Jobscript.read(jobscript_path)
        settings = RemoteSettings.load(settings_path, environ)
    except (JobscriptError, SettingsError) as exc:
        _say(f"settings: {exc}")
        _say("no output of this job was kept here; outputs of finished jobs are untouched")
        return 1
    host = SshHost(settings)
    wildcards = ", ".join(f"{k}={v}" for k, v in (job.properties.get("wildcards") or {}).items())
    _say(f"{job.rule} ({wildcards}) on {host.target} port {settings.port}")
    try:
        patterns = json.loads(environ.get("KVLAB_REMOTE_BENCHMARKS", "{}"))
        benchmark = job.benchmark(patterns)
        products = [job.relative(p) for p in job.outputs + ([benchmark] if benchmark else [])]
        logs = [job.relative(p) for p in job.logs]
        workdir = prepare_workdir(host)
        host.push_tree(Path(job.workdir), workdir, PROJECT_EXCLUDES)
        python = check_python(host, workdir)
        host.push_files(Path(job.workdir), [job.relative(p) for p in job.inputs], workdir)
        _say(f"running {job.rule} in {workdir} on {settings.host}")
        status = host.run(_remote_script(job, workdir, python, products + logs, settings),
                          capture=False, check_connection=False).returncode
        try:  # the log is wanted most when the job failed
            host.pull_files(workdir, logs, Path(job.workdir))
        except RemoteError as exc:
            _say(f"could not copy the log back: {exc}")
        if status != 0:
            raise _explain_job_failure(job, status, host, workdir)
        _bring_back(host, job, workdir, products)
    except (RemoteError, JobscriptError) as exc:
        kind = getattr(exc, "kind", "settings")
        _say(f"{kind}: {exc}")
        _say("no output of this job was kept here; outputs of finished jobs are untouched")
        return 1
    _say(f"{job.rule} ({wildcards}) finished on {settings.host}; results are in place")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kv_agent_lab.remote.submit",
                                     description="Run one Snakemake job on a GPU host over SSH.")
    parser.add_argument("--settings", help="the host settings (YAML; KVLAB_REMOTE_SETTINGS names "
                        "another file); KVLAB_REMOTE_* variables override each value")
    parser.add_argument("jobscript", help="the jobscript Snakemake wrote")
    args = parser.parse_args(argv)
    return submit(args.jobscript, os.environ.get("KVLAB_REMOTE_SETTINGS") or args.settings)


if __name__ == "__main__":
    sys.exit(main())
