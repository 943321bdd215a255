"""Throwaway daemons on this machine that stand in for remote infrastructure: an sshd on
127.0.0.1 (its own host key, client key and authorized_keys; keys only) and a one-node
Slurm cluster (munge, slurmctld, slurmd). The tests use them to run the gpu-remote and
slurm-gpu profiles for real; a person can use them to try a profile before a real host.

Each daemon runs in the foreground as a child of this process and is stopped by its pid.
Missing Debian packages are installed with apt-get (root only)."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSH_PACKAGES = {"/usr/sbin/sshd": "openssh-server", "/usr/bin/rsync": "rsync", "/usr/bin/ssh": "openssh-client"}
SLURM_PACKAGES = {"/usr/sbin/slurmctld": "slurm-wlm", "/usr/sbin/slurmd": "slurm-wlm",
                  "/usr/bin/sbatch": "slurm-client", "/usr/sbin/munged": "munge"}


class LoopbackError(RuntimeError):
    """A daemon could not be installed or started; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_packages(needed: dict[str, str]) -> None:
    """apt-get install the packages whose files are missing (needs root and apt-get)."""
    missing = sorted({package for path, package in needed.items() if not Path(path).exists()})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise LoopbackError(f"missing {', '.join(missing)}, and installing needs root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise LoopbackError(f"{' '.join(argv)} failed: {result.stderr.strip()[-800:]}")


def _stop(proc: subprocess.Popen | None, timeout_s: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_until(check, timeout_s: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LoopbackError(f"{what} exited with {proc.returncode}: {log.read_text()[-1500:]}")
        if check():
            return
        time.sleep(0.3)
    raise LoopbackError(f"{what} not ready after {timeout_s:g} s: {log.read_text()[-1500:]}")


class LoopbackSshd:
    """sshd on 127.0.0.1:port. ``client_key`` is authorized, ``known_hosts`` holds the host
    key, ``other_key`` is a valid key the daemon does not accept."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.host_key = self.root / "host_ed25519"
        self.client_key = self.root / "client_ed25519"
        self.other_key = self.root / "other_ed25519"
        self.known_hosts = self.root / "known_hosts"
        self.log = self.root / "sshd.log"

    def start(self) -> "LoopbackSshd":
        ensure_packages(SSH_PACKAGES)
        self.root.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key, self.other_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        authorized.chmod(0o600)
        self.port = free_port()
        host_public = Path(f"{self.host_key}.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(host_public)}\n")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege-separation dir
        # -f /dev/null: none of the machine's sshd_config; StrictModes off because the keys
        # live in a scratch folder, not in a home directory sshd would check.
        argv = ["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-p", str(self.port),
                "-h", str(self.host_key), "-o", "ListenAddress=127.0.0.1",
                "-o", f"AuthorizedKeysFile={authorized}", "-o", "PasswordAuthentication=no",
                "-o", "KbdInteractiveAuthentication=no", "-o", "PubkeyAuthentication=yes",
                "-o", "PermitRootLogin=prohibit-password", "-o", "StrictModes=no",
                "-o", "UsePAM=no", "-o", f"PidFile={self.root / 'sshd.pid'}"]
        self.proc = subprocess.Popen(argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        _wait_until(self._answers, 20, "sshd", self.proc, self.log)
        return self

    def _answers(self) -> bool:
        result = subprocess.run(
            ["ssh", "-p", str(self.port), "-i", str(self.client_key), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
             "-o", "ConnectTimeout=3", "root@127.0.0.1", "true"],
            capture_output=True, stdin=subprocess.DEVNULL)
        return result.returncode == 0

    def stop(self) -> None:
        _stop(self.proc)


class LoopbackSlurm:
    """A one-node cluster: partition ``gpu`` on this host, with one declared (count-only)
    GPU so that jobs asking for ``gres=gpu:1`` are scheduled as on a real GPU node. Its
    configuration lives in ``root``; client tools find it through ``env()`` (SLURM_CONF).
    Accounting is off: ``squeue`` is the status command (MinJobAge keeps finished jobs
    visible to it for 10 minutes)."""

    SYSTEM_DIR = Path("/etc/slurm")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.node = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []
        self._saved: dict[Path, bytes | None] = {}
        self._lock = None

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _write_config(self, cpus: int, memory_mb: int) -> None:
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=kvlab-loopback", f"SlurmctldHost={self.node}",
            f"SlurmctldPort={free_port()}", f"SlurmdPort={free_port()}",
            "SlurmUser=root", "SlurmdUser=root", "AuthType=auth/munge",
            f"StateSaveLocation={r / 'state'}", f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}", f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none", "SwitchType=switch/none", "MpiDefault=none",
            "ReturnToService=2", "SchedulerType=sched/backfill", "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core", "MinJobAge=600", "KillWait=10",
            "SchedulerParameters=sched_interval=2", "GresTypes=gpu",
            f"NodeName={self.node} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN",
            f"PartitionName=gpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP", ""]))
        # A stand-in GPU device: enough for the scheduler to place gres jobs (a count
        # without a File reads as 0 GPUs and drains the node).
        (self.root / "gres.conf").write_text(f"NodeName={self.node} Name=gpu File=/dev/null\n")
        # Also where client tools look by default: Snakemake's Slurm job step drops
        # SLURM_CONF before its inner srun. What was there is put back by stop().
        self.SYSTEM_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("slurm.conf", "gres.conf"):
            target = self.SYSTEM_DIR / name
            self._saved.setdefault(target, target.read_bytes() if target.exists() else None)
            shutil.copy2(self.root / name, target)

    def _munge_works(self) -> bool:
        encoded = subprocess.run(["munge", "-n"], capture_output=True)
        if encoded.returncode != 0:
            return False
        return subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True).returncode == 0

    def _start_munge(self) -> None:
        if self._munge_works():  # one munged per machine; reuse a running one
            return
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
        for path in ("/etc/munge", "/run/munge", "/var/lib/munge", "/var/log/munge"):
            Path(path).mkdir(parents=True, exist_ok=True)
            shutil.chown(path, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        log = self.root / "log" / "munged.out"
        proc = subprocess.Popen(["/usr/sbin/munged", "-F"], user="munge", group="munge",
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        _wait_until(self._munge_works, 20, "munged", proc, log)

    def _daemon(self, name: str) -> subprocess.Popen:
        log = self.root / "log" / f"{name}.out"
        proc = subprocess.Popen([f"/usr/sbin/{name}", "-D", "-f", str(self.conf)],
                                stdout=log.open("w"), stderr=subprocess.STDOUT,
                                env={**os.environ, **self.env()})
        self.procs.append(proc)
        return proc

    def _node_state(self) -> str:
        result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                                env={**os.environ, **self.env()})
        return result.stdout.strip() if result.returncode == 0 else ""

    def start(self) -> "LoopbackSlurm":
        ensure_packages(SLURM_PACKAGES)
        if os.geteuid() != 0:
            raise LoopbackError("the loopback Slurm runs its daemons as root")
        self.root.mkdir(parents=True, exist_ok=True)
        # One loopback cluster at a time per machine (they share /etc/slurm): a second one
        # waits here until the first has stopped.
        self.SYSTEM_DIR.mkdir(parents=True, exist_ok=True)
        self._lock = (self.SYSTEM_DIR / ".kvlab-loopback.lock").open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        cpus = os.cpu_count() or 1
        memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)
        self._write_config(cpus, memory_mb)
        (self.root / "log").mkdir(exist_ok=True)
        self._start_munge()
        ctld = self._daemon("slurmctld")
        _wait_until(lambda: subprocess.run(["scontrol", "ping"], capture_output=True,
                                           env={**os.environ, **self.env()}).returncode == 0,
                    30, "slurmctld", ctld, self.root / "log" / "slurmctld.out")
        slurmd = self._daemon("slurmd")
        _wait_until(lambda: self._node_state() in ("idle", "mixed", "allocated"), 60, "slurmd",
                    slurmd, self.root / "log" / "slurmd.out")
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):  # slurmd, slurmctld, then munged if it is ours
            _stop(proc)
        self.procs.clear()
        for target, content in self._saved.items():
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(content)
        self._saved.clear()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
