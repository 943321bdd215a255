"""The docs stay true: every Markdown file in the repository root and in docs/ (recursively)
is checked against the repository as it is.

(a) every relative link resolves to an existing file, and a ``#anchor`` to a heading of the
    target (GitHub's slug rules);
(b) every repository path named in inline code or a code block (``src/...``, ``rules/...``,
    ``config/...``, ``tests/...``, ``benchmarks/...``, ``workflow_scripts/...``,
    ``profiles/...``, ``docs/...``, ``workloads/...``, ...) exists; pipeline outputs
    (``results/...``, ``charts/...``) and placeholders (``<name>``, ``{x}``) are exempt, and a
    glob must match at least one file;
(c) every ``kvlab <subcommand>`` exists in ``kv_agent_lab.cli.build_parser()`` (nested ones
    such as ``kvlab backend setup`` too), and every ``--flag`` written after it exists for
    that subcommand;
(d) every ``make <target>`` exists in the Makefile;
(e) runnable code blocks run and exit 0;
(f) docs/glossary.md and docs/glossary.zh-CN.md hold every term of docs/glossary-terms.yaml
    under its English and Chinese names, and equal what docs/glossary_build.py generates.

Runnable blocks. A fenced code block is runnable when its info string holds the word
``runnable`` (```` ```sh runnable ````), or when the line before the fence is
``<!-- runnable -->``. With ``<!-- runnable: dry-run -->`` (or ```` ```sh runnable dry-run ````)
every command that starts with ``snakemake`` gets ``-n`` added, so a block can show the real
command and the test still only plans it. Each command (one line, or several joined by a
trailing backslash; ``#`` comments and blank lines are skipped) runs with ``bash -c`` in a
temporary copy of the repository (tracked and untracked files that .gitignore does not
exclude, with ``.venv`` linked in), with ``.venv/bin`` first on PATH, ``PYTHONPATH=src`` and a
timeout of ``RUNNABLE_TIMEOUT_S`` seconds, and must exit 0. Commands of a block run in order in
the same copy, so a later command may read what an earlier one wrote. Keep runnable blocks
fast: the whole set should take well under two minutes.

Every problem is reported as ``FILE:LINE: message``, all at once.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import os
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE_TIMEOUT_S = 120

# Top-level folders whose paths, named in code, must exist.
REPO_DIRS = ("src", "rules", "config", "tests", "benchmarks", "workflow_scripts", "profiles",
             "docs", "workloads", "envs", "workflow_report")
# Paths the pipeline (or a command shown in the docs) makes; never checked.
OUTPUT_DIRS = ("results", "charts")
SKIP_GLOBS = ("docs/benchmarks/*.log",)


def markdown_files() -> list[Path]:
    files = sorted(ROOT.glob("*.md")) + sorted((ROOT / "docs").rglob("*.md"))
    return [f for f in files
            if not any(fnmatch.fnmatch(f.relative_to(ROOT).as_posix(), g) for g in SKIP_GLOBS)]


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    """A fenced (or indented) code block."""
    line: int                      # 1-based line of the first content line
    info: str
    lines: list[str]
    marker: str = ""               # "", "runnable" or "dry-run"


@dataclass
class Doc:
    path: Path
    text: str
    blocks: list[Block] = field(default_factory=list)
    # (line, text) of prose: everything outside code blocks, one entry per paragraph
    paragraphs: list[tuple[int, str]] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
RUNNABLE_COMMENT = re.compile(r"^\s*<!--\s*runnable(?::\s*(dry-run))?\s*-->\s*$")


def parse(path: Path) -> Doc:
    text = path.read_text(encoding="utf-8")
    doc = Doc(path, text)
    lines = text.splitlines()
    i, para, para_start = 0, [], 0

    def flush():
        nonlocal para
        if para:
            doc.paragraphs.append((para_start, "\n".join(para)))
        para = []

    prev_nonblank = ""
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            flush()
            fence, info = m.group(2), m.group(3).strip()
            body, j = [], i + 1
            while j < len(lines) and not re.match(
                    rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[j]):
                body.append(lines[j])
                j += 1
            marker = ""
            words = info.split()
            if "runnable" in words:
                marker = "dry-run" if "dry-run" in words else "runnable"
            cm = RUNNABLE_COMMENT.match(prev_nonblank)
            if cm:
                marker = "dry-run" if cm.group(1) else "runnable"
            doc.blocks.append(Block(i + 2, info, body, marker))
            prev_nonblank = ""
            i = j + 1
            continue
        # An indented code block: 4 spaces after a blank line, outside a list item.
        if line.startswith("    ") and (i == 0 or not lines[i - 1].strip()) \
                and not re.match(r"^(\s|[-*+]\s|\d+[.)]\s)", prev_nonblank):
            body, j = [], i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            doc.blocks.append(Block(i + 1, "", body))
            i = j
            continue
        if not line.strip():
            flush()
        else:
            if not para:
                para_start = i + 1
            para.append(line)
            h = re.match(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if h:
                doc.headings.append(h.group(2))
                flush()
            prev_nonblank = line
        i += 1
    flush()
    return doc


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup stripped, lower case, punctuation other than
    '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # links -> their text
    text = re.sub(r"<[^>]+>", "", text)                             # html tags
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "-_" or ch == " " or cat[0] in "LNM":
            out.append("-" if ch == " " else ch)
    return "".join(out)


def anchors(doc: Doc) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for h in doc.headings:
        slug = github_slug(h)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    # explicit <a name="..."> / id="..." anchors
    result.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", doc.text))
    return result


_DOCS: dict[Path, Doc] = {}


def get_doc(path: Path) -> Doc:
    path = path.resolve()
    if path not in _DOCS:
        _DOCS[path] = parse(path)
    return _DOCS[path]


def line_of(start_line: int, text: str, offset: int) -> int:
    return start_line + text.count("\n", 0, offset)


def code_spans(doc: Doc):
    """(line, text) of every inline code span and of every line of every code block."""
    for start, para in doc.paragraphs:
        for m in re.finditer(r"(`+)(.+?)\1", para, re.S):
            yield line_of(start, para, m.start()), m.group(2).replace("\n", " ")
    for block in doc.blocks:
        for k, line in enumerate(block.lines):
            yield block.line + k, line


# --------------------------------------------------------------------------- (a) links

LINK = re.compile(r"(?<!\\)!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)", re.M)


def check_links(doc: Doc) -> list[str]:
    problems = []
    for start, para in doc.paragraphs:
        masked = re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), para, flags=re.S)
        targets = [(m.start(), m.group(1)) for m in LINK.finditer(masked)]
        targets += [(m.start(), m.group(1)) for m in REF_DEF.finditer(masked)]
        for offset, target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):      # http:, mailto:, ...
                continue
            where = f"{doc.rel}:{line_of(start, para, offset)}"
            path_part, _, anchor = target.partition("#")
            dest = (doc.path.parent / path_part).resolve() if path_part else doc.path
            if path_part.startswith("/"):
                problems.append(f"{where}: link {target!r} is absolute; use a relative path")
                continue
            if not dest.exists():
                problems.append(f"{where}: link {target!r}: {path_part} does not exist")
                continue
            try:
                dest.relative_to(ROOT)
            except ValueError:
                problems.append(f"{where}: link {target!r} points outside the repository")
                continue
            if anchor and dest.suffix == ".md":
                if anchor not in anchors(get_doc(dest)):
                    problems.append(f"{where}: link {target!r}: no heading with anchor "
                                    f"#{anchor} in {dest.relative_to(ROOT).as_posix()}")
    return problems


# --------------------------------------------------------------------------- (b) paths

PATH_RE = re.compile(
    r"(?<![\w./$~-])((?:%s)/[\w./*{}<>:-]*)" % "|".join(REPO_DIRS + OUTPUT_DIRS))


def check_paths(doc: Doc) -> list[str]:
    problems = []
    for line, text in code_spans(doc):
        for m in PATH_RE.finditer(text):
            name = m.group(1)
            if name.split("/", 1)[0] in OUTPUT_DIRS or "<" in name or "{" in name:
                continue
            name = re.sub(r"::.*$", "", name)          # pytest node ids
            name = re.sub(r":\d*$", "", name)          # FILE:LINE
            name = name.rstrip(".,:;")
            if any(c in name for c in "*?["):
                if not glob.glob(str(ROOT / name)):
                    problems.append(f"{doc.rel}:{line}: {name!r} matches no file")
            elif not (ROOT / name).exists():
                problems.append(f"{doc.rel}:{line}: {name!r} does not exist")
    return problems


# --------------------------------------------------------------------------- (c, d) commands


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


KVLAB = re.compile(r"(?<![\w-])kvlab(?=[ \t]+(?:-|[a-z]))")
STOP = re.compile(r"[|;&>#`]|\bkvlab\b|\$\(")


def logical_lines(spans):
    """Join code-block lines continued with a trailing backslash."""
    pending, first = "", None
    for line, text in spans:
        if pending:
            pending += " " + text
        else:
            pending, first = text, line
        if pending.rstrip().endswith("\\"):
            pending = pending.rstrip()[:-1]
            continue
        yield first, pending
        pending = ""
    if pending:
        yield first, pending


def check_kvlab(doc: Doc, parser: argparse.ArgumentParser) -> list[str]:
    problems = []
    for line, text in logical_lines(code_spans(doc)):
        for m in KVLAB.finditer(text):
            rest = text[m.end():]
            stop = STOP.search(rest)
            words = (rest[:stop.start()] if stop else rest).split()
            current, path = parser, ["kvlab"]
            k = 0
            while k < len(words):
                subs = _subparsers(current)
                word = words[k]
                if not subs or word.startswith("-"):
                    break
                if word not in subs:
                    if re.fullmatch(r"[a-z][a-z0-9-]*", word) and len(path) == 1:
                        problems.append(f"{doc.rel}:{line}: `kvlab {word}`: no such subcommand "
                                        f"(known: {', '.join(sorted(subs))})")
                    current = None
                    break
                current = subs[word]
                path.append(word)
                k += 1
            if current is None:
                continue
            known = _options(current)
            for word in words[k:]:
                flag = re.match(r"^\[?(--?[A-Za-z][\w-]*)", word)
                if flag and flag.group(1) not in known:
                    problems.append(f"{doc.rel}:{line}: `{' '.join(path)}` has no option "
                                    f"{flag.group(1)}")
    return problems


def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-/ ]+?)\s*:(?!=)", line)
        if m and not line.startswith("\t"):
            targets.update(m.group(1).split())
    return targets


def check_make(doc: Doc, targets: set[str]) -> list[str]:
    problems = []
    for line, text in code_spans(doc):
        for m in re.finditer(r"(?<![\w./-])make((?:[ \t]+[a-z][\w-]*)+)", text):
            for word in m.group(1).split():
                if word in targets:
                    continue
                problems.append(f"{doc.rel}:{line}: `make {word}`: no such target in the Makefile")
                break
    return problems


# --------------------------------------------------------------------------- tests

DOCS = markdown_files()


def test_there_are_docs():
    assert ROOT / "README.md" in DOCS and len(DOCS) >= 6


def _report(problems: list[str]):
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_links_resolve():
    _report([p for path in DOCS for p in check_links(get_doc(path))])


def test_named_paths_exist():
    _report([p for path in DOCS for p in check_paths(get_doc(path))])


def test_kvlab_commands_and_flags_exist():
    from kv_agent_lab.cli import build_parser

    parser = build_parser()
    _report([p for path in DOCS for p in check_kvlab(get_doc(path), parser)])


def test_make_targets_exist():
    targets = make_targets()
    _report([p for path in DOCS for p in check_make(get_doc(path), targets)])


# --------------------------------------------------------------------------- (e) runnable


def _ignored(rel: str, is_dir: bool, patterns: list[tuple[bool, str]]) -> bool:
    """.gitignore matching, enough for this repository's patterns."""
    ignored = False
    parts = rel.split("/")
    for negate, pat in patterns:
        dir_only = pat.endswith("/")
        pat = pat.rstrip("/")
        if dir_only and not is_dir:
            continue
        if "/" in pat.lstrip("/"):
            hit = fnmatch.fnmatch(rel, pat.lstrip("/"))
        else:
            hit = fnmatch.fnmatch(parts[-1], pat)
        if hit:
            ignored = not negate
    return ignored


