"""Rows fixed for the run, from which the batch engine draws the rare fates of a step.

Every mean of the primary's part factorises: the primary's expected cells shed in step
k (``prim[p]``, one number per patient) times a row of the patient's that does not
change with time (routing, fates, embolus mix). The colonies' part factorises per
entry: the colonies' expected cells shed into entry e (``groups[p, e]``) times a row of
(patient, entry). So the draws of a step need only those numbers and the events
themselves, not passes over patients x organs:

- **Rare fates of single cells** (founders, and dormant cells that will wake): a row of
  ``2 x organs`` rates. A patient's events in the step are ``Poisson(prim * row sum)``,
  each placed in its column by one categorical draw from the row (a cumulative sum
  over all rows built once, and binary search). Where a patient's total is above the
  row's width (so that events would outnumber the columns), its row is drawn column by
  column instead. Both are the law of independent Poisson counts per column.
- **Clusters**: a patient whose rare clusters (with a dormant or dividing cell) have a
  mean above ``dense_above`` in some organ this step is drawn as before, organ by organ
  (cell by cell where many); the other patients' rare clusters, one by one, are
  placed by the categorical draw from their row.
- **The colonies' rare fates** (founders, dormant cells that will wake, rare clusters)
  are drawn the same way from the rows of (patient, entry) with colonies shedding into
  the entry; each event's entry is then its row's, and its colony is drawn within
  (patient, entry).
- **Means for the record** (single cells' and plain clusters' common fates, clusters
  dying in blood, dormant cells that will die): sums of ``prim`` per patient and of
  ``groups`` per (patient, entry) (weighted by survival to the next record for the
  dying sleepers), multiplied by the rows at the record.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.limits import poisson

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Events of a categorical draw below which each is found by a search of the whole
#: table rather than by the vectorised search within rows (the same columns).
FEW_EVENTS = 512


class RowCategorical:
    """Categorical draws of a column within each patient's row of nonnegative rates.

    A draw may skip the first ``skip[p]`` columns of the row (they were drawn apart).
    """

    def __init__(self, rows: FloatArray) -> None:
        self.rows = np.ascontiguousarray(rows, dtype=float)
        self.width = self.rows.shape[1]
        self.cum = np.cumsum(self.rows.ravel())
        self.base = np.concatenate([[0.0], self.cum])  # rates before each place
        positive = self.rows > 0
        self.last = self.width - 1 - np.argmax(positive[:, ::-1], axis=1)
        self.total = np.asarray(self.base[self.width::self.width]
                                - self.base[0:-1:self.width], dtype=float)

    def columns(self, rng: np.random.Generator, row: IntArray,
                skip: IntArray | None = None) -> IntArray:
        """One column for each event of table row ``row`` (past its first ``skip``).

        Each event's place ``at`` is uniform on its rates' span; its column is the first
        of its row whose cumulative rate exceeds ``at`` (``searchsorted(cum, at,
        side="right")`` over the whole table, less the row's start). That index is
        found by a binary search within the row only, for all events at once: the
        cumulative sum never decreases, every entry before the row's start is at most
        its ``low`` <= ``at``, so the global count of entries <= ``at`` is the row's
        start plus the count within the row (entries after the row, all >= its last,
        only matter when ``at`` reaches the row's end, and then the clip to the row's
        last positive rate gives the same column). Same comparisons of the same
        numbers, so the same columns; ``log2(width)`` short passes over the events
        instead of a search of the whole table for each. (Below ``FEW_EVENTS``
        events, the passes' fixed cost is more than the searches': those search the
        whole table.)
        """
        W = self.width
        start = row * W
        first = start if skip is None else start + skip
        low, high = self.base[first], self.base[start + W]
        at = low + rng.random(row.size) * (high - low)
        if row.size < FEW_EVENTS:
            chosen = np.searchsorted(self.cum, at, side="right") - start
            return np.asarray(np.minimum(chosen, self.last[row]), dtype=np.int64)
        # Branchless binary search of the row: the count of cum[start + j] <= at, j < W.
        # Invariant: the count is in [place - start, place - start + n]; each pass
        # looks at one entry and halves n (the same n for every event).
        cum, place, n = self.cum, start.copy(), W
        while n > 1:
            half = n // 2
            place += (cum.take(place + half) <= at) * half
            n -= half
        place += cum.take(place) <= at
        place -= start
        # The cumulative sum only rises at positive rates, so an event falls on one of
        # its row's, unless rounding carries it past the row: then on the row's last.
        return np.asarray(np.minimum(place, self.last[row]), dtype=np.int64)

    def draw(self, rng: np.random.Generator, scale: FloatArray,
             rows: IntArray | None = None, skip: IntArray | None = None,
             ) -> tuple[IntArray, IntArray, IntArray]:
        """Independent ``Poisson(scale[i] * rates[rows[i], j])`` counts.

        ``rows``: the table row of each entry of ``scale`` (default: entry i, row i);
        ``skip``: per entry, the first columns to leave out. Entries whose expected total
        is at most the width: a Poisson total, then each event's column (count 1 each);
        the others column by column (nonzero counts). Returns (entry, column, count).
        """
        W = self.width
        rows = np.arange(scale.size) if rows is None else rows
        if skip is None:
            total = self.total[rows]
        else:
            total = np.maximum(self.base[rows * W + W] - self.base[rows * W + skip], 0.0)
        mean = scale * total
        wide = mean > W
        events = poisson(rng, np.where(wide, 0.0, mean))
        if _jit.ENABLED:
            u = rng.random(int(events.sum()))  # (what columns() draws)
            entry, column = _event_columns(
                events, rows, np.zeros(scale.size, dtype=np.int64) if skip is None else skip,
                u, self.base, self.cum, self.last, W)
        else:
            entry = np.repeat(np.arange(scale.size), events)
            column = self.columns(rng, rows[entry], None if skip is None else skip[entry])
        count = np.ones(entry.size, dtype=np.int64)
        if wide.any():
            dense = np.flatnonzero(wide)
            counts = poisson(rng, scale[dense, None] * self.rows[rows[dense]])
            if skip is not None:
                counts[np.arange(W) < skip[dense, None]] = 0
            which, cols = np.nonzero(counts)
            entry = np.concatenate([entry, dense[which]])
            column = np.concatenate([column, cols])
            count = np.concatenate([count, counts[which, cols]])
        return entry, column, count


@_jit.jit
def _event_columns(events: IntArray, rows: IntArray, skip: IntArray, u: FloatArray,
                   base: FloatArray, cum: FloatArray, last: IntArray, W: int,
                   ) -> tuple[IntArray, IntArray]:
    """Each event's entry and column, in one pass.

    Replaces :meth:`RowCategorical.draw`'s ``repeat`` of the entries and
    :meth:`RowCategorical.columns` (``u``: the uniforms it draws). Per event of entry i
    (row ``rows[i]``): ``at = low + u * (high - low)``, the same three operations on
    the same numbers as the NumPy code (no multiply-add is fused), then the branchless
    binary search of ``columns`` (the count of the row's cumulative rates ``<= at``,
    which its searches of the whole table find too), 64 events at a time in lockstep
    (so that independent searches overlap), clipped to the row's last positive rate.
    No other float operation.
    """
    n = u.size
    entry = np.empty(n, dtype=np.int64)
    column = np.empty(n, dtype=np.int64)
    at = np.empty(64)
    place = np.empty(64, dtype=np.int64)
    j = 0  # events done
    f = 0  # events in the block
    for i in range(events.size):
        start = rows[i] * W
        low, high = base[start + skip[i]], base[start + W]
        span = high - low
        for _ in range(events[i]):
            at[f] = low + u[j + f] * span
            place[f] = start
            entry[j + f] = i
            f += 1
            if f < 64 and j + f < n:
                continue
            m = W
            while m > 1:
                half = m // 2
                for q in range(f):
                    place[q] += half * (cum[place[q] + half] <= at[q])
                m -= half
            for q in range(f):
                row = rows[entry[j + q]]
                count = place[q] + (cum[place[q]] <= at[q]) - row * W
                column[j + q] = min(count, last[row])
            j += f
            f = 0
    return entry, column


class PrimaryRows:
    """The primary's fixed rows of a batch and the sums of ``prim`` since the last record.

    Each cluster kind's rare rates are kept with every patient's organs sorted from the
    highest rate down, so that the organs where rare clusters are many in a step (mean
    above ``dense_above``) are the first few of the row, and the rest a suffix of it.
    """

    def __init__(self, plan: BatchPlan, dense_above: float) -> None:
        n = plan.n
        self.plan, self.dense_above = plan, dense_above
        single = plan.single_primary_row[:, :n]
        #: Founders, and sleepers that will wake and found, per unit of prim (P x 2
        #: organs).
        self.singles = RowCategorical(np.concatenate(
            [single * plan.p_dormant_wake_found, single * plan.p_found], axis=1))
        #: Sleepers that will wake and go extinct, per unit of prim (P x organs).
        self.idle = single * plan.p_dormant_wake_idle
        #: Dormant cells that will die, per unit of prim (P x organs).
        self.dying = single * plan.p_dormant_die
        self.order: list[IntArray] = []  # per kind: organs by rare rate, highest first
        self.rare: list[RowCategorical] = []  # per kind: rare rates in that order
        for row, rare in zip(plan.cluster_primary_rows, plan.cluster_loud, strict=True):
            rates = row[:, :n] * rare
            order = np.argsort(-rates, axis=1, kind="stable")
            self.order.append(order)
            self.rare.append(RowCategorical(np.take_along_axis(rates, order, axis=1)))
        P = plan.P
        self.shed = np.zeros(P)  # sum of prim since the last record
        #: Per cluster kind: sum of prim over the steps an organ's clusters were drawn
        #: cell by cell (patients x organs), to leave out of the plain clusters.
        self.apart = [np.zeros((P, n)) for _ in plan.cluster_sizes]

    def means(self) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
        """The primary's means since the last record, which are then reset to zero.

        Single cells (patients x organs + 1), clusters dying in blood (patients x
        cluster kinds), and per kind the plain clusters (patients x organs + 1, none in
        blood): all but those of organs in the steps they were drawn cell by cell.
        """
        plan, n = self.plan, self.plan.n
        single = self.shed[:, None] * plan.single_primary_row
        blood = np.zeros((plan.P, len(plan.cluster_sizes)))
        plain = []
        for c, row in enumerate(plan.cluster_primary_rows):
            blood[:, c] = self.shed * row[:, n]
            kept = np.zeros((plan.P, n + 1))
            kept[:, :n] = np.maximum(self.shed[:, None] - self.apart[c], 0.0) * row[:, :n]
            plain.append(kept)
            self.apart[c][:] = 0.0
        self.shed[:] = 0.0
        return single, blood, plain


class ColonyRows:
    """The colonies' rows per (patient, entry), and the sums of ``groups`` since the last record.

    Row ``p * entries + e``: per cell the colonies of patient p shed into entry e, the
    founders and dormant cells that will wake per organ, then each cluster kind's rare
    clusters per organ (``2 + cluster kinds`` blocks of organs).
    """

    def __init__(self, plan: BatchPlan) -> None:
        n, E, P = plan.n, plan.n_entries, plan.P
        self.plan = plan
        single = plan.single_by_entry[:, :, :n]
        blocks = [single * plan.p_dormant_wake[:, None, :], single * plan.p_found[:, None, :]]
        for absorption, share, rare in zip(plan.cluster_absorption, plan.cluster_per_cell,
                                           plan.cluster_loud, strict=True):
            blocks.append(share[:, None, None] * absorption[None, :, :n] * rare[:, None, :])
        self.rare = RowCategorical(np.concatenate(blocks, axis=2).reshape(P * E, -1))
        #: Dormant cells that will die per cell shed into each entry (P, entries, organs).
        self.dying = single * plan.p_dormant_die[:, None, :]
        self.groups = np.zeros((P, E))  # sum of groups since the last record

    def draw(self, rng: np.random.Generator, groups: FloatArray,
             ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Rare fates of the step's colonies' cells: (patient, entry, column, count)."""
        self.groups += groups
        flat = groups.ravel()
        rows = np.flatnonzero(flat > 0)
        entry, column, count = self.rare.draw(rng, flat[rows], rows=rows)
        p, e = np.divmod(rows[entry], self.plan.n_entries)
        return p, e, column, count

    def means(self) -> tuple[FloatArray, list[FloatArray]]:
        """The colonies' means since the last record, which are then reset to zero.

        Single cells (patients x organs + 1) and per cluster kind the clusters
        (patients x organs + 1), whose rare ones were drawn apart.
        """
        plan = self.plan
        single = np.einsum("pe,pes->ps", self.groups, plan.single_by_entry)
        clusters = [(self.groups @ absorption) * share[:, None] for absorption, share in
                    zip(plan.cluster_absorption, plan.cluster_per_cell, strict=True)]
        self.groups[:] = 0.0
        return single, clusters
