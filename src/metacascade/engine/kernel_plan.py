"""The per-patient kernel's plan of a model and the means of a block of steps.

:class:`KernelPlan` holds everything about a compiled model the kernel (:mod:`.kernel`)
reads, computed once per model (and kept while the model lives); :class:`BlockMeans`
the expected counts of one block of steps, which its draws need. The batched engine's
plan (:mod:`.batch_plan`) uses the same formulas for many patients at once.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import primary_cells, primary_step_integrals
from metacascade.engine.limits import (
    DENSE_SHARE,
    MAX_POISSON_MEAN,
    RARE_CLUSTERS,
    EngineError,
)
from metacascade.engine.result import ARRESTED, DIED_AFTER, EXTINCT, FAILED

FloatArray = NDArray[np.float64]


class KernelPlan:
    """Everything about a compiled model the kernel reads, computed once per model."""

    def __init__(self, model: CompiledModel) -> None:
        n = model.n_organs
        self.n = n
        self.starts, self.ends = model.step_bounds()
        keep = self.ends > self.starts
        self.starts, self.ends = self.starts[keep], self.ends[keep]
        self.widths = self.ends - self.starts
        self.mids = 0.5 * (self.starts + self.ends)
        primary = primary_step_integrals(model, self.starts, self.ends)
        self.primary_expected = model.shedding_per_cell_per_day * primary
        # The step at whose end each ledger record is taken.
        self.record_steps = sorted({int(np.searchsorted(self.ends, day - 1e-9))
                                    for day in model.record_days()})
        # Per shed cell: single-cell emboli (= cells) and clusters of each cluster kind
        # ending in each absorbing state, from every entry.
        per_cell = model.embolus_share / model.cells_per_shed_embolus
        single = model.cells_per_embolus == 1
        self.single_by_entry = np.einsum("k,kes->es", per_cell * single, model.absorption)
        self.cluster_sizes = [int(m) for m in model.cells_per_embolus[~single]]
        self.cluster_by_entry = [per_cell[k] * model.absorption[k]
                                 for k in np.nonzero(~single)[0]]
        lymph = model.lymphatic_share

        def primary_row(by_entry: FloatArray) -> FloatArray:
            return np.asarray((1.0 - lymph) * by_entry[model.primary_entry]
                              + lymph * by_entry[model.lymph_entry])

        self.single_primary_row = primary_row(self.single_by_entry)[None, :]
        self.cluster_primary_rows = [primary_row(b)[None, :] for b in self.cluster_by_entry]
        self.primary_id = np.zeros(1, dtype=np.int64)
        # Fates of an arrested cell, per organ.
        q = model.establishment
        crossed = 1.0 - model.p_fail_extravasation
        self.p_fail = model.p_fail_extravasation
        self.p_dormant = crossed * model.p_dormant
        self.p_divide = crossed * model.p_divide
        self.p_died = crossed * (1.0 - model.p_dormant - model.p_divide)
        self.p_rare = np.stack([self.p_dormant, self.p_divide * q])  # dormant, founder
        self.p_common = np.stack([self.p_fail, self.p_died, self.p_divide * (1.0 - q)])
        # A cluster of m cells is rare if any of its cells goes dormant or divides.
        rare_cell = self.p_dormant + self.p_divide
        self.rare_cell = rare_cell
        with np.errstate(divide="ignore", invalid="ignore"):
            self.dormant_given_rare = np.where(rare_cell > 0, self.p_dormant / rare_cell, 0.0)
            common = self.p_fail + self.p_died
            self.fail_given_common = np.where(common > 0, self.p_fail / common, 0.0)
        # Cell by cell (clusters drawn "direct"): a cell that is not dormant founds a
        # colony with founder_given_active; the rest fail, die or go extinct.
        with np.errstate(divide="ignore", invalid="ignore"):
            p_found = self.p_divide * q
            active = 1.0 - self.p_dormant
            self.founder_given_active = np.where(active > 0, p_found / active, 0.0)
            rest = active - p_found
            self.fail_given_rest = np.clip(np.where(rest > 0, self.p_fail / rest, 0.0), 0, 1)
            after_fail = rest - self.p_fail
            self.died_given_rest = np.clip(
                np.where(after_fail > 0, self.p_died / after_fail, 0.0), 0, 1)
        self.cluster_rare: list[FloatArray] = []
        self.cluster_rare_cdf: list[FloatArray] = []
        self.cluster_rare_cdf_rows: list[list[list[float]]] = []
        self.dormant_given_rare_list: list[float] = self.dormant_given_rare.tolist()
        self.fail_given_common_list: list[float] = self.fail_given_common.tolist()
        self.cluster_plain_split: list[FloatArray] = []
        for m in self.cluster_sizes:
            p_rare = -np.expm1(m * np.log1p(-np.minimum(rare_cell, 1.0)))
            self.cluster_rare.append(p_rare)
            # Zero-truncated Binomial(m, rare_cell): CDF over 1..m, per organ.
            r = np.arange(1, m + 1)
            pmf = np.array([math.comb(m, int(i)) for i in r]) * (
                rare_cell[:, None] ** r * (1.0 - rare_cell[:, None]) ** (m - r))
            with np.errstate(divide="ignore", invalid="ignore"):
                cdf = np.cumsum(pmf, axis=1) / np.where(p_rare > 0, p_rare, 1.0)[:, None]
            cdf[:, -1] = 1.0
            self.cluster_rare_cdf.append(cdf)
            self.cluster_rare_cdf_rows.append([row[:-1].tolist() for row in cdf])
            # A plain (not rare) cluster has j failed cells, m - j died: per organ, the
            # share of clusters that are plain with j failed cells, j = 0..m.
            j = np.arange(m + 1)
            f = self.fail_given_common[:, None]
            binom = np.array([math.comb(m, int(i)) for i in j]) * f**j * (1.0 - f) ** (m - j)
            self.cluster_plain_split.append((1.0 - p_rare)[:, None] * binom)
        # Rare fates, per step: n columns of single cells made dormant, n of single cells
        # founding a colony, then n of rare clusters of each cluster kind.
        self.rare_width = n * (2 + len(self.cluster_sizes))
        # Common fates, per organ: failed, died and extinct single cells, then for each
        # cluster kind the plain clusters with j = 0..m failed cells; the share of a
        # single cell (of a cluster of each kind) arrested in the organ meeting each, and
        # what each adds to the counters (ARRESTED ... EXTINCT).
        width = 3 + sum(m + 1 for m in self.cluster_sizes)
        self.common_width = width
        self.common_single = np.zeros((n, width))
        self.common_single[:, :3] = self.p_common.T
        self.common_cluster: list[FloatArray] = []
        weights = np.zeros((width, 5), dtype=np.int64)
        weights[0, [ARRESTED, FAILED]] = 1
        weights[1, [ARRESTED, DIED_AFTER]] = 1
        weights[2, [ARRESTED, EXTINCT]] = 1
        at = 3
        for m, split in zip(self.cluster_sizes, self.cluster_plain_split, strict=True):
            share = np.zeros((n, width))
            share[:, at:at + m + 1] = split
            self.common_cluster.append(share)
            weights[at:at + m + 1, ARRESTED] = m
            weights[at:at + m + 1, FAILED] = np.arange(m + 1)
            weights[at:at + m + 1, DIED_AFTER] = m - np.arange(m + 1)
            at += m + 1
        self.common_weights = weights
        #: Cells per embolus died in blood: single cells, then each cluster kind.
        self.blood_weights = np.array([1, *self.cluster_sizes], dtype=np.int64)
        self.hazard = model.wake_rate_per_day + model.dormant_death_rate_per_day
        self.wake_share = float(model.wake_rate_per_day / self.hazard) if self.hazard > 0 else 0.0
        self.wake_founding = model.wake_founding()
        #: Integrated dormant hazard from day 0 to the start of each step (and the end).
        self.cum_hazard = np.concatenate([[0.0], np.cumsum(self.hazard * self.widths)])
        self.primary_cells_end = float(primary_cells(model, model.horizon_days))
        #: Means of the blocks whose only source is the primary, by (start, end, the
        #: RARE_CLUSTERS they were computed with).
        self.primary_means: dict[tuple[int, int, float], BlockMeans] = {}


_PLANS: weakref.WeakKeyDictionary[CompiledModel, KernelPlan] = weakref.WeakKeyDictionary()


def kernel_plan(model: CompiledModel) -> KernelPlan:
    """The model's plan (made at the first call, kept while the model lives)."""
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = KernelPlan(model)
    return plan


