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
   Poisson thinnings, so the *rare* fates (dormant, colony founded) are drawn per step
   and organ, and the *common* ones (failed, died, extinct, died in blood) as one
   Poisson count per organ over the block. A cluster of k cells is *rare* if any cell
   goes dormant or divides (probability ``1 - (1 - p)^k``); rare clusters (a Poisson
   count per step and organ) are split cell by cell with a zero-truncated binomial;
   the other clusters are counted by the number j of their cells that failed to
   extravasate (the rest died), one Poisson count per organ and j.
3. **Sources of the rare cells.** By Poisson splitting, a dormant cell or founder
   arrested in organ o in step k came from source s with probability proportional to
   s's expected contribution there: one multinomial draw per (step, organ) with any.
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
dormant cells), never with the number of cells shed.
"""

from __future__ import annotations

import bisect
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.engine.growth import (
    avascular_time,
    colony_cells,
    integral_simpson,
    primary_cells,
    primary_step_integrals,
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

#: Largest Poisson mean drawn in one block; beyond it a scenario is refused.
MAX_POISSON_MEAN = 1e17
#: Largest number of colonies one patient may found.
MAX_COLONIES = 200_000
#: Most steps drawn in one block (bounds the memory of a block's arrays).
MAX_BLOCK_STEPS = 128
#: Expected rare clusters in a block above which clusters are drawn per step and organ
#: rather than one by one (both exact; this bounds the cost).
RARE_CLUSTERS = 2_000.0


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


class _Colonies:
    """Column store of colonies with capacity doubling (ids start at 1; 0 is the primary)."""

    def __init__(self) -> None:
        self.size = 0
        self._cap = 0
        self._columns: dict[str, NDArray[Any]] = {}
        self._grow(64)

    def _grow(self, needed: int) -> None:
        cap = max(needed, 2 * self._cap)
        for name, dtype in COLONY_DTYPES.items():
            column: NDArray[Any] = np.zeros(cap, dtype=dtype)
            if name in self._columns:
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
        self.source_of_column: list[int] = [0]
        self.column_of_source = {0: 0}

    def columns(self, sources: IntArray) -> IntArray:
        """Columns of the given source ids (new columns are opened as needed)."""
        for s in sources.tolist():
            if s not in self.column_of_source:
                self.column_of_source[s] = len(self.source_of_column)
                self.source_of_column.append(s)
        if len(self.source_of_column) > self.counts.shape[1]:
            grown = np.zeros((self.counts.shape[0], 2 * len(self.source_of_column)),
                             dtype=np.int64)
            grown[:, : self.counts.shape[1]] = self.counts
            self.counts = grown
        return np.array([self.column_of_source[s] for s in sources.tolist()], dtype=np.int64)


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
            # A plain (not rare) cluster has j failed cells, m - j died: per organ, the
            # share of clusters that are plain with j failed cells, j = 0..m.
            j = np.arange(m + 1)
            f = self.fail_given_common[:, None]
            binom = np.array([math.comb(m, int(i)) for i in j]) * f**j * (1.0 - f) ** (m - j)
            self.cluster_plain_split.append((1.0 - p_rare)[:, None] * binom)
        self.hazard = model.wake_rate_per_day + model.dormant_death_rate_per_day
        self.wake_share = (model.wake_rate_per_day / self.hazard) if self.hazard > 0 else 0.0
        #: Integrated dormant hazard from day 0 to the start of each step (and the end).
        self.cum_hazard = np.concatenate([[0.0], np.cumsum(self.hazard * self.widths)])
        self.primary_cells_end = float(primary_cells(model, model.horizon_days))


_PLANS: weakref.WeakKeyDictionary[CompiledModel, _Plan] = weakref.WeakKeyDictionary()


def _plan(model: CompiledModel) -> _Plan:
    plan = _PLANS.get(model)
    if plan is None:
        plan = _PLANS[model] = _Plan(model)
    return plan


@dataclass(frozen=True)
class _Cohorts:
    """Dormant cells of one block, by cohort (join step, organ, source column)."""

    join: IntArray
    organ: IntArray
    column: IntArray
    count: IntArray
    p_any: FloatArray
    cum_hazard: FloatArray
    deaths: IntArray
    #: Cohorts with cells that woke, and those cells by step (and the ones that founded).
    w_idx: IntArray
    woke_by_step: IntArray
    woken_founders: IntArray
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
                                                 list[FloatArray]]:
        """Source ids, expected cells shed per step (K x S), and per-cell routing rows."""
        plan, model, col = self.plan, self.model, self.col
        vascular = np.nonzero(col.switch <= plan.starts[s])[0]
        if vascular.size == 0:
            return (plan.primary_id, plan.primary_expected[s:e, None], plan.single_primary_row,
                    plan.cluster_primary_rows)
        times = np.stack([plan.starts[s:e], plan.mids[s:e], plan.ends[s:e]])
        sizes = colony_cells(model, times[:, :, None], col.founded[vascular],
                             col.w[vascular], col.switch[vascular])
        integral = integral_simpson(sizes[0], sizes[1], sizes[2], 1.0)
        entries = model.organ_entry[col.organ[vascular]]
        ids = [plan.primary_id, vascular + 1]
        expected = [plan.primary_expected[s:e, None],
                    model.shedding_per_cell_per_day * integral * plan.widths[s:e, None]]
        single = [plan.single_primary_row, plan.single_by_entry[entries]]
        clusters = [[row, by_entry[entries]] for row, by_entry in
                    zip(plan.cluster_primary_rows, plan.cluster_by_entry, strict=True)]
        return (np.concatenate(ids), np.concatenate(expected, axis=1),
                np.concatenate(single), [np.concatenate(rows) for rows in clusters])

    def _poisson_by_step(self, means: FloatArray) -> IntArray:
        """Independent Poisson counts of the given (steps x cells) means.

        Drawn as a Poisson total per cell, spread over the steps by one multinomial
        draw (the same law, and cheap when most totals are 0).
        """
        totals = self.rng.poisson(means.sum(axis=0))
        hit = np.nonzero(totals)[0]
        out = np.zeros(means.shape, dtype=np.int64)
        if hit.size == 0:
            return out
        if means.shape[0] == 1:
            out[0] = totals
            return out
        share = means[:, hit] / means[:, hit].sum(axis=0)
        out[:, hit] = self.rng.multinomial(totals[hit], share.T).T
        return out

    def _attribute(self, counts: IntArray, expected: FloatArray, rows: FloatArray,
                   ids: IntArray) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Split (step x organ) counts among sources: (step, organ, source id, count)."""
        k_idx, o_idx = np.nonzero(counts)
        n = counts[k_idx, o_idx]
        if ids.size == 1 or n.size == 0:
            return k_idx, o_idx, np.full(n.size, ids[0], dtype=np.int64), n
        weights = expected[k_idx] * rows[:, o_idx].T  # (nonzero, sources)
        p = weights / weights.sum(axis=1, keepdims=True)
        split = self.rng.multinomial(n, p)
        z, src = np.nonzero(split)
        return k_idx[z], o_idx[z], ids[src], split[z, src]

    def _block(self, s: int, e: int) -> int:
        """Draw steps ``s .. e-1`` at once; return how many steps were kept (>= 1)."""
        plan, model, rng = self.plan, self.model, self.rng
        n = plan.n
        K = e - s
        q = model.establishment
        ids, expected, single_rows, cluster_rows = self._sources(s, e)
        means_single = expected @ single_rows  # K x (organs + 1): cells
        means_cluster = [expected @ rows for rows in cluster_rows]  # K x (organs + 1)
        biggest = float(expected.sum())  # bounds every mean drawn below
        if biggest > MAX_POISSON_MEAN or not math.isfinite(biggest):
            raise EngineError(
                f"shedding of {expected.sum():.3g} cells in {K} steps from day "
                f"{plan.starts[s]:.0f} is beyond what the engine can draw exactly; shorten "
                "the horizon or lower the shedding rate or tumour size"
            )

        # Rare fates, per step and organ, in one draw: single cells made dormant and
        # founding a colony, then rare clusters of each cluster kind.
        # A kind whose rare clusters are not rare (more than RARE_CLUSTERS expected) is
        # drawn cell by cell per step and organ instead ("direct"), so that the cost
        # never grows with the number of clusters.
        rare_means = [mc[:, :n] * p_rare[None]
                      for mc, p_rare in zip(means_cluster, plan.cluster_rare, strict=True)]
        direct = [float(rm.sum()) > RARE_CLUSTERS for rm in rare_means]
        rare = self._poisson_by_step(np.concatenate(
            [(means_single[:, None, :n] * plan.p_rare[None]).reshape(K, 2 * n)]
            + [0.0 * rm if d else rm for rm, d in zip(rare_means, direct, strict=True)],
            axis=1))
        rare_single = rare[:, :n] + rare[:, n:2 * n]
        dormant_parts = [(rare[:, :n], single_rows)]
        founder_parts = [(rare[:, n:2 * n], single_rows)]
        # Rare clusters, split cell by cell: their count per step and organ, and the
        # failed, died and extinct cells among them.
        rare_cluster_counts: list[IntArray] = []
        rare_other = np.zeros((3, K, n), dtype=np.int64)
        direct_cells: dict[int, tuple[IntArray, IntArray]] = {}
        for c, m in enumerate(plan.cluster_sizes):
            counts = rare[:, (2 + c) * n:(3 + c) * n]
            rare_cluster_counts.append(counts)
            if direct[c]:
                cells = m * rng.poisson(means_cluster[c][:, :n])
                cells_dormant = rng.binomial(cells, plan.p_dormant[None])
                cells_founding = rng.binomial(cells - cells_dormant, plan.founder_given_active)
                dormant_parts.append((cells_dormant, cluster_rows[c]))
                founder_parts.append((cells_founding, cluster_rows[c]))
                direct_cells[c] = (cells, cells - cells_dormant - cells_founding)
                continue
            if not counts.any():
                continue
            k_idx, o_idx = np.nonzero(counts)
            reps = counts[k_idx, o_idx]
            k_r, o_r = np.repeat(k_idx, reps), np.repeat(o_idx, reps)
            u = rng.random(k_r.size)
            r = 1 + (u[:, None] >= plan.cluster_rare_cdf[c][o_r, :-1]).sum(axis=1)
            cells_dormant = rng.binomial(r, plan.dormant_given_rare[o_r])
            divide = r - cells_dormant
            cells_founding = rng.binomial(divide, q)
            cells_failed = rng.binomial(m - r, plan.fail_given_common[o_r])
            flat = k_r * n + o_r
            for i, values in enumerate((cells_failed, m - r - cells_failed,
                                        divide - cells_founding)):
                rare_other[i] += np.bincount(flat, values, K * n).reshape(K, n).astype(np.int64)
            dormant_parts.append((np.bincount(flat, cells_dormant, K * n).reshape(K, n)
                                  .astype(np.int64), cluster_rows[c]))
            founder_parts.append((np.bincount(flat, cells_founding, K * n).reshape(K, n)
                                  .astype(np.int64), cluster_rows[c]))

        # Sources of the rare cells; dormant cohorts (join step, organ, column, cells).
        dormant = self.dormant
        new_dormant = [self._attribute(part, expected, rows, ids)
                       for part, rows in dormant_parts if part.any()]
        founders = [self._attribute(part, expected, rows, ids)
                    for part, rows in founder_parts if part.any()]
        d_step, d_organ, d_source, d_count = _stack(new_dormant)
        f_step, f_organ, f_parent, f_count = _stack(founders)
        d_column = dormant.columns(d_source)

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

        # Common fates of the kept steps, one Poisson count each: per organ failed,
        # died and extinct single cells; single cells died in blood; per cluster kind,
        # clusters died in blood and plain clusters per organ (their cells fail or die).
        kept_single = means_single[:kept].sum(axis=0)
        kept_cluster = [m[:kept].sum(axis=0) for m in means_cluster]
        common = rng.poisson(np.concatenate(
            [(kept_single[None, :n] * plan.p_common).ravel(), kept_single[n:]]
            + [np.concatenate([kc[n:], (kc[:n, None] * split).ravel() * (not d)])
               for kc, split, d in zip(kept_cluster, plan.cluster_plain_split, direct,
                                       strict=True)]))
        failed = common[:n].copy()
        died_after = common[n:2 * n].copy()
        extinct = common[2 * n:3 * n].copy()
        died_blood = int(common[3 * n])
        arrested = common[:3 * n].reshape(3, n).sum(axis=0) + rare_single[:kept].sum(axis=0)
        at = 3 * n + 1
        for c, m in enumerate(plan.cluster_sizes):
            died_blood += m * int(common[at])
            plain = common[at + 1:at + 1 + n * (m + 1)].reshape(n, m + 1)
            at += 1 + n * (m + 1)
            j = np.arange(m + 1)
            failed += plain @ j
            died_after += plain @ (m - j)
            arrested += m * (plain.sum(axis=1) + rare_cluster_counts[c][:kept].sum(axis=0))
            if c in direct_cells:
                cells, rest = (x[:kept].sum(axis=0) for x in direct_cells[c])
                arrested += cells
                rest_failed = rng.binomial(rest, plan.fail_given_rest)
                rest_died = rng.binomial(rest - rest_failed, plan.died_given_rest)
                failed += rest_failed
                died_after += rest_died
                extinct += rest - rest_failed - rest_died
        if rare_other.any():
            failed += rare_other[0, :kept].sum(axis=0)
            died_after += rare_other[1, :kept].sum(axis=0)
            extinct += rare_other[2, :kept].sum(axis=0)

        counters = self.counters
        counters[:, ARRESTED] += arrested
        counters[:, FAILED] += failed
        counters[:, DIED_AFTER] += died_after
        counters[:, EXTINCT] += extinct
        if cohorts:
            self._settle_dormant(cohorts, kept, K)
        self.shed += died_blood + int(arrested.sum())
        self.died += died_blood
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
        plan, rng, pool = self.plan, self.rng, self.dormant.counts
        K = e - s
        p_o, p_c = np.nonzero(pool)
        if p_o.size == 0 and d_count.size == 0:
            return None
        join = np.concatenate([np.zeros(p_o.size, dtype=np.int64), d_step + 1])
        organ = np.concatenate([p_o, d_organ])
        column = np.concatenate([p_c, d_column])
        count = np.concatenate([pool[p_o, p_c], d_count])
        cum_hazard = plan.cum_hazard[s:e + 1] - plan.cum_hazard[s]
        p_any = -np.expm1(-(cum_hazard[K] - cum_hazard[np.minimum(join, K)]))
        if plan.hazard > 0:
            wake = p_any * plan.wake_share
            fates = rng.multinomial(count, np.stack([wake, p_any - wake, 1.0 - p_any], axis=1))
            woke, died = fates[:, 0], fates[:, 1]
        else:
            woke = died = np.zeros(count.size, dtype=np.int64)
        w_idx = np.nonzero(woke)[0]
        woke_by_step = np.zeros((w_idx.size, K), dtype=np.int64)
        if w_idx.size:
            # The step of each waking: truncated geometric from the cohort's join.
            j = join[w_idx]
            survive = np.exp(-np.maximum(cum_hazard[None, :] - cum_hazard[j][:, None], 0.0))
            p_step = np.where(np.arange(K)[None, :] >= j[:, None],
                              survive[:, :-1] - survive[:, 1:], 0.0) / p_any[w_idx, None]
            p_step[:, -1] = np.maximum(1.0 - p_step[:, :-1].sum(axis=1), 0.0)
            woke_by_step = rng.multinomial(woke[w_idx], p_step)
        if w_idx.size:
            woken_founders = rng.binomial(woke_by_step, self.model.establishment)
            z, k_w = np.nonzero(woken_founders)
            sources = np.asarray(self.dormant.source_of_column, dtype=np.int64)
            founders = (organ[w_idx[z]], k_w, sources[column[w_idx[z]]],
                        woken_founders[z, k_w])
        else:
            woken_founders = woke_by_step
            founders = _stack([])
        return _Cohorts(join, organ, column, count, p_any, cum_hazard, died, w_idx,
                        woke_by_step, woken_founders, founders)

    def _settle_dormant(self, cohorts: _Cohorts, kept: int, K: int) -> None:
        """Keep the dormant events of the first ``kept`` steps; the rest stay dormant."""
        c, n = cohorts, self.plan.n
        deaths = c.deaths
        woke_kept = np.zeros(c.count.size, dtype=np.int64)
        if c.w_idx.size:
            woke_kept[c.w_idx] = c.woke_by_step[:, :kept].sum(axis=1)
        if kept < K:
            joined = c.join <= kept
            if deaths.any():
                # Event times are independent of the event kind: the deaths before the
                # cut are a binomial thinning of the block's deaths.
                before = c.cum_hazard[kept] - c.cum_hazard[np.minimum(c.join, kept)]
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = np.where(c.p_any > 0, -np.expm1(-before) / c.p_any, 0.0)
                deaths = self.rng.binomial(deaths, np.clip(share, 0.0, 1.0))
            deaths = np.where(joined, deaths, 0)
            stay = np.where(joined, c.count - woke_kept - deaths, 0)
        else:
            stay = c.count - woke_kept - deaths
        pool = self.dormant.counts
        columns = pool.shape[1]
        self.dormant.counts = np.bincount(c.organ * columns + c.column, stay, pool.size
                                          ).astype(np.int64).reshape(pool.shape)
        counters = self.counters
        counters[:, DIED_AFTER] += np.bincount(c.organ, deaths, n).astype(np.int64)
        counters[:, WOKE] += np.bincount(c.organ, woke_kept, n).astype(np.int64)
        if c.w_idx.size:
            extinct_woken = (c.woke_by_step - c.woken_founders)[:, :kept].sum(axis=1)
            counters[:, EXTINCT] += np.bincount(c.organ[c.w_idx], extinct_woken,
                                                n).astype(np.int64)

    def _record(self, t1: float) -> None:
        self.snapshots.append(Snapshot(t1, self.shed, self.died, self.counters.copy(),
                                       self.dormant.counts.sum(axis=1), self.col.size))


def _stack(parts: list[tuple[IntArray, IntArray, IntArray, IntArray]],
           ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Concatenate (step, organ, source, count) parts."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    if len(parts) == 1:
        return parts[0]
    a, b, c, d = (np.concatenate(column) for column in zip(*parts, strict=True))
    return a, b, c, d


def run(model: CompiledModel, seed: int) -> Result:
    """Run the fast engine on a compiled model with a given seed."""
    return _Run(model, seed).run()
