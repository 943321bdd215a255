"""Pasted material: the logs, code, test runs, tables, invoices, quoted e-mails and reference
lists that users paste into messages and assistants quote in replies, each sized to about a
token count, plus the short code or query snippets replies include."""

from __future__ import annotations

import random
from collections.abc import Callable

from .corpus_pasted import (
    CODE_NAMES, CODE_RESOURCES, CODE_TEMPLATES, LOG_MESSAGES, PROMQL_TEMPLATES, REFERENCE_AUTHORS,
    REFERENCE_KINDS, REFERENCE_QUALIFIERS, REFERENCE_VENUES, REPLY_ARTEFACT_LEADS, SQL_TEMPLATES,
    TEST_MODULES, TEST_OBJECTS, TEST_VERBS,
)
from .corpus_records import Persona
from .corpus_slots import SLOTS
from .corpus_tasks import TASK_KINDS
from .deck import shuffled
from .fit import CountTokens
from .slots import CODE_SLOT_RE, fill, slot_value


def code_fill(rng: random.Random, template: str) -> str:
    extra = {"name": rng.choice(CODE_NAMES), "resource": rng.choice(CODE_RESOURCES)}
    return fill(rng, template, CODE_SLOT_RE, **extra)


def _sized_lines(make_line: Callable[[], str], size: int, count: CountTokens,
                 cap: int = 400) -> list[str]:
    """Lines until about ``size`` tokens: a line that would overshoot more than it fills is
    dropped."""
    lines: list[str] = []
    total = 0
    while total < size and len(lines) < cap:
        line = make_line()
        c = count(line + "\n")
        if lines and total + c - size > size - total:
            break
        total += c
        lines.append(line)
    return lines


def _log_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    service, ms = rng.choice(SLOTS["service"]), rng.randint(0, 80_000_000)
    day = slot_value(rng, "date")

    def line() -> str:
        nonlocal ms
        ms += rng.randint(1, 40_000)
        secs = ms // 1000
        level, msg, kv = rng.choice(LOG_MESSAGES)
        ts = (f"{day}T{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
              f".{ms % 1000:03d}Z")
        pod = f"{service}-{rng.getrandbits(20):05x}-{rng.getrandbits(16):04x}"
        return (f'{ts} {level:<5} {service} pod={pod} trace={rng.getrandbits(32):08x} '
                f'msg="{msg}" {fill(rng, kv)}')

    return "```\n" + "\n".join(_sized_lines(line, size, count)) + "\n```"


def _code_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    """Source excerpts (at most one of each template), or a test-run log when more is needed."""
    if size > 700 and rng.random() < 0.5:
        return _test_run_artefact(rng, size, count)
    chunks: list[str] = []
    total = 0
    for template in shuffled(rng, CODE_TEMPLATES):  # whole definitions that fit, at least one
        chunk = code_fill(rng, template).rstrip("\n")
        c = count(chunk + "\n\n")
        if not chunks or total + c <= size:
            chunks.append(chunk)
            total += c
    return "```\n" + "\n\n".join(chunks) + "\n```"


def _test_run_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    total = rng.randint(150, 900)
    done = failed = 0

    def line() -> str:
        nonlocal done, failed
        done += 1
        name = (f"tests/test_{rng.choice(TEST_MODULES)}.py"
                f"::test_{rng.choice(TEST_VERBS)}_{rng.choice(TEST_OBJECTS)}")
        if rng.random() < 0.06:
            failed += 1
            return (f"{name} FAILED [{min(99, 100 * done // total):3d}%]\n"
                    f"E   AssertionError: assert "
                    f"Decimal('{rng.randint(1, 999)}.{rng.randint(0, 99):02d}') == "
                    f"Decimal('{rng.randint(1, 999)}.00')")
        return f"{name} PASSED [{min(99, 100 * done // total):3d}%]"

    head = (f"$ pytest -v tests/ -p no:cacheprovider\n"
            f"============ test session starts ============\n"
            f"collected {total} items\n")
    body = "\n".join(_sized_lines(line, size - count(head) - 20, count))
    return (f"```\n{head}{body}\n"
            f"========= {failed} failed, {done - failed} passed in {rng.uniform(5, 90):.2f}s "
            f"=========\n```")


