"""Where the GPU host is and how to reach it: a YAML file in the profile, each value
overridable by an environment variable (so a key path or a host never has to be committed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

# field -> environment variable that overrides the file's value
ENV_VARS = {
    "host": "KVLAB_REMOTE_HOST",
    "user": "KVLAB_REMOTE_USER",
    "port": "KVLAB_REMOTE_PORT",
    "identity_file": "KVLAB_REMOTE_KEY",
    "known_hosts": "KVLAB_REMOTE_KNOWN_HOSTS",
    "workdir": "KVLAB_REMOTE_WORKDIR",
    "python": "KVLAB_REMOTE_PYTHON",
    "connect_timeout_s": "KVLAB_REMOTE_CONNECT_TIMEOUT_S",
}


class SettingsError(ValueError):
    """The remote settings are incomplete or point at files that do not exist."""


@dataclass
class RemoteSettings:
    """How to reach the GPU host. ``workdir`` is where the project is synced on the host;
    ``python`` is the host's interpreter with the lab (relative paths: inside ``workdir``)."""

    host: str
    user: str
    port: int = 22
    identity_file: str = "~/.ssh/id_ed25519"
    known_hosts: str = "~/.ssh/known_hosts"
    workdir: str = "~/kv-agent-lab"
    python: str = ".venv/bin/python"
    connect_timeout_s: int = 10

    @classmethod
    def load(cls, path: str | Path | None, environ: Mapping[str, str] = os.environ) -> "RemoteSettings":
        values: dict[str, Any] = {}
        if path is not None:
            try:
                values = yaml.safe_load(Path(path).read_text("utf-8")) or {}
            except OSError as exc:
                raise SettingsError(f"cannot read the remote settings {path}: {exc.strerror}") from exc
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: "
                                f"{', '.join(sorted(known))}")
        for name, variable in ENV_VARS.items():
            if environ.get(variable):
                values[name] = environ[variable]
        missing = [name for name in ("host", "user") if not values.get(name)]
        if missing:
            raise SettingsError(
                "the GPU host is not configured: set " + " and ".join(
                    f"{name} in {path or 'the settings file'} (or {ENV_VARS[name]})" for name in missing))
        # ssh would read a value starting with "-" as an option.
        bad = [name for name in ("host", "user") if str(values[name]).startswith("-")
               or any(c.isspace() for c in str(values[name]))]
        if bad:
            raise SettingsError(f"{path or 'settings'}: {', '.join(bad)}: must not start with '-' "
                                "or contain spaces")
        try:
            values["port"] = int(values.get("port", 22))
            values["connect_timeout_s"] = int(values.get("connect_timeout_s", 10))
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"port and connect_timeout_s must be integers ({exc})") from exc
        settings = cls(**{k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()})
        settings.check_local_files()
        return settings

    @property
    def key_path(self) -> Path:
        return Path(self.identity_file).expanduser()

    @property
    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts).expanduser()

    def check_local_files(self) -> None:
        if not self.key_path.is_file():
            raise SettingsError(
                f"the SSH key {self.key_path} does not exist: create one (ssh-keygen -t ed25519 -f "
                f"{self.key_path}) and add its .pub to ~{self.user}/.ssh/authorized_keys on {self.host}, "
                f"or point identity_file ({ENV_VARS['identity_file']}) at your key")
        if not self.known_hosts_path.is_file():
            raise SettingsError(
                f"the known_hosts file {self.known_hosts_path} does not exist: host keys are always "
                f"checked; add the host's key with ssh-keyscan -p {self.port} {self.host} >> "
                f"{self.known_hosts_path} after checking its fingerprint")
