"""The primary's part of a batch step, drawn from per-patient rows fixed for the run.

Every mean of the primary's part factorises: the primary's expected cells shed in step
k (``prim[p]``, one number per patient) times a row of the patient's that does not
change with time (routing, fates, embolus mix). So the draws of a step need only
per-patient numbers and the events themselves, not passes over patients x organs:

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
- **Means for the record** (single cells' and plain clusters' common fates, clusters
  dying in blood, the primary's dormant cells that will die): sums of ``prim`` per
  patient (weighted by survival to the next record for the dying sleepers), multiplied
  by the rows at the record.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.batch_plan import BatchPlan

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


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

    def totals(self, skip: IntArray | None = None) -> FloatArray:
        """Each row's rates summed (after its first ``skip`` columns)."""
        W = self.width
        ends = self.base[W::W]
        if skip is None:
            return np.asarray(ends - self.base[0:-1:W], dtype=float)
        return np.asarray(np.maximum(ends - self.base[np.arange(ends.size) * W + skip], 0.0),
                          dtype=float)

    def columns(self, rng: np.random.Generator, p: IntArray,
                skip: IntArray | None = None) -> IntArray:
        """One column for each event of patient ``p``, in proportion to the row's rates."""
        W = self.width
        first = p * W if skip is None else p * W + skip[p]
        low, high = self.base[first], self.base[p * W + W]
        at = low + rng.random(p.size) * (high - low)
        chosen = np.searchsorted(self.cum, at, side="right") - p * W
        # The cumulative sum only rises at positive rates, so an event falls on one of
        # its row's, unless rounding carries it past the row: then on the row's last.
        return np.asarray(np.minimum(chosen, self.last[p]), dtype=np.int64)

    def draw(self, rng: np.random.Generator, scale: FloatArray,
             skip: IntArray | None = None) -> tuple[IntArray, IntArray, IntArray]:
        """Independent ``Poisson(scale[p] * rows[p, j])`` counts: (patient, column, count).

        Columns ``j >= skip[p]`` only, if ``skip`` is given. Rows whose expected total is
        at most their width: a Poisson total, then each event's column (count 1 each);
        the others column by column (nonzero counts).
        """
        mean = scale * self.totals(skip)
        dense = np.flatnonzero(mean > self.width)
        events = rng.poisson(np.where(mean > self.width, 0.0, mean))
        p = np.repeat(np.arange(scale.size), events)
        column = self.columns(rng, p, skip)
        count = np.ones(p.size, dtype=np.int64)
        if dense.size:
            counts = rng.poisson(scale[dense, None] * self.rows[dense])
            if skip is not None:
                counts[np.arange(self.width) < skip[dense, None]] = 0
            rows, cols = np.nonzero(counts)
            p = np.concatenate([p, dense[rows]])
            column = np.concatenate([column, cols])
            count = np.concatenate([count, counts[rows, cols]])
        return p, column, count


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
        #: Founders and dormant cells that will wake, per unit of prim (P x 2 organs).
        self.singles = RowCategorical(np.concatenate(
            [single * plan.p_dormant_wake, single * plan.p_found], axis=1))
        #: Dormant cells that will die, per unit of prim (P x organs).
        self.dying = single * plan.p_dormant_die
        self.order: list[IntArray] = []  # per kind: organs by rare rate, highest first
        self.rare: list[RowCategorical] = []  # per kind: rare rates in that order
        for row, rare in zip(plan.cluster_primary_rows, plan.cluster_rare, strict=True):
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

    def many(self, c: int, prim: FloatArray) -> tuple[IntArray, IntArray, IntArray]:
        """Organs with many rare clusters of kind ``c`` this step.

        Returns their number per patient (the first of the patient's sorted row), and
        (patient, organ) of each.
        """
        rare = self.rare[c]
        with np.errstate(divide="ignore"):
            above = self.dense_above / prim
        count = np.count_nonzero(rare.rows > above[:, None], axis=1)
        p = np.repeat(np.arange(prim.size), count)
        rank = np.arange(p.size) - np.repeat(np.cumsum(count) - count, count)
        return count, p, self.order[c][p, rank]
