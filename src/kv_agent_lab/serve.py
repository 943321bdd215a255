"""Start and stop a vLLM OpenAI-compatible server for one study mode.

The configuration's ``live.server`` block plus a mode give a :class:`ServerSpec`;
:func:`launch_args` turns it into vLLM's command line (docs/vllm-setup.md).  Modes:

- ``baseline``: ``--no-enable-prefix-caching``
- ``prefix_reuse``: ``--enable-prefix-caching``
- ``cpu_offload``: ``--enable-prefix-caching --kv-offloading-size <cpu_offload_gib>`` (CUDA only)

``--enable-prompt-tokens-details`` is always passed, so responses carry
``usage.prompt_tokens_details.cached_tokens``.  :class:`VllmServer` runs the server in its
own process group, waits on ``GET /health``, keeps its log, and stops the whole group.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import LocalBackend

MODES = ("baseline", "prefix_reuse", "cpu_offload")
BACKENDS = ("cpu", "cuda")
TINY = "tiny"
CPU_BLOCK_MULTIPLE = 32
LOG_TAIL_LINES = 40

CPU_OFFLOAD_REFUSAL = ("cpu_offload needs a CUDA GPU host: vLLM refuses --kv-offloading-size on the "
                       "CPU backend (vLLM 0.32: 'CPU Offloading is currently only supported on "
                       "CUDA-alike and XPU GPUs')")


class ModeRefused(ValueError):
    """This mode or setting cannot run on this backend; raised before anything is started."""


class ServerError(RuntimeError):
    """The server could not be started (it exited early, or never became healthy)."""


@dataclass(frozen=True)
class ServerSpec:
    """One server to launch: the ``live.server`` settings plus the mode."""

    mode: str = "prefix_reuse"
    backend: str = "cpu"
    model: str = TINY
    served_model_name: str = "kvlab-tiny"
    host: str = "127.0.0.1"
    port: int = 8000
    block_size: int = 32
    kv_cache_gib: float = 1
    num_gpu_blocks: int | None = None
    max_model_len: int = 8192
    gpu_memory_utilization: float | None = None
    cpu_offload_gib: float = 4
    startup_timeout_s: float = 300
    extra_args: tuple[str, ...] = ()
    python: str | None = None  # the interpreter that has vLLM (default: see server_python)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_args", tuple(self.extra_args))

    @classmethod
    def from_server_block(cls, server: Mapping[str, Any], mode: str, **overrides: Any) -> ServerSpec:
        """From a ``live.server`` mapping (missing keys take the schema's defaults)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(server) - known)
        if unknown:
            raise ValueError(f"live.server: unknown setting(s) {', '.join(unknown)}")
        return cls(**{**dict(server), "mode": mode, **overrides})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], mode: str, **overrides: Any) -> ServerSpec:
        """From a whole configuration as :func:`kv_agent_lab.config.load_config` returns it."""
        return cls.from_server_block(config.get("live", {}).get("server", {}), mode, **overrides)

    def with_mode(self, mode: str) -> ServerSpec:
        return replace(self, mode=mode)


