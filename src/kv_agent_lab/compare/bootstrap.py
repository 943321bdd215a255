"""Seeded percentile bootstrap of the difference between two runs, vectorized with numpy.

Method (docs/compare.md says the same for readers of the output):

- A *unit* is one request. Paired (both runs served the same workload, requests matched by
  id): one resample draws n request indices with replacement and takes *both* runs' values of
  each drawn request, so the request-to-request spread that both runs share cancels out of
  the delta. Independent: each run's requests are resampled on their own, from their own
  stream.
- In every resample the statistic (mean, a percentile, a ratio of sums) is computed for
  baseline and candidate; delta = candidate - baseline and relative delta = candidate /
  baseline - 1. The 95% interval is the 2.5th and 97.5th percentile of those resampled values
  (percentile bootstrap, Efron & Tibshirani ch. 13), percentiles by numpy's default linear
  interpolation throughout.
- Deterministic: the stream of each (group, metric, side) comes from
  ``SeedSequence(seed, spawn_key=crc32 of the names)``, so a result depends on the seed and
  its own data only, not on which other classes or metrics were compared before it.

Speed: every column of a group (both runs' TTFT, TPOT, end-to-end, cached and prompt
tokens) shares one index draw. Sums (so means and hit rates) come from one count-matrix
product. A percentile of a resample is an order statistic, so instead of sorting resampled
floats the module maps the indices to the values' ranks (uint16 when n <= 65,536, which
numpy sorts with a radix sort in linear time) and reads the order statistics off the sorted
values. Resamples go in chunks of about ``_CHUNK_ELEMENTS`` indices, so memory stays flat
whatever n.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Collection, Hashable, Iterator, Mapping

import numpy as np

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0}
LATENCY_STATISTICS = ("mean", "p50", "p90", "p99")
_CHUNK_ELEMENTS = 1_000_000  # indices per chunk: ~30 MB of temporaries
_SIDE_CODES = {"paired": 0, "baseline": 1, "candidate": 2}


def stream(seed: int, group: str, metric: str, side: str) -> np.random.Generator:
    """The random stream of one (group, metric, side); stable across runs and platforms."""
    key = (zlib.crc32(group.encode("utf-8")), zlib.crc32(metric.encode("utf-8")),
           _SIDE_CODES[side])
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=key))


def index_chunks(rng: np.random.Generator, n_units: int, resamples: int) -> Iterator[np.ndarray]:
    """Resample indices, (rows, n_units) per chunk, rows summing to ``resamples``.

    The chunk size depends on n_units only, so a seed always gives the same indices."""
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(n_units, 1))
    done = 0
    while done < resamples:
        rows = min(rows_per_chunk, resamples - done)
        # intp: numpy gathers with native indices without converting them first
        yield rng.integers(0, n_units, size=(rows, n_units), dtype=np.intp)
        done += rows


def interpolated_order_statistic(sorted_values: np.ndarray, sorted_ranks: np.ndarray,
                                 percentile: float) -> np.ndarray:
    """Per row, numpy's linear-interpolation percentile of ``sorted_values[sorted_ranks[row]]``.

    ``sorted_ranks`` rows are ascending, so column k holds the row's k-th order statistic
    (as a rank into ``sorted_values``); the percentile sits at virtual index (n-1)*q/100."""
    n = sorted_ranks.shape[1]
    position = (n - 1) * percentile / 100.0
    below = int(np.floor(position))
    above = min(below + 1, n - 1)
    fraction = position - below
    low = sorted_values[sorted_ranks[:, below]]
    high = sorted_values[sorted_ranks[:, above]]
    # numpy's _lerp: the same two formulas, so results match np.percentile to the last bit
    # in all but pathological cases.
    return np.where(fraction >= 0.5, high - (high - low) * (1 - fraction),
                    low + (high - low) * fraction)


class RankedValues:
    """One run's values of one metric over the units, with each unit's rank.

    Invariant: ``sorted_values[rank[i]] == values[i]`` for every unit i, ranks 0..n-1
    distinct (ties broken by position), so sorting a resample's ranks sorts its values."""

    def __init__(self, values: np.ndarray):
        self.values = np.asarray(values, dtype=float)
        order = np.argsort(self.values, kind="stable")
        rank_dtype = np.uint16 if self.values.size <= 1 << 16 else np.int64
        self.rank = np.empty(self.values.size, dtype=rank_dtype)
        self.rank[order] = np.arange(self.values.size, dtype=rank_dtype)
        self.sorted_values = self.values[order]

    def percentiles(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """p50, p90, p99 of each resample row of ``indices``."""
        # stable on 16-bit ints is numpy's radix sort: linear in the row length
        sorted_ranks = np.sort(self.rank[indices], axis=1, kind="stable")
        return {name: interpolated_order_statistic(self.sorted_values, sorted_ranks, q)
                for name, q in PERCENTILES.items()}


def point_statistics(values: np.ndarray) -> dict[str, float]:
    """mean, p50, p90, p99 of one sample (numpy's linear-interpolation percentiles)."""
    data = np.asarray(values, dtype=float)
    out = {"mean": float(data.mean())}
    out.update({name: float(np.percentile(data, q)) for name, q in PERCENTILES.items()})
    return out


def resample_columns(columns: Mapping[Hashable, np.ndarray], ordered: Collection[Hashable],
                     rng: np.random.Generator, resamples: int
                     ) -> dict[Hashable, dict[str, np.ndarray]]:
    """Bootstrap distributions of several columns over the *same* units, one resample at a
    time shared by all of them: for every column its ``sum`` per resample, and for the
    ``ordered`` ones also p50, p90, p99.

    Paired, the columns are both runs' values aligned by request; independent, one run's.
    Sums go through a count matrix (how often each unit was drawn) and one matrix product,
    so ten columns cost about one gather; percentiles need a sort of ranks per column."""
    names = list(columns)
    sizes = {len(columns[name]) for name in names}
    if len(sizes) != 1:
        raise ValueError(f"columns must have one length to share resamples, not {sorted(sizes)}")
    n_units = sizes.pop()
    matrix = np.column_stack([np.asarray(columns[name], dtype=float) for name in names])
    ranked = {name: RankedValues(columns[name]) for name in ordered}
    sums: list[np.ndarray] = []
    percentiles: dict[Hashable, list[dict[str, np.ndarray]]] = {name: [] for name in ordered}
    for idx in index_chunks(rng, n_units, resamples):
        rows = idx.shape[0]
        flat = idx + (np.arange(rows, dtype=np.intp) * n_units)[:, None]
        counts = np.bincount(flat.ravel(), minlength=rows * n_units).reshape(rows, n_units)
        sums.append(counts.astype(float) @ matrix)
        for name in ordered:
            percentiles[name].append(ranked[name].percentiles(idx))
    all_sums = np.concatenate(sums)
    out: dict[Hashable, dict[str, np.ndarray]] = {}
    for j, name in enumerate(names):
        out[name] = {"sum": all_sums[:, j]}
        if name in percentiles:
            out[name].update({q: np.concatenate([part[q] for part in percentiles[name]])
                              for q in PERCENTILES})
    return out


@dataclass(frozen=True)
class Interval:
    """A delta's point value and percentile interval; None where undefined."""

    delta: float | None
    relative_delta: float | None
    delta_ci: tuple[float, float] | None
    relative_delta_ci: tuple[float, float] | None

    @property
    def significant(self) -> bool | None:
        """True when the interval of the absolute delta excludes zero (spans-zero rule)."""
        if self.delta_ci is None:
            return None
        low, high = self.delta_ci
        return bool(low > 0 or high < 0)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float] | None:
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def delta_interval(baseline_point: float | None, candidate_point: float | None,
                   baseline_samples: np.ndarray | None, candidate_samples: np.ndarray | None,
                   confidence: float) -> Interval:
    """Delta, relative delta and their intervals from the two bootstrap distributions.

    The relative delta (and its interval) is left out when the baseline is 0 in the point
    estimate or in any resample: a ratio to zero has no meaning, and dropping those
    resamples would bias the interval."""
    if baseline_point is None or candidate_point is None:
        return Interval(None, None, None, None)
    delta = candidate_point - baseline_point
    relative = candidate_point / baseline_point - 1 if baseline_point != 0 else None
    if baseline_samples is None or candidate_samples is None:
        return Interval(delta, relative, None, None)
    delta_ci = percentile_interval(candidate_samples - baseline_samples, confidence)
    relative_ci = None
    usable = np.all(np.isfinite(baseline_samples)) and np.all(baseline_samples != 0)
    if relative is not None and usable:
        relative_ci = percentile_interval(candidate_samples / baseline_samples - 1, confidence)
    return Interval(delta, relative, delta_ci, relative_ci)
