"""Fit text to a token target: blocks, cuts at sentence boundaries, rescaling passes.

Text is built from *blocks* (paragraphs, list items, sentences, atomic code/tool-call
blocks) that a generator yields lazily.  Blocks are taken greedily while they fit, the
block that overshoots is trimmed at a sentence (or, as a last resort, word) boundary, and
the result is re-counted exactly and re-cut with a rescaled budget when the per-block
estimate was off.  Results land within ``TOLERANCE`` of the target, or slightly over when
the smallest possible unit is larger than the target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

CountTokens = Callable[[str], int]
TOLERANCE = 0.10
LOOSE = 0.5  # nested examples: any length near the random target, whole sentences only


@dataclass(frozen=True)
class Block:
    text: str  # includes its leading separator ("\n\n", "\n- ", " ")
    atomic: bool = False  # code / tool-call blocks: never cut, may be skipped
    optional: bool = False  # a self-contained sentence or list item: may be skipped to fit better


class _Stream:
    """Lazily materialised, cached block sequence with token counts."""

    def __init__(self, blocks: Iterator[Block], count: CountTokens):
        self._blocks, self._count, self._cache = blocks, count, []

    def __getitem__(self, i: int) -> tuple[Block, int]:
        while len(self._cache) <= i:
            b = next(self._blocks)
            self._cache.append((b, self._count(b.text)))
        return self._cache[i]


class Budget:
    """Lets a block generator size artefacts from what it has emitted so far."""

    def __init__(self, target: int, count: CountTokens):
        self.target, self.count, self.used = target, count, 0

    def emit(self, text: str, atomic: bool = False, optional: bool = False) -> Block:
        self.used += self.count(text)
        return Block(text, atomic, optional)

    @property
    def left(self) -> int:
        return self.target - self.used


def list_blocks(heading: str, items: Sequence[str], numbered: bool = False) -> Iterator[Block]:
    """A list under a heading, one block per item; unnumbered items after the first may be
    dropped to fit, since no later item refers to them."""
    for k, item in enumerate(items, 1):
        bullet = f"{k}. " if numbered else "- "
        yield Block((f"\n\n{heading}\n\n" if k == 1 else "\n") + bullet + item,
                    optional=k > 1 and not numbered)


_PIECE_RE = re.compile(r"(?<=[.!?:])(?= )|(?=\n)")
_MARKER_RE = re.compile(r"\d+\.|[-*]|#+|\*\*\w+\*\*")
_FENCE_RE = re.compile(r"(\n*```.*?```|\n*<tool_call>.*?</tool_call>)", re.S)


def _pieces(text: str) -> list[str]:
    """Split at sentence ends and line starts, never inside fenced code or tool calls.
    A heading line or a lead-in ending in ':' stays glued to the piece that follows."""
    out: list[str] = []
    glue = False
    for seg in _FENCE_RE.split(text):
        for p in [seg] if _FENCE_RE.fullmatch(seg) else _PIECE_RE.split(seg):
            if not p:
                continue
            if out and glue:
                out[-1] += p
            else:
                out.append(p)
            bare = p.strip()
            glue = (not bare or bare.endswith(":") or bare.startswith("#")
                    or bool(_MARKER_RE.fullmatch(bare)))
    return out


def _largest_fit(n: int, cost: Callable[[int], int], room: int) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(mid) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _trim(text: str, room: int, count: CountTokens) -> tuple[str, str]:
    """(longest sentence-boundary prefix within room, word-boundary prefix within room)."""
    pieces = _pieces(text)
    k = _largest_fit(len(pieces) - 1, lambda m: count("".join(pieces[:m])), room)
    by_sentence = "".join(pieces[:k])
    rest = pieces[k] if k < len(pieces) else ""
    if "```" in rest or "<tool_call>" in rest:
        return by_sentence, by_sentence
    lead = rest[: len(rest) - len(rest.lstrip())]
    words = rest.split()
    m = _largest_fit(len(words),
                     lambda j: count(by_sentence + lead + " ".join(words[:j]) + "."), room)
    marker = 1 if words and _MARKER_RE.fullmatch(words[0]) else 0
    if m < min(3, len(words)) + marker:  # no one-word stubs
        return by_sentence, by_sentence
    tail = " ".join(words[:m]).rstrip(",;:—-–(")
    if tail and tail[-1] not in ".!?":
        tail += "."
    return by_sentence, by_sentence + lead + tail


def _take(stream: _Stream, budget: int, count: CountTokens, tol: float) -> str:
    """Greedy fill to ``budget`` tokens (per-block counts).  A block that overshoots is taken
    whole if that lands in the band, else cut at a sentence boundary; optional and atomic
    blocks may be skipped to find a later block that fits; a word-boundary cut is the last
    resort."""
    parts: list[str] = []
    total, i, skips = 0, 0, 0
    margin = tol * budget * 0.6  # aim inside the band: per-block counts are estimates
    fallback: tuple[int, str] | None = None  # best cut seen while skipping
    while True:
        block, c = stream[i]
        i += 1
        if total + c <= budget:
            parts.append(block.text)
            total += c
            fallback = None
            if total >= budget - margin / 4:
                return "".join(parts)
            continue
        room, head = budget - total, "".join(parts)
        if c - room <= margin:
            return head + block.text
        if room <= margin and head.strip():
            return head
        if not block.atomic:
            by_sentence, by_word = _trim(block.text, room, count)
            for cut in (by_sentence, by_word):
                if cut.strip():
                    dev = room - count(cut)
                    if cut is by_sentence and dev <= margin:
                        return head + cut
                    if fallback is None or dev < fallback[0]:
                        fallback = (dev, head + cut)
        if (block.atomic or block.optional) and skips < 6:
            skips += 1  # look for a later block that fits
            continue
        options = [(room, head)] if head.strip() else [(c - room, head + block.text)]
        if fallback is not None:
            options.append(fallback)
        return min(options, key=lambda o: o[0])[1]


def compose(blocks: Iterator[Block], target: int, count: CountTokens,
            tol: float = TOLERANCE) -> str:
    """Greedy fill, then exact re-count and re-cut with a rescaled budget (at most 4 passes)."""
    if target <= 0:
        return ""
    stream = _Stream(blocks, count)
    budget, best, best_n = target, "", -(10**9)
    for _ in range(4):
        text = _take(stream, budget, count, tol).strip()
        n = count(text)
        if abs(n - target) < abs(best_n - target):
            best, best_n = text, n
        if abs(n - target) <= tol * target * 0.6:
            break
        budget = max(1, round(budget * target / max(n, 1)))
    return best