def check_mode(spec: ServerSpec, mode: str | None = None) -> None:
    """Raise :class:`ModeRefused` when ``mode`` (default ``spec.mode``) cannot run as specified."""
    mode = mode or spec.mode
    if mode not in MODES:
        raise ModeRefused(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    if spec.backend not in BACKENDS:
        raise ModeRefused(f"unknown backend {spec.backend!r}; backends: {', '.join(BACKENDS)}")
    if spec.backend == "cpu":
        if mode == "cpu_offload":
            raise ModeRefused(CPU_OFFLOAD_REFUSAL)
        if spec.block_size % CPU_BLOCK_MULTIPLE:
            raise ModeRefused(
                f"block_size {spec.block_size} cannot run on backend cpu: vLLM's CPU attention needs "
                f"a multiple of {CPU_BLOCK_MULTIPLE} (vLLM 0.32: 'No common block size for "
                f"{spec.block_size} (CPU_ATTN: [MultipleOf(32)])'); set live.server.block_size to "
                f"32, 64 or 128")
    # Block 0 is vLLM's null block: N blocks hold (N - 1) x block_size tokens.
    usable = None if spec.num_gpu_blocks is None else (spec.num_gpu_blocks - 1) * spec.block_size
    if usable is not None and usable < spec.max_model_len:
        raise ModeRefused(
            f"num_gpu_blocks {spec.num_gpu_blocks} (one is vLLM's null block) x block_size "
            f"{spec.block_size} = {usable} usable tokens cannot hold one max_model_len "
            f"({spec.max_model_len}) request; vLLM refuses to start: raise num_gpu_blocks or "
            f"lower max_model_len")


def _needs_local_backend(spec: ServerSpec) -> bool:
    return spec.model == TINY or (spec.backend == "cpu" and not spec.python)


def _local_backend(backend: LocalBackend | None) -> LocalBackend:
    if backend is not None:
        return backend
    from .backend import backend_problems, default_cache_dir, local_backend_info

    found = local_backend_info()
    if found is None:
        raise ServerError(f"the local CPU backend is not set up in {default_cache_dir()} "
                          f"({'; '.join(backend_problems())}): run `kvlab backend setup` "
                          f"or `make backend`")
    return found


def server_python(spec: ServerSpec, backend: LocalBackend | None = None) -> str:
    """``live.server.python`` if set; else the local backend's python on cpu, this
    interpreter on cuda."""
    if spec.python:
        return spec.python
    if spec.backend == "cpu":
        return str(_local_backend(backend).python)
    return sys.executable


def server_model(spec: ServerSpec, backend: LocalBackend | None = None) -> str:
    """``tiny`` is the local backend's model directory; anything else is passed to vLLM as is."""
    return str(_local_backend(backend).model_dir) if spec.model == TINY else spec.model


def launch_env(spec: ServerSpec, mode: str | None = None) -> dict[str, str]:
    """The environment variables the server gets on top of the caller's."""
    check_mode(spec, mode)
    env = {"HF_HUB_OFFLINE": "1"}
    if spec.backend == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(max(1, math.ceil(spec.kv_cache_gib)))
    return env


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def launch_args(spec: ServerSpec, mode: str | None = None, backend: LocalBackend | None = None) -> list[str]:
    """The server's command line for ``mode`` (default ``spec.mode``); raises ModeRefused."""
    mode = mode or spec.mode
    check_mode(spec, mode)
    argv = [server_python(spec, backend), "-m", "vllm.entrypoints.openai.api_server",
            "--model", server_model(spec, backend), "--served-model-name", spec.served_model_name,
            "--host", spec.host, "--port", str(spec.port), "--block-size", str(spec.block_size),
            "--max-model-len", str(spec.max_model_len), "--enable-prompt-tokens-details"]
    if mode == "baseline":
        argv.append("--no-enable-prefix-caching")
    elif mode == "prefix_reuse":
        argv.append("--enable-prefix-caching")
    else:  # cpu_offload
        argv += ["--enable-prefix-caching", "--kv-offloading-size", _number(spec.cpu_offload_gib)]
    if spec.backend == "cuda" and spec.gpu_memory_utilization is not None:
        argv += ["--gpu-memory-utilization", _number(spec.gpu_memory_utilization)]
    if spec.num_gpu_blocks is not None:
        argv += ["--num-gpu-blocks-override", str(spec.num_gpu_blocks)]
    argv += list(spec.extra_args)
    return argv


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for tests and ``kvlab serve --port 0``)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        # as uvicorn does: a port whose last server just stopped (TIME_WAIT) counts as free
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError:
            return True
    return False


