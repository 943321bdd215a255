"""One SSH connection to the GPU host, reused by every command and copy of a job
(ControlMaster), and the translation of ssh's failures into what to do about them."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .settings import ENV_VARS, RemoteSettings

SSH_FAILED = 255  # ssh's own exit status: the connection, not the remote command, failed


class RemoteError(RuntimeError):
    """A remote step failed; ``kind`` names which (unreachable, key_refused, host_key,
    environment, transfer, server_start, job_failed), the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _control_path(settings: RemoteSettings) -> str:
    # In a folder only this user can enter (~/.ssh/kvlab-control, 0700), never /tmp: ssh would
    # take a socket another user planted at a guessable path for the master connection. Unix
    # sockets allow ~100 characters, hence a short hash; it covers the key and the known_hosts
    # file too, so a connection made with one key never serves another.
    identity = (f"{settings.user}@{settings.host}:{settings.port} {settings.key_path.resolve()} "
                f"{settings.known_hosts_path.resolve()}")
    tag = hashlib.sha256(identity.encode()).hexdigest()[:16]
    folder = Path.home() / ".ssh" / "kvlab-control"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / tag
    if len(str(path)) > 100:  # a very long home: fall back to a private temporary folder
        private = Path(tempfile.gettempdir()) / f"kvlab-ssh-{os.getuid()}"
        private.mkdir(mode=0o700, exist_ok=True)
        if private.stat().st_uid != os.getuid() or private.stat().st_mode & 0o077:
            raise RemoteError("settings", f"{private} is not a private folder of this user; "
                              "remove it or shorten the home directory path")
        path = private / tag
    return str(path)


class SshHost:
    """Runs commands on, and copies files to and from, the host. Key authentication only
    (BatchMode: never a password prompt) and host keys always checked against
    ``known_hosts`` (StrictHostKeyChecking=yes: an unknown or changed key is refused)."""

    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings

    @property
    def target(self) -> str:
        return f"{self.settings.user}@{self.settings.host}"

    def ssh_options(self) -> list[str]:
        s = self.settings
        return [
            "-p", str(s.port), "-i", str(s.key_path),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PasswordAuthentication=no",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={s.known_hosts_path}",
            "-o", f"ConnectTimeout={s.connect_timeout_s}",
            "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=4",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={_control_path(s)}",
            "-o", "ControlPersist=60",
        ]

    def run(self, script: str, *, capture: bool = True, check_connection: bool = True,
            timeout_s: float | None = None) -> subprocess.CompletedProcess:
        """Run ``script`` with the remote user's shell. A connection failure raises
        RemoteError; the remote command's own status is returned."""
        argv = ["ssh", *self.ssh_options(), self.target, script]
        result = subprocess.run(argv, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if capture else None,
                                stderr=subprocess.PIPE if capture else None)
        if check_connection and result.returncode == SSH_FAILED:
            raise self.explain(result.stderr or "")
        return result

    def explain(self, stderr: str) -> RemoteError:
        """Map ssh's stderr to the failure and the fix."""
        s, where = self.settings, f"{self.settings.host}:{self.settings.port}"
        text = stderr.strip()
        detail = text.splitlines()[-1] if text else "no message from ssh"
        if "Permission denied" in text or "Too many authentication failures" in text:
            return RemoteError("key_refused", (
                f"{where} refused the key {s.key_path} for user {s.user} ({detail}). Add "
                f"{s.key_path}.pub to ~{s.user}/.ssh/authorized_keys on the host, or point "
                f"{ENV_VARS['identity_file']} / identity_file at the key the host accepts."))
        if ("Host key verification failed" in text or "HOST IDENTIFICATION HAS CHANGED" in text
                or "No ED25519 host key is known" in text or "host key is known" in text):
            return RemoteError("host_key", (
                f"the host key of {where} is not the one in {s.known_hosts_path} ({detail}). "
                f"If the host is new, check its fingerprint and add it (ssh-keyscan -p {s.port} "
                f"{s.host} >> {s.known_hosts_path}); if it changed unexpectedly, find out why first."))
        unreachable = ("Connection refused", "timed out", "No route to host", "Could not resolve",
                       "Network is unreachable", "Connection closed", "Connection reset")
        if any(marker in text for marker in unreachable):
            return RemoteError("unreachable", (
                f"cannot reach {where} ({detail}). Check host and port ({ENV_VARS['host']}, "
                f"{ENV_VARS['port']}), that the machine is up and sshd runs on it, and that no "
                f"firewall or VPN is in the way: ssh -p {s.port} {self.target} true"))
        return RemoteError("unreachable", f"ssh to {where} failed: {detail}")

    def _rsync(self, args: Sequence[str], cwd: Path | None = None) -> None:
        remote_shell = shlex.join(["ssh", *self.ssh_options()])
        argv = ["rsync", "-e", remote_shell, *args]
        result = subprocess.run(argv, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd)
        if result.returncode != 0:
            if result.returncode == SSH_FAILED or "connection unexpectedly closed" in result.stderr:
                if "Permission denied" in result.stderr or "Host key" in result.stderr:
                    raise self.explain(result.stderr)
            raise RemoteError("transfer", (
                f"copying files to or from {self.settings.host} failed (rsync exit "
                f"{result.returncode}): {result.stderr.strip()[-800:]}"))

    def push_tree(self, local_root: Path, remote_root: str, excludes: Iterable[str]) -> None:
        """Bring ``remote_root`` up to date with the project at ``local_root``."""
        self._rsync(["-a", *(f"--exclude={pattern}" for pattern in excludes),
                     f"{local_root}/", f"{self.target}:{remote_root}/"])

    def push_files(self, local_root: Path, relative_paths: Sequence[str], remote_root: str) -> None:
        """Copy files, keeping their paths relative to the roots."""
        if relative_paths:
            self._rsync(["-a", "--relative", *relative_paths, f"{self.target}:{remote_root}/"],
                        cwd=local_root)

    def pull_files(self, remote_root: str, relative_paths: Sequence[str], local_dir: Path) -> None:
        """Copy files back under ``local_dir`` (paths kept). Not -t: a result gets the local
        time it arrived, so a clock difference between the machines cannot make it look
        older than its inputs."""
        if relative_paths:
            sources = [f"{self.target}:{remote_root}/./{p}" for p in relative_paths]
            self._rsync(["-rlp", "--relative", *sources, f"{local_dir}/"])
