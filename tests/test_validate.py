"""`kvlab validate` and the workload model.

The corpus in tests/data/malformed/ holds one small file per defect; expected.json maps
each file name to the exact problem lines (without the ``PATH:`` prefix) in the order the
validator prints them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kv_agent_lab.cli import main
from kv_agent_lab.workload import WorkloadError, check_workload, read_workload
from kv_agent_lab.workload.render import PromptRenderer, standin_reply

CORPUS = Path(__file__).parent / "data" / "malformed"
EXPECTED: dict[str, list[str]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
CORPUS_FILES = sorted(CORPUS.glob("*.jsonl"))

HEADER = ('{"record": "workload", "schema_version": 1, "name": "tiny", '
          '"arrival": {"process": "poisson", "rate_per_s": 2, "seed": 3}}')
VALID = "\n".join([
    HEADER,
    '{"record": "prompt", "id": "sys", "kind": "system", "text": "You are a helpful agent."}',
    '{"record": "session", "id": "s1"}',
    '{"record": "request", "id": "s1.t1", "session": "s1", "turn": 1, "class": "planner", '
    '"system": [{"ref": "sys"}], "user": [{"text": "Plan it"}], "reply": "plan", "max_tokens": 32}',
    '{"record": "request", "id": "s1.a", "session": "s1", "thread": "sub.a", "turn": 1, '
    '"class": "subagent", "system": [{"ref": "sys"}], "user": [{"text": "Do a"}], '
    '"reply": "did a", "after": ["s1.t1"], "max_tokens": 32}',
    '{"record": "request", "id": "s1.t2", "session": "s1", "turn": 2, "class": "planner", '
    '"user": [{"text": "Aggregate"}, {"reply_of": "s1.a"}], "after": ["s1.a"], "max_tokens": 32}',
]) + "\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def _with_sessions(arrival: str, starts: list[float | None]) -> str:
    """A valid workload with one single-turn session per entry of ``starts``."""
    lines = ['{"record": "workload", "schema_version": 1, "name": "timing", '
             f'"arrival": {arrival}}}']
    for i, start in enumerate(starts):
        extra = "" if start is None else f', "start_s": {start}'
        lines.append(f'{{"record": "session", "id": "s{i}"{extra}}}')
        lines.append(f'{{"record": "request", "id": "s{i}.t1", "session": "s{i}", "turn": 1, '
                     f'"class": "shared_prompt_chat", "user": [{{"text": "hi {i}"}}], '
                     f'"max_tokens": 8}}')
    return "\n".join(lines) + "\n"


def _problem_lines(stderr: str) -> list[str]:
    """Problem lines of the CLI's stderr, without its closing count line."""
    return [line for line in stderr.splitlines() if not line.startswith("kvlab validate:")]


# -- the corpus ----------------------------------------------------------------------

def test_corpus_is_large_enough_and_fully_described() -> None:
    assert len(CORPUS_FILES) >= 30
    assert sorted(EXPECTED) == [p.name for p in CORPUS_FILES]
    assert all(EXPECTED[name] for name in EXPECTED), "every corpus file must have a problem"


