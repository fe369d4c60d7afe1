"""The batched engine: many patients at once, step by step, as arrays of patients x organs.

The law is the per-patient kernel's (:mod:`.kernel`): time in steps of ``step_days``,
rates piecewise constant within a step, the same sources, emboli, fates, dormant cells
and colonies. Only the order of the draws differs, so a batch of one patient does not
reproduce ``kernel.run`` draw for draw; it reproduces it in law.

Each step, for the whole batch:

1. **Sources.** The primary of every patient, and every colony whose switch is at or
   before the step's start, shed Poisson cells with mean ``shedding_per_cell_per_day``
   times the Simpson integral of their size over the step. The expected emboli ending
   in each absorbing state are summed per patient in two **parts**: the primary's, and
   the colonies' (grouped by entry: a colony's emboli enter at its organ's outflow).
   By Poisson superposition the two parts are independent and can be drawn apart.
2. **The primary's part** needs no attribution (its source is the primary), and each
   of its means is the primary's expected cells of the step (one number per patient)
   times a row of the patient's fixed for the run (:mod:`.batch_rows`), so it
   costs per patient and per event, not per organ. It does not depend on the colonies,
   so it is drawn for all the steps of a ledger interval when the interval begins
   (:mod:`.batch_primary`). Single cells founding a colony or
   made dormant to wake later: a Poisson number per patient, each placed in its
   column by a categorical draw from the row. Clusters: a rare cluster (with a dormant
   or dividing cell) is *quiet* when its only rare cell is a sleeper that will die
   (it changes only the ledger and the sleepers: drawn at the record) and *loud*
   otherwise. Loud clusters one by one (split cell by cell: the number of rare cells
   from the loud distribution, then dormant and dividing cells), except per patient
   and organ where they are many in the step: there every cluster is drawn cell by
   cell (a Poisson number of clusters, then binomial dormant cells and founders; the
   other cells' fates are multinomial, drawn at the record), and left out of the
   plain and quiet clusters of the record. The means kept for the record are sums of
   the primary's expected cells, multiplied by the rows there.
3. **The colonies' part** is drawn the same way, per (patient, entry) with colonies
   shedding into the entry: their expected cells there times a row of (patient,
   entry) fixed for the run. Each event's entry is its row's; its colony is then drawn
   within (patient, entry) proportional to its expected shedding (one global
   cumulative sum over the sources sorted by (patient, entry), each event's segment
   from per-group offsets, found by a vectorised binary search). Loud clusters are
   split cell by cell as the primary's; quiet ones are drawn at the record.

   Within a row, a Poisson total and a categorical column per event where the row's
   expected total is at most its width, a Poisson count per column otherwise: the same
   law, at a cost that grows with the events rather than the cells.
4. **Dormant cells** (:mod:`.batch_dormant`) are split when they arrive by the event
   that will end them: a waking (probability ``w / (w + m)``) or a death. Cells that
   will wake are drawn one by one: their waking step from an ``Exp(w + m)`` clock
   started at the end of the arrival step, and whether they found a colony (the
   organ's ``q_wake``; founded uniformly in the waking step, parent the cell's
   source). Cells that will die only change the ledger: counts per patient and organ,
   thinned binomially from record to record; the primary's single cells, which arrive
   as Poisson counts, are not drawn per step at all: the means of those alive at the
   next record and of those dead by then are drawn there (Poisson thinning). The same
   law as drawing ``Binomial(cells, 1 - exp(-(w + m) dt))`` events per cohort every
   step, at a cost that grows with the wakings, not with the cells or the steps they
   sleep.
5. **Colonies** founded in the step get a uniform founding time in it, ``W ~ Exp(mean
   1/q)``, a depth and a switch, are sorted by (patient, founding time) and appended;
   each becomes a source from the first step starting at or after its switch (kept
   until then among the pending colonies, with that step). A source's size at a step's
   start is its size at the previous step's end.
6. **Common fates** (failed, died after extravasation, extinct, died in blood, plain
   and quiet clusters, sleepers that die) only feed the counters and the sleepers:
   their Poisson means are summed per patient and drawn once per ledger record
   interval (Poisson additivity, exact given the sources).

Python work is paid per step (a few hundred NumPy calls), NumPy work grows with the
patients, sources, events and colonies, never with cells. The draws are made in a fixed
order from the one ``rng``, so the same stream gives the same bytes.

This module holds the step loop; the stores (sources and pending colonies, the
colonies' lookup) are in :mod:`.batch_store`, the dormant cells in
:mod:`.batch_dormant`, the rows the rare fates are drawn from in :mod:`.batch_rows`,
the primary's part in :mod:`.batch_primary`, the common fates and the split of loud
clusters in :mod:`.batch_draws`, and the per-patient arrays in :mod:`.batch_plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.engine import _found_loops as _loops
from metacascade.engine.batch_dormant import Dormant, DormantCells, Wakings
from metacascade.engine.batch_draws import common_fates, split_clusters
from metacascade.engine.batch_plan import BatchPlan
from metacascade.engine.batch_primary import PrimaryPart
from metacascade.engine.batch_result import BatchResult, BatchSnapshot
from metacascade.engine.batch_rows import ColonyRows, PrimaryRows
from metacascade.engine.batch_store import ColonyLookup, Sources
from metacascade.engine.compile import CompiledModel
from metacascade.engine.limits import (
    BATCH_COLONIES_PER_PATIENT,
    MAX_BATCH_COLONIES,
    MAX_COLONIES,
    MAX_POISSON_MEAN,
    BatchTooLarge,
    EngineError,
)
from metacascade.engine.result import (
    ARRESTED,
    COLONY_DTYPES,
    DIED_AFTER,
    EXTINCT,
    FAILED,
    Result,
)
from metacascade.random import check_rng

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
#: Colonies to found: (patient, organ, source code, count, via) per part.
Founders = list[tuple[IntArray, IntArray, IntArray, IntArray, int]]

#: Mean of rare clusters of the primary's in an organ above which they are drawn cell by
#: cell rather than one by one (both exact; this bounds the cost).
DENSE_MEAN = 0.5


def run_batch(models: Sequence[CompiledModel], rng: np.random.Generator, *,
              seeds: Sequence[int] | None = None) -> BatchResult:
    """Simulate one patient per compiled model, all at once.

    Parameters
    ----------
    models
        One compiled model per patient. They may differ in growth, shedding, soils,
        establishment and the other per-patient numbers, but must share the body, the
        embolus kinds, the entries, the step grid and the horizon.
    rng
        The one random stream of the whole batch: a NumPy Generator
        (``np.random.default_rng(seed)``; not a seed, which it would not record).
    seeds
        Recorded as each result's seed (0 by default).

    Returns
    -------
    BatchResult
        The colonies of every patient as flat columns, with ``engine="kernel-batch"``
        (:meth:`BatchResult.results` gives one :class:`Result` per model, in order).

    Raises
    ------
    MetacascadeError
        If ``rng`` is no Generator.
    EngineError
        If the models differ in a structural field (named), or shedding is beyond
        ``MAX_POISSON_MEAN``. A patient whose colonies would pass ``MAX_COLONIES`` has
        its history ended at the start of that step (``BatchResult.history_end``).
    BatchTooLarge
        (an ``EngineError``) If the batch's colonies would pass ``MAX_BATCH_COLONIES``,
        or ``BATCH_COLONIES_PER_PATIENT`` per patient if more (its memory): run fewer
        patients at once, as the cohort runner does.

    """
    check_rng(rng)
    if not models:
        raise EngineError("models: give at least one compiled model")
    if seeds is not None and len(seeds) != len(models):
        raise EngineError(f"{len(seeds)} seeds for {len(models)} models")
    plan = BatchPlan(models)
    state = _Batch(plan, rng)
    record_at = set(plan.record_steps)
    for k in range(plan.n_steps):
        state.step(k)
        if k in record_at:
            state.record(k)
    return state.batch_result([0] * len(models) if seeds is None else list(seeds))


def always_fit() -> int:
    """Patients a batch can always hold: ``MAX_BATCH_COLONIES // MAX_COLONIES`` (10), at least 1.

    Each patient holds at most ``MAX_COLONIES`` colonies, so a batch of this many never
    raises :class:`BatchTooLarge`.
    """
    return max(1, MAX_BATCH_COLONIES // MAX_COLONIES)


def simulate_batch(models: Sequence[CompiledModel], rng: np.random.Generator, *,
                   seeds: Sequence[int] | None = None) -> list[Result]:
    """Simulate one patient per compiled model, all at once: one :class:`Result` each.

    :func:`run_batch` (same arguments, same draws), with the results built per patient
    (``engine="kernel-batch"``); an empty list for no models.
    """
    if not models:
        return []
    return run_batch(models, rng, seeds=seeds).results()


def _key_order(key: FloatArray, p: IntArray, patients: int) -> IntArray:
    """``argsort(key, kind="stable")`` for keys ``p + u / 2`` (``0 <= u < 1``).

    First a stable radix sort (NumPy's, for 16-bit integers) on a coarse key that never
    decreases as the key grows: the patient and a few leading bits of its share of the
    step, ``floor(key * 2**(b + 1)) - p * 2**b``, at most ``patients * 2**b < 2**16``. Then
    a stable sort of the keys so ordered, which are nearly sorted (only colonies of one
    patient in one bin can be out of order), so cheap for NumPy's timsort. Equal keys have
    equal coarse keys, so both sorts keep them in their first order: the result is the
    stable argsort's. (Measured faster from about a thousand keys; the stable argsort
    itself below.)
    """
    bits = (0xFFFF // patients).bit_length() - 1
    if bits < 2 or key.size < 1024:
        return np.asarray(np.argsort(key, kind="stable"), dtype=np.int64)
    coarse = (key * float(2 ** (bits + 1))).astype(np.int64)  # (floor: key >= 0)
    coarse -= p << bits
    first = np.argsort(coarse.astype(np.uint16), kind="stable")
    return np.asarray(first[np.argsort(key[first], kind="stable")], dtype=np.int64)


class _Batch:
    """The state of a batch run: counters, dormant cohorts, sources, colonies."""

    def __init__(self, plan: BatchPlan, rng: np.random.Generator) -> None:
        self.plan, self.rng = plan, rng
        P, n = plan.P, plan.n
        self.counters = np.zeros((P, n, 5), dtype=np.int64)
        self.shed = np.zeros(P, dtype=np.int64)
        self.died = np.zeros(P, dtype=np.int64)
        self.colonies = np.zeros(P, dtype=np.int64)
        #: (P,) day each patient's history ends (inf: the horizon), and how many have.
        self.history_end = np.full(P, np.inf)
        self.n_ended = 0
        self.lookup = ColonyLookup(P)
        #: (5, P) what a new colony's draws read of its patient.
        self.colony_numbers = np.stack([plan.q, plan.switch_rate, plan.surface_share,
                                        plan.avascular, plan.colony_rate])
        #: The colonies founded in each step (COLONY_DTYPES columns and "patient", in
        #: store order).
        self.chunks: list[dict[str, NDArray[Any]]] = []
        self.sources = Sources(plan)  # colonies past their switch, and those pending
        self.rows = PrimaryRows(plan, DENSE_MEAN)  # the primary's rows and sums
        self.colony_rows = ColonyRows(plan)  # the colonies' rows by entry, and sums
        self.dormant = DormantCells(plan, self.rows.dying, self.colony_rows.dying)
        self.primary = PrimaryPart(plan, self.rows, self.dormant, DENSE_MEAN)
        #: The first step of each ledger interval.
        self.interval_starts = {0, *(r + 1 for r in plan.record_steps)}
        # Means (and cells) of the common fates since the last record; acc_plain: the
        # clusters (organs + 1) whose rare ones were drawn one by one.
        self.acc_single = np.zeros((P, n + 1))
        self.acc_cluster_blood = np.zeros((P, len(plan.cluster_sizes)))
        self.acc_plain = [np.zeros((P, n + 1)) for _ in plan.cluster_sizes]
        self.acc_rest = np.zeros((P, n), dtype=np.int64)
        self.acc_total = np.zeros(P)
        self.snapshots: list[tuple[float, IntArray, IntArray, IntArray, IntArray,
                                   IntArray]] = []

    # -- one step ----------------------------------------------------------------
    def step(self, k: int) -> None:
        plan = self.plan
        if k in self.interval_starts:
            self._draw_primary(k)
        self.sources.activate(k)
        expected, groups = self.sources.shedding(k)
        prim = plan.primary_expected[:, k]
        # (with no sources groups are 0 and prim + 0 is prim)
        self.acc_total += prim + groups.sum(axis=1) if expected.size else prim
        if not float(self.acc_total.max()) <= MAX_POISSON_MEAN:  # (also NaN or inf)
            p = int(np.argmax(np.where(np.isfinite(self.acc_total), self.acc_total, np.inf)))
            raise EngineError(
                f"patient {p}: shedding of {self.acc_total[p]:.3g} cells by day "
                f"{plan.ends[k]:.0f} is beyond what the engine can draw exactly; shorten "
                "the horizon or lower the shedding rate or tumour size")
        dormant: Dormant = []
        founders: Founders = []
        waking: list[Wakings] = []
        primary = self.primary.founders.pop(k, None)
        if primary is not None:
            founders.append((*primary, 0))
        if expected.size:
            self.dormant.add_poisson(k, None, groups)
            self._colony_part(expected, groups, dormant, founders, waking)
        self._wakings(k, founders)
        self.dormant.join(self.rng, k, dormant, waking)
        self._found(k, founders)

    def _draw_primary(self, first: int) -> None:
        """Draw the primary's part of the ledger interval starting at step ``first``.

        Up to the interval's record, or to the first step whose shedding is beyond what
        the engine can draw exactly (the step loop refuses it when it comes).
        """
        plan = self.plan
        records = np.asarray(plan.record_steps)
        stop = int(records[np.searchsorted(records, first)]) + 1
        total = np.cumsum(plan.primary_expected[:, first:stop], axis=1)
        bad = np.flatnonzero(((total > MAX_POISSON_MEAN) | ~np.isfinite(total)).any(axis=0))
        if bad.size:
            stop = first + int(bad[0])
        self.primary.draw(self.rng, first, stop)

    def _colony_part(self, expected: FloatArray, groups: FloatArray, dormant: Dormant,
                     founders: Founders, waking: list[Wakings]) -> None:
        """Rare fates of the colonies' cells, each attributed to its source.

        Drawn per (patient, entry) from the colonies' rows (:class:`ColonyRows`); each
        event's colony is then drawn within its (patient, entry) in proportion to its
        expected shedding. Dormant cells that will wake are added to ``waking``; those
        that will die are drawn at the record (:meth:`DormantCells.add_poisson`).
        """
        plan, n = self.plan, self.plan.n
        p, entry, column, count = self.colony_rows.draw(self.rng, groups)
        if not p.size:
            return
        p, entry, column = (np.repeat(x, count) for x in (p, entry, column))
        kind, o = np.divmod(column, n)
        code = self.sources.draw_colonies(self.rng, p, entry, expected)
        single = kind < 2
        self._tally(p[single], o[single], (ARRESTED, 1))
        chosen = kind == 0
        waking.append((p[chosen], o[chosen], code[chosen]))
        chosen = np.flatnonzero(kind == 1)
        founders.append((p[chosen], o[chosen], code[chosen],
                         np.ones(chosen.size, dtype=np.int64), 0))
        for c in range(len(plan.cluster_sizes)):
            chosen = kind == 2 + c
            if chosen.any():
                self._split_clusters(c, p[chosen], o[chosen], code[chosen], dormant,
                                     founders, waking)

    def _split_clusters(self, c: int, p: IntArray, o: IntArray, code: IntArray,
                        dormant: Dormant, founders: Founders, waking: list[Wakings],
                        ) -> None:
        """Split the step's loud clusters of kind ``c`` (:func:`split_clusters`)."""
        split = split_clusters(self.rng, self.plan, c, p, o)
        self._tally(p, o, (ARRESTED, self.plan.cluster_sizes[c]), (FAILED, split["failed"]),
                    (DIED_AFTER, split["died"]), (EXTINCT, split["extinct"]))
        some = split["asleep"] > 0
        dormant.append((code[some], o[some], split["asleep"][some], p[some]))
        some = split["wakes"] > 0
        waking.append((p[some], o[some], code[some]))
        some = split["found"] > 0
        founders.append((p[some], o[some], code[some], split["found"][some], 0))

    def _wakings(self, k: int, founders: Founders) -> None:
        """Colonies founded by dormant cells waking in step k (drawn when they arrived)."""
        due = self.dormant.wakings(k)
        if due is not None:
            p, o, code = due
            founders.append((p, o, code, np.ones(p.size, dtype=np.int64), 1))

    def _tally(self, p: IntArray, o: IntArray, *columns: tuple[int, IntArray | int]) -> None:
        """Add values to the counters of (patient, organ) pairs, which may repeat."""
        flat = self.counters.ravel()  # (a view: the counters are contiguous)
        at = (p * self.plan.n + o) * self.counters.shape[2]
        for column, values in columns:
            np.add.at(flat, at + column, values)

    def _found(self, k: int,
               parts: Founders) -> None:
        """Found the step's colonies: fates, order by (patient, day), ids, generations."""
        if self.n_ended:
            parts = self._going_on(parts)
        if not parts:
            return
        plan, rng, lookup = self.plan, self.rng, self.lookup
        p, o, code, count = (np.concatenate([part[i] for part in parts]) for i in range(4))
        total = int(count.sum())
        if not total:
            return
        if _jit.ENABLED:
            self._found_compiled(k, parts, p, o, code, count, total)
            return
        via = np.repeat(np.array([part[4] for part in parts], dtype=np.int8),
                        [part[0].size for part in parts])
        # Each founder repeated count times: `source` picks the rows of p, o, code, via.
        source = None if total == count.size and count.min() == 1 else np.repeat(
            np.arange(count.size), count)
        if source is not None:
            p = p[source]
        per_patient = np.bincount(p, minlength=plan.P)
        over = np.flatnonzero(self.colonies + per_patient > MAX_COLONIES)
        if over.size:
            self._end_history(k, over, parts)
            return
        self._check_budget(k, total)
        # Founding times uniform in the step, in order within each patient: sorted by
        # patient + u / 2, the share u of the step is read back from the sorted keys
        # (rounded to the keys' precision, so that it never decreases within a patient).
        key = p + 0.5 * rng.random(p.size)
        order = _key_order(key, p, plan.P)
        p = p[order]
        u = 2.0 * (key[order] - p)
        at = order if source is None else source[order]
        o, code, via = o[at], code[at], via[at]
        founded = plan.starts[k] + u * (plan.ends[k] - plan.starts[k])
        # (each patient's numbers by one repeat, as p is sorted)
        numbers = np.repeat(self.colony_numbers, per_patient, axis=1)
        # Id within the patient: its colonies so far + 1 + its rank among the patient's
        # new ones (position minus the position of the patient's first, the new colonies
        # of the patients before it).
        first = np.cumsum(per_patient) - per_patient
        local = np.repeat(self.colonies + 1 - first, per_patient)
        local += np.arange(p.size)
        self.colonies += per_patient
        # (codes below P are the primaries: parent 0, generation 1).
        parent = lookup.local[code]
        generation = lookup.generation[code] + 1
        self._add_colonies(k, p, o, code, via, founded, numbers, local, parent, generation)

    def _found_compiled(self, k: int, parts: Founders, p: IntArray, o: IntArray,
                        code: IntArray, count: IntArray, total: int) -> None:
        """:meth:`_found` with the compiled loops, from the founders joined (same bytes)."""
        plan = self.plan
        per_patient, first_over = _loops.per_patient(p, count, self.colonies, MAX_COLONIES)
        if first_over >= 0:
            self._end_history(k, np.flatnonzero(self.colonies + per_patient > MAX_COLONIES),
                              parts)
            return
        self._check_budget(k, total)
        uniform = self.rng.random(total)
        sizes = np.array([part[0].size for part in parts], dtype=np.int64)
        vias = np.array([part[4] for part in parts], dtype=np.int8)
        p, o, code, via, founded, numbers, local, parent, generation = _loops.found(
            uniform, p, o, code, count, sizes, vias, per_patient, self.colonies,
            float(plan.starts[k]), float(plan.ends[k] - plan.starts[k]),
            self.colony_numbers, self.lookup.local, self.lookup.generation)
        self.colonies += per_patient
        self._add_colonies(k, p, o, code, via, founded, numbers, local, parent, generation)

    def _end_history(self, k: int, over: IntArray, parts: Founders) -> None:
        """End the histories of patients ``over`` the colony limit; found the others' colonies.

        Such a patient's history ends at the step's start (``history_end``): it founds
        no colony from then on (none of this step's either), so everything up to that day
        is exact; from the next step its colonies shed no more (:meth:`Sources.stop`;
        its primary does). The clinic refuses a patient alive after its history's end
        (:func:`metacascade.clinic.batch.follow_batch`). Nothing is drawn before this is
        decided, so the other patients' draws do not depend on it beyond the founders
        removed and the sources dropped.
        """
        self.history_end[over] = self.plan.starts[k]
        self.n_ended += over.size
        self.sources.stop(over)
        self._found(k, parts)

    def _check_budget(self, k: int, new: int) -> None:
        """Refuse ``new`` colonies that would take the batch past its budget.

        ``MAX_BATCH_COLONIES``, or ``BATCH_COLONIES_PER_PATIENT`` per patient if more.
        """
        held = int(self.colonies.sum())
        budget = max(MAX_BATCH_COLONIES, self.plan.P * BATCH_COLONIES_PER_PATIENT)
        if held + new > budget:
            day = float(self.plan.ends[k])
            raise BatchTooLarge(
                f"the batch's {self.plan.P} patients would hold more than "
                f"{budget} colonies by day {day:.0f} (year {day / 365.25:.1f}), "
                f"{held + new} in all; run fewer patients at once (each holds at most "
                f"{MAX_COLONIES})")

    def _going_on(self, parts: Founders) -> Founders:
        """The founders of patients whose history has not ended."""
        out: Founders = []
        for p, o, code, count, via in parts:
            keep = np.isinf(self.history_end[p])
            if keep.any():
                out.append((p[keep], o[keep], code[keep], count[keep], via))
        return out

    def _add_colonies(self, k: int, p: IntArray, o: IntArray, code: IntArray,
                      via: NDArray[np.int8], founded: FloatArray, numbers: FloatArray,
                      local: IntArray, parent: IntArray, generation: IntArray) -> None:
        """Draw the new colonies' clocks and keep them (their patient's ``numbers``).

        (standard_exponential draws what exponential(1.0) draws, with less overhead per
        draw.)
        """
        plan, rng, lookup = self.plan, self.rng, self.lookup
        q, switch_rate, surface_share, avascular, rate = numbers
        w = rng.standard_exponential(size=p.size) / q
        wait = rng.standard_exponential(size=p.size) / switch_rate
        surface = rng.random(p.size) < surface_share
        switch = founded + np.log(avascular / w) / rate + wait
        new_code = np.arange(plan.P + lookup.size, plan.P + lookup.size + p.size)
        lookup.add(local, generation)
        self.chunks.append({"organ": o, "parent": parent,
                            "generation": generation, "founded": founded, "w": w,
                            "switch": switch, "via": via, "surface": surface, "patient": p})
        # A source from the first step starting at or after its switch.
        self.sources.schedule(k, new_code, p, o, switch)

    # -- records and results -------------------------------------------------------
    def record(self, k: int) -> None:
        """Draw the common fates since the last record; keep a snapshot of every patient."""
        counters, rest = self.primary.take()
        self.counters += counters
        self.acc_rest += rest
        single, cluster_blood, plain = self.rows.means()
        single_col, clusters_col = self.colony_rows.means()
        self.acc_single += single + single_col
        self.acc_cluster_blood += cluster_blood
        for acc, primary, colonies in zip(self.acc_plain, plain, clusters_col, strict=True):
            acc += primary + colonies
        delta, blood = common_fates(self.rng, self.plan, self.acc_single,
                                    self.acc_cluster_blood, self.acc_plain, self.acc_rest)
        dormant_delta, asleep = self.dormant.record(self.rng, k)
        self.counters += delta + dormant_delta
        self.died += blood
        self.shed = self.died + self.counters[:, :, ARRESTED].sum(axis=1)
        self.acc_single[:] = 0.0
        self.acc_cluster_blood[:] = 0.0
        for acc in self.acc_plain:
            acc[:] = 0.0
        self.acc_rest[:] = 0
        self.acc_total[:] = 0.0
        snapshot = (float(self.plan.ends[k]), self.shed.copy(), self.died.copy(),
                    self.counters.copy(), asleep, self.colonies.copy())
        if self.n_ended:
            self._freeze(snapshot)
        self.snapshots.append(snapshot)

    def _freeze(self, snapshot: tuple[float, IntArray, IntArray, IntArray, IntArray,
                                      IntArray]) -> None:
        """An ended history's ledger stops at the last record before its end.

        The patients whose history ended before ``snapshot``'s time get the previous
        snapshot's values (zeros if there is none): what comes after the end is not a
        patient's (it founds nothing), so every cell in the ledger keeps one fate.
        """
        frozen = np.flatnonzero(self.history_end < snapshot[0])
        if not frozen.size:
            return
        now = snapshot[1:]
        before = self.snapshots[-1][1:] if self.snapshots else tuple(map(np.zeros_like, now))
        for values, last in zip(now, before, strict=True):
            values[frozen] = last[frozen]

    def batch_result(self, seeds: list[int]) -> BatchResult:
        """The batch's colonies grouped by patient (in founding order) as flat columns.

        A colony's row is its patient's offset plus its id within the patient, less one;
        each step's chunk is scattered to its rows (increasing within a chunk, as the
        chunk is sorted by patient: faster than one scatter of the joined columns).
        """
        plan = self.plan
        offsets = np.concatenate([[0], np.cumsum(self.colonies)]).astype(np.int64)
        columns = {name: np.empty(self.lookup.size, dtype=dtype)
                   for name, dtype in COLONY_DTYPES.items()}
        at = 0
        for chunk in self.chunks:
            patient = chunk["patient"]
            rows = offsets[patient] + self.lookup.local[plan.P + at:plan.P + at + patient.size]
            rows -= 1
            at += patient.size
            for name, column in columns.items():
                column[rows] = chunk[name]
        snapshots = tuple(BatchSnapshot(t, shed, died, counters, asleep, colonies)
                          for t, shed, died, counters, asleep, colonies in self.snapshots)
        return BatchResult(models=tuple(plan.models), seeds=tuple(seeds),
                           engine="kernel-batch", offsets=offsets, colonies=columns,
                           snapshots=snapshots,
                           primary_cells_end=np.asarray(plan.primary_cells_end, dtype=float),
                           history_end=self.history_end.copy())
