"""``kvlab live`` against a real vLLM server on the CPU (the local backend's tiny model).

No mocks: every test talks to a real server. One prefix-caching server is shared by the
tests that can share it (each writes prompts with a fresh nonce, so no test sees another's
cache); the baseline server is started once and killed mid-run by the crash test, whose
resume starts a fresh one through ``kvlab live --serve``. Three server starts in all (about
40-60 s each on 2 cores).
Faults are injected by a small proxy in front of the real server, never by a fake server.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from kv_agent_lab.cli import main
from kv_agent_lab.live import LiveOptions, RetryPolicy, latest_records, run_live
from kv_agent_lab.report import read_report
from kv_agent_lab.serve import ServerSpec, VllmServer, free_port
from kv_agent_lab.workload import read_workload
from kv_agent_lab.workload.render import PromptRenderer, standin_reply

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "config" / "config.yaml")
BLOCK = 32
MODEL = "kvlab-tiny"


# --- servers ----------------------------------------------------------------------------------
class Servers:
    """Real vLLM servers for this module, one per mode, started on first use."""

    def __init__(self, backend, log_dir: Path):
        self.backend, self.log_dir = backend, log_dir
        self.running: dict[str, VllmServer] = {}
        self.starts = 0

    def get(self, mode: str) -> VllmServer:
        server = self.running.get(mode)
        if server is None or not server.running:
            if server is not None:
                server.stop()
            spec = ServerSpec(model="tiny", port=free_port(), block_size=BLOCK, max_model_len=4096,
                              startup_timeout_s=400)
            self.starts += 1
            server = VllmServer(spec, mode, backend=self.backend,
                                log_path=self.log_dir / f"{mode}-{self.starts}.log")
            server.start()
            self.running[mode] = server
        return server

    def stop_all(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="module")
def servers(local_backend, tmp_path_factory):
    pool = Servers(local_backend, tmp_path_factory.mktemp("vllm-logs"))
    yield pool
    pool.stop_all()


# --- workloads ----------------------------------------------------------------------------------
def shared_system_prompt(nonce: str, rules: int = 30) -> str:
    """A long system prompt that starts with ``nonce``: blocks cached by another test differ."""
    return f"[{nonce}] " + " ".join(
        f"Rule {i}: call the tool {{\"name\": \"lookup_{i}\", \"parameters\": {{\"id\": \"string\"}}}} "
        f"before answering." for i in range(rules))


def write_workload(path: Path, name: str, records: list[dict], rate_per_s: float = 1000.0) -> Path:
    header = {"record": "workload", "schema_version": 1, "name": name,
              "arrival": {"process": "fixed_rate", "rate_per_s": rate_per_s}}
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *records]), "utf-8")
    read_workload(path)  # the tests' own workloads must be valid
    return path


def shared_prompt_workload(path: Path, users: int = 4, max_tokens: int = 8) -> Path:
    nonce = uuid.uuid4().hex
    records: list[dict] = [{"record": "prompt", "id": "system", "kind": "system",
                            "text": shared_system_prompt(nonce)}]
    for i in range(users):
        records += [{"record": "session", "id": f"u{i}"},
                    {"record": "request", "id": f"u{i}.1", "session": f"u{i}", "turn": 1,
                     "class": "shared_prompt_chat", "system": [{"ref": "system"}],
                     "user": [{"text": f"User {i} asks about order {1000 + i}."}],
                     "max_tokens": max_tokens}]
    return write_workload(path, "shared_prompt", records)


def chain_workload(path: Path, sessions: int, turns: int, max_tokens: int, history: str = "generated",
                   singles: int = 0) -> Path:
    """``sessions`` multi-turn threads (generated history by default) and ``singles``
    independent one-request sessions, all behind one shared system prompt."""
    nonce = uuid.uuid4().hex
    records: list[dict] = [{"record": "prompt", "id": "system", "kind": "system",
                            "text": shared_system_prompt(nonce, rules=8)}]
    for s in range(sessions):
        records.append({"record": "session", "id": f"s{s}", "history": history})
        for t in range(1, turns + 1):
            request = {"record": "request", "id": f"s{s}.t{t}", "session": f"s{s}", "turn": t,
                       "class": "session_continuity", "user": [{"text": f"Step {t} of job {s}."}],
                       "max_tokens": max_tokens}
            if t == 1:
                request["system"] = [{"ref": "system"}]
            if history == "replay":
                request["reply"] = f"Done with step {t}."
            records.append(request)
    for k in range(singles):
        records += [{"record": "session", "id": f"one{k}"},
                    {"record": "request", "id": f"one{k}.t1", "session": f"one{k}", "turn": 1,
                     "class": "shared_prompt_chat", "system": [{"ref": "system"}],
                     "user": [{"text": f"Single question {k}."}], "max_tokens": max_tokens}]
    return write_workload(path, "chains", records)


def options(server_url: str, out_dir: Path, mode: str, **kw) -> LiveOptions:
    base = dict(max_concurrency=1, time_scale=0.0, progress=False, sample_interval_s=0.2)
    return LiveOptions(base_url=server_url, out_dir=out_dir, mode=mode, **{**base, **kw})


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def server_prompt_tokens(url: str, messages: list[dict]) -> int:
    """The server's own count of a chat prompt (its tokenizer and chat template)."""
    response = requests.post(url + "/tokenize", json={"model": MODEL, "messages": messages,
                                                      "add_generation_prompt": True}, timeout=30)
    response.raise_for_status()
    return response.json()["count"]


