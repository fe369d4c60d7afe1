"""The fast engine: exact draws of cell fates in blocks of steps, no loop over cells.

Time is divided into steps of ``step_days`` (the last one shortened to end at the
horizon); within a step every rate is taken as constant at its integrated value, the
same piecewise-constant model the per-cell reference (:mod:`.reference`) follows. The
engine does not walk the steps one by one: it draws a **block** of steps at once,
from one source change (an angiogenic switch) or ledger record to the next.

1. **Sources** are the primary and every colony vascularised at the block's start
   (``switch <= t0``). A source of N(t) cells sheds a Poisson number of cells per step
   with mean ``shedding_per_cell_per_day * integral N dt`` (Simpson's rule on the
   closed-form size). The primary's cells enter at its organ's venous outflow, except
   the lymphatic share, which enters the lymphatics; a colony's enter at its organ's
   outflow. Emboli of each kind are a Poisson thinning of the shed cells and end in
   each absorbing state (arrest per organ, death in blood) with the compiled
   probabilities B, so the cells of single-cell emboli (single, platelet-cloaked)
   meeting each fate in each step are **independent Poisson counts** (thinning), and
   so are the clusters.
2. **Fates of arrested cells**: failed extravasation, dormant, dividing (whose
   birth-death lineage survives with probability q = 1 - d/b, founding a colony, or
   goes extinct) and died after extravasation. For single cells these are again
   Poisson thinnings. A cluster of k cells is *rare* if any cell goes dormant or
   divides (probability ``1 - (1 - p)^k``). The *rare* fates (single cells made dormant
   or founding a colony, rare clusters) are independent Poisson counts per step, kind
   and organ; when few are expected they are drawn as one Poisson total for the block
   whose events each take a (step, kind, organ) from the means (Poisson splitting: the
   same law), else as one Poisson count per step, kind and organ. Rare clusters are
   split cell by cell with a zero-truncated binomial. The *common* fates (failed, died,
   extinct, died in blood) are one Poisson count per organ and fate over the block,
   all in one draw; the clusters that are not rare are counted by the number j of
   their cells that failed to extravasate (the rest died), one Poisson count per organ
   and j.
3. **Sources of the rare cells.** By Poisson splitting, a dormant single cell or founder
   arrested in organ o in step k, or a rare cluster (all its cells), came from source s
   with probability proportional to s's expected contribution there: one multinomial
   draw per (step, kind, organ) with any.
4. **Dormant cells** join the pool at the end of the step that made them dormant and
   carry competing exponential hazards of waking (w) and death (m). A group of n cells
   that joined at step j has ``Binomial(n, 1 - exp(-(w+m) T))`` events in the block's
   remaining time T, each a waking with probability w/(w+m) independently of its time;
   woken cells are spread over the steps by one multinomial draw of the (truncated
   geometric) step of the event, and divide (binomial q).
5. **Colonies** get a founding time uniform in their step, a Kendall scale W ~ Exp(mean
   1/q), a depth (surface with probability ``surface_share``) and an angiogenic switch
   an Exp(``switch_rate``) wait after reaching the avascular limit; their sizes are then
   closed forms (:mod:`metacascade.engine.growth`).
6. **A new colony that switches inside the block** changes the sources from the first
   step starting after its switch: the block is cut there. That step is a stopping time
   (it depends only on the draws of earlier steps), so keeping the earlier steps'
   draws and drawing the rest again is exact: the common fates are drawn for the kept
   steps only, and dormant events after the cut are undone (by memorylessness the
   cells are simply still dormant; their deaths before the cut are a binomial
   thinning of the block's deaths).

Cost grows with blocks (records, switches) and with rare events (colonies founded,
dormant cells), never with the number of cells shed. The means of the blocks whose only
source is the primary are computed once per model, and when there are only a few
binomial or multinomial draws to make they are made one by one (a NumPy call on an array
costs as much as a dozen scalar draws); neither changes the law of what is drawn, only
the order of the random stream.
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.engine.growth import (
    avascular_time,
    integral_simpson,
    primary_cells,
    primary_step_integrals,
    vascular_cells,
)
from metacascade.engine.result import (
    ARRESTED,
    COLONY_DTYPES,
    DIED_AFTER,
    EXTINCT,
    FAILED,
    WOKE,
    Result,
    Snapshot,
    build_result,
)
from metacascade.errors import MetacascadeError
from metacascade.random import make_rng, resolve_seed
from metacascade.scenario import Scenario

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: (step, organ, source, cells).
Cells = tuple[IntArray, IntArray, IntArray, IntArray]
#: (step, organ, counter increments (rows x ARRESTED ... EXTINCT)).
Rows = tuple[IntArray, IntArray, IntArray]

#: Largest Poisson mean drawn in one block; beyond it a scenario is refused.
MAX_POISSON_MEAN = 1e17
#: Largest number of colonies one patient may found.
MAX_COLONIES = 200_000
#: Most steps drawn in one block (bounds the memory of a block's arrays).
MAX_BLOCK_STEPS = 128
#: Expected rare clusters in a block above which clusters are drawn per step and organ
#: rather than one by one (both exact; this bounds the cost).
RARE_CLUSTERS = 2_000.0
#: Mean rare fates per (step, kind, organ) of a block above which they are drawn as one
#: Poisson count each rather than event by event (both exact; this bounds the cost).
DENSE_SHARE = 0.125
#: Up to this many binomial or multinomial draws are made one by one (same law; a NumPy
#: call on an array costs as much as a dozen scalar draws).
SCALAR_DRAWS = 8
#: Most blocks (with the primary as only source) whose means are kept per model.
MEANS_CACHE = 64


class EngineError(MetacascadeError):
    """A scenario the engine cannot run correctly (it would overflow or explode)."""


def simulate(scenario: Scenario | Mapping[str, Any], *, seed: int | None = None) -> Result:
    """Simulate one patient.

    Parameters
    ----------
    scenario
        A :class:`~metacascade.scenario.Scenario` or plain data for one.
    seed
        Seed of the random stream; by default the scenario's, else a fresh one (recorded
        in the result's provenance, so the run can be replayed).

    """
    if not isinstance(scenario, Scenario):
        scenario = Scenario.from_dict(dict(scenario))
    used_seed = resolve_seed(seed if seed is not None else scenario.seed)
    model = compile_scenario(scenario)
    return run(model, used_seed)


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    array.flags.writeable = False
    return array


_NO_INTS: IntArray = _read_only(np.zeros(0, dtype=np.int64))
_NO_COLONIES = {name: _read_only(np.zeros(0, dtype=dtype))
                for name, dtype in COLONY_DTYPES.items()}


def _binomial(rng: np.random.Generator, n: IntArray, p: FloatArray | float) -> IntArray:
    """Binomial(n, p) element by element (a few are drawn one by one: cheaper)."""
    if n.size > SCALAR_DRAWS:
        return rng.binomial(n, p)
    if not isinstance(p, np.ndarray):
        return np.array([rng.binomial(m, p) for m in n.tolist()], dtype=np.int64)
    return np.array([rng.binomial(m, x) for m, x in zip(n.tolist(), p.tolist(), strict=True)],
                    dtype=np.int64)


def _multinomial(rng: np.random.Generator, n: IntArray, p: FloatArray) -> IntArray:
    """One Multinomial(n[i], p[i]) per row (a few are drawn one by one: cheaper)."""
    if n.size > SCALAR_DRAWS:
        return rng.multinomial(n, p)
    return np.array([rng.multinomial(m, row) for m, row in zip(n.tolist(), p, strict=True)],
                    dtype=np.int64).reshape(n.size, p.shape[1])


def _dormant_fates(rng: np.random.Generator, count: IntArray, exposure: FloatArray,
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


class _Colonies:
    """Column store of colonies with capacity doubling (ids start at 1; 0 is the primary)."""

    def __init__(self) -> None:
        self.size = 0
        self._cap = 0
        self._columns: dict[str, NDArray[Any]] = dict(_NO_COLONIES)

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._cap, 64)
        for name, dtype in COLONY_DTYPES.items():
            column: NDArray[Any] = np.zeros(cap, dtype=dtype)
            column[: self.size] = self._columns[name][: self.size]
            self._columns[name] = column
        self._cap = cap

    def __len__(self) -> int:
        return self.size

    def _view(self, name: str) -> NDArray[Any]:
        return self._columns[name][: self.size]

    organ = property(lambda self: self._view("organ"))
    parent = property(lambda self: self._view("parent"))
    generation = property(lambda self: self._view("generation"))
    founded = property(lambda self: self._view("founded"))
    w = property(lambda self: self._view("w"))
    switch = property(lambda self: self._view("switch"))
    via = property(lambda self: self._view("via"))
    surface = property(lambda self: self._view("surface"))

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


class _Dormant:
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


class _Plan:
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
        self.primary_means: dict[tuple[int, int, float], _Means] = {}


_PLANS: weakref.WeakKeyDictionary[CompiledModel, _Plan] = weakref.WeakKeyDictionary()


def _plan(model: CompiledModel) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    return plan


class _Means:
    """The expected counts of one block, per step (what its draws need)."""

    def __init__(self, plan: _Plan, expected: FloatArray, single_rows: FloatArray,
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

    def common_means(self, plan: _Plan, kept: int) -> FloatArray:
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


class _Cohorts(NamedTuple):
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


class _Run:
    """The state of one kernel run."""

    def __init__(self, model: CompiledModel, seed: int) -> None:
        self.model = model
        self.plan = _plan(model)
        self.rng = make_rng(seed)
        self.seed = seed
        n = model.n_organs
        self.shed = 0
        self.died = 0
        self.counters = np.zeros((n, 5), dtype=np.int64)
        self.dormant = _Dormant(n)
        self.col = _Colonies()
        self.snapshots: list[Snapshot] = []

    # -- the block loop ------------------------------------------------------------
    def run(self) -> Result:
        plan = self.plan
        n_steps = len(plan.starts)
        records = plan.record_steps
        s = 0
        while s < n_steps:
            next_record = records[bisect.bisect_left(records, s)]
            end = min(next_record + 1, s + MAX_BLOCK_STEPS, n_steps)
            col = self.col
            if col.size:
                # Colonies switching later change the sources from the first step
                # that starts at or after their switch.
                pending = col.switch[col.switch > plan.starts[s]]
                if pending.size:
                    first = int(np.searchsorted(plan.starts, pending.min(), side="left"))
                    end = min(end, max(first, s + 1))
            kept = self._block(s, end)
            s += kept
            if s - 1 == next_record:
                self._record(float(plan.ends[s - 1]))
        columns = {name: self.col._view(name) for name in COLONY_DTYPES}
        return build_result(self.model, self.seed, "kernel", columns, self.snapshots,
                            primary_cells_end=plan.primary_cells_end)

    def _sources(self, s: int, e: int) -> tuple[IntArray, FloatArray, FloatArray,
                                                 list[FloatArray], _Means]:
        """Source ids, expected cells shed per step (K x S), routing rows, block means."""
        plan, model, col = self.plan, self.model, self.col
        vascular = np.nonzero(col.switch <= plan.starts[s])[0] if col.size else _NO_INTS
        if vascular.size == 0:
            expected = plan.primary_expected[s:e, None]
            key = (s, e, RARE_CLUSTERS)
            means = plan.primary_means.get(key)
            if means is None:
                if len(plan.primary_means) >= MEANS_CACHE:
                    plan.primary_means.clear()
                means = plan.primary_means[key] = _Means(
                    plan, expected, plan.single_primary_row, plan.cluster_primary_rows,
                    float(plan.starts[s]))
            return (plan.primary_id, expected, plan.single_primary_row,
                    plan.cluster_primary_rows, means)
        times = np.stack([plan.starts[s:e], plan.mids[s:e], plan.ends[s:e]])
        # Every source was founded before the block and has switched by its start: its
        # size is the Gompertz branch of colony_cells (the same values).
        sizes = vascular_cells(model, times[:, :, None], col.switch[vascular])
        integral = integral_simpson(sizes[0], sizes[1], sizes[2], 1.0)
        entries = model.organ_entry[col.organ[vascular]]
        expected = np.concatenate(
            [plan.primary_expected[s:e, None],
             model.shedding_per_cell_per_day * integral * plan.widths[s:e, None]], axis=1)
        single = np.concatenate([plan.single_primary_row, plan.single_by_entry[entries]])
        clusters = [np.concatenate([row, by_entry[entries]]) for row, by_entry in
                    zip(plan.cluster_primary_rows, plan.cluster_by_entry, strict=True)]
        means = _Means(plan, expected, single, clusters, float(plan.starts[s]))
        return (np.concatenate([plan.primary_id, vascular + 1]), expected, single, clusters,
                means)

    def _attribute(self, k: IntArray, o: IntArray, count: IntArray, expected: FloatArray,
                   rows: FloatArray, ids: IntArray,
                   ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Split counts of emboli arrested in organ ``o`` in step ``k`` among sources.

        Returns (step, organ, source id, count).
        """
        if ids.size == 1 or k.size == 0:
            return k, o, np.zeros(k.size, dtype=np.int64), count
        weights = expected[k] * rows[:, o].T  # (events, sources)
        split = _multinomial(self.rng, count, weights / weights.sum(axis=1, keepdims=True))
        z, src = np.nonzero(split)
        return k[z], o[z], ids[src], split[z, src]

    def _rare_events(self, means: _Means) -> dict[int, tuple[IntArray, IntArray, IntArray]]:
        """The rare fates of a block: (step, organ, count) by kind.

        Kind 0 is a single cell made dormant, 1 a single cell founding a colony, 2 + c a
        rare cluster of cluster kind c. Few expected: a Poisson total, each event's step,
        kind and organ drawn from the means (the same law). Many: a Poisson count per
        step, kind and organ.
        """
        rng, n, width = self.rng, self.plan.n, self.plan.rare_width
        if means.dense:
            counts = rng.poisson(means.rare)
            flat = np.flatnonzero(counts)
            count = counts[flat]
        else:
            total = rng.poisson(means.rare_total)
            if not total:
                return {}
            flat = np.searchsorted(means.rare_cdf, rng.random(total) * means.rare_total,
                                   side="right")
            if total <= SCALAR_DRAWS:
                events: dict[int, list[tuple[int, int]]] = {}
                for f in flat.tolist():
                    # (min: rounding may give u * total == total)
                    step, at = divmod(min(f, means.rare_last), width)
                    events.setdefault(at // n, []).append((step, at % n))
                found = {}
                for kind, rows in events.items():
                    table = np.array(rows, dtype=np.int64)
                    found[kind] = (table[:, 0], table[:, 1], np.ones(len(rows), dtype=np.int64))
                return found
            np.minimum(flat, means.rare_last, out=flat)  # rounding: u * total == total
            flat, count = np.unique(flat, return_counts=True)
        k, column = np.divmod(flat, width)
        kinds, o = np.divmod(column, n)
        groups = {}
        for kind in np.unique(kinds).tolist():
            chosen = kinds == kind
            groups[kind] = (k[chosen], o[chosen], count[chosen])
        return groups

    def _split_clusters(self, c: int, k: IntArray, o: IntArray, source: IntArray,
                        clusters: IntArray) -> tuple[Rows, Cells, Cells]:
        """Split rare clusters of kind ``c`` cell by cell.

        ``clusters`` of them arrested in organ ``o`` in step ``k``, from ``source``.
        Returns (step, organ, counter increments) per cluster and the (step, organ,
        source, cells) made dormant and founding a colony.
        """
        plan, rng = self.plan, self.rng
        m, q = plan.cluster_sizes[c], self.model.establishment
        if int(clusters.sum()) <= SCALAR_DRAWS:
            rows: list[tuple[int, ...]] = []
            dormant: list[tuple[int, int, int, int]] = []
            founding: list[tuple[int, int, int, int]] = []
            cdf = plan.cluster_rare_cdf_rows[c]
            for step, organ, src, count in zip(k.tolist(), o.tolist(), source.tolist(),
                                               clusters.tolist(), strict=True):
                for _ in range(count):
                    r = 1 + bisect.bisect_right(cdf[organ], rng.random())
                    asleep = rng.binomial(r, plan.dormant_given_rare_list[organ])
                    founders = rng.binomial(r - asleep, q)
                    failed = rng.binomial(m - r, plan.fail_given_common_list[organ])
                    # ARRESTED, FAILED, DIED_AFTER, WOKE, EXTINCT
                    rows.append((step, organ, m, failed, m - r - failed, 0,
                                 r - asleep - founders))
                    if asleep:
                        dormant.append((step, organ, src, asleep))
                    if founders:
                        founding.append((step, organ, src, founders))
            table = np.array(rows, dtype=np.int64)
            return ((table[:, 0], table[:, 1], table[:, 2:]), _columns(dormant),
                    _columns(founding))
        k, o, source = (np.repeat(x, clusters) for x in (k, o, source))
        u = rng.random(k.size)
        r = 1 + (u[:, None] >= plan.cluster_rare_cdf[c][o, :-1]).sum(axis=1)
        cells_dormant = rng.binomial(r, plan.dormant_given_rare[o])
        divide = r - cells_dormant
        cells_founding = rng.binomial(divide, q)
        cells_failed = rng.binomial(m - r, plan.fail_given_common[o])
        increments = np.zeros((k.size, 5), dtype=np.int64)
        increments[:, ARRESTED] = m
        increments[:, FAILED] = cells_failed
        increments[:, DIED_AFTER] = m - r - cells_failed
        increments[:, EXTINCT] = divide - cells_founding
        asleep, founds = cells_dormant > 0, cells_founding > 0
        return ((k, o, increments),
                (k[asleep], o[asleep], source[asleep], cells_dormant[asleep]),
                (k[founds], o[founds], source[founds], cells_founding[founds]))

    def _block(self, s: int, e: int) -> int:
        """Draw steps ``s .. e-1`` at once; return how many steps were kept (>= 1)."""
        plan, model, rng = self.plan, self.model, self.rng
        n = plan.n
        K = e - s
        q = model.establishment
        ids, expected, single_rows, cluster_rows, means = self._sources(s, e)

        # Rare fates, per step and organ, in one draw: single cells made dormant and
        # founding a colony, then rare clusters of each cluster kind (not direct).
        rare = self._rare_events(means)
        dormant_parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        founder_parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
        #: (step, organ, cells) of the rare single cells, (step, organ, counter
        #: increments) of the rare clusters.
        rare_single: list[tuple[IntArray, IntArray, IntArray]] = []
        rare_rows: list[tuple[IntArray, IntArray, IntArray]] = []
        for kind, parts in ((0, dormant_parts), (1, founder_parts)):
            if kind in rare:
                k_r, o_r, cells = rare[kind]
                parts.append(self._attribute(k_r, o_r, cells, expected, single_rows, ids))
                rare_single.append((k_r, o_r, cells))
        # Rare clusters, split cell by cell: the cells made dormant, founding a colony,
        # failed, died and extinct. All cells of a cluster come from one source.
        for c in range(len(plan.cluster_sizes)):
            if 2 + c not in rare:  # none, or drawn direct
                continue
            k_r, o_r, source, clusters = self._attribute(*rare[2 + c], expected,
                                                         cluster_rows[c], ids)
            row, dormant_part, founder_part = self._split_clusters(c, k_r, o_r, source,
                                                                   clusters)
            rare_rows.append(row)
            for split, parts in ((dormant_part, dormant_parts),
                                 (founder_part, founder_parts)):
                if split[0].size:
                    parts.append(split)
        # Clusters drawn cell by cell ("direct"): cells per step and organ.
        direct_cells: dict[int, tuple[IntArray, IntArray]] = {}
        for c, m in enumerate(plan.cluster_sizes):
            if not means.direct[c]:
                continue
            cells = m * rng.poisson(means.cluster[c][:, :n])
            cells_dormant = rng.binomial(cells, plan.p_dormant[None])
            cells_founding = rng.binomial(cells - cells_dormant, plan.founder_given_active)
            direct_cells[c] = (cells, cells - cells_dormant - cells_founding)
            for part, parts in ((cells_dormant, dormant_parts),
                                (cells_founding, founder_parts)):
                k_idx, o_idx = np.nonzero(part)
                if k_idx.size:
                    parts.append(self._attribute(k_idx, o_idx, part[k_idx, o_idx], expected,
                                                 cluster_rows[c], ids))

        # Dormant cohorts (join step, organ, column, cells) and their events.
        d_step, d_organ, d_source, d_count = _stack(dormant_parts)
        f_step, f_organ, f_parent, f_count = _stack(founder_parts)
        d_column = (self.dormant.columns(d_source) if ids.size > 1
                    else np.zeros(d_source.size, dtype=np.int64))
        cohorts = self._dormant_events(s, e, d_step, d_organ, d_column, d_count)
        w_organ, w_step, w_parent, w_count = cohorts.founders if cohorts else _stack([])

        # New colonies (from arrests, then woken cells), their fates drawn at founding.
        kept = K
        new: dict[str, NDArray[Any]] = {}
        if f_count.size or w_count.size:
            self._check_colonies(int(f_count.sum()) + int(w_count.sum()),
                                 float(plan.ends[e - 1]))
            organ = np.concatenate([np.repeat(f_organ, f_count), np.repeat(w_organ, w_count)])
            step = np.concatenate([np.repeat(f_step, f_count), np.repeat(w_step, w_count)])
            parent = np.concatenate([np.repeat(f_parent, f_count),
                                     np.repeat(w_parent, w_count)])
            via = np.concatenate([np.zeros(int(f_count.sum()), dtype=np.int8),
                                  np.ones(int(w_count.sum()), dtype=np.int8)])
            t0 = plan.starts[s + step]
            founded = t0 + rng.random(organ.size) * plan.widths[s + step]
            w = rng.exponential(1.0 / q, size=organ.size)
            wait = rng.exponential(1.0 / model.switch_rate_per_day, size=organ.size)
            surface = rng.random(organ.size) < model.surface_share
            switch = avascular_time(model, founded, w) + wait
            # Cut the block at the first step a new colony sheds in.
            source_from = np.maximum(np.searchsorted(plan.starts, switch, side="left") - s,
                                     step + 1)
            kept = int(min(K, source_from.min()))
            keep = step < kept
            order = np.argsort(founded[keep], kind="stable")
            new = {name: values[keep][order] for name, values in (
                ("organ", organ), ("parent", parent), ("founded", founded), ("w", w),
                ("switch", switch), ("via", via), ("surface", surface))}

        # Common fates of the kept steps, one Poisson count each: per organ failed, died
        # and extinct single cells and plain clusters of each kind by failed cells (the
        # rest died); single cells and clusters of each kind died in blood.
        common = rng.poisson(means.common if kept == K else means.common_means(plan, kept))
        at = n * plan.common_width
        delta = common[:at].reshape(n, plan.common_width) @ plan.common_weights
        died_blood = int(common[at:] @ plan.blood_weights)
        for k_r, o_r, cells in rare_single:
            if kept < K:
                before = k_r < kept
                o_r, cells = o_r[before], cells[before]
            np.add.at(delta[:, ARRESTED], o_r, cells)
        if rare_rows:
            if len(rare_rows) == 1:
                k_r, o_r, increments = rare_rows[0]
            else:
                k_r, o_r, increments = (np.concatenate(x) for x in zip(*rare_rows, strict=True))
            if kept < K:
                before = k_r < kept
                o_r, increments = o_r[before], increments[before]
            np.add.at(delta, o_r, increments)
        for cells, rest in direct_cells.values():
            cells, rest = cells[:kept].sum(axis=0), rest[:kept].sum(axis=0)
            rest_failed = rng.binomial(rest, plan.fail_given_rest)
            rest_died = rng.binomial(rest - rest_failed, plan.died_given_rest)
            delta[:, ARRESTED] += cells
            delta[:, FAILED] += rest_failed
            delta[:, DIED_AFTER] += rest_died
            delta[:, EXTINCT] += rest - rest_failed - rest_died
        self.shed += died_blood + int(delta[:, ARRESTED].sum())
        self.died += died_blood
        if cohorts:
            self._settle_dormant(cohorts, kept, K, delta)
        self.counters += delta
        if new:
            self.col.add(new)
        return kept

    def _check_colonies(self, more: int, day: float) -> None:
        if self.col.size + more > MAX_COLONIES:
            raise EngineError(
                f"more than {MAX_COLONIES} colonies founded by day {day:.0f}: colonisation "
                "in this scenario is implausibly efficient (lower divide_after_extravasation "
                "or soil, or shorten the horizon)"
            )

    def _dormant_events(self, s: int, e: int, d_step: IntArray, d_organ: IntArray,
                        d_column: IntArray, d_count: IntArray) -> _Cohorts | None:
        """Draw the events of the dormant cells in steps ``s .. e-1``.

        Cohorts: the pool at the block's start joins at step 0, the cells made dormant
        in step k at step k + 1. None if there are no dormant cells.
        """
        plan, rng, dormant = self.plan, self.rng, self.dormant
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
            p_any, woke, died = _dormant_fates(rng, count, cum_hazard[K] - cum_hazard[join],
                                               plan.wake_share)
        else:
            p_any = np.zeros(count.size)
            woke = died = np.zeros(count.size, dtype=np.int64)
        w_idx = np.flatnonzero(woke)
        if not w_idx.size:
            return _Cohorts(join, organ, column, count, p_any, cum_hazard, died, _NO_INTS,
                            _NO_INTS, _NO_INTS, _NO_INTS, _stack([]))
        # The step of each waking: truncated geometric from the cohort's join.
        j = join[w_idx]
        survive = np.exp(-np.maximum(cum_hazard[None, :] - cum_hazard[j][:, None], 0.0))
        p_step = np.where(np.arange(K)[None, :] >= j[:, None],
                          survive[:, :-1] - survive[:, 1:], 0.0) / p_any[w_idx, None]
        p_step[:, -1] = np.maximum(1.0 - p_step[:, :-1].sum(axis=1), 0.0)
        woke_by_step = _multinomial(rng, woke[w_idx], p_step)
        z, w_step = np.nonzero(woke_by_step)
        w_cohort = w_idx[z]
        w_count = woke_by_step[z, w_step]
        w_founders = _binomial(rng, w_count, plan.wake_founding[organ[w_cohort]])
        some = w_founders > 0
        sources = np.asarray(self.dormant.source_of_column, dtype=np.int64)
        founders = (organ[w_cohort[some]], w_step[some], sources[column[w_cohort[some]]],
                    w_founders[some])
        return _Cohorts(join, organ, column, count, p_any, cum_hazard, died, w_cohort, w_step,
                        w_count, w_founders, founders)

    def _settle_dormant(self, cohorts: _Cohorts, kept: int, K: int, delta: IntArray) -> None:
        """Keep the dormant events of the first ``kept`` steps; the rest stay dormant.

        Adds the deaths, wakings and extinct woken cells to ``delta`` (organs x counters).
        """
        c, dormant = cohorts, self.dormant
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
                deaths = _binomial(self.rng, deaths, np.clip(share, 0.0, 1.0))
            deaths = np.where(joined, deaths, 0)
            stay = np.where(joined, c.cells - woke_kept - deaths, 0)
        else:
            stay = c.cells - woke_kept - deaths
        np.add.at(delta[:, DIED_AFTER], c.organ, deaths)
        pool = np.zeros_like(dormant.counts)
        np.add.at(pool, (c.organ, c.column), stay)
        dormant.counts = pool
        dormant.total = int(stay.sum())

    def _record(self, t1: float) -> None:
        self.snapshots.append(Snapshot(t1, self.shed, self.died, self.counters.copy(),
                                       self.dormant.counts.sum(axis=1), self.col.size))


def _columns(rows: list[tuple[int, int, int, int]],
             ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(step, organ, source, count) rows as columns."""
    if not rows:
        return _NO_INTS, _NO_INTS, _NO_INTS, _NO_INTS
    table = np.array(rows, dtype=np.int64)
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def _stack(parts: list[tuple[IntArray, IntArray, IntArray, IntArray]],
           ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Concatenate (step, organ, source, count) parts."""
    if not parts:
        return _NO_INTS, _NO_INTS, _NO_INTS, _NO_INTS
    if len(parts) == 1:
        return parts[0]
    a, b, c, d = (np.concatenate(column) for column in zip(*parts, strict=True))
    return a, b, c, d


def run(model: CompiledModel, seed: int) -> Result:
    """Run the fast engine on a compiled model with a given seed."""
    return _Run(model, seed).run()