def copy_repository(dest: Path) -> None:
    """Copy what git would track (tracked and untracked files .gitignore does not exclude)."""
    patterns = []
    for raw in (ROOT / ".gitignore").read_text().splitlines():
        raw = raw.strip()
        if raw and not raw.startswith("#"):
            patterns.append((raw.startswith("!"), raw.lstrip("!")))
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = Path(dirpath).relative_to(ROOT).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if d != ".git" and not (Path(dirpath, d).is_symlink())
                       and not _ignored(rel_dir + d, True, patterns)]
        for name in filenames:
            rel = rel_dir + name
            if _ignored(rel, False, patterns):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath, name), target, follow_symlinks=False)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def runnable_blocks() -> list[tuple[str, Block]]:
    return [(get_doc(path).rel, block) for path in DOCS for block in get_doc(path).blocks
            if block.marker]


def commands(block: Block) -> list[tuple[int, str]]:
    result = []
    for line, text in logical_lines((block.line + k, t) for k, t in enumerate(block.lines)):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if block.marker == "dry-run":
            code = re.split(r"\s#", text, maxsplit=1)[0]     # the command without its comment
            planned = re.search(r"\s(-n|--dry-run)\b", code)
            if re.match(r"^(?:\S*/)?snakemake\b", code) and not planned:
                text = re.sub(r"^((?:\S*/)?snakemake)\b", r"\1 -n", text)
        result.append((line, text))
    return result


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("docs-repo")
    copy_repository(dest)
    return dest


