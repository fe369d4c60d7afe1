"""The primary's part of the batch engine, drawn a ledger interval at a time.

Nothing of the primary's part depends on what the colonies do: its means are the
primary's expected cells of each step (known before the run) times rows of the
patient's fixed for the run (:mod:`.batch_rows`). So the engine draws it for all the
steps of a ledger interval at once, when the interval begins, as arrays over (step,
patient) pairs: fewer, larger NumPy calls than step by step, and the same law (every
draw is per step, patient and organ, independent of the others). What it gives:

- the founders of each step (the colonies to found when the step comes);
- the ledger's counts of the interval (added at its record) and the cells whose common
  fates are drawn at the record;
- the sleepers (to the dormant cells, with their arrival steps) and the means of the
  cells drawn at the record (:class:`.PrimaryRows` sums, dying sleepers).

An interval is drawn only up to the first step whose shedding is beyond what the engine
draws exactly: the step loop refuses that step before it is reached.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine.batch_dormant import DormantCells
from metacascade.engine.batch_draws import split_clusters
from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.batch_rows import PrimaryRows
from metacascade.engine.limits import poisson
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Colonies to found in a step: (patient, organ, source code, count).
StepFounders = tuple[IntArray, IntArray, IntArray, IntArray]
#: Runs sorted by step in a part of the founders above which it is sorted at once.
MAX_RUNS = 8


class PrimaryPart:
    """The primary's part of a batch run, an interval at a time."""

    def __init__(self, plan: BatchPlan, rows: PrimaryRows, dormant: DormantCells,
                 dense_above: float) -> None:
        self.plan, self.rows, self.dormant = plan, rows, dormant
        self.dense_above = dense_above
        P, n = plan.P, plan.n
        #: The interval's ledger counts (patients x organs x 5), added at its record,
        #: and its cells drawn cell by cell whose other fates are drawn there.
        self.counters = np.zeros((P, n, 5), dtype=np.int64)
        self.rest = np.zeros((P, n), dtype=np.int64)
        self.founders: dict[int, StepFounders] = {}

    def draw(self, rng: np.random.Generator, first: int, stop: int) -> None:
        """Draw the primary's part of steps ``first`` .. ``stop - 1`` (one interval)."""
        plan, rows, n, P = self.plan, self.rows, self.plan.n, self.plan.P
        if stop <= first:
            return
        prim = plan.primary_expected[:, first:stop]  # patients x steps
        L = stop - first
        # Entries in (step, patient) order.
        scale = prim.T.ravel()
        entry_p = np.tile(np.arange(P), L)
        entry_k = np.repeat(np.arange(first, stop), P)
        rows.shed += prim.sum(axis=1)
        self.dormant.add_primary(first, prim)
        founders: list[tuple[IntArray, IntArray, IntArray]] = []  # step, patient, organ
        counts: list[IntArray] = []
        sleepers: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []  # k, p, o, cells
        waking: list[tuple[IntArray, IntArray, IntArray]] = []  # k, p, o
        # Single cells: founders, sleepers that will wake and found (one by one), and
        # those that will wake and go extinct (counts per interval they wake in).
        e, column, count = rows.singles.draw(rng, scale, rows=entry_p)
        if _jit.ENABLED:
            k_wake, p_wake, o_wake, *found_part, found_count = _split_singles(
                e, column, count, entry_p, entry_k, n, self.counters.ravel())
            self.dormant.wake(rng, k_wake, p_wake, o_wake, p_wake, founding=True)
            founders.append((found_part[0], found_part[1], found_part[2]))
            counts.append(found_count)
        else:
            p, k = entry_p[e], entry_k[e]
            kind, o = np.divmod(column, n)
            self._tally(p * n + o, (ARRESTED, count))
            asleep, found = kind == 0, kind == 1
            p_wake = np.repeat(p[asleep], count[asleep])
            self.dormant.wake(rng, np.repeat(k[asleep], count[asleep]), p_wake,
                              np.repeat(o[asleep], count[asleep]), p_wake, founding=True)
            founders.append((k[found], p[found], o[found]))
            counts.append(count[found])
        self.counters[:, :, ARRESTED] += self.dormant.add_idle(rng, first, prim, rows.idle)
        for c, m in enumerate(plan.cluster_sizes):
            rare = rows.rare[c]
            with np.errstate(divide="ignore"):
                above = self.dense_above / scale
            many = _count_above(rare.rows, entry_p, above)
            # Where loud clusters are many: every cluster cell by cell. (Indices into
            # patients x organs tables are flat: patient * n + organ.)
            at = np.repeat(np.arange(scale.size), many)
            rank = np.arange(at.size) - np.repeat(np.cumsum(many) - many, many)
            pa, ka, sa = entry_p[at], entry_k[at], scale[at]
            oa = rows.order[c].ravel().take(pa * n + rank)
            pon = pa * n + oa
            arrested = sa * plan.cluster_primary_rows[c].ravel().take(pa * (n + 1) + oa)
            cells = m * poisson(rng, arrested)
            c_asleep = rng.binomial(cells, plan.p_dormant.ravel().take(pon))
            c_found = rng.binomial(cells - c_asleep,
                                   plan.founder_given_active.ravel().take(pon))
            self._tally(pon, (ARRESTED, cells))
            np.add.at(self.rest.ravel(), pon, cells - c_asleep - c_found)
            np.add.at(rows.apart[c].ravel(), pon, sa)
            self.dormant.exclude(ka, c, pa, pon, sa)
            sleepers.append((ka, pa, oa, c_asleep))
            some = np.flatnonzero(c_found)
            founders.append((ka[some], pa[some], oa[some]))
            counts.append(c_found[some])
            # Elsewhere the loud clusters one by one.
            e, rank, count = rare.draw(rng, scale, rows=entry_p, skip=many)
            if e.size:
                e, rank = np.repeat(e, count), np.repeat(rank, count)
                p, k = entry_p[e], entry_k[e]
                o = rows.order[c].ravel().take(p * n + rank)
                split = split_clusters(rng, plan, c, p, o)
                self._tally(p * n + o, (ARRESTED, np.full(p.size, m)),
                            (FAILED, split["failed"]), (DIED_AFTER, split["died"]),
                            (EXTINCT, split["extinct"]))
                sleepers.append((k, p, o, split["asleep"]))
                wakes = np.flatnonzero(split["wakes"])
                waking.append((k[wakes], p[wakes], o[wakes]))
                some = np.flatnonzero(split["found"])
                founders.append((k[some], p[some], o[some]))
                counts.append(split["found"][some])
        if sleepers:
            k, p, o, cells = (np.concatenate([x[i] for x in sleepers]) for i in range(4))
            some = np.flatnonzero(cells)
            p = p[some]
            self.dormant.arrive(rng, k[some], p, o[some], cells[some], p)
        if waking:
            k, p, o = (np.concatenate([x[i] for x in waking]) for i in range(3))
            self.dormant.wake(rng, k, p, o, p)
        self._keep_founders(founders, counts, first, stop)

    def _keep_founders(self, parts: list[tuple[IntArray, IntArray, IntArray]],
                       counts: list[IntArray], first: int, stop: int) -> None:
        """Keep the founders by step (in the order drawn within a step).

        ``counts`` are all positive. Within a step: the parts in order, each in the
        order drawn. Each part comes as a few runs sorted by step (a categorical draw's
        events, then those of its wide rows): each run is cut at the steps, and the
        pieces are joined step after step, each step's founders a slice of the whole.
        The order of one stable sort by step of all the parts joined (within a step,
        earlier runs first), with less copying. (A part of many runs is sorted.)
        """
        steps = np.arange(first, stop + 1)
        pieces: list[tuple[list[int], IntArray, IntArray, IntArray]] = []
        for (k, p, o), count in zip(parts, counts, strict=True):
            if not k.size:
                continue
            runs = [0, *(np.flatnonzero(k[1:] < k[:-1]) + 1).tolist(), k.size]
            if len(runs) > MAX_RUNS + 1:
                order = np.argsort(k, kind="stable")
                k, p, o, count = k[order], p[order], o[order], count[order]
                runs = [0, k.size]
            for a, b in pairwise(runs):
                pieces.append((np.searchsorted(k[a:b], steps).tolist(), p[a:b], o[a:b],
                               count[a:b]))
        if not pieces:
            return
        cut: list[tuple[IntArray, IntArray, IntArray]] = []
        ends = [0]  # where each step's founders end in the whole
        for i in range(stop - first):  # (a loop over steps)
            size = ends[-1]
            for at, p, o, count in pieces:
                a, b = at[i], at[i + 1]
                if a < b:
                    cut.append((p[a:b], o[a:b], count[a:b]))
                    size += b - a
            ends.append(size)
        p, o, count = (np.concatenate([x[j] for x in cut]) for j in range(3))
        for i, (a, b) in enumerate(pairwise(ends)):
            if a < b:
                self.founders[first + i] = (p[a:b], o[a:b], p[a:b], count[a:b])

    def take(self) -> tuple[IntArray, IntArray]:
        """The interval's ledger counts and cells of common fates; both reset to zero."""
        counters, rest = self.counters.copy(), self.rest.copy()
        self.counters[:] = 0
        self.rest[:] = 0
        return counters, rest

    def _tally(self, pon: IntArray, *columns: tuple[int, IntArray]) -> None:
        """Add values to the counters of flat (patient, organ) indices, which may repeat."""
        flat = self.counters.ravel()
        at = pon * 5
        for column, values in columns:
            np.add.at(flat, at + column, values)


