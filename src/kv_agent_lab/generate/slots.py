"""Template slots: fill ``{slot}`` (prose) and ``<<slot>>`` (code) placeholders with seeded values.

Named pools come from :data:`.corpus_slots.SLOTS`; dates, times, numbers, ids and e-mail
addresses are made up here, so that every value comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
import re

from .corpus_slots import CUSTOMER_DOMAINS, SLOTS

SLOT_RE = re.compile(r"\{([a-z_]+)\}")
CODE_SLOT_RE = re.compile(r"<<([a-z_]+)>>")  # code keeps its own braces literal


def slot_value(rng: random.Random, name: str) -> str:
    if name in SLOTS:
        return rng.choice(SLOTS[name])
    if name == "date":
        return f"{rng.randint(2023, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if name == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if name == "num":
        return str(rng.choice((3, 4, 6, 8, 12, 15, 20, 25, 40, 60, 120, 250, 400)))
    if name == "pct":
        return str(rng.randint(3, 38))
    if name == "version":
        return f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    if name == "ticket":
        return f"SUP-{rng.randint(10000, 99999)}"
    if name == "order":
        return f"ord_{rng.randint(10000, 99999)}"
    if name == "incident":
        return f"INC-{rng.randint(1000, 4999)}"
    if name == "sha":
        return f"{rng.getrandbits(28):07x}"
    if name == "email":
        person = rng.choice(SLOTS["person"]).lower().replace("á", "a")
        return f"{person}@{rng.choice(CUSTOMER_DOMAINS)}"
    if name == "key":
        return rng.choice(("customer_id", "region", "plan", "currency", "account_id"))
    raise KeyError(f"unknown template slot {{{name}}}")


def fill(rng: random.Random, template: str, pattern: re.Pattern[str] = SLOT_RE,
         **fixed: str) -> str:
    """Fill ``{slot}`` placeholders; a slot repeated in one template gets one value."""
    memo: dict[str, str] = dict(fixed)

    def sub(m: re.Match[str]) -> str:
        if m[1] not in memo:
            memo[m[1]] = slot_value(rng, m[1])
        return memo[m[1]]

    return pattern.sub(sub, template)
