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
7. **The colony limit.** A block whose new colonies would take the patient past
   :data:`~.limits.MAX_COLONIES` is cut at the first step where they would (again a
   stopping time); when that is the block's first step, the history ends at its start
   (``Result.history_end_day``): no colony is founded from then on, so everything up to
   that day is exact, and from the next block the colonies shed no more (as in the
   batch engine). The clinic refuses a patient still alive then
   (:func:`metacascade.clinic.course.follow`).

Cost grows with blocks (records, switches) and with rare events (colonies founded,
dormant cells), never with the number of cells shed. The means of the blocks whose only
source is the primary are computed once per model, and when there are only a few
binomial or multinomial draws to make they are made one by one (a NumPy call on an array
costs as much as a dozen scalar draws); neither changes the law of what is drawn, only
the order of the random stream.

This module holds the block loop; the plan of a model and the means of a block are in
:mod:`.kernel_plan`, the colonies, the dormant cells and their events in
:mod:`.kernel_store`, and the limits (and :class:`EngineError`) in :mod:`.limits`.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.engine.growth import avascular_time, integral_simpson, vascular_cells
from metacascade.engine.kernel_plan import BlockMeans, kernel_plan
from metacascade.engine.kernel_store import (
    NO_INTS,
    ColonyStore,
    DormantPool,
    dormant_events,
    multinomial,
    rows_to_columns,
    settle_dormant,
    stack,
)
from metacascade.engine.limits import (
    DENSE_SHARE,
    MAX_BLOCK_STEPS,
    MAX_COLONIES,
    MAX_POISSON_MEAN,
    MEANS_CACHE,
    RARE_CLUSTERS,
    SCALAR_DRAWS,
    EngineError,
    poisson,
)
from metacascade.engine.result import (
    ARRESTED,
    COLONY_DTYPES,
    DIED_AFTER,
    EXTINCT,
    FAILED,
    Result,
    Snapshot,
    build_result,
)
from metacascade.random import make_rng, resolve_seed
from metacascade.scenario import Scenario, as_scenario