def _count_above(table: FloatArray, row: IntArray, above: FloatArray) -> IntArray:
    """Per entry i: how many of ``table[row[i]]`` exceed ``above[i]``.

    The table's rows are sorted from the highest down, so those that exceed are a
    prefix of the row: its length is found by a binary search of the row, for all
    entries at once. The same count as ``count_nonzero(table[row] > above[:, None],
    axis=1)``, in ``log2(width)`` passes over the entries rather than one per column.
    """
    W = table.shape[1]
    flat = table.ravel()
    start = row * W
    # Invariant: the count is in [place - start, place - start + n].
    place, n = start.copy(), W
    while n > 1:
        half = n // 2
        place += (flat.take(place + half) > above) * half
        n -= half
    place += flat.take(place) > above
    return np.asarray(place - start, dtype=np.int64)


@_jit.jit
def _split_singles(e: IntArray, column: IntArray, count: IntArray, entry_p: IntArray,
                   entry_k: IntArray, n: int, counters: IntArray,
                   ) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray,
                              IntArray]:
    """The single cells' events split in one pass (integers only).

    Replaces :meth:`PrimaryPart.draw`'s NumPy code after the singles' draw: each event's
    patient, step and organ, the tally of its cells as arrested (``counters``: the flat
    ledger counts, added in place), the sleepers that will wake and found (step,
    patient, organ, each repeated by its count) and the founders (step, patient, organ,
    count), in the order drawn.
    """
    wakes = founds = 0
    for i in range(e.size):
        if column[i] < n:
            wakes += count[i]
        else:
            founds += 1
    k_wake, p_wake, o_wake = (np.empty(wakes, dtype=np.int64), np.empty(wakes, dtype=np.int64),
                              np.empty(wakes, dtype=np.int64))
    k_found, p_found = np.empty(founds, dtype=np.int64), np.empty(founds, dtype=np.int64)
    o_found, c_found = np.empty(founds, dtype=np.int64), np.empty(founds, dtype=np.int64)
    wakes = founds = 0
    for i in range(e.size):
        p, k, c = entry_p[e[i]], entry_k[e[i]], count[i]
        o = column[i] % n
        counters[(p * n + o) * 5 + ARRESTED] += c
        if column[i] < n:
            for j in range(wakes, wakes + c):
                k_wake[j], p_wake[j], o_wake[j] = k, p, o
            wakes += c
        else:
            k_found[founds], p_found[founds], o_found[founds] = k, p, o
            c_found[founds] = c
            founds += 1
    return k_wake, p_wake, o_wake, k_found, p_found, o_found, c_found
