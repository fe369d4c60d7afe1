"""The per-patient kernel's stores and draws: colonies, dormant cells, their events.

Used by :mod:`.kernel`: :class:`ColonyStore` (the colonies founded so far),
:class:`DormantPool` (dormant cells per organ and source), :func:`dormant_events` and
:func:`settle_dormant` (the dormant cells' events in a block of steps, and keeping those
of the steps the block keeps), and the draws made one by one when there are few.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.kernel_plan import KernelPlan
from metacascade.engine.limits import SCALAR_DRAWS
from metacascade.engine.result import COLONY_DTYPES, DIED_AFTER, EXTINCT, WOKE

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def read_only(array: NDArray[Any]) -> NDArray[Any]:
    """The array, made read-only (shared empty columns must not be written into)."""
    array.flags.writeable = False
    return array


NO_INTS: IntArray = read_only(np.zeros(0, dtype=np.int64))
NO_COLONIES = {name: read_only(np.zeros(0, dtype=dtype))
                for name, dtype in COLONY_DTYPES.items()}


def binomial(rng: np.random.Generator, n: IntArray, p: FloatArray | float) -> IntArray:
    """Binomial(n, p) element by element (a few are drawn one by one: cheaper)."""
    if n.size > SCALAR_DRAWS:
        return rng.binomial(n, p)
    if not isinstance(p, np.ndarray):
        return np.array([rng.binomial(m, p) for m in n.tolist()], dtype=np.int64)
    return np.array([rng.binomial(m, x) for m, x in zip(n.tolist(), p.tolist(), strict=True)],
                    dtype=np.int64)


def multinomial(rng: np.random.Generator, n: IntArray, p: FloatArray) -> IntArray:
    """One Multinomial(n[i], p[i]) per row (a few are drawn one by one: cheaper)."""
    if n.size > SCALAR_DRAWS:
        return rng.multinomial(n, p)
    return np.array([rng.multinomial(m, row) for m, row in zip(n.tolist(), p, strict=True)],
                    dtype=np.int64).reshape(n.size, p.shape[1])


def dormant_fates(rng: np.random.Generator, count: IntArray, exposure: FloatArray,
                   wake_share: float) -> tuple[FloatArray, IntArray, IntArray]:
    """Chance of an event, cells that woke and cells that died, of each cohort.

    ``exposure`` is the integrated hazard the cohort is exposed to; Binomial(count,
    p_any) events, each a waking with probability ``wake_share``.
    """
    if count.size > SCALAR_DRAWS:
        p_any = -np.expm1(-exposure)
        events = rng.binomial(count, p_any)
        woke = rng.binomial(events, wake_share)
        return p_any, woke, events - woke
    chances: list[float] = []
    woken: list[int] = []
    died: list[int] = []
    for m, h in zip(count.tolist(), exposure.tolist(), strict=True):
        p = -math.expm1(-h)
        cells = rng.binomial(m, p)
        w = rng.binomial(cells, wake_share) if cells else 0
        chances.append(p)
        woken.append(w)
        died.append(cells - w)
    return (np.array(chances), np.array(woken, dtype=np.int64),
            np.array(died, dtype=np.int64))


class ColonyStore:
    """Column store of colonies with capacity doubling (ids start at 1; 0 is the primary)."""

    def __init__(self) -> None:
        self.size = 0
        self._cap = 0
        self._columns: dict[str, NDArray[Any]] = dict(NO_COLONIES)

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._cap, 64)
        for name, dtype in COLONY_DTYPES.items():
            column: NDArray[Any] = np.zeros(cap, dtype=dtype)
            column[: self.size] = self._columns[name][: self.size]
            self._columns[name] = column
        self._cap = cap

    def __len__(self) -> int:
        return self.size

    def view(self, name: str) -> NDArray[Any]:
        """The column ``name`` of the colonies so far (a view, not a copy)."""
        return self._columns[name][: self.size]

    organ = property(lambda self: self.view("organ"))
    parent = property(lambda self: self.view("parent"))
    generation = property(lambda self: self.view("generation"))
    founded = property(lambda self: self.view("founded"))
    w = property(lambda self: self.view("w"))
    switch = property(lambda self: self.view("switch"))
    via = property(lambda self: self.view("via"))
    surface = property(lambda self: self.view("surface"))

    def add(self, columns: Mapping[str, NDArray[Any]]) -> None:
        """Append colonies (``parent`` ids must exist already)."""
        k = len(columns["organ"])
        if k == 0:
            return
        if self.size + k > self._cap:
            self._grow(self.size + k)
        parent = columns["parent"]
        generation = np.ones(k, dtype=np.int64)
        seeded = parent > 0
        generation[seeded] += self.generation[parent[seeded] - 1]
        new = slice(self.size, self.size + k)
        for name in COLONY_DTYPES:
            self._columns[name][new] = generation if name == "generation" else columns[name]
        self.size += k


class DormantPool:
    """Dormant cells per organ and source (a column per source that ever made one)."""

    def __init__(self, n_organs: int) -> None:
        self.counts = np.zeros((n_organs, 8), dtype=np.int64)
        #: Dormant cells in the pool (``counts.sum()``).
        self.total = 0
        self.source_of_column: list[int] = [0]
        #: Column of each source id (-1: none yet), grown as ids appear.
        self.column_of_source = np.full(64, -1, dtype=np.int64)
        self.column_of_source[0] = 0

    def columns(self, sources: IntArray) -> IntArray:
        """Columns of the given source ids (new columns are opened as needed).

        New sources get the next columns in increasing id order.
        """
        if sources.size == 0:
            return np.zeros(0, dtype=np.int64)
        top = int(sources.max()) + 1
        if top > self.column_of_source.size:
            grown = np.full(max(top, 2 * self.column_of_source.size), -1, dtype=np.int64)
            grown[: self.column_of_source.size] = self.column_of_source
            self.column_of_source = grown
        column = self.column_of_source[sources]
        missing = column < 0
        if missing.any():
            fresh = np.unique(sources[missing])
            start = len(self.source_of_column)
            self.column_of_source[fresh] = np.arange(start, start + fresh.size)
            self.source_of_column.extend(fresh.tolist())
            column = self.column_of_source[sources]
        if len(self.source_of_column) > self.counts.shape[1]:
            grown_counts = np.zeros((self.counts.shape[0], 2 * len(self.source_of_column)),
                                    dtype=np.int64)
            grown_counts[:, : self.counts.shape[1]] = self.counts
            self.counts = grown_counts
        return column




class Cohorts(NamedTuple):
    """Dormant cells of one block, by cohort (join step, organ, source column)."""

    join: IntArray
    organ: IntArray
    column: IntArray
    cells: IntArray
    p_any: FloatArray
    cum_hazard: FloatArray
    deaths: IntArray
    #: Cells that woke: their cohort, step and number, and how many founded a colony.
    w_cohort: IntArray
    w_step: IntArray
    w_count: IntArray
    w_founders: IntArray
    #: (organ, step, parent, count) of the colonies founded by woken cells.
    founders: tuple[IntArray, IntArray, IntArray, IntArray]


def dormant_events(plan: KernelPlan, rng: np.random.Generator, dormant: DormantPool,
                   s: int, e: int, d_step: IntArray, d_organ: IntArray, d_column: IntArray,
                   d_count: IntArray) -> Cohorts | None:
    """Draw the events of the dormant cells in steps ``s .. e-1``.

    Cohorts: the pool at the block's start joins at step 0, the cells made dormant
    in step k at step k + 1. None if there are no dormant cells.
    """
    K = e - s
    if dormant.total:
        pool = dormant.counts
        p_o, p_c = np.nonzero(pool)
        join = np.concatenate([np.zeros(p_o.size, dtype=np.int64), d_step + 1])
        organ = np.concatenate([p_o, d_organ])
        column = np.concatenate([p_c, d_column])
        count = np.concatenate([pool[p_o, p_c], d_count])
    elif d_count.size:
        join, organ, column, count = d_step + 1, d_organ, d_column, d_count
    else:
        return None
    cum_hazard = plan.cum_hazard[s:e + 1] - plan.cum_hazard[s]
    if plan.hazard > 0:
        p_any, woke, died = dormant_fates(rng, count, cum_hazard[K] - cum_hazard[join],
                                          plan.wake_share)
    else:
        p_any = np.zeros(count.size)
        woke = died = np.zeros(count.size, dtype=np.int64)
    w_idx = np.flatnonzero(woke)
    if not w_idx.size:
        return Cohorts(join, organ, column, count, p_any, cum_hazard, died, NO_INTS,
                       NO_INTS, NO_INTS, NO_INTS, stack([]))
    # The step of each waking: truncated geometric from the cohort's join.
    j = join[w_idx]
    survive = np.exp(-np.maximum(cum_hazard[None, :] - cum_hazard[j][:, None], 0.0))
    p_step = np.where(np.arange(K)[None, :] >= j[:, None],
                      survive[:, :-1] - survive[:, 1:], 0.0) / p_any[w_idx, None]
    p_step[:, -1] = np.maximum(1.0 - p_step[:, :-1].sum(axis=1), 0.0)
    woke_by_step = multinomial(rng, woke[w_idx], p_step)
    z, w_step = np.nonzero(woke_by_step)
    w_cohort = w_idx[z]
    w_count = woke_by_step[z, w_step]
    w_founders = binomial(rng, w_count, plan.wake_founding[organ[w_cohort]])
    some = w_founders > 0
    sources = np.asarray(dormant.source_of_column, dtype=np.int64)
    founders = (organ[w_cohort[some]], w_step[some], sources[column[w_cohort[some]]],
                w_founders[some])
    return Cohorts(join, organ, column, count, p_any, cum_hazard, died, w_cohort, w_step,
                   w_count, w_founders, founders)


def settle_dormant(rng: np.random.Generator, dormant: DormantPool, cohorts: Cohorts,
                   kept: int, K: int, delta: IntArray) -> None:
    """Keep the dormant events of the first ``kept`` steps; the rest stay dormant.

    Adds the deaths, wakings and extinct woken cells to ``delta`` (organs x counters).
    """
    c = cohorts
    deaths = c.deaths
    if kept == K and not c.w_cohort.size and c.cells.size <= SCALAR_DRAWS:
        # A few cohorts, none woke, no cut: one by one.
        pool = np.zeros_like(dormant.counts)
        total = 0
        for o, column, cells, died in zip(c.organ.tolist(), c.column.tolist(),
                                          c.cells.tolist(), deaths.tolist(), strict=True):
            pool[o, column] += cells - died
            delta[o, DIED_AFTER] += died
            total += cells - died
        dormant.counts, dormant.total = pool, total
        return
    woke_kept: IntArray | int = 0
    if c.w_cohort.size:
        before = c.w_step < kept
        woken = c.w_count[before]
        cohort = c.w_cohort[before]
        woke_kept = np.zeros(c.cells.size, dtype=np.int64)
        np.add.at(woke_kept, cohort, woken)
        organ = c.organ[cohort]
        np.add.at(delta[:, WOKE], organ, woken)
        np.add.at(delta[:, EXTINCT], organ, woken - c.w_founders[before])
    if kept < K:
        joined = c.join <= kept
        if deaths.any():
            # Event times are independent of the event kind: the deaths before the
            # cut are a binomial thinning of the block's deaths.
            before_cut = c.cum_hazard[kept] - c.cum_hazard[np.minimum(c.join, kept)]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(c.p_any > 0, -np.expm1(-before_cut) / c.p_any, 0.0)
            deaths = binomial(rng, deaths, np.clip(share, 0.0, 1.0))
        deaths = np.where(joined, deaths, 0)
        stay = np.where(joined, c.cells - woke_kept - deaths, 0)
    else:
        stay = c.cells - woke_kept - deaths
    np.add.at(delta[:, DIED_AFTER], c.organ, deaths)
    pool = np.zeros_like(dormant.counts)
    np.add.at(pool, (c.organ, c.column), stay)
    dormant.counts = pool
    dormant.total = int(stay.sum())


def rows_to_columns(rows: list[tuple[int, int, int, int]],
             ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(step, organ, source, count) rows as columns."""
    if not rows:
        return NO_INTS, NO_INTS, NO_INTS, NO_INTS
    table = np.array(rows, dtype=np.int64)
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def stack(parts: list[tuple[IntArray, IntArray, IntArray, IntArray]],
           ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Concatenate (step, organ, source, count) parts."""
    if not parts:
        return NO_INTS, NO_INTS, NO_INTS, NO_INTS
    if len(parts) == 1:
        return parts[0]
    a, b, c, d = (np.concatenate(column) for column in zip(*parts, strict=True))
    return a, b, c, d