def text_tokens(url: str, text: str) -> int:
    response = requests.post(url + "/tokenize", json={"model": MODEL, "prompt": text,
                                                      "add_special_tokens": False}, timeout=30)
    response.raise_for_status()
    return response.json()["count"]


# --- streaming numbers -------------------------------------------------------------------------
def test_streaming_numbers_are_consistent(servers, local_backend, tmp_path):
    server = servers.get("prefix_reuse")
    nonce = uuid.uuid4().hex
    records: list[dict] = []
    for i, max_tokens in enumerate((1, 2, 17, 64)):
        records += [{"record": "session", "id": f"q{i}"},
                    {"record": "request", "id": f"q{i}.1", "session": f"q{i}", "turn": 1,
                     "class": "shared_prompt_chat",
                     "system": [{"text": shared_system_prompt(nonce, rules=4)}],
                     "user": [{"text": f"Question {i}."}], "max_tokens": max_tokens}]
    path = write_workload(tmp_path / "stream.jsonl", "stream", records)
    workload = read_workload(path)
    report = run_live(workload, options(server.base_url, tmp_path / "out", "prefix_reuse"))
    renderer = PromptRenderer(workload)
    assert report["summary"]["overall"]["ok"] == 4
    for record in report["requests"]:
        request = workload.request(record["id"])
        n = request.max_tokens
        assert record["status"] == "ok" and record["http_status"] == 200 and record["attempts"] == 1
        assert 0 < record["ttft_s"] <= record["e2e_s"]
        assert record["completion_tokens"] == n  # ignore_eos: exactly max_tokens
        assert record["streamed_tokens"] == record["completion_tokens"]  # tokens seen == usage
        assert len(record["itl_s"]) == n - 1
        assert sum(record["itl_s"]) <= record["e2e_s"] - record["ttft_s"] + 1e-4
        if n > 1:
            assert record["tpot_s"] == pytest.approx(
                (record["e2e_s"] - record["ttft_s"]) / (n - 1), abs=2e-6)
        else:
            assert record["tpot_s"] is None
        assert record["prompt_tokens"] == server_prompt_tokens(server.base_url,
                                                               renderer.messages(request))
        assert record["cached_tokens"] is not None and record["send_time_s"] >= 0
    # requests.jsonl holds the same records (plus the reply text), one line per request
    lines = jsonl(tmp_path / "out" / "requests.jsonl")
    assert [line["id"] for line in lines] == [r["id"] for r in report["requests"]]
    assert all(line["reply"] for line in lines)
    assert read_report(tmp_path / "out" / "report.json") == report
    provenance = report["provenance"]
    assert provenance["server"]["version"] == local_backend.vllm_version
    assert provenance["server"]["launch"] is None  # the caller started the server, not kvlab
    assert provenance["server"]["model"] == MODEL
    assert provenance["server"]["cache_config"]["enable_prefix_caching"] == "True"
    assert provenance["server"]["cache_config"]["block_size"] == str(BLOCK)
    assert len(report["workload"]["sha256"]) == 64