def table_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    week = rng.randint(1, 40)

    def row() -> str:
        nonlocal week
        week += 1
        users = rng.randint(800, 90000)
        orders = int(users * rng.uniform(0.01, 0.09))
        return (f"| 2024-W{week % 52 + 1:02d} | {rng.choice(SLOTS['plan'])} "
                f"| {rng.choice(('US', 'DE', 'GB', 'FR', 'BR', 'JP', 'IN'))} "
                f"| {users:,} | {orders:,} | {100 * orders / users:.1f}% |")

    head = "| week | plan | country | users | orders | conversion |\n|---|---|---|---:|---:|---:|\n"
    return head + "\n".join(_sized_lines(row, size - count(head), count))


def _invoice_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    def row() -> str:
        amount = rng.choice((19, 49, 99, 249, 490, 1290)) * rng.randint(1, 12)
        status = rng.choice(("paid", "paid", "paid", "refunded", "failed", "pending"))
        return (f"| {slot_value(rng, 'date')} | INV-{rng.randint(100000, 999999)} "
                f"| {slot_value(rng, 'order')} | {amount:,}.00 "
                f"| {rng.choice(('USD', 'EUR', 'GBP'))} | {status} |")

    head = "| date | invoice | order | amount | currency | status |\n|---|---|---|---:|---|---|\n"
    return head + "\n".join(_sized_lines(row, size - count(head), count))


def _quoted_artefact(rng: random.Random, p: Persona, size: int, count: CountTokens) -> str:
    """A quoted earlier email (support: explanations, then steps in order) or a draft excerpt."""
    if p.artefact == "email":
        who = f"On {slot_value(rng, 'date')}, {rng.choice(p.organizations)} Support wrote:"
        pool = shuffled(rng, p.reply_body)[: rng.randint(2, 4)] + list(p.steps)
    else:
        who, pool = "Current draft:", shuffled(rng, p.reply_body + TASK_KINDS[2].background)
    lines = iter(pool)
    quoted = _sized_lines(lambda: "> " + fill(rng, next(lines)), size, count, cap=len(pool))
    return who + "\n" + "\n".join(quoted)


def references_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    n = 0

    def ref() -> str:
        nonlocal n
        n += 1
        authors = ", ".join(rng.sample(REFERENCE_AUTHORS, 2))
        area = rng.choice(SLOTS["research_area"])
        kind = rng.choice(REFERENCE_KINDS)
        qualifier = rng.choice(REFERENCE_QUALIFIERS)
        venue = rng.choice(REFERENCE_VENUES)
        return (f"[{n}] {authors} ({rng.randint(2019, 2025)}). {kind} {area}{qualifier}. "
                f"{venue}. Accessed {slot_value(rng, 'date')}.")

    return "References:\n\n" + "\n".join(_sized_lines(ref, size, count))


def artefact(rng: random.Random, p: Persona, size: int, count: CountTokens,
             reply: bool = False) -> str:
    """Pasted material sized to about ``size`` tokens: logs, code, tables, emails, references."""
    kind = p.artefact
    lead = rng.choice(REPLY_ARTEFACT_LEADS[kind]) + "\n\n" if reply else ""
    if kind == "log":
        return lead + _log_artefact(rng, size, count)
    if kind == "code":
        return lead + _code_artefact(rng, size, count)
    if kind == "table":
        return lead + table_artefact(rng, size, count)
    if kind == "notes" and (reply or size > 300 or rng.random() < 0.5):
        refs = references_artefact(rng, size, count)
        return lead + refs.split("\n\n", 1)[1] if reply else refs
    if kind == "email" and (reply or size > 300):
        return lead + _invoice_artefact(rng, size, count)
    return _quoted_artefact(rng, p, size, count)


def snippet(rng: random.Random, persona: Persona, size: int, count: CountTokens) -> str | None:
    if persona.snippet == "python":
        return "Here is the change:\n\n" + _code_artefact(rng, size, count)
    if persona.snippet == "sql":
        query = code_fill(rng, rng.choice(SQL_TEMPLATES))
        return "This is the query I used:\n\n```sql\n" + query + "\n```"
    if persona.snippet == "promql":
        query = code_fill(rng, rng.choice(PROMQL_TEMPLATES))
        return "You can check it yourself with:\n\n```\n" + query + "\n```"
    return None