def client_base_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: a wildcard bind address becomes loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class VllmServer:
    """A vLLM server process group for one mode.  Use as a context manager::

        with VllmServer(spec, log_path=Path("server.log")) as server:
            requests.get(server.base_url + "/v1/models")

    ``start()`` refuses unrunnable modes before starting anything, checks the port is free,
    starts the server in its own session (process group), and waits on ``/health``.  If the
    process exits during start-up it raises ServerError with the log's last 40 lines; on
    timeout it stops the group first.  ``stop()`` sends SIGTERM to the group, SIGKILL after
    ``grace_s``, and waits until no process of the group is left."""

    def __init__(self, spec: ServerSpec, mode: str | None = None, *, log_path: str | os.PathLike[str],
                 backend: LocalBackend | None = None, startup_timeout_s: float | None = None,
                 health_interval_s: float = 0.5) -> None:
        self.spec = spec if mode is None else spec.with_mode(mode)
        self.log_path = Path(log_path)
        self._backend = backend
        self.startup_timeout_s = spec.startup_timeout_s if startup_timeout_s is None else startup_timeout_s
        self.health_interval_s = health_interval_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._pgid: int | None = None
        self._launch: dict[str, Any] | None = None
        self._log_offset = 0
        self.startup_seconds: float | None = None

    # --- properties -----------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.spec.mode

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def pgid(self) -> int | None:
        return self._pgid

    @property
    def base_url(self) -> str:
        return client_base_url(self.spec.host, self.spec.port)

    @property
    def launch(self) -> dict[str, Any]:
        """For run provenance: ``{"argv": [...], "env": {added variables}, "mode": ...}``."""
        if self._launch is None:
            self._launch = {"argv": launch_args(self.spec, backend=self._backend_for_launch()),
                            "env": launch_env(self.spec), "mode": self.mode}
        return {"argv": list(self._launch["argv"]), "env": dict(self._launch["env"]),
                "mode": self._launch["mode"]}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def _backend_for_launch(self) -> LocalBackend | None:
        if self._backend is None and _needs_local_backend(self.spec):
            from .backend import ensure_local_backend

            self._backend = ensure_local_backend(log=lambda m: print(m, file=sys.stderr, flush=True))
        return self._backend

    # --- lifecycle --------------------------------------------------------------------
    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this start wrote to the log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> VllmServer:
        if self._proc is not None:
            raise ServerError("this VllmServer was already started")
        check_mode(self.spec)  # refuse before anything else
        if _port_in_use(self.spec.host, self.spec.port):
            raise ServerError(f"port {self.spec.port} on {self.spec.host} is already in use "
                              f"(another server?); choose another port")
        launch = self.launch
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(f"# kvlab serve {self.mode}: {' '.join(launch['argv'])}\n".encode())
            log.flush()
            started = time.monotonic()
            self._proc = subprocess.Popen(launch["argv"], stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, **launch["env"]})
        self._pgid = self._proc.pid  # a new session: its leader's pid is the group id
        try:
            self._wait_healthy(started)
        except BaseException:  # also Ctrl-C while waiting: leave no server behind
            self.stop()
            raise
        self.startup_seconds = round(time.monotonic() - started, 1)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _wait_healthy(self, started: float) -> None:
        assert self._proc is not None
        deadline = started + self.startup_timeout_s
        while True:
            rc = self._proc.poll()
            if rc is not None:
                raise ServerError(f"vLLM ({self.mode}) exited with code {rc} during start-up; "
                                  f"log {self.log_path}, last {LOG_TAIL_LINES} lines:\n{self.log_tail()}")
            if self._healthy():
                return
            if time.monotonic() > deadline:
                raise ServerError(f"vLLM ({self.mode}) did not answer {self.base_url}/health within "
                                  f"{self.startup_timeout_s:g} s; stopped it. Log {self.log_path}, last "
                                  f"{LOG_TAIL_LINES} lines:\n{self.log_tail()}")
            time.sleep(self.health_interval_s)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """Stop the whole process group (SIGTERM, then SIGKILL after ``grace_s``) and reap it.
        Returns the server's exit code (None if it was never started)."""
        if self._proc is None or self._pgid is None:
            return None
        pgid = self._pgid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace_s
        try:
            self._proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        killed = False
        while _group_alive(pgid):  # the leader's children (engine core) may outlive it
            if time.monotonic() > deadline and not killed:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    break
                killed = True
            if self._proc.poll() is None:
                try:
                    self._proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.1)
            if killed and time.monotonic() > deadline + 30:
                raise ServerError(f"process group {pgid} survived SIGKILL for 30 s")
        return self._proc.wait()

    def __enter__(self) -> VllmServer:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- kvlab serve ------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    """``kvlab serve --mode MODE [--config FILE] [--port P] [--log FILE]``: foreground server."""
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    if args.port is not None:
        overrides["port"] = args.port or free_port(config["live"]["server"].get("host", "127.0.0.1"))
    spec = ServerSpec.from_config(config, args.mode, **overrides)
    try:
        check_mode(spec)
    except ModeRefused as exc:
        print(f"kvlab serve: {exc}", file=sys.stderr)
        return 2
    if args.log:
        log_path = args.log
    else:
        from .backend import default_cache_dir

        log_path = default_cache_dir() / "logs" / f"serve-{spec.mode}-{spec.port}.log"

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = VllmServer(spec, log_path=log_path)
    try:
        print(f"kvlab serve: starting vLLM ({spec.mode}, backend {spec.backend}); log {log_path}",
              file=sys.stderr, flush=True)
        server.start()
        print(f"base_url: {server.base_url}\npid: {server.pid}\nlog: {log_path}", flush=True)
        print(f"kvlab serve: ready in {server.startup_seconds} s; Ctrl-C or SIGTERM stops it",
              file=sys.stderr, flush=True)
        while server.running:
            time.sleep(0.5)
        print(f"kvlab serve: the server exited by itself with code {server.returncode}; last "
              f"{LOG_TAIL_LINES} lines of {log_path}:\n{server.log_tail()}", file=sys.stderr)
        server.stop()
        return 1
    except KeyboardInterrupt:
        print("kvlab serve: stopping the server", file=sys.stderr, flush=True)
        server.stop()
        return 0
    except ServerError as exc:
        print(f"kvlab serve: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