# --- prefix reuse and the server's counters ------------------------------------------------------
def test_prefix_reuse_counters_match_per_request_cached_tokens(servers, tmp_path):
    server = servers.get("prefix_reuse")
    path = shared_prompt_workload(tmp_path / "shared.jsonl", users=4)
    report = run_live(read_workload(path), options(server.base_url, tmp_path / "out", "prefix_reuse"))
    records = report["requests"]
    assert all(r["status"] == "ok" for r in records)
    first, later = records[0], records[1:]
    assert first["cached_tokens"] == 0  # a fresh nonce: nothing of it is cached yet
    for record in later:
        # whole blocks of the shared system prompt, never the block holding the last token
        assert record["cached_tokens"] > 0 and record["cached_tokens"] % BLOCK == 0
        assert record["cached_tokens"] <= (record["prompt_tokens"] - 1) // BLOCK * BLOCK
    delta = report["server_metrics"]["delta"]
    assert delta["prefix_cache_hits"] == sum(r["cached_tokens"] for r in records)
    assert delta["prefix_cache_queries"] == sum(r["prompt_tokens"] for r in records)
    assert delta["generation_tokens"] == sum(r["completion_tokens"] for r in records)
    assert delta["requests_success"] == len(records)
    assert delta["preemptions"] == 0
    summary = report["summary"]["overall"]
    assert summary["cached_tokens"] == delta["prefix_cache_hits"] and summary["hit_rate"] > 0

    # a multi-turn, generated-history workload: the same exact agreement, turn by turn
    chains = chain_workload(tmp_path / "chains.jsonl", sessions=2, turns=3, max_tokens=12)
    report = run_live(read_workload(chains), options(server.base_url, tmp_path / "out2", "prefix_reuse"))
    records = report["requests"]
    assert all(r["status"] == "ok" for r in records)
    delta = report["server_metrics"]["delta"]
    assert delta["prefix_cache_hits"] == sum(r["cached_tokens"] for r in records)
    assert delta["prefix_cache_queries"] == sum(r["prompt_tokens"] for r in records)
    assert all(r["cached_tokens"] > 0 for r in records if r["turn"] > 1)


def test_generated_history_feeds_real_replies(servers, tmp_path):
    server = servers.get("prefix_reuse")
    path = chain_workload(tmp_path / "gen.jsonl", sessions=1, turns=3, max_tokens=24)
    workload = read_workload(path)
    run_live(workload, options(server.base_url, tmp_path / "out", "prefix_reuse"))
    lines = {line["id"]: line for line in jsonl(tmp_path / "out" / "requests.jsonl")}
    replies = {i: line["reply"] for i, line in lines.items()}
    renderer = PromptRenderer(workload)
    for turn in (2, 3):
        request = workload.request(f"s0.t{turn}")
        previous = lines[f"s0.t{turn - 1}"]
        record = lines[request.id]
        assert previous["reply"] and previous["completion_tokens"] == 24
        # the prompt grew by the previous prompt's reply (as the server tokenizes it) and more
        grown = record["prompt_tokens"] - previous["prompt_tokens"]
        assert grown >= text_tokens(server.base_url, previous["reply"])
        # exactly the prompt made of the real replies, not of the offline stand-ins
        assert record["prompt_tokens"] == server_prompt_tokens(
            server.base_url, renderer.messages(request, replies))
        standin = renderer.messages(request, {})
        assert standin_reply(workload.request(f"s0.t{turn - 1}")) in standin[-2]["content"]
        assert record["prompt_tokens"] != server_prompt_tokens(server.base_url, standin)