class BlockMeans:
    """The expected counts of one block, per step (what its draws need)."""

    def __init__(self, plan: KernelPlan, expected: FloatArray, single_rows: FloatArray,
                 cluster_rows: list[FloatArray], day: float) -> None:
        K = expected.shape[0]
        biggest = float(expected.sum())  # bounds every mean drawn
        if biggest > MAX_POISSON_MEAN or not math.isfinite(biggest):
            raise EngineError(
                f"shedding of {biggest:.3g} cells in {K} steps from day {day:.0f} is beyond "
                "what the engine can draw exactly; shorten the horizon or lower the "
                "shedding rate or tumour size"
            )
        n = plan.n
        #: Cells of single-cell emboli, and clusters of each kind, per step (K x organs
        #: + 1, the last column died in blood).
        self.single = expected @ single_rows
        self.cluster = [expected @ rows for rows in cluster_rows]
        # A kind whose rare clusters are not rare (more than RARE_CLUSTERS expected) is
        # drawn cell by cell per step and organ instead ("direct"), so that the cost
        # never grows with the number of clusters.
        rare = np.zeros((K, plan.rare_width))
        rare[:, :2 * n] = (self.single[:, None, :n] * plan.p_rare[None]).reshape(K, 2 * n)
        self.direct: list[bool] = []
        for c, (means, p_rare) in enumerate(zip(self.cluster, plan.cluster_rare, strict=True)):
            rare_clusters = means[:, :n] * p_rare[None]
            direct = float(rare_clusters.sum()) > RARE_CLUSTERS
            self.direct.append(direct)
            if not direct:
                rare[:, (2 + c) * n:(3 + c) * n] = rare_clusters
        #: Rare fates (steps x plan.rare_width, flattened) and their cumulative sum.
        self.rare = rare.ravel()
        self.rare_cdf = np.cumsum(self.rare)
        self.rare_total = float(self.rare_cdf[-1])
        #: The last rare fate with a positive mean (where the CDF first reaches the total).
        self.rare_last = int(np.searchsorted(self.rare_cdf, self.rare_total))
        #: Draw the rare fates as one Poisson count per step, organ and fate, rather than
        #: event by event, when there are many.
        self.dense = self.rare_total > self.rare.size * DENSE_SHARE
        self.common = self.common_means(plan, K)

    def common_means(self, plan: KernelPlan, kept: int) -> FloatArray:
        """Means of the common fates in the first ``kept`` steps.

        ``plan.common_width`` per organ, organ by organ, then single cells and clusters of
        each kind died in blood.
        """
        n = plan.n
        single = self.single[:kept].sum(axis=0)
        organs = single[:n, None] * plan.common_single
        blood = [single[n]]
        for c, means in enumerate(self.cluster):
            clusters = means[:kept].sum(axis=0)
            blood.append(clusters[n])
            if not self.direct[c]:
                organs += clusters[:n, None] * plan.common_cluster[c]
        return np.concatenate([organs.ravel(), blood])

