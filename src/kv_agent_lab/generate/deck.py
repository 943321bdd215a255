"""Seeded drawing without verbatim repeats: :class:`Deck` and :func:`shuffled`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


class Deck:
    """Draw without replacement; reshuffle only when exhausted (avoids verbatim repeats)."""

    def __init__(self, rng: random.Random, items: Sequence[Any]):
        self._rng, self._items, self._pool, self._last = rng, list(items), [], None

    def draw(self) -> Any:
        if not self._pool:
            self._pool = list(self._items)
            self._rng.shuffle(self._pool)
            if len(self._pool) > 1 and self._pool[-1] == self._last:
                # no back-to-back repeat across a reshuffle
                self._pool[0], self._pool[-1] = self._pool[-1], self._pool[0]
        self._last = self._pool.pop()
        return self._last

    def fresh(self, seen: list[Any]) -> Any | None:
        """Draw an item not in ``seen`` (and record it), or None when the deck has none left."""
        for _ in range(len(self._items)):
            item = self.draw()
            if item not in seen:
                seen.append(item)
                return item
        return None


def shuffled(rng: random.Random, items: Sequence[Any]) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out