def test_arrivals_think_time_dependencies_and_concurrency(servers, tmp_path):
    """Sessions start at their arrival times, sub-agents after their planner's reply, the
    aggregation think_time_s after the last sub-agent, and never more than N in flight."""
    server = servers.get("prefix_reuse")
    nonce = uuid.uuid4().hex
    records: list[dict] = [{"record": "prompt", "id": "platform", "kind": "system",
                            "text": shared_system_prompt(nonce, rules=6)}]
    for s in range(2):
        sid = f"fan{s}"
        records += [{"record": "session", "id": sid, "history": "generated"},
                    {"record": "request", "id": f"{sid}.plan", "session": sid, "thread": "planner",
                     "turn": 1, "class": "planner", "system": [{"ref": "platform"}],
                     "user": [{"text": f"Task {s}."}], "max_tokens": 24}]
        for k in range(3):
            records.append({"record": "request", "id": f"{sid}.sub{k}", "session": sid,
                            "thread": f"sub{k}", "turn": 1, "class": "subagent",
                            "system": [{"ref": "platform"}], "after": [f"{sid}.plan"],
                            "user": [{"text": f"Part {k} of:"}, {"reply_of": f"{sid}.plan"}],
                            "max_tokens": 16})
        records.append({"record": "request", "id": f"{sid}.agg", "session": sid, "thread": "planner",
                        "turn": 2, "class": "planner", "think_time_s": 0.3,
                        "after": [f"{sid}.sub{k}" for k in range(3)],
                        "user": [{"text": "Combine:"}, *({"reply_of": f"{sid}.sub{k}"} for k in range(3))],
                        "max_tokens": 8})
    path = write_workload(tmp_path / "fan.jsonl", "fanout", records, rate_per_s=2.0)
    report = run_live(read_workload(path), options(server.base_url, tmp_path / "out", "prefix_reuse",
                                                   max_concurrency=2, time_scale=1.0))
    r = {record["id"]: record for record in report["requests"]}
    assert all(record["status"] == "ok" for record in r.values())
    finish = {i: record["send_time_s"] + record["e2e_s"] for i, record in r.items()}
    assert r["fan1.plan"]["scheduled_time_s"] - r["fan0.plan"]["scheduled_time_s"] == pytest.approx(0.5, abs=0.02)
    for s in ("fan0", "fan1"):
        for k in range(3):
            sub = r[f"{s}.sub{k}"]
            assert finish[f"{s}.plan"] - 1e-5 <= sub["scheduled_time_s"] <= finish[f"{s}.plan"] + 0.1
        last_sub = max(finish[f"{s}.sub{k}"] for k in range(3))
        assert r[f"{s}.agg"]["scheduled_time_s"] == pytest.approx(last_sub + 0.3, abs=0.1)
        assert r[f"{s}.agg"]["scheduled_time_s"] >= last_sub + 0.3 - 1e-5
    for record in r.values():
        assert record["send_time_s"] >= record["scheduled_time_s"] - 1e-6
        in_flight = sum(1 for other in r.values()
                        if other["send_time_s"] <= record["send_time_s"] < finish[other["id"]])
        assert in_flight <= 2


