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

from metacascade.engine.batch_dormant import DormantCells
from metacascade.engine.batch_draws import split_clusters
from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.batch_rows import PrimaryRows
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Colonies to found in a step: (patient, organ, source code, count).
StepFounders = tuple[IntArray, IntArray, IntArray, IntArray]


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
        p, k = entry_p[e], entry_k[e]
        kind, o = np.divmod(column, n)
        self._tally(p, o, (ARRESTED, count))
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
            many = np.count_nonzero(rare.rows[entry_p] > above[:, None], axis=1)
            # Where loud clusters are many: every cluster cell by cell.
            at = np.repeat(np.arange(scale.size), many)
            rank = np.arange(at.size) - np.repeat(np.cumsum(many) - many, many)
            pa, ka = entry_p[at], entry_k[at]
            oa = rows.order[c][pa, rank]
            arrested = scale[at] * plan.cluster_primary_rows[c][pa, oa]
            cells = m * rng.poisson(arrested)
            c_asleep = rng.binomial(cells, plan.p_dormant[pa, oa])
            c_found = rng.binomial(cells - c_asleep, plan.founder_given_active[pa, oa])
            self._tally(pa, oa, (ARRESTED, cells))
            np.add.at(self.rest, (pa, oa), cells - c_asleep - c_found)
            np.add.at(rows.apart[c], (pa, oa), scale[at])
            self.dormant.exclude(ka, c, pa, oa, scale[at])
            sleepers.append((ka, pa, oa, c_asleep))
            founders.append((ka, pa, oa))
            counts.append(c_found)
            # Elsewhere the loud clusters one by one.
            e, rank, count = rare.draw(rng, scale, rows=entry_p, skip=many)
            if e.size:
                e, rank = np.repeat(e, count), np.repeat(rank, count)
                p, k = entry_p[e], entry_k[e]
                o = rows.order[c][p, rank]
                split = split_clusters(rng, plan, c, p, o)
                self._tally(p, o, (ARRESTED, np.full(p.size, m)), (FAILED, split["failed"]),
                            (DIED_AFTER, split["died"]), (EXTINCT, split["extinct"]))
                sleepers.append((k, p, o, split["asleep"]))
                some = split["wakes"] > 0
                waking.append((k[some], p[some], o[some]))
                founders.append((k, p, o))
                counts.append(split["found"])
        if sleepers:
            k, p, o, cells = (np.concatenate([x[i] for x in sleepers]) for i in range(4))
            some = cells > 0
            self.dormant.arrive(rng, k[some], p[some], o[some], cells[some], p[some])
        if waking:
            k, p, o = (np.concatenate([x[i] for x in waking]) for i in range(3))
            self.dormant.wake(rng, k, p, o, p)
        self._keep_founders(founders, counts)

    def _keep_founders(self, parts: list[tuple[IntArray, IntArray, IntArray]],
                       counts: list[IntArray]) -> None:
        """Keep the founders by step (in the order drawn within a step)."""
        count = np.concatenate(counts)
        some = count > 0
        k, p, o = (np.concatenate([x[i] for x in parts])[some] for i in range(3))
        count = count[some]
        if not k.size:
            return
        order = np.argsort(k, kind="stable")
        k, p, o, count = k[order], p[order], o[order], count[order]
        cuts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1], [True]]))
        for a, b in pairwise(cuts):  # (a loop over steps)
            self.founders[int(k[a])] = (p[a:b], o[a:b], p[a:b], count[a:b])

    def take(self) -> tuple[IntArray, IntArray]:
        """The interval's ledger counts and cells of common fates; both reset to zero."""
        counters, rest = self.counters.copy(), self.rest.copy()
        self.counters[:] = 0
        self.rest[:] = 0
        return counters, rest

    def _tally(self, p: IntArray, o: IntArray, *columns: tuple[int, IntArray]) -> None:
        flat = self.counters.ravel()
        at = (p * self.plan.n + o) * 5
        for column, values in columns:
            np.add.at(flat, at + column, values)