def test_runnable_blocks_exist():
    assert runnable_blocks(), "no runnable block in the docs: the marker convention is unused"


@pytest.mark.parametrize("rel,block", runnable_blocks(),
                         ids=[f"{rel}:{block.line}" for rel, block in runnable_blocks()])
def test_runnable_block_exits_0(rel: str, block: Block, repo_copy: Path):
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = "src"
    env.pop("VIRTUAL_ENV", None)
    problems = []
    for line, command in commands(block):
        try:
            result = subprocess.run(["bash", "-c", command], cwd=repo_copy, env=env,
                                    capture_output=True, text=True, timeout=RUNNABLE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            problems.append(f"{rel}:{line}: `{command}` ran past {RUNNABLE_TIMEOUT_S} s")
            continue
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            problems.append(f"{rel}:{line}: `{command}` exited {result.returncode}:\n    "
                            + "\n    ".join(tail))
    _report(problems)


# --------------------------------------------------------------------------- glossary

GLOSSARY_IDS = {"ttft", "tpot", "itl", "e2e_latency", "throughput", "prefix_cache", "kv_cache",
                "block", "block_size", "block_hash", "hit_rate", "cached_tokens", "eviction",
                "lru", "retention_policy", "cpu_offload", "preemption", "recompute",
                "continuous_batching", "chunked_prefill", "prefill", "decode", "roofline",
                "mfu_mbu", "working_set", "capacity_sweep", "workload", "session", "turn",
                "planner", "sub_agent", "role_template", "shared_system_prompt", "bootstrap_ci",
                "paired_comparison", "percentiles", "ideal_reuse", "null_block", "think_time",
                "queue_time", "kv_usage", "estimate_twin", "parity", "verdict"}
GLOSSARY_KEYS = {"id", "section", "en", "zh", "def_en", "def_zh", "where_en", "where_zh"}


def _glossary_builder():
    """docs/glossary_build.py, which writes docs/glossary.md and docs/glossary.zh-CN.md."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("glossary_build", ROOT / "docs" / "glossary_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_glossary_is_complete():
    """docs/glossary-terms.yaml: the term list the English and Chinese guides share."""
    import yaml

    terms = yaml.safe_load((ROOT / "docs" / "glossary-terms.yaml").read_text(encoding="utf-8"))
    sections = {s["id"] for s in terms["sections"]}
    terms = terms["terms"]
    ids = [t["id"] for t in terms]
    assert len(ids) == len(set(ids)), "duplicate term ids"
    assert GLOSSARY_IDS <= set(ids), sorted(GLOSSARY_IDS - set(ids))
    for t in terms:
        assert set(t) == GLOSSARY_KEYS, t
        assert all(isinstance(t[k], str) and t[k].strip() and "\n" not in t[k] for k in t), t
        assert t["section"] in sections, t


def test_glossary_pages_match_the_yaml():
    """docs/glossary.md and docs/glossary.zh-CN.md are generated from the YAML: each holds every
    term under its English and its Chinese name, and both equal what docs/glossary_build.py
    writes (run it after editing the YAML)."""
    build = _glossary_builder()
    data = build.load()
    problems = []
    for lang, path in build.FILES.items():
        rel = path.relative_to(ROOT).as_posix()
        if not path.exists():
            problems.append(f"{rel}: missing; run .venv/bin/python docs/glossary_build.py")
            continue
        text = path.read_text(encoding="utf-8")
        for t in data["terms"]:
            for key in ("en", "zh"):
                if t[key] not in text:
                    problems.append(f"{rel}: term {t['id']!r}: {key} name {t[key]!r} is missing")
            if f'<a id="{t["id"]}"></a>' not in text:
                problems.append(f"{rel}: term {t['id']!r}: no anchor #{t['id']}")
        if text != build.render(lang, data):
            problems.append(f"{rel}: differs from docs/glossary-terms.yaml; run "
                            ".venv/bin/python docs/glossary_build.py")
    _report(problems)
