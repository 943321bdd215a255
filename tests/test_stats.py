"""Workload statistics against an independent, plain computation."""

from __future__ import annotations

import json
from pathlib import Path

from kv_agent_lab.cli import main
from kv_agent_lab.stats import nominal_order, request_tokens, workload_stats
from kv_agent_lab.tokens import ApproxTokenizer
from kv_agent_lab.workload import read_workload
from kv_agent_lab.workload.render import PromptRenderer

SYSTEM = ("You are the support agent of a bank. Verify the customer's identity before "
          "discussing an account, never reveal internal notes, and escalate fraud. " * 6)


def write(tmp_path: Path, lines: list[dict]) -> Path:
    path = tmp_path / "w.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def chat_workload(tmp_path: Path, history: str = "replay") -> Path:
    lines = [
        {"record": "workload", "schema_version": 1, "name": "t",
         "arrival": {"process": "fixed_rate", "rate_per_s": 1}},
        {"record": "prompt", "id": "sys", "text": SYSTEM},
    ]
    for s in range(3):
        lines.append({"record": "session", "id": f"s{s}", "history": history})
        for turn in (1, 2):
            request = {"record": "request", "id": f"s{s}.t{turn}", "session": f"s{s}",
                       "turn": turn, "class": "session_continuity",
                       "user": [{"text": f"Question {turn} from customer {s} about card fees"}],
                       "max_tokens": 40}
            if turn == 1:
                request["system"] = [{"ref": "sys"}]
            else:
                request["think_time_s"] = 5.0
            if history == "replay":
                request["reply"] = f"Answer {turn} for customer {s}: fees are listed in the app."
            lines.append(request)
    return write(tmp_path, lines)


def plain_ideal_hits(prompts: list[list[int]], block: int) -> list[int]:
    """Longest run of leading full blocks equal to a block some earlier prompt had at
    the same position with the same history, capped so one prompt token is computed."""
    hits, seen = [], []
    for tokens in prompts:
        best = 0
        for earlier in seen:
            common = 0
            while (common < min(len(tokens), len(earlier))
                   and tokens[common] == earlier[common]):
                common += 1
            best = max(best, common // block)
        hits.append(min(best, (len(tokens) - 1) // block) * block)
        seen.append(tokens)
    return hits


def test_ideal_reuse_matches_a_plain_computation(tmp_path):
    workload = read_workload(chat_workload(tmp_path))
    tokens = ApproxTokenizer()
    renderer = PromptRenderer(workload)
    order = nominal_order(workload)
    prompts = [tokens.encode_chat(renderer.messages(r)) for r in order]
    for block in (4, 16, 32):
        rows = request_tokens(workload, tokens, block)
        assert [r.id for r in rows] == [r.id for r in order]
        assert [r.prompt_tokens for r in rows] == [len(p) for p in prompts]
        assert [r.ideal_cached_tokens for r in rows] == plain_ideal_hits(prompts, block)
    # The first request computes everything; every later one reuses the system prompt.
    rows = request_tokens(workload, tokens, 16)
    assert rows[0].ideal_cached_tokens == 0 and rows[0].shared_prefix_tokens == 0
    system_tokens = len(tokens.encode_chat([{"role": "system", "content": SYSTEM}]))
    assert all(r.ideal_cached_tokens >= (system_tokens // 16 - 1) * 16 for r in rows[1:])


def test_nominal_order_follows_arrivals_and_think_time(tmp_path):
    workload = read_workload(chat_workload(tmp_path))
    # Sessions start at 0, 1, 2 s; second turns 5 s after the first.
    assert [r.id for r in nominal_order(workload)] == [
        "s0.t1", "s1.t1", "s2.t1", "s0.t2", "s1.t2", "s2.t2"]


def test_generated_history_reuses_the_reply_blocks(tmp_path):
    rows = {}
    for history in ("replay", "generated"):
        folder = tmp_path / history
        folder.mkdir()
        workload = read_workload(chat_workload(folder, history))
        rows[history] = {r.id: r for r in request_tokens(workload, ApproxTokenizer(), 16)}
    first, second = rows["generated"]["s0.t1"], rows["generated"]["s0.t2"]
    # The server cached the 40-token reply it wrote, so turn 2 reuses turn 1's prompt and
    # reply, less at most the partial blocks at their ends.
    assert second.ideal_cached_tokens >= first.prompt_tokens + 40 - 2 * 16
    # Replayed history puts the scripted reply in the prompt instead: reuse stops near
    # where turn 1's prompt ended.
    replay_first, replay_second = rows["replay"]["s0.t1"], rows["replay"]["s0.t2"]
    assert replay_second.ideal_cached_tokens <= replay_first.prompt_tokens


def test_summary_per_class_and_cli(tmp_path, capsys):
    path = chat_workload(tmp_path)
    workload = read_workload(path)
    rows = request_tokens(workload, ApproxTokenizer(), 16)
    stats = workload_stats(workload, rows, "approx", 16)
    overall = stats["overall"]
    assert overall["requests"] == 6 and overall["sessions"] == 3
    assert overall["prompt_tokens"]["total"] == sum(r.prompt_tokens for r in rows)
    assert overall["prompt_tokens"]["max"] == max(r.prompt_tokens for r in rows)
    cached = sum(r.ideal_cached_tokens for r in rows)
    assert overall["ideal_prefix_reuse_ratio"] == round(cached / overall["prompt_tokens"]["total"], 4)
    assert list(stats["classes"]) == ["session_continuity"]
    out, chart = tmp_path / "s.json", tmp_path / "c.png"
    assert main(["stats", str(path), "--out", str(out), "--chart", str(chart)]) == 0
    assert json.loads(out.read_text()) == stats
    assert chart.stat().st_size > 10_000 and chart.with_suffix(".svg").exists()
