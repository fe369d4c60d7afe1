"""The lesions of a batch of patients as flat arrays, and their sizes with therapy.

Patient ``i``'s lesions are ``offsets[i]:offsets[i + 1]``: its primary, then its
colonies in ``id`` order. Their sizes (the closed forms of
:mod:`metacascade.engine.growth` times the survival factor of
:class:`~metacascade.clinic.therapy.TherapyHistory`) are computed by
:class:`~metacascade.clinic._sizes.Sizes`, which :class:`Lesions` extends.

:class:`Lesions` also holds the therapy each patient got (line days, kill rates,
resistant shares, the regimens' effects), the circulation weights of the draw sites, and
what scans and draws read (:meth:`Lesions.visible`). The lethal checks are in
:mod:`~metacascade.clinic._deaths`; :func:`check_shared` (what a batch must share) is
in :mod:`~metacascade.clinic._shared` and importable from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.clinic import _lesions_loops as loops
from metacascade.clinic._shared import check_shared as check_shared  # where tests look
from metacascade.clinic._sizes import Sizes
from metacascade.clinic._weights import circulation_weights
from metacascade.clinic.course import BOUND_MARGIN
from metacascade.clinic.imaging import get_modality
from metacascade.clinic.therapy import BRAIN, ResolvedRegimen, resolve_regimen
from metacascade.engine.batch_result import BatchResult
from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import primary_cells
from metacascade.scenario import Clinic, Regimen, Scenario, schedule_days

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: The fields of a regimen (what resolving it reads).
REGIMEN_FIELDS = tuple(Regimen.model_fields)


def _in_founding_order(batch: BatchResult) -> BoolArray:
    """(patients,) whether each patient's colonies are in founding order.

    A decrease in the flat ``founded`` column starts within a patient, never at its
    first colony.
    """
    founded = batch.colonies["founded"]
    drop = np.flatnonzero(~(founded[1:] >= founded[:-1])) + 1
    owner = np.searchsorted(batch.offsets, drop, side="right") - 1
    in_order = np.ones(len(batch), dtype=bool)
    in_order[owner[drop > batch.offsets[owner]]] = False
    return in_order


class Lesions(Sizes):
    """Every lesion of a batch, its natural history, and the therapy each patient got."""

    def __init__(self, batch: BatchResult, scenarios: Sequence[Scenario],
                 clinic: Clinic) -> None:
        models = list(batch.models)
        model = models[0]
        self.organs: tuple[str, ...] = tuple(model.organs)
        self.horizon = float(model.horizon_days)
        self.n_patients = n_p = len(batch)
        sizes = batch.counts + 1
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n = n = int(self.offsets[-1])
        self.pat = np.repeat(np.arange(n_p, dtype=np.int64), sizes)
        starts = self.offsets[:-1]
        self.is_primary = np.zeros(n, dtype=bool)
        self.is_primary[starts] = True
        # Colony row j of patient p (flat row r = batch.offsets[p] + j) is lesion r + p + 1:
        # the colony rows fill the lesions that are not primaries, in order.
        rows = ~self.is_primary
        cols = batch.colonies

        def flat(column: NDArray[Any], head: Any, dtype: type = np.float64) -> NDArray[Any]:
            out: NDArray[Any] = np.empty(n, dtype=dtype)
            out[starts] = head
            out[rows] = column
            return out

        primary_organ = np.array([m.primary_organ for m in models], dtype=np.int64)
        self.organ = flat(cols["organ"], primary_organ, np.int64)
        self.pat_organ = self.pat * len(self.organs) + self.organ
        self.founded = flat(cols["founded"], 0.0)
        self.w = flat(cols["w"], 1.0)
        self.switch = flat(cols["switch"], -math.inf)
        #: (colonies,) each colony's parent, as the engine's batch numbers it (read when
        #: needed: :meth:`parent_of`, :meth:`is_distant`, the settling of new colonies).
        self.parents = np.asarray(cols["parent"], dtype=np.int64)
        self._primary_organ = primary_organ
        self._lymph = self.organs.index("lymph_node") if "lymph_node" in self.organs else -1
        with np.errstate(divide="ignore"):
            self.log_w = np.log(self.w)
        self._per_patient(models)
        r, ka, km = self.r, self.ka, self.km
        #: (patients,) whether each patient's colonies are in founding order.
        self.in_order = _in_founding_order(batch)
        self.bounded = self.in_order & (r > 0) & (km > ka) & (ka >= 1.0)
        # Patients mostly share their avascular limit and cell density: one diameter each.
        floor = min((get_modality(scan.modality).floor_mm.value for scan in clinic.scans),
                    default=math.inf)
        limits = {(m.avascular_cells, m.cells_per_cm3): m for m in models}
        self.blind = not clinic.scans or all(
            float(m.diameter_mm(m.avascular_cells)) * (1.0 + BOUND_MARGIN) <= floor
            for m in limits.values())
        self.cutoff = np.array([int(s.resolve()[1].ctc_cutoff.value) for s in scenarios],
                               dtype=np.int64)
        self._primary_table(models, clinic)
        self._therapy(scenarios, clinic)
        self._weights = circulation_weights(models, scenarios, clinic)
        # What scans and draws may read (:meth:`switched`), by the first day they may: the
        # primaries from their founding, the colonies past their switch by the horizon
        # from their switch (once founded).
        vascular = np.nonzero(~self.is_primary & (self.switch <= self.horizon))[0]
        readable = np.concatenate([starts, vascular])
        day = np.maximum(self.switch[readable], self.founded[readable])
        order = np.argsort(day)  # ties in any order: switched() sorts by id
        self._readable, self._readable_day = readable[order], day[order]
        #: The readable lesions of :meth:`switched`'s last day, in id order, and how many
        #: of ``_readable`` they were drawn from.
        self._current = np.zeros(0, dtype=np.int64)
        self._taken = 0
        #: Lesions the eradication bounds do not apply to: the primaries and every lesion
        #: of a patient whose sizes are not bounded.
        self.is_always = self.is_primary | ~self.bounded[self.pat]
        self.always = np.nonzero(self.is_always)[0]
        self.kept = np.ones(n, dtype=bool)
        self.eradicated = np.full(n, np.inf)
        #: kept and not eradicated (``live``), kept up to date with both.
        self.had = np.ones(n, dtype=bool)
        self.treated = np.zeros(n_p, dtype=bool)
        self._switched: tuple[float, BoolArray, IntArray, FloatArray] | None = None
        #: The day, lesions (in id order) and survival factors :meth:`visible` last read.
        self._factors: tuple[float, IntArray, FloatArray] | None = None
        self._read_factor = np.zeros(n)

    def _per_patient(self, models: Sequence[CompiledModel]) -> None:
        """Each patient's parameters (a lesion's are its patient's); math.log as in growth.py."""
        model = models[0]
        self.r = np.array([m.colony_rate_per_day for m in models])
        self.ka = np.array([m.avascular_cells for m in models])
        self.km = np.array([m.metastasis_capacity_cells for m in models])
        self.log_ka = np.log(self.ka)
        self.alpha = np.array([m.colony_rate_per_day / math.log(m.metastasis_capacity_cells
                                                                / m.avascular_cells)
                               for m in models])
        self.log_ratio = np.array([math.log(m.avascular_cells / m.metastasis_capacity_cells)
                                   for m in models])
        self.cells_per_cm3 = np.array([m.cells_per_cm3 for m in models])
        self.shedding = np.array([m.shedding_per_cell_per_day for m in models])
        self.lymphatic_share = np.array([m.lymphatic_share for m in models])
        self.primary_entry = np.array([m.primary_entry for m in models], dtype=np.int64)
        self.lymph_entry = np.array([m.lymph_entry for m in models], dtype=np.int64)
        self.organ_entry = np.asarray(model.organ_entry, dtype=np.int64)
        self.n_entries = len(model.entries)
        #: The (patient, entry) cell of each (patient, organ) cell (:meth:`shedding_by_entry`).
        self._entry_cell = (np.arange(len(models), dtype=np.int64)[:, None] * self.n_entries
                            + self.organ_entry[None, :]).reshape(-1)
        self.removed = np.array([m.primary_removed_day for m in models])

    def _primary_table(self, models: Sequence[Any], clinic: Clinic) -> None:
        """Each primary's size at every time the clinic may ask (grid, decisions, horizon)."""
        days = [self.horizon, *np.arange(0.0, self.horizon, 7.0).tolist()]
        for s in clinic.scans:
            days += schedule_days(s.start_day, s.every_weeks, s.stop_day, self.horizon)
        for d in clinic.draws:
            days += schedule_days(d.start_day, d.every_weeks, d.stop_day, self.horizon)
        plan = clinic.therapy
        if plan is not None:
            days += [d for d in (plan.start_day, plan.stop_day) if d is not None]
        self.times = np.unique(np.array(days, dtype=float))
        self.primary = np.stack([primary_cells(m, self.times) for m in models])
        self._column = {day: j for j, day in enumerate(self.times.tolist())}

    def _therapy(self, scenarios: Sequence[Scenario], clinic: Clinic) -> None:
        plan = clinic.therapy
        lines = plan.lines if plan is not None else []
        self.n_lines = k = len(lines)
        self.line_names = [resolve_regimen(r).name for r in lines]
        self.line_kinds = [r.kind for r in lines]
        # Patients mostly share a line's regimen but for a sampled effect: each distinct
        # regimen (by its fields) resolved once, and a regimen object the patients share
        # (a population's lines it does not sample) looked up by identity first (the
        # scenarios hold the objects, so their ids stay theirs meanwhile).
        resolved: dict[tuple[Any, ...], ResolvedRegimen] = {}
        by_object: dict[tuple[int, int], ResolvedRegimen] = {}

        def resolve(j: int, regimen: Regimen) -> ResolvedRegimen:
            found = by_object.get((j, id(regimen)))
            if found is not None:
                return found
            key = (j, *(getattr(regimen, name) for name in REGIMEN_FIELDS))
            found = resolved.get(key)
            if found is None:
                found = resolved[key] = resolve_regimen(
                    regimen, where=f"clinic.therapy.lines.{j}")
            by_object[j, id(regimen)] = found
            return found

        self.regimens: list[list[ResolvedRegimen]] = [
            [resolve(j, r) for j, r in enumerate(s.clinic.therapy.lines)]
            if s.clinic is not None and s.clinic.therapy is not None else []
            for s in scenarios]
        #: Regimen effect name -> (patients, lines) value of each patient's lines (the
        #: shedding factor, CTC survival and resistant share).
        self.effects = {
            name: np.array([[getattr(g, name) for g in regs] for regs in self.regimens],
                           dtype=float).reshape(self.n_patients, k)
            for name in ("shedding_factor", "ctc_survival", "resistant_fraction")}
        # ResolvedRegimen.kill_by_organ of every (patient, line) at once.
        rate, brain = (np.array([[getattr(g, name) for g in regs] for regs in self.regimens],
                                dtype=float).reshape(self.n_patients, k, 1)
                       for name in ("kill_rate_per_day", "brain_exposure"))
        is_brain = np.array([o == BRAIN for o in self.organs])
        kill = rate * np.where(is_brain, brain, 1.0)
        #: (patients, lines, organs) kill rate of each line in each organ.
        self.kill_table = kill
        #: Per line, the kill rates as a flat (patient, organ) table.
        self._kill_flat = [np.ascontiguousarray(kill[:, j, :]).reshape(-1) for j in range(k)]
        self._neg_kill_flat = [-flat for flat in self._kill_flat]
        self._finite_kill = bool(np.isfinite(kill).all())
        self.resistant = np.zeros((self.n, k))
        self.line_start = np.full((self.n_patients, k), np.inf)
        self._begun = []
        self._started = np.zeros((k, self.n_patients), dtype=bool)
        self.line_end = np.full((self.n_patients, k), np.inf)

    # -- lookups -------------------------------------------------------------------------
    def weights(self, site: str) -> FloatArray:
        """(patients, entries) concentration weights of a draw site."""
        return self._weights[site]

    def regimen_value(self, name: str, patients: IntArray, lines: IntArray) -> FloatArray:
        """A regimen effect of each patient's given line."""
        return np.asarray(self.effects[name][patients, lines], dtype=float)

    def set_intervals(self, stops: FloatArray) -> None:
        """Group the colonies by the interval (stops[k-1], stops[k]] they are founded in.

        The k-th group holds its colonies in id order (patient by patient), as a stable
        sort of the colonies by interval would. A patient's colonies in founding order
        (:attr:`in_order`) founded in an interval are a run of its colonies, found by a
        search of the stops among its founding days (a colony is in the k-th interval
        exactly when it is founded after ``stops[k - 1]`` and by ``stops[k]``); the
        others are sorted by interval, stably, patient by patient. The groups are then
        the runs, interval by interval: no search or sort over every lesion.
        """
        n_s, n_p = len(stops), self.n_patients
        # upto[p, j + 1]: how many of p's colonies are founded by stops[j].
        upto = np.zeros((n_p, n_s + 1), dtype=np.int64)
        first = self.offsets[:-1] + 1
        perm: IntArray | None = None
        founded = self.founded
        for p, (lo, hi, ordered) in enumerate(zip(first.tolist(), self.offsets[1:].tolist(),
                                                  self.in_order.tolist(), strict=True)):
            if hi <= lo:
                continue
            if ordered:
                upto[p, 1:] = np.searchsorted(founded[lo:hi], stops, side="right")
                continue
            k = np.searchsorted(stops, founded[lo:hi], side="left")
            if perm is None:
                perm = np.arange(self.n, dtype=np.int64)
            perm[lo:hi] = lo + np.argsort(k, kind="stable")
            upto[p, 1:] = np.cumsum(np.bincount(k, minlength=n_s + 1))[:n_s]
        # The runs interval by interval, each its patients' in order: (k, patient) cells.
        counts = np.diff(upto, axis=1).T.reshape(-1)
        begin = (upto[:, :-1] + first[:, None]).T.reshape(-1)
        ends = np.cumsum(counts)
        by_interval = np.repeat(begin - (ends - counts), counts)
        by_interval += np.arange(by_interval.size, dtype=np.int64)
        self._by_interval = by_interval if perm is None else perm[by_interval]
        self._interval_bounds = np.concatenate([[0], ends[n_p - 1::n_p]]).astype(np.int64)

    def founded_in(self, k: int) -> IntArray:
        """Colonies founded in the k-th interval, in id order."""
        return self._by_interval[self._interval_bounds[k]:self._interval_bounds[k + 1]]

    def lesions_of(self, patients: BoolArray) -> IntArray:
        """Every lesion of the patients in the mask, in order."""
        p = np.nonzero(patients)[0]
        lo, hi = self.offsets[p], self.offsets[p + 1]
        counts = hi - lo
        # Each patient's run lo..hi-1: a running index shifted by the run's start.
        shift = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return np.asarray(np.arange(int(counts.sum()), dtype=np.int64) + shift)

    def parent_of(self, ids: IntArray) -> IntArray:
        """The lesion each colony of ``ids`` was founded from (not of primaries)."""
        pat = self.pat[ids]
        local = self.parents[ids - pat - 1]  # the colony's row of the batch
        return np.asarray(np.where(local >= 0, local + self.offsets[pat], -1), dtype=np.int64)

    def is_distant(self, ids: IntArray) -> BoolArray:
        """Whether each lesion is a colony outside its primary's organ and lymph nodes."""
        organ = self.organ[ids]
        return np.asarray((organ != self._primary_organ[self.pat[ids]])
                          & (organ != self._lymph) & ~self.is_primary[ids])

    def live(self, ids: IntArray) -> BoolArray:
        """Whether each lesion is had and not eradicated."""
        return np.asarray(self.had[ids])

    def diameter_mm(self, ids: IntArray, cells: FloatArray) -> FloatArray:
        """Diameters of spherical lesions (``CompiledModel.diameter_mm``), mm."""
        volume_cm3 = cells / self.cells_per_cm3[self.pat[ids]]
        return np.asarray(10.0 * np.cbrt(6.0 * volume_cm3 / math.pi), dtype=float)

    def visible(self, t: float, alive: BoolArray) -> tuple[IntArray, FloatArray]:
        """The live lesions scans and draws read at ``t``, and their cells (``seen``).

        The primaries and the colonies past their switch; every founded lesion when a
        scan of the clinic could see a colony at its avascular limit.
        """
        if self.blind:
            ids, untreated = self.switched(t, alive)
            factor = self.survival(ids, t)
            self._factors = (t, ids, factor)
            self._read_factor[ids] = factor
            return ids, untreated * factor
        ids = np.nonzero(self.founded <= t)[0]
        ids = ids[(self.founded[ids] <= t) & self.live(ids) & alive[self.pat[ids]]]
        return ids, self.cells(ids, t)

    def forget_switched(self) -> None:
        """A new interval: lesions may be had or eradicated since :meth:`switched`."""
        self._switched = None

    def switched(self, t: float, alive: BoolArray) -> tuple[IntArray, FloatArray]:
        """Primaries and live colonies past their switch at ``t``, and their untreated cells.

        Those of the patients in ``alive``, in id order (each patient's primary first).
        Kept for ``t`` until :meth:`forget_switched`: the deaths of (previous, t] and the
        decision at ``t`` read the same lesions (no lesion is eradicated in between), the
        decision those of the patients still alive. Asked in time order, of patients who
        stay dead and lesions that stay gone: each call starts from the last one's
        lesions, adds those that became readable since and drops those no longer had or
        alive.
        """
        known = self._switched
        if known is not None and known[0] == t and not (alive & ~known[1]).any():
            ids, cells = known[2], known[3]
            keep = alive[self.pat[ids]]
            return ids[keep], cells[keep]
        current = self._current
        j = int(np.searchsorted(self._readable_day, t, side="right"))
        if _jit.ENABLED:
            new = np.sort(self._readable[self._taken:j]) if j > self._taken else current[:0]
            self._taken = max(self._taken, j)
            ids = loops.merge_live(current, new, self.had, alive, self.pat)
        else:
            if j > self._taken:
                new = np.sort(self._readable[self._taken:j])
                current = np.insert(current, np.searchsorted(current, new), new)
                self._taken = j
            ids = current[self.had[current] & alive[self.pat[current]]]
        self._current = ids
        cells = self.vascular(ids, t)  # each is readable by t: founded, past its switch
        self._switched = (t, alive.copy(), ids, cells)
        return ids, cells

    def shedding_by_entry(self, ids: IntArray, cells: FloatArray, t: float) -> FloatArray:
        """(patients, entries) cells shed per day (``shedding_by_entry``), untreated rate."""
        rates = np.zeros((self.n_patients, self.n_entries))
        primary = self.is_primary[ids]
        pat = self.pat[ids[primary]]
        shed = self.shedding[pat] * cells[primary]
        rates[pat, self.primary_entry[pat]] += (1.0 - self.lymphatic_share[pat]) * shed
        rates[pat, self.lymph_entry[pat]] += self.lymphatic_share[pat] * shed
        vascular = ~primary & (self.switch[ids] <= t) & (cells > 0)
        col = ids[vascular]
        pat = self.pat[col]
        where = self._entry_cell[self.pat_organ[col]]
        shed = self.shedding[pat] * cells[vascular]
        # np.add.at in one bincount: each cell's value first, then the colonies in order
        # (a bincount adds its weights in order, from 0). Only the cells a primary
        # sheds into come first: another cell's value is 0.0, and adding 0.0 to the
        # bincount's 0 first changes nothing.
        first = np.flatnonzero(rates)
        summed = np.bincount(np.concatenate([first, where]),
                             weights=np.concatenate([rates.reshape(-1)[first], shed]),
                             minlength=rates.size)
        return np.asarray(summed, dtype=float).reshape(rates.shape)

    def draw_rates(self, ids: IntArray, cells: FloatArray, t: float, alive: IntArray,
                   active: IntArray) -> FloatArray:
        """(alive, entries) cells shed per day with each running line's factor (compiled).

        What ``_Batch._draw`` computes from :meth:`shedding_by_entry` (see
        :func:`~metacascade.clinic._lesions_loops.draw_rates`); ``active`` is each
        patient's running line (-1: none).
        """
        return loops.draw_rates(
            ids, cells, t, alive, active, self.is_primary, self.pat, self.pat_organ,
            self.switch, self.shedding, self.lymphatic_share, self.primary_entry,
            self.lymph_entry, self._entry_cell, self.effects["shedding_factor"],
            self.effects["ctc_survival"], self.n_patients, self.n_entries)