def test_corpus_raw_bytes() -> None:
    assert (CORPUS / "empty.jsonl").read_bytes() == b""
    assert not (CORPUS / "whitespace_only.jsonl").read_bytes().strip()
    raw = (CORPUS / "invalid_utf8.jsonl").read_bytes()
    assert b"\xff" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert (CORPUS / "utf8_bom.jsonl").read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_check_workload_reports_exactly_the_expected_problems(path: Path) -> None:
    workload, problems = check_workload(path)
    assert workload is None
    assert [f"{p.line}: {p.field}: {p.message}" for p in problems] == EXPECTED[path.name]
    assert all(p.path == str(path) for p in problems)
    for problem in problems:  # every message names a line and a field, and says something
        assert problem.line >= 1 and problem.field and len(problem.message) > 8


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_cli_rejects_corpus_file(path: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "summary.json"
    assert main(["validate", str(path), "--summary", str(summary)]) == 2
    err = capsys.readouterr().err
    assert _problem_lines(err) == [f"{path}:{line}" for line in EXPECTED[path.name]]
    assert "1 of 1 file(s) invalid" in err
    assert not summary.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind either


def test_cli_subprocess_reports_every_corpus_file(tmp_path: Path) -> None:
    """The installed entry point, all corpus files at once: every problem of every file."""
    kvlab = Path(sys.executable).parent / "kvlab"
    command = [str(kvlab)] if kvlab.exists() else [sys.executable, "-m", "kv_agent_lab.cli"]
    summary = tmp_path / "summary.json"
    done = subprocess.run([*command, "validate", *map(str, CORPUS_FILES), "--summary",
                           str(summary)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    expected = [f"{path}:{line}" for path in CORPUS_FILES for line in EXPECTED[path.name]]
    assert _problem_lines(done.stderr) == expected
    assert f"{len(CORPUS_FILES)} of {len(CORPUS_FILES)} file(s) invalid" in done.stderr
    assert not summary.exists()


def test_cli_module_entry_point(tmp_path: Path) -> None:
    path = CORPUS / "turn_gap.jsonl"
    summary = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, "-m", "kv_agent_lab.cli", "validate", str(path),
                           "--summary", str(summary)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert _problem_lines(done.stderr) == [f"{path}:{line}" for line in EXPECTED[path.name]]
    assert not summary.exists()


# -- valid files and several files at once ---------------------------------------------

def test_valid_example_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "tiny.jsonl", VALID)
    workload, problems = check_workload(path)
    assert problems == [] and workload is not None
    summary = tmp_path / "out" / "summary.json"
    assert main(["validate", str(path), "--summary", str(summary)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"{path}: ok (3 requests, 1 sessions, 1 shared prompts)" in captured.out
    assert json.loads(summary.read_text()) == {
        "path": str(path), "name": "tiny", "valid": True,
        "prompts": 1, "sessions": 1, "requests": 3}


def test_valid_example_with_crlf_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(VALID.replace("\n", "\r\n").encode())
    assert check_workload(path)[1] == []


def test_several_valid_files_write_a_list(tmp_path: Path) -> None:
    one = _write(tmp_path, "one.jsonl", VALID)
    two = _write(tmp_path, "two.jsonl", _with_sessions('{"process": "fixed_rate", "rate_per_s": 1}',
                                                       [None, None]))
    summary = tmp_path / "summary.json"
    assert main(["validate", "-q", str(one), str(two), "--summary", str(summary)]) == 0
    written = json.loads(summary.read_text())
    assert [(s["name"], s["requests"], s["sessions"]) for s in written] == [
        ("tiny", 3, 1), ("timing", 2, 2)]


def test_one_bad_file_among_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, "good.jsonl", VALID)
    bad = [CORPUS / "turn_gap.jsonl", CORPUS / "many_errors.jsonl"]
    summary = tmp_path / "summary.json"
    code = main(["validate", str(good), str(bad[0]), str(good), str(bad[1]),
                 "--summary", str(summary)])
    assert code == 2
    err = capsys.readouterr().err
    assert _problem_lines(err) == [f"{p}:{line}" for p in bad for line in EXPECTED[p.name]]
    assert "2 of 4 file(s) invalid" in err
    assert not summary.exists()


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.jsonl"
    assert main(["validate", str(missing)]) == 2
    assert f"{missing}:0: (file): cannot read: " in capsys.readouterr().err


def test_problems_on_several_lines_are_reported_in_one_pass(tmp_path: Path) -> None:
    lines = VALID.splitlines()
    lines[2] = '{"record": "session", "id": "s1", "colour": "red"}'           # line 3
    lines[3] = lines[3].replace('"max_tokens": 32', '"max_tokens": 0')        # line 4
    lines[4] = lines[4].replace('{"ref": "sys"}', '{"ref": "nope"}')          # line 5
    lines[5] = lines[5].replace('"turn": 2', '"turn": 3')                     # line 6
    lines.append('{"record": "session", "id": "s2"}')                         # line 7
    path = _write(tmp_path, "several.jsonl", "\n".join(lines) + "\n")
    workload, problems = check_workload(path)
    assert workload is None
    assert [(p.line, p.field) for p in problems] == [
        (3, "colour"), (4, "max_tokens"), (5, "system[0].ref"), (6, "turn"), (7, "id")]
    with pytest.raises(WorkloadError) as raised:
        read_workload(path)
    assert raised.value.problems == problems
    assert str(raised.value).count(f"{path}:") == 5


def test_long_values_are_not_echoed_in_messages(tmp_path: Path) -> None:
    text = "x" * 2_000_001
    path = _write(tmp_path, "long.jsonl", VALID.replace("Aggregate", text))
    assert [str(p) for p in check_workload(path)[1]] == [
        f"{path}:6: user[0].text: is 2,000,001 characters long; must be at most 2,000,000"]


def test_long_replay_history_counts_replies_not_max_tokens(tmp_path: Path) -> None:
    """In a replayed session later prompts carry the scripted replies, not max_tokens of
    text: nine turns with a large max_tokens and short replies are a small prompt."""
    lines = [HEADER.replace('"poisson", "rate_per_s": 2, "seed": 3', '"fixed_rate", "rate_per_s": 1'),
             '{"record": "session", "id": "s1"}']
    for turn in range(1, 10):
        lines.append(f'{{"record": "request", "id": "s1.t{turn}", "session": "s1", "turn": {turn}, '
                     f'"class": "session_continuity", "user": [{{"text": "turn {turn}"}}], '
                     f'"reply": "ok", "max_tokens": 131072}}')
    path = _write(tmp_path, "replay.jsonl", "\n".join(lines) + "\n")
    assert check_workload(path)[1] == []
    generated = path.read_text().replace('"id": "s1"}', '"id": "s1", "history": "generated"}')
    generated = generated.replace(', "reply": "ok"', "")
    assert [p.field for p in check_workload(_write(tmp_path, "gen.jsonl", generated))[1]] == ["user"]


# -- the model ---------------------------------------------------------------------------

@pytest.fixture
def tiny(tmp_path: Path):
    return read_workload(_write(tmp_path, "tiny.jsonl", VALID))


def test_dependencies(tiny) -> None:
    assert tiny.name == "tiny"
    assert [r.id for r in tiny.requests] == ["s1.t1", "s1.a", "s1.t2"]
    assert tiny.dependencies(tiny.request("s1.t1")) == ()
    assert tiny.dependencies(tiny.request("s1.a")) == ("s1.t1",)
    # the previous turn of the thread is implied and comes first
    assert tiny.dependencies(tiny.request("s1.t2")) == ("s1.t1", "s1.a")
    assert [r.id for r in tiny.thread_turns(tiny.request("s1.t2"))] == ["s1.t1", "s1.t2"]


def test_session_start_times_fixed_rate(tmp_path: Path) -> None:
    workload = read_workload(_write(tmp_path, "f.jsonl", _with_sessions(
        '{"process": "fixed_rate", "rate_per_s": 4}', [None, None, None, None])))
    assert workload.session_start_times() == {"s0": 0.0, "s1": 0.25, "s2": 0.5, "s3": 0.75}


def test_session_start_times_poisson(tmp_path: Path) -> None:
    text = _with_sessions('{"process": "poisson", "rate_per_s": 2, "seed": 7}', [None] * 6)
    starts = read_workload(_write(tmp_path, "p.jsonl", text)).session_start_times()
    again = read_workload(_write(tmp_path, "p2.jsonl", text)).session_start_times()
    assert starts == again  # seeded: the same file gives the same times
    times = [starts[f"s{i}"] for i in range(6)]
    assert times[0] == 0.0
    assert all(a < b for a, b in zip(times, times[1:]))
    other = read_workload(_write(tmp_path, "p3.jsonl", text.replace('"seed": 7', '"seed": 8')))
    assert other.session_start_times() != starts


def test_session_start_times_trace(tmp_path: Path) -> None:
    workload = read_workload(_write(tmp_path, "t.jsonl", _with_sessions(
        '{"process": "trace"}', [1.5, 0, 30])))
    assert workload.session_start_times() == {"s0": 1.5, "s1": 0.0, "s2": 30.0}


def test_rendered_messages(tiny) -> None:
    renderer = PromptRenderer(tiny)
    system = {"role": "system", "content": "You are a helpful agent."}
    assert renderer.messages(tiny.request("s1.t1")) == [
        system, {"role": "user", "content": "Plan it"}]
    assert renderer.messages(tiny.request("s1.a")) == [
        system, {"role": "user", "content": "Do a"}]
    # turn 2: the thread's system message, turn 1 with its scripted reply, then the new
    # user message whose parts (text, then the sub-agent's reply) are joined by a blank line
    assert renderer.messages(tiny.request("s1.t2")) == [
        system,
        {"role": "user", "content": "Plan it"},
        {"role": "assistant", "content": "plan"},
        {"role": "user", "content": "Aggregate\n\ndid a"},
    ]


def test_rendered_messages_generated_history(tmp_path: Path) -> None:
    text = VALID.replace('{"record": "session", "id": "s1"}',
                         '{"record": "session", "id": "s1", "history": "generated"}')
    text = text.replace(', "reply": "plan"', "").replace(', "reply": "did a"', "")
    workload = read_workload(_write(tmp_path, "gen.jsonl", text))
    renderer = PromptRenderer(workload)
    t1, a, t2 = (workload.request(i) for i in ("s1.t1", "s1.a", "s1.t2"))
    stand_in = standin_reply(t1)
    assert len(stand_in.split()) == t1.max_tokens
    assert renderer.messages(t2)[2] == {"role": "assistant", "content": stand_in}
    live = renderer.messages(t2, replies={"s1.t1": "real plan", "s1.a": "real a"})
    assert live[2:] == [{"role": "assistant", "content": "real plan"},
                        {"role": "user", "content": "Aggregate\n\nreal a"}]
    assert renderer.messages(a) == renderer.messages(a, replies={})
