"""The remote profiles for real: `snakemake --profile gpu-remote live` through an sshd on
loopback (its own keys, a remote work directory apart from the checkout, nothing shared but
the machine) and `--profile slurm-gpu` through a one-node Slurm cluster, each against the
local CPU vLLM backend; and every failure they promise a clear message for.

The daemons are started once per session by kv_agent_lab.remote.loopback (installing the
Debian packages when they are missing) and stopped by their pids."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from kv_agent_lab.remote.loopback import LoopbackError, LoopbackSlurm, LoopbackSshd, free_port
from kv_agent_lab.report import read_report

from conftest import small_live_pipeline

ROOT = Path(__file__).resolve().parents[1]
PROFILE_LINKS = ["gpu-remote", "slurm-gpu"]  # the documented `--profile NAME` form
RUN = Path("results/live/remote-ci/chat/prefix_reuse")
# The live run itself: the `live` target also makes comparisons and charts, which are local
# rules and are tested elsewhere.
LIVE_REPORT = str(RUN / "report.json")


def make_workflow(path: Path) -> Path:
    """The pipeline with a four-request workload and one mode: one server start per run."""
    small_live_pipeline(path, {
        "target": "remote-ci", "modes": ["prefix_reuse"],
        "server": {"port": free_port(), "num_gpu_blocks": 512, "max_model_len": 4096},
        "client": {"max_concurrency": 1, "time_scale": 0.0},
    })
    for link in PROFILE_LINKS:
        os.symlink(os.readlink(ROOT / link), path / link)
    return path


def snakemake(cwd: Path, *args: str, env: dict[str, str], timeout: float = 600):
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result, result.stdout + result.stderr


def start_or_skip(daemon):
    try:
        return daemon.start()
    except LoopbackError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"needs root to install and run the daemons: {exc}")
        raise


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    daemon = start_or_skip(LoopbackSshd(tmp_path_factory.mktemp("sshd")))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def slurm():
    # A short path: Slurm writes sockets under its spool folder.
    root = Path(tempfile.gettempdir()) / f"kvlab-slurm-{os.getpid()}"
    cluster = LoopbackSlurm(root)
    try:
        yield start_or_skip(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def ssh_env(sshd: LoopbackSshd, remote_dir: Path, **overrides: str) -> dict[str, str]:
    env = {**os.environ, "KVLAB_REMOTE_HOST": "127.0.0.1", "KVLAB_REMOTE_USER": "root",
           "KVLAB_REMOTE_PORT": str(sshd.port), "KVLAB_REMOTE_KEY": str(sshd.client_key),
           "KVLAB_REMOTE_KNOWN_HOSTS": str(sshd.known_hosts),
           "KVLAB_REMOTE_WORKDIR": str(remote_dir),
           # The "host" runs the lab from this same environment: the machine is one.
           "KVLAB_REMOTE_PYTHON": sys.executable}
    env.update(overrides)
    return env


def check_live_report(report_path: Path) -> dict:
    report = read_report(report_path)  # validates against schemas/report.schema.json
    assert report["kind"] == "live" and report["mode"] == "prefix_reuse"
    assert report["summary"]["overall"]["ok"] == 4
    lines = (report_path.parent / "requests.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)
    in_order = sorted(report["requests"], key=lambda r: r["send_time_s"])
    assert [r["cached_tokens"] > 0 for r in in_order] == [False, True, True, True]
    return report


def test_gpu_remote_profile_runs_live_on_the_ssh_host(tmp_path, sshd, local_backend):
    workflow = make_workflow(tmp_path / "checkout")
    remote_dir = tmp_path / "gpu-host" / "kv-agent-lab"
    env = ssh_env(sshd, remote_dir)
    for profile in ("gpu-remote", "profiles/gpu-remote"):  # both documented forms
        dry, output = snakemake(workflow, "--profile", profile, "-n", "live", env=env)
        assert dry.returncode == 0 and "live_run" in output, output
    run, output = snakemake(workflow, "--profile", "gpu-remote", LIVE_REPORT, env=env)
    assert run.returncode == 0, output[-6000:]
    assert f"live_run (target=remote-ci, workload=chat, mode=prefix_reuse) on root@127.0.0.1 port {sshd.port}" in output
    report = check_live_report(workflow / RUN / "report.json")
    assert report["provenance"]["remote"] == {
        "via": "ssh", "host": "127.0.0.1", "user": "root", "port": sshd.port,
        "workdir": str(remote_dir)}
    # The job ran in the host's copy, and its results travelled back over SSH.
    assert (remote_dir / RUN / "report.json").is_file()
    assert (remote_dir / RUN / "server.log").is_file() and not (workflow / RUN / "server.log").exists()
    assert report["workload"]["path"] == "workloads/chat.jsonl"
    assert (workflow / "results/logs/live_run/remote-ci/chat/prefix_reuse.log").is_file()
    assert (workflow / "results/benchmarks/live_run/remote-ci/chat/prefix_reuse.tsv").is_file()
    assert not (workflow / ".snakemake" / "remote-staging").exists() or not any(
        (workflow / ".snakemake" / "remote-staging").iterdir())
    # Only the live run went to the host: the workload was generated and validated here.
    for local_rule in ("generate_workload", "validate_workload"):
        assert (workflow / f"results/logs/{local_rule}/chat.log").is_file()
        assert not (remote_dir / f"results/logs/{local_rule}").exists()
    again, output = snakemake(workflow, "--profile", "gpu-remote", "-n", LIVE_REPORT, env=env)
    assert "Nothing to be done" in output


@pytest.fixture(scope="module")
def failing_workflow(tmp_path_factory):
    """One checkout for the failure cases, its workload already generated and validated."""
    workflow = make_workflow(tmp_path_factory.mktemp("failing") / "checkout")
    (workflow / "config" / "server_broken.yaml").write_text(
        yaml.safe_dump({"live": {"server": {"python": "/bin/false"}}}))
    prepared, output = snakemake(workflow, "--cores", "1", "results/validated/chat.json",
                                 env=dict(os.environ))
    assert prepared.returncode == 0, output
    return workflow


def wrong_known_hosts(sshd: LoopbackSshd) -> str:
    path = sshd.root / "wrong_known_hosts"
    other = Path(f"{sshd.other_key}.pub").read_text().split()[:2]
    path.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    return str(path)


FAILURES = {
    # case: (environment overrides, extra snakemake arguments, words the message must hold)
    "unreachable_port": (lambda s: {"KVLAB_REMOTE_PORT": str(free_port())}, [],
                         ["kvlab remote: unreachable: cannot reach 127.0.0.1:", "Connection refused",
                          "that the machine is up and sshd runs on it"]),
    "refused_key": (lambda s: {"KVLAB_REMOTE_KEY": str(s.other_key)}, [],
                    ["kvlab remote: key_refused:", "refused the key", "authorized_keys"]),
    "unknown_host_key": (lambda s: {"KVLAB_REMOTE_KNOWN_HOSTS": wrong_known_hosts(s)}, [],
                         ["kvlab remote: host_key:", "ssh-keyscan"]),
    "missing_remote_environment": (
        lambda s: {"KVLAB_REMOTE_PYTHON": "/opt/no-such-env/bin/python"}, [],
        ["kvlab remote: environment: the remote environment is missing on 127.0.0.1: the remote "
         "python does not exist", "python3 -m venv .venv && .venv/bin/pip install -e ."]),
    "remote_python_without_the_lab": (
        lambda s: {"KVLAB_REMOTE_PYTHON": "/usr/bin/python3"}, [],
        ["kvlab remote: environment: the remote environment is missing on 127.0.0.1: the remote "
         "python cannot import kv_agent_lab and snakemake", "ModuleNotFoundError"]),
    "host_not_configured": (
        lambda s: {"KVLAB_REMOTE_HOST": ""}, [],
        ["kvlab remote: settings: the GPU host is not configured: set host in "
         "profiles/gpu-remote/remote.yaml (or KVLAB_REMOTE_HOST)"]),
    "server_does_not_start": (
        lambda s: {}, ["--configfile", "config/config.yaml", "config/server_broken.yaml"],
        ["kvlab remote: server_start: vLLM did not start on 127.0.0.1:", "exited with code 1 during "
         "start-up", "server.log", "kvlab serve --mode prefix_reuse"]),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_gpu_remote_failure_says_which_and_what_to_do(case, failing_workflow, sshd, tmp_path,
                                                      local_backend):
    overrides, extra, expected = FAILURES[case]
    env = ssh_env(sshd, tmp_path / "gpu-host", **overrides(sshd))
    run, output = snakemake(failing_workflow, "--profile", "gpu-remote", LIVE_REPORT, *extra, env=env)
    assert run.returncode != 0
    for words in expected:
        assert words in output, output[-5000:]
    assert "no output of this job was kept here" in output
    # A failed job leaves no output behind, half-written or not.
    assert not (failing_workflow / RUN / "report.json").exists()
    assert not (failing_workflow / RUN / "requests.jsonl").exists()


def slurm_test_profile(workflow: Path) -> str:
    """profiles/slurm-gpu as it is, plus what this cluster needs: squeue for status (no
    accounting), short status waits, and a job that fits a 2-core node."""
    profile = yaml.safe_load((workflow / "profiles/slurm-gpu/config.yaml").read_text())
    profile.update({"slurm-status-command": "squeue", "slurm-no-account": True,
                    "slurm-init-seconds-before-status-checks": 1,
                    "seconds-between-status-checks": 2, "latency-wait": 5})
    live = profile["set-resources"]["live_run"]
    assert live["gres"] == "gpu:1" and live["slurm_partition"] == "gpu"
    live.update({"cpus_per_task": 2, "mem_mb": 4000, "runtime": 15})
    (workflow / "profiles/slurm-ci").mkdir()
    (workflow / "profiles/slurm-ci/config.yaml").write_text(yaml.safe_dump(profile))
    return "profiles/slurm-ci"


def test_slurm_gpu_profile_runs_live_as_a_slurm_job(tmp_path, slurm, local_backend):
    workflow = make_workflow(tmp_path / "checkout")
    env = {**os.environ, **slurm.env()}
    for profile in ("slurm-gpu", "profiles/slurm-gpu"):  # both documented forms
        dry, output = snakemake(workflow, "--profile", profile, "-n", "live", env=env)
        assert dry.returncode == 0 and "live_run" in output, output
    run, output = snakemake(workflow, "--profile", slurm_test_profile(workflow), LIVE_REPORT, env=env)
    assert run.returncode == 0, output[-6000:]
    report = check_live_report(workflow / RUN / "report.json")
    remote = report["provenance"]["remote"]
    # SLURM_JOB_GPUS is set only when Slurm gave the job a GPU: the gres request arrived.
    assert remote["via"] == "slurm" and remote["partition"] == "gpu" and remote["gpus"] == "0"
    assert remote["cluster"] == "kvlab-loopback"
    assert f"submitted with SLURM jobid {remote['job_id']}" in output


def test_slurm_job_cancelled_by_the_scheduler_says_so(tmp_path, slurm, local_backend):
    workflow = make_workflow(tmp_path / "checkout")
    env = {**os.environ, **slurm.env()}
    profile = slurm_test_profile(workflow)
    log = workflow / "results/logs/live_run/remote-ci/chat/prefix_reuse.log"
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--profile", profile, LIVE_REPORT],
                            cwd=workflow, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        job_id = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            queue = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], env=env,
                                   capture_output=True, text=True).stdout.split()
            if queue and log.is_file() and "starting vLLM" in log.read_text():
                job_id = queue[0]
                break
            time.sleep(1)
        assert job_id, "the live job never started under Slurm"
        subprocess.run(["scancel", job_id], env=env, check=True)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "CANCELLED" in output, output[-5000:]
    log_text = log.read_text()
    assert f"kvlab live: Slurm stopped job {job_id} (scancel, or it ran past its time limit" in log_text
    assert not (workflow / RUN / "report.json").exists()
    assert not (workflow / RUN / "requests.jsonl").exists()
    # The job's vLLM went with it: nothing answers on the server's port any more.
    port = yaml.safe_load((workflow / "config/config.yaml").read_text())["live"]["server"]["port"]
    deadline = time.monotonic() + 30
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(1)
    assert not port_open(port)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0