# The limits are importable from here, as before they had their own module.
__all__ = ["DENSE_SHARE", "MAX_BLOCK_STEPS", "MAX_COLONIES", "MAX_POISSON_MEAN",
           "MEANS_CACHE", "RARE_CLUSTERS", "SCALAR_DRAWS", "EngineError", "run", "simulate"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: (step, organ, source, cells).
Cells = tuple[IntArray, IntArray, IntArray, IntArray]
#: (step, organ, counter increments (rows x ARRESTED ... EXTINCT)).
Rows = tuple[IntArray, IntArray, IntArray]


def simulate(scenario: Scenario | Mapping[str, Any] | str | os.PathLike[str], *,
             seed: int | None = None) -> Result:
    """Simulate one patient.

    Parameters
    ----------
    scenario
        A :class:`~metacascade.scenario.Scenario`, plain data for one, or the path of a
        scenario file (``.yaml``, ``.yml`` or ``.toml``, read by
        :func:`~metacascade.scenario.load_scenario`), as ``simulate_cohort`` takes a
        population's.
    seed
        Seed of the random stream, a whole number in [0, 2^63 - 1] (not a Generator); by
        default the scenario's (a file's ``seed``), else a fresh one (recorded in the
        result's provenance, so the run can be replayed).

    Returns
    -------
    Result
        The untreated natural history to the horizon: the cell-fate ledger, the
        colonies and their events (follow it through a clinic with
        :func:`metacascade.clinic.course.follow`).

    """
    scenario = as_scenario(scenario, files=True)
    used_seed = resolve_seed(seed if seed is not None else scenario.seed)
    model = compile_scenario(scenario)
    return run(model, used_seed)


class _Run:
    """The state of one kernel run."""

    def __init__(self, model: CompiledModel, seed: int) -> None:
        self.model = model
        self.plan = kernel_plan(model)
        self.rng = make_rng(seed)
        self.seed = seed
        n = model.n_organs
        self.shed = 0
        self.died = 0
        self.counters = np.zeros((n, 5), dtype=np.int64)
        self.dormant = DormantPool(n)
        self.col = ColonyStore()
        self.snapshots: list[Snapshot] = []
        #: Day the history ends (inf: the horizon; else the colony limit's step start).
        self.history_end = np.inf

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
            if col.size and self.history_end == np.inf:
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
        columns = {name: self.col.view(name) for name in COLONY_DTYPES}
        return build_result(self.model, self.seed, "kernel", columns, self.snapshots,
                            primary_cells_end=plan.primary_cells_end,
                            history_end_day=float(self.history_end))

    def _sources(self, s: int, e: int) -> tuple[IntArray, FloatArray, FloatArray,
                                                 list[FloatArray], BlockMeans]:
        """Source ids, expected cells shed per step (K x S), routing rows, block means."""
        plan, model, col = self.plan, self.model, self.col
        # (an ended history's colonies shed no more: they would only add to its ledger)
        vascular = (np.nonzero(col.switch <= plan.starts[s])[0]
                    if col.size and self.history_end == np.inf else NO_INTS)
        if vascular.size == 0:
            expected = plan.primary_expected[s:e, None]
            key = (s, e, RARE_CLUSTERS)
            means = plan.primary_means.get(key)
            if means is None:
                if len(plan.primary_means) >= MEANS_CACHE:
                    plan.primary_means.clear()
                means = plan.primary_means[key] = BlockMeans(
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
        means = BlockMeans(plan, expected, single, clusters, float(plan.starts[s]))
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
        split = multinomial(self.rng, count, weights / weights.sum(axis=1, keepdims=True))
        z, src = np.nonzero(split)
        return k[z], o[z], ids[src], split[z, src]

    def _rare_events(self, means: BlockMeans) -> dict[int, tuple[IntArray, IntArray, IntArray]]:
        """The rare fates of a block: (step, organ, count) by kind.

        Kind 0 is a single cell made dormant, 1 a single cell founding a colony, 2 + c a
        rare cluster of cluster kind c. Few expected: a Poisson total, each event's step,
        kind and organ drawn from the means (the same law). Many: a Poisson count per
        step, kind and organ.
        """
        rng, n, width = self.rng, self.plan.n, self.plan.rare_width
        if means.dense:
            counts = poisson(rng, means.rare)
            flat = np.flatnonzero(counts)
            count = counts[flat]
        else:
            total = poisson(rng, means.rare_total)
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
            return ((table[:, 0], table[:, 1], table[:, 2:]), rows_to_columns(dormant),
                    rows_to_columns(founding))
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
            cells = m * poisson(rng, means.cluster[c][:, :n])
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
        d_step, d_organ, d_source, d_count = stack(dormant_parts)
        f_step, f_organ, f_parent, f_count = stack(founder_parts)
        d_column = (self.dormant.columns(d_source) if ids.size > 1
                    else np.zeros(d_source.size, dtype=np.int64))
        cohorts = dormant_events(plan, rng, self.dormant, s, e, d_step, d_organ, d_column,
                                 d_count)
        w_organ, w_step, w_parent, w_count = cohorts.founders if cohorts else stack([])

        # New colonies (from arrests, then woken cells), their fates drawn at founding.
        kept = K
        new: dict[str, NDArray[Any]] = {}
        founding = bool(f_count.size or w_count.size) and self.history_end == np.inf
        if founding:
            step = np.concatenate([np.repeat(f_step, f_count), np.repeat(w_step, w_count)])
            limit = self._within_limit(step, K)
            if limit == 0:  # the history ends at the block's start: no colony from now on
                self.history_end = float(plan.starts[s])
                founding = False
        if founding:
            organ = np.concatenate([np.repeat(f_organ, f_count), np.repeat(w_organ, w_count)])
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
            kept = int(min(limit, source_from.min()))
            keep = step < kept
            order = np.argsort(founded[keep], kind="stable")
            new = {name: values[keep][order] for name, values in (
                ("organ", organ), ("parent", parent), ("founded", founded), ("w", w),
                ("switch", switch), ("via", via), ("surface", surface))}

        # Common fates of the kept steps, one Poisson count each: per organ failed, died
        # and extinct single cells and plain clusters of each kind by failed cells (the
        # rest died); single cells and clusters of each kind died in blood.
        common = poisson(rng, means.common if kept == K else means.common_means(plan, kept))
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
            settle_dormant(rng, self.dormant, cohorts, kept, K, delta)
        self.counters += delta
        if new:
            self.col.add(new)
        return kept

    def _within_limit(self, step: IntArray, K: int) -> int:
        """How many steps of the block keep the patient within :data:`MAX_COLONIES`.

        ``step``: each new colony's step (from the block's start). K if all of them do.
        """
        if self.col.size + step.size <= MAX_COLONIES:
            return K
        held = self.col.size + np.cumsum(np.bincount(step, minlength=K))
        return int(np.flatnonzero(held > MAX_COLONIES)[0])

    def _record(self, t1: float) -> None:
        if t1 > self.history_end:  # an ended history's ledger stops at its last record
            n = self.model.n_organs
            self.snapshots.append(self.snapshots[-1]._replace(t_days=t1) if self.snapshots
                                  else Snapshot(t1, 0, 0, np.zeros((n, 5), dtype=np.int64),
                                                np.zeros(n, dtype=np.int64), 0))
            return
        self.snapshots.append(Snapshot(t1, self.shed, self.died, self.counters.copy(),
                                       self.dormant.counts.sum(axis=1), self.col.size))





def run(model: CompiledModel, seed: int) -> Result:
    """Run the fast engine on a compiled model with a given seed."""
    return _Run(model, seed).run()
