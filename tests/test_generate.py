"""Generators: seeded, byte-identical, valid, and shaped as the config says."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from kv_agent_lab.cli import main
from kv_agent_lab.config import ConfigError, check_config, load_config
from kv_agent_lab.generate.shapes import generate_jsonl
from kv_agent_lab.tokens import load_token_source
from kv_agent_lab.workload import check_workload

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "config" / "config.yaml")
COUNT = load_token_source(CONFIG["tokenizer"]).count


def small(name: str, **changes) -> dict:
    spec = dict(CONFIG["workloads"][name]["generator"])
    spec.update({"sessions": 3, **changes})
    return spec


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def write_and_check(tmp_path: Path, text: str):
    path = tmp_path / "w.jsonl"
    path.write_text(text)
    workload, problems = check_workload(path)
    assert problems == []
    return workload


@pytest.mark.parametrize("name", sorted(CONFIG["workloads"]))
def test_committed_workloads_are_what_the_config_generates(name):
    generator = CONFIG["workloads"][name]["generator"]
    committed = (ROOT / "workloads" / f"{name}.jsonl").read_text("utf-8")
    assert generate_jsonl(name, generator, COUNT) == committed


@pytest.mark.parametrize("name", sorted(CONFIG["workloads"]))
def test_same_seed_same_bytes_other_seed_other_text(name, tmp_path):
    first = generate_jsonl(name, small(name), COUNT)
    assert generate_jsonl(name, small(name), COUNT) == first
    assert generate_jsonl(name, small(name, seed=999), COUNT) != first
    write_and_check(tmp_path, first)


def test_shared_prompt_is_stored_once_and_about_3000_tokens(tmp_path):
    text = generate_jsonl("chat", small("shared_prompt_chat", sessions=8), COUNT)
    workload = write_and_check(tmp_path, text)
    system = workload.requests[0].system
    assert system is not None and all(p.kind == "ref" for p in system)
    body = "\n\n".join(workload.prompts[p.value].text for p in system)
    assert 2700 <= COUNT(body) <= 3300
    # Stored once: the tool schemas appear in one line only.
    tools_text = workload.prompts[system[-1].value].text
    escaped = json.dumps(tools_text, ensure_ascii=False)[1:200]  # as it stands in the JSONL
    assert sum(escaped in line for line in text.splitlines()) == 1
    assert all(r.system == system for r in workload.requests)


def test_fanout_structure(tmp_path):
    spec = small("agent_fanout", sessions=4, fanout={"min": 2, "max": 4})
    workload = write_and_check(tmp_path, generate_jsonl("fan", spec, COUNT))
    for session, requests in workload.session_requests():
        planners = [r for r in requests if r.cls == "planner"]
        subagents = [r for r in requests if r.cls == "subagent"]
        plan = next(r for r in planners if r.turn == 1)
        assert 2 <= len(subagents) <= 4
        for sub in subagents:
            assert sub.after == (plan.id,)
            role = sub.system[-1].value
            assert role.startswith("role.") and workload.prompts[role].kind == "role_template"
            assert sub.system[:-1] == plan.system[:-1]  # the platform prompt is shared
        aggregate = next(r for r in planners if r.turn == 2)
        assert set(aggregate.after) == {s.id for s in subagents}
        assert {p.value for p in aggregate.user if p.kind == "reply_of"} == set(aggregate.after)


def test_role_templates_are_shared_by_every_subagent_of_a_role(tmp_path):
    workload = write_and_check(tmp_path, generate_jsonl("fan", small("agent_fanout", sessions=5), COUNT))
    by_role = Counter(r.system[-1].value for r in workload.requests if r.cls == "subagent")
    assert len(by_role) == len(CONFIG["workloads"]["agent_fanout"]["generator"]["roles"])
    assert all(count >= 2 for count in by_role.values())


def test_multi_turn_sessions_have_turns_think_time_and_history(tmp_path):
    spec = small("multi_turn", sessions=6, turns={"min": 2, "max": 5})
    workload = write_and_check(tmp_path, generate_jsonl("mt", spec, COUNT))
    for session, requests in workload.session_requests():
        assert 2 <= len(requests) <= 5
        assert [r.turn for r in requests] == list(range(1, len(requests) + 1))
        assert all(2.0 <= r.think_time_s <= 20.0 for r in requests[1:])
        assert all(r.reply for r in requests[:-1])


def test_generated_history_leaves_replies_to_the_server(tmp_path):
    text = generate_jsonl("mt", small("multi_turn", history="generated"), COUNT)
    workload = write_and_check(tmp_path, text)
    assert all(s.history == "generated" for s in workload.sessions.values())
    assert all(r.reply is None for r in workload.requests)


def test_text_is_not_filler(tmp_path):
    text = generate_jsonl("mt", small("multi_turn", sessions=6), COUNT)
    users = [p["text"] for r in records(text) if r["record"] == "request" for p in r["user"]]
    assert len(set(users)) == len(users)
    words = " ".join(users).split()
    assert len(set(words)) / len(words) > 0.15


def test_config_errors_name_the_field():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["workloads"]["multi_turn"]["generator"]["turns"] = {"min": 9, "max": 3}
    config["workloads"]["planner"]["generator"]["persona"] = "pirate"
    config["workloads"]["agent_fanout"]["generator"]["sessions"] = 0
    with pytest.raises(ConfigError) as info:
        check_config(config, "cfg.yaml")
    text = str(info.value)
    assert "cfg.yaml: workloads.agent_fanout.generator.sessions: 0 is less than the minimum of 1" in text
    config["workloads"]["agent_fanout"]["generator"]["sessions"] = 2
    with pytest.raises(ConfigError) as info:
        check_config(config, "cfg.yaml")
    text = str(info.value)
    assert "cfg.yaml: workloads.multi_turn.generator.turns: min 9 is greater than max 3" in text
    assert "cfg.yaml: workloads.planner.generator.persona: unknown persona 'pirate'" in text


def test_kvlab_generate_writes_atomically_and_refuses_bad_config(tmp_path, capsys):
    out = tmp_path / "planner.jsonl"
    assert main(["generate", "--config", str(ROOT / "config" / "config.yaml"),
                 "--workload", "planner", "--out", str(out)]) == 0
    assert out.read_bytes() == (ROOT / "workloads" / "planner.jsonl").read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("workloads:\n  x:\n    generator: {shape: planner, seed: 1}\n")
    target = tmp_path / "x.jsonl"
    assert main(["generate", "--config", str(bad), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: workloads.x.generator: 'sessions' is a required property" in err
    assert not target.exists()