# --- faults: a proxy in front of the real server ---------------------------------------------------
class FaultProxy(ThreadingHTTPServer):
    """Forwards every request to the real server, except that a chat request whose body
    contains FAULT-500 gets an HTTP 500, FAULT-503-ONCE a 503 the first time, and FAULT-CUT
    has its stream cut after three events (the connection closed with no end chunk)."""

    daemon_threads = True

    def __init__(self, upstream: str):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urlsplit(upstream)
        self.authorization: list[str | None] = []
        self.served_503 = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.authorization.append(self.headers.get("Authorization"))
        if b"FAULT-500" in body:
            return self._reply(500, {"error": {"message": "injected failure", "code": 500}})
        if b"FAULT-503-ONCE" in body and not self.server.served_503:
            self.server.served_503 = True
            return self._reply(503, {"error": {"message": "injected overload", "code": 503}})
        self._forward(body, cut_after=3 if b"FAULT-CUT" in body else None)

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _forward(self, body: bytes | None, cut_after: int | None = None) -> None:
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.request(self.command, self.path, body=body,
                     headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
        response = conn.getresponse()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection", "date", "server"):
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = 0
        while line := response.readline():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            if cut_after and line.startswith(b"data:"):
                events += 1
                if events >= cut_after:
                    conn.close()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
        self.wfile.write(b"0\r\n\r\n")
        conn.close()


def test_cut_stream_and_server_errors_are_recorded_and_the_run_goes_on(servers, tmp_path, monkeypatch,
                                                                        capfd):
    server = servers.get("prefix_reuse")
    proxy = FaultProxy(server.base_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    secret = f"sk-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("KVLAB_API_KEY", secret)
    records: list[dict] = []
    marks = {"ok1": "plain", "cut": "FAULT-CUT", "e500": "FAULT-500", "e503": "FAULT-503-ONCE",
             "ok2": "plain"}
    for sid, mark in marks.items():
        records += [{"record": "session", "id": sid}]
        for turn in (1, 2):
            request = {"record": "request", "id": f"{sid}.t{turn}", "session": sid, "turn": turn,
                       "class": "session_continuity", "max_tokens": 16,
                       "user": [{"text": f"{mark if turn == 1 else 'next'} {uuid.uuid4().hex}"}]}
            if turn == 1:
                request |= {"system": [{"text": "You are terse."}], "reply": "Fine."}
            records.append(request)
    path = write_workload(tmp_path / "faults.jsonl", "faults", records)
    out = tmp_path / "out"
    try:
        code = main(["live", str(path), "--base-url", proxy.url, "--out-dir", str(out), "--config",
                     CONFIG, "--mode", "prefix_reuse", "--max-concurrency", "1", "--time-scale", "0"])
    finally:
        proxy.shutdown()
    captured = capfd.readouterr()
    assert code == 0, captured.err  # the run completed; its failures are recorded
    report = read_report(out / "report.json")
    by_id = {r["id"]: r for r in report["requests"]}
    cut = by_id["cut.t1"]
    assert cut["status"] == "error" and cut["http_status"] == 200 and cut["attempts"] == 1
    assert cut["error"].startswith(("stream cut", "stream ended before [DONE]"))
    e500 = by_id["e500.t1"]
    assert (e500["status"], e500["http_status"], e500["attempts"]) == ("error", 500, 1)
    assert "injected failure" in e500["error"]
    for failed in ("cut", "e500"):  # their second turns were never sent
        assert by_id[f"{failed}.t2"]["error"] == f"dependency {failed}.t1 failed"
        assert by_id[f"{failed}.t2"]["attempts"] == 0
    assert by_id["e503.t1"]["status"] == "ok" and by_id["e503.t1"]["attempts"] == 2  # retried
    for sid in ("ok1", "ok2", "e503"):
        assert by_id[f"{sid}.t2"]["status"] == "ok"
    assert report["summary"]["overall"]["errors"] == 4 and report["summary"]["overall"]["ok"] == 6
    assert len(jsonl(out / "requests.jsonl")) == 10
    # the key went to the server as a bearer token and nowhere else
    assert f"Bearer {secret}" in proxy.authorization
    for text in ((out / "requests.jsonl").read_text(), (out / "report.json").read_text(),
                 captured.out, captured.err):
        assert secret not in text


# --- baseline, a crash, and --resume -------------------------------------------------------------------
def test_baseline_server_reports_no_cached_tokens(servers, tmp_path, capsys):
    server = servers.get("baseline")
    path = shared_prompt_workload(tmp_path / "shared.jsonl", users=3)
    report = run_live(read_workload(path), options(server.base_url, tmp_path / "out", "baseline"))
    assert [r["cached_tokens"] for r in report["requests"]] == [0, 0, 0]
    assert report["server_metrics"]["delta"]["prefix_cache_hits"] == 0
    assert report["provenance"]["server"]["cache_config"]["enable_prefix_caching"] == "False"
    # a run labelled prefix_reuse against a server that does not cache is refused, unsent
    assert main(["live", str(path), "--base-url", server.base_url, "--out-dir", str(tmp_path / "x"),
                 "--config", CONFIG, "--mode", "prefix_reuse", "--no-progress"]) == 2
    assert "enable_prefix_caching=False" in capsys.readouterr().err
    assert not (tmp_path / "x" / "requests.jsonl").exists()


def test_server_killed_mid_run_then_resume(servers, tmp_path, capsys):
    server = servers.get("baseline")
    path = chain_workload(tmp_path / "chains.jsonl", sessions=2, turns=6, max_tokens=48, singles=4)
    workload = read_workload(path)
    out = tmp_path / "out"
    jsonl_path = out / "requests.jsonl"
    result: dict = {}
    opts = options(server.base_url, out, "baseline",
                   retry=RetryPolicy(max_attempts=2, backoff_s=0.1))
    runner = threading.Thread(target=lambda: result.update(report=run_live(workload, opts)))
    runner.start()
    deadline = time.monotonic() + 120
    while not (jsonl_path.exists() and jsonl_path.read_bytes().count(b"\n") >= 5):
        assert time.monotonic() < deadline and runner.is_alive(), "the run did not progress"
        time.sleep(0.02)
    finished_before_kill = jsonl_path.read_bytes()
    os.killpg(server.pgid, signal.SIGKILL)  # a crash: no graceful shutdown
    runner.join(timeout=120)
    assert not runner.is_alive()
    server.stop()

    # every request finished before the crash is still there, byte for byte; the rest are errors
    assert jsonl_path.read_bytes().startswith(finished_before_kill)
    first = jsonl(jsonl_path)
    assert sorted(r["id"] for r in first) == sorted(r.id for r in workload.requests)
    ok_first = {r["id"]: r for r in first if r["status"] == "ok"}
    errors = [r for r in first if r["status"] == "error"]
    assert len(ok_first) >= 5 and errors
    for record in errors:
        assert record["error"].startswith(("stream cut", "stream ended", "connection error",
                                           "dependency ")), record["error"]
    assert all(r["attempts"] == 2 for r in errors if r["error"].startswith("connection error"))
    assert result["report"]["summary"]["overall"]["errors"] == len(errors)

    # resume through the CLI with --serve (a fresh baseline server, started and stopped by
    # kvlab): only the failed requests are sent again
    assert main(["live", str(path), "--serve", "--port", "0", "--out-dir", str(out),
                 "--config", CONFIG, "--mode", "baseline", "--resume", "--max-concurrency", "1",
                 "--time-scale", "0", "--no-progress"]) == 0
    assert "finished requests kept" in capsys.readouterr().err
    both = jsonl(jsonl_path)
    second = [r for r in both if r["invocation"] == 2]
    assert {r["id"] for r in second} == {r["id"] for r in errors}  # no finished request redone
    assert all(r["status"] == "ok" for r in second)
    assert {i: r for i, r in latest_records(both).items() if i in ok_first} == ok_first
    report = read_report(out / "report.json")
    assert report["summary"]["overall"]["ok"] == len(workload.requests)
    assert report["provenance"]["invocations"] == 2
    launch = report["provenance"]["server"]["launch"]
    assert launch["mode"] == "baseline" and "--no-enable-prefix-caching" in launch["argv"]
    assert report["server_metrics"]["requests_sent"] == len(second)
    assert report["server_metrics"]["delta"]["requests_success"] == len(second)
    assert (out / "server.log").exists()
    # generated history survived the crash: a resumed turn resent the reply stored before it
    # (counted by the prefix server: same model, same tokenizer; running already when the
    # whole file runs, so the file needs three server starts in all)
    replies = {r["id"]: r["reply"] for r in both if r["status"] == "ok"}
    renderer = PromptRenderer(workload)
    resumed_turns = [r for r in second if r["turn"] > 1 and f"{r['session']}.t{r['turn'] - 1}" in ok_first]
    assert resumed_turns
    tokenizer_url = servers.get("prefix_reuse").base_url
    for record in resumed_turns:
        assert record["prompt_tokens"] == server_prompt_tokens(
            tokenizer_url, renderer.messages(workload.request(record["id"]), replies))


def test_resume_refuses_another_workload_and_fresh_run_refuses_old_records(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "requests.jsonl").write_text('{"id": "x", "status": "ok"}\n')
    (out / "run.json").write_text(json.dumps({"workload_sha256": "0" * 64, "mode": "baseline",
                                              "t0_unix": 0, "started_at": "x"}))
    path = shared_prompt_workload(tmp_path / "w.jsonl", users=1)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused before any request
    for extra in ([], ["--resume"]):
        assert main(["live", str(path), "--base-url", url, "--out-dir", str(out), "--config", CONFIG,
                     "--mode", "baseline", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert "already holds requests of an earlier run" in err and "holds a run with workload_sha256" in err


def test_invalid_workload_exits_2_with_the_validators_problems(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"record": "workload", "schema_version": 1, "name": "b", '
                   '"arrival": {"process": "fixed_rate", "rate_per_s": 1}}\n'
                   '{"record": "request", "id": "r", "session": "nope", "turn": 1, '
                   '"class": "planner", "user": [{"text": "x"}], "max_tokens": 4}\n')
    assert main(["live", str(bad), "--base-url", "http://127.0.0.1:9", "--out-dir",
                 str(tmp_path / "out"), "--config", CONFIG]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: session:" in err and "nothing was sent" in err
    assert not (tmp_path / "out").exists()
