"""Many patients' clinical courses at once: :func:`follow_batch`.

:func:`~metacascade.clinic.course.follow` follows one patient; a cohort follows thousands,
and most of their time goes into the same NumPy calls made once per patient.
:func:`follow_batch` goes through the decision days once for a whole batch of patients
who share the clinic (its schedules, rules and lethal burdens) and the horizon: at each
decision the work is NumPy calls over flat arrays of (patient, lesion), lesions of one
patient contiguous with the primary first (:class:`~metacascade.clinic._lesions.Lesions`).

The course of each patient is the one :func:`follow` gives, in law: the same
observations in the same order, the same stage, RECIST, therapy and death rules, the
same thinning of foundings under therapy and the same eradications. Only the random
stream differs (one stream for the batch, drawn in a fixed order, so the same ``rng``
state gives the same bytes). Where :func:`follow` draws nothing (no scans, no draws, no
resistance) the two give the same numbers.

The speed tricks are those of :func:`follow`, applied to the batch: the weekly death grid
is evaluated only for the patients whose burden bound may be lethal in an interval
(the bound of ``Patient._may_die``, with every colony that has not switched counted at
its avascular limit; the bound itself only from the first day growth may make it lethal),
eradication only for the lesions whose lower bound may fall below one cell (each lesion
examined again only from the first day it may: a colony grows at its rate until its
avascular limit and never shrinks, and its survival factor falls at most at the running
line's kill rate, down to its resistant share; each line's start schedules the patient's
colonies again), and scans and draws read only the primary and the colonies past their
angiogenic switch, which is all they can see or count when no scan of the clinic can see
a colony at its avascular limit (otherwise every lesion is read, as :func:`follow` does).

The decision loop is :class:`_Batch` here (settling the foundings under therapy, scans,
draws, starting lines); it keeps each part of a patient's state in its own object:
:class:`~metacascade.clinic._recist.Recist` (stage, targets, progression),
:class:`~metacascade.clinic._rules.Rules` (which lines start, switch and stop),
:class:`~metacascade.clinic._eradication.Eradication` (which lesions to examine for
eradication, and when) and :class:`~metacascade.clinic._deaths.Deaths` (the lethal
checks and their bounds), all over the lesions' flat arrays.

The regimens' effects (``kill_rate``, ``dose``, ``brain_exposure``, ``shedding_factor``,
``ctc_survival``, ``resistant_fraction``) may differ by patient (a population samples
them); everything else in the clinic section must be the same, or
:func:`follow_batch` raises :class:`~metacascade.errors.ParameterError` naming the field
(the caller then follows those patients one by one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade import _jit
from metacascade.clinic import _batch_loops as loops
from metacascade.clinic._deaths import Deaths
from metacascade.clinic._eradication import Eradication
from metacascade.clinic._lesions import Lesions
from metacascade.clinic._recist import M1, Recist
from metacascade.clinic._rows import Rows
from metacascade.clinic._rules import Rules
from metacascade.clinic._shared import check_shared
from metacascade.clinic.biopsy import (
    FALSE_POSITIVE_MEAN,
    PERIPHERAL_SITE,
    RECOVERY,
    SECONDS_PER_DAY,
    per_7_5_ml,
)
from metacascade.clinic.course import (
    DEATH_GRID_DAYS,
    OBSERVATION_COLUMNS,
    ClinicalCourse,
    Examination,
    TherapyLine,
    _check_simulated,
    scan_days,
)
from metacascade.clinic.imaging import Detector
from metacascade.clinic.therapy import Period, TherapyHistory
from metacascade.engine.batch_result import BatchResult, as_batch
from metacascade.engine.limits import MAX_COLONIES, too_many_colonies
from metacascade.engine.result import Result
from metacascade.errors import ScenarioError
from metacascade.random import check_rng
from metacascade.scenario import Clinic, DrawSchedule, Scenario, as_scenario, schedule_days

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class BatchCourse:
    """What the clinic saw of a batch of patients, as flat columns.

    Attributes
    ----------
    observations
        Every observation, ``patient`` then :data:`OBSERVATION_COLUMNS`; each patient's
        rows in the order :func:`~metacascade.clinic.course.follow` gives them.
    death_day, death_cause
        (patients,) day (NaN: alive at the horizon) and cause (``""``: none).
    progression_day, progression_reason, first_detection_day
        (patients,) as in :class:`ClinicalCourse` (NaN and ``""`` for None): the
        progression is the first after the origin (the first line's start, or day 0).
    cutoff, horizon_days
        (patients,) CTC cut-off (per 7.5 mL) and end of follow-up.
    therapy
        Lines given: ``patient``, ``line``, ``regimen``, ``kind``, ``start_day``,
        ``end_day`` (NaN: ran to the horizon), ``end_reason`` (``""``: none).
    lesion_offsets, final_cells
        Patient ``i``'s lesions (the primary first, then colony ids) are
        ``final_cells[lesion_offsets[i]:lesion_offsets[i + 1]]``, cells at the end.
    detected, prevented, eradicated
        (patient, lesion) pairs: found by a scan, never had (thinned), eradicated.
    volume_ml
        Per row of :attr:`observations`: a draw's blood volume, mL (NaN for the others).

    """

    observations: pd.DataFrame
    death_day: FloatArray
    death_cause: NDArray[np.object_]
    progression_day: FloatArray
    progression_reason: NDArray[np.object_]
    first_detection_day: FloatArray
    cutoff: IntArray
    horizon_days: FloatArray
    therapy: pd.DataFrame
    lesion_offsets: IntArray
    final_cells: FloatArray = field(repr=False)
    detected: pd.DataFrame = field(repr=False)
    prevented: pd.DataFrame = field(repr=False)
    eradicated: pd.DataFrame = field(repr=False)
    volume_ml: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    #: Per lesion: day eradicated (inf never); (lesions, lines) resistant shares; the
    #: lesions (kill rates, resolved regimens, organ names for course()).
    _eradicated_day: FloatArray = field(repr=False, default_factory=lambda: np.zeros(0))
    _resistant: FloatArray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    _lesions: Lesions | None = field(repr=False, default=None)

    def __len__(self) -> int:
        """Number of patients."""
        return len(self.death_day)

    def course(self, i: int) -> ClinicalCourse:
        """Patient ``i``'s course as :func:`~metacascade.clinic.course.follow` returns it."""
        lo, hi = int(self.lesion_offsets[i]), int(self.lesion_offsets[i + 1])
        obs = self.observations
        start, stop = np.searchsorted(obs["patient"].to_numpy(), [i, i + 1])
        rows = obs.iloc[start:stop][list(OBSERVATION_COLUMNS)].reset_index(drop=True)
        volume = self.volume_ml[start:stop][(rows["kind"] == "draw").to_numpy()]
        lines = self.therapy[self.therapy["patient"] == i]
        therapy = tuple(
            TherapyLine(line=int(r.line), regimen=str(r.regimen), kind=str(r.kind),
                        start_day=float(r.start_day),
                        end_day=None if math.isnan(r.end_day) else float(r.end_day),
                        end_reason=r.end_reason or None)
            for r in lines.itertuples(index=False))
        history = self._history(i, lo, hi, lines)

        def ids(table: pd.DataFrame) -> frozenset[int]:
            return frozenset(table["lesion"][table["patient"] == i].tolist())

        def none(value: float) -> float | None:
            return None if math.isnan(value) else float(value)

        return ClinicalCourse(
            observations=rows, detected=ids(self.detected),
            death_day=none(self.death_day[i]), death_cause=self.death_cause[i] or None,
            progression_day=none(self.progression_day[i]),
            progression_reason=self.progression_reason[i] or None,
            first_detection_day=none(self.first_detection_day[i]),
            horizon_days=float(self.horizon_days[i]), cutoff=int(self.cutoff[i]),
            therapy=therapy, final_cells=self.final_cells[lo:hi].copy(),
            prevented=ids(self.prevented), eradicated=ids(self.eradicated),
            history=history, eradicated_day=self._eradicated_day[lo:hi].copy(),
            draw_volume_ml=volume)

    def _history(self, i: int, lo: int, hi: int, lines: pd.DataFrame) -> TherapyHistory:
        assert self._lesions is not None
        lesions = self._lesions
        organs = np.asarray(lesions.organs, dtype=object)[lesions.organ[lo:hi]].tolist()
        # The course is over: the history's stream is never drawn from.
        history = TherapyHistory(organs, lesions.founded[lo:hi], np.random.default_rng(0))
        for r in lines.itertuples(index=False):
            k = int(r.line) - 1
            history.periods.append(Period(
                line=int(r.line), regimen=lesions.regimens[i][k], start_day=float(r.start_day),
                end_day=math.inf if math.isnan(r.end_day) else float(r.end_day),
                end_reason=r.end_reason or None, kill=lesions.kill(np.arange(lo, hi), k),
                resistant=self._resistant[lo:hi, k].copy()))
        return history


def follow_batch(results: Sequence[Result] | BatchResult,
                 scenarios: Sequence[Scenario | Mapping[str, Any]],
                 rng: np.random.Generator) -> BatchCourse:
    """Follow every patient of a batch through the clinic they share.

    ``results`` holds patient ``i``'s engine result for ``scenarios[i]``: a list of
    :class:`Result` or the :class:`~metacascade.engine.batch_result.BatchResult` of
    :func:`~metacascade.engine.batch.run_batch` (read as it is, without building a
    Result per patient). Each scenario is a :class:`~metacascade.scenario.Scenario` or
    its plain data, as :func:`~metacascade.clinic.course.follow` takes it, and the one
    its result was simulated from but for the clinic (else
    :class:`~metacascade.errors.ScenarioError`, as
    :func:`~metacascade.clinic.course.check_same_patient`). The patients must
    share the clinic section (but for the regimens' effects) and the horizon; otherwise
    :class:`~metacascade.errors.ParameterError` names the field. ``rng`` is the
    clinic's one stream for the batch, a NumPy Generator (``np.random.default_rng(seed)``).

    A patient whose natural history the engine ended early (at its colony limit,
    ``BatchResult.history_end``) is followed as the others: everything up to that day is
    exact, and so is its course if it dies by then. If it is still alive then,
    :class:`~metacascade.engine.limits.EngineError` names it: its course would miss the
    colonies the engine did not found.
    """
    check_rng(rng)
    batch = as_batch(results)
    if isinstance(scenarios, (str, bytes, Mapping, Scenario)) or not isinstance(
            scenarios, Sequence):
        raise ScenarioError(f"scenarios: expected a list of scenarios (one per result), "
                            f"not {type(scenarios).__name__}")
    checked = [as_scenario(s, f"scenarios[{i}]") for i, s in enumerate(scenarios)]
    clinic = check_shared(batch, checked)
    for i, (model, scenario) in enumerate(zip(batch.models, checked, strict=True)):
        _check_simulated(model.scenario, scenario, what=f"scenarios[{i}]",
                         whose=f"simulated patient {i}'s")
    lesions = Lesions(batch, checked, clinic)
    course = _Batch(lesions, clinic, rng).run()
    ended = batch.history_end_day
    end = np.where(np.isnan(course.death_day), course.horizon_days, course.death_day)
    late = np.flatnonzero(end > ended)
    if late.size:
        raise too_many_colonies(MAX_COLONIES, float(ended[late[0]]), int(late[0]))
    return course


class _Batch:
    """The clinic's state for every patient; one step per decision day."""

    def __init__(self, lesions: Lesions, clinic: Clinic, rng: np.random.Generator) -> None:
        self.x, self.clinic, self.rng = lesions, clinic, rng
        n_p = lesions.n_patients
        self.rows = Rows()
        self.alive = np.ones(n_p, dtype=bool)
        self.death_day = np.full(n_p, np.nan)
        self.death_cause = np.full(n_p, "", dtype=object)
        self.deaths = Deaths(lesions, clinic)
        self.recist = Recist(lesions, self.rows)
        self.rules = Rules(lesions, clinic.therapy, self.rows)
        horizon = lesions.horizon
        self.scans = scan_days(clinic, horizon)
        self.draws: dict[float, list[DrawSchedule]] = {}
        for draw in clinic.draws:
            for t in schedule_days(draw.start_day, draw.every_weeks, draw.stop_day, horizon):
                self.draws.setdefault(t, []).append(draw)
        plan = clinic.therapy
        self.decided = set(self.scans) | set(self.draws) | (
            {d for d in (plan.start_day, plan.stop_day) if d is not None and d <= horizon}
            if plan is not None else set())
        self.detectors = {exam: Detector(exam[0], lesions.organs, regions=exam[1])
                          for exams in self.scans.values() for exam in exams}
        #: The ends of the intervals: every decision day, then the horizon.
        self.stops = [*sorted(self.decided), horizon]
        self.eradication = Eradication(lesions, self.rules, np.array(self.stops))
        #: The interval being advanced or decided: (stops[k - 1], stops[k]].
        self.k = 0

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> BatchCourse:
        """Every decision in time order, then the end of follow-up."""
        x = self.x
        x.set_intervals(np.array(self.stops))
        previous = -math.inf
        for k, t in enumerate(self.stops):
            self.k = k
            self._advance(k, previous, t)
            if (t >= x.horizon and t not in self.decided) or not self.alive.any():
                break
            self._decide(t)
            previous = t
        return self._finish()

    def _advance(self, k: int, previous: float, t: float) -> None:
        """Settle foundings, eradicate and check death in (previous, t] (``advance``)."""
        first = 0.0 if math.isinf(previous) else previous
        grid = np.arange(math.ceil(first / DEATH_GRID_DAYS) * DEATH_GRID_DAYS, t,
                         DEATH_GRID_DAYS)
        times = np.append(grid[grid > previous], t)
        self.x.forget_switched()
        treated = self.alive & self.x.treated
        if treated.any():
            self._settle(k, treated)
            self.eradication.examine(k, previous, t, times, treated)
        for p, day, cause, burden in self.deaths.find(previous, t, times, self.alive):
            self.alive[p] = False
            self.death_day[p], self.death_cause[p] = day, cause
            self.rows.add(np.array([p]), day, "death", cause,
                          cause if cause != "total" else "", -1, burden)
            self.rules.died(p, day)

    def _settle(self, k: int, treated: BoolArray) -> None:
        """Which colonies founded in the k-th interval the treated patients have (``_settle``)."""
        x = self.x
        if _jit.ENABLED:
            effects = x.effects
            new, met, met_line, rho, q, parent, founded = loops.settle_new(
                x.founded_in(k), treated, x.pat, self.rules.active,
                effects["resistant_fraction"], effects["shedding_factor"],
                effects["ctc_survival"], x.parents, x.offsets, x.founded)
            if new.size == 0:
                return
            exists = self.rng.random(met.size) < -np.expm1(-rho)
            x.resistant.reshape(-1)[met * x.n_lines + met_line] = np.where(
                exists, np.maximum(rho, 1.0), 0.0)
        else:
            new = x.founded_in(k)
            new = new[treated[x.pat[new]]]
            if new.size == 0:
                return
            p = x.pat[new]
            line = self.rules.active[p]
            on = line >= 0
            # A founder is one cell: resistant (share 1) with probability 1 - exp(-rho).
            met, met_line = new[on], line[on]
            rho = x.regimen_value("resistant_fraction", p[on], met_line)
            exists = self.rng.random(met.size) < -np.expm1(-rho)
            x.resistant.reshape(-1)[met * x.n_lines + met_line] = np.where(
                exists, np.maximum(rho, 1.0), 0.0)
            q = np.ones(new.size)
            q[on] = (x.regimen_value("shedding_factor", p[on], met_line)
                     * x.regimen_value("ctc_survival", p[on], met_line))
            parent = x.parent_of(new)
            founded = x.founded[new]
        q = q * x.survival(parent, founded) * (x.eradicated[parent] > founded)
        draw = q < 1.0
        keep = np.ones(new.size, dtype=bool)
        keep[draw] = self.rng.random(int(draw.sum())) < q[draw]
        x.kept[new] = keep
        # A dropped parent takes its descendants with it (parents come first).
        while True:
            inherited = x.kept[new] & x.kept[parent]
            if np.array_equal(inherited, x.kept[new]):
                break
            x.kept[new] = inherited
        x.had[new] = x.kept[new]

    # -- one decision --------------------------------------------------------------------
    def _decide(self, t: float) -> None:
        x = self.x
        alive = np.nonzero(self.alive)[0]
        ids, cells = x.visible(t, self.alive)
        found = measured = np.zeros(0, dtype=np.int64)
        covered = np.zeros(len(x.organs), dtype=bool)
        if t in self.scans:
            diameter = x.diameter_mm(ids, cells)
            self.recist.read(ids, diameter)
            for exam in self.scans[t]:
                seen = self._scan(exam, t, ids, cells, diameter, alive)
                found = np.union1d(found, seen)
                if self.detectors[exam].measures:
                    measured = np.union1d(measured, seen)
                    covered |= self.detectors[exam].covers
        unfavourable = np.zeros(x.n_patients, dtype=bool)
        for draw in self.draws.get(t, ()):
            counts = self._draw(draw, t, ids, cells, alive)
            if draw.site == PERIPHERAL_SITE:  # the cut-off is per 7.5 mL of peripheral blood
                unfavourable[alive] |= per_7_5_ml(counts, draw.volume_ml) >= x.cutoff[alive]
        progressed = np.zeros(x.n_patients, dtype=bool)
        distant = found[x.is_distant(found)]
        gauged = measured[x.is_distant(measured)]
        if t in self.scans:
            progressed = self.recist.scan(t, found, distant, gauged, covered, alive)
        if self.clinic.therapy is not None:
            starting = self.rules.apply(t, self.alive, self.recist.stage == M1, progressed,
                                        unfavourable)
            self._start(starting, t)

    def _scan(self, exam: Examination, t: float, ids: IntArray, cells: FloatArray,
              diameter: FloatArray, alive: IntArray) -> IntArray:
        """One examination of every living patient: the lesions found (``_scan``)."""
        x = self.x
        present = cells > 0
        p = np.zeros(ids.size)
        p[present] = self.detectors[exam].probability(x.organ[ids[present]],
                                                      diameter[present])
        hit = present & (self.rng.random(ids.size) < p)
        found = ids[hit]
        pat = x.pat[found]
        self.rows.add(pat, t, "scan", exam[0],
                      np.asarray(x.organs, dtype=object)[x.organ[found]],
                      found - x.offsets[pat], diameter[hit])
        none = alive[np.bincount(pat, minlength=x.n_patients)[alive] == 0]
        self.rows.add(none, t, "scan", exam[0], "", -1, 0.0)
        return found

    def _draw(self, draw: DrawSchedule, t: float, ids: IntArray, cells: FloatArray,
              alive: IntArray) -> IntArray:
        """One blood draw of every living patient: the CTC counts (``_draw``)."""
        x = self.x
        if _jit.ENABLED:
            rates = x.draw_rates(ids, cells, t, alive, self.rules.active)
        else:
            rates = x.shedding_by_entry(ids, cells, t)[alive]
            line = self.rules.active[alive]
            on = line >= 0
            factor = np.ones(alive.size)
            factor[on] = (x.regimen_value("shedding_factor", alive[on], line[on])
                          * x.regimen_value("ctc_survival", alive[on], line[on]))
            rates = rates * factor[:, None]
        weights = x.weights(draw.site)[alive]
        concentration = np.einsum("ij,ij->i", rates, weights) / SECONDS_PER_DAY
        recovery = RECOVERY.value if draw.recovery is None else draw.recovery
        false_positive = (FALSE_POSITIVE_MEAN.value if draw.false_positive_mean is None
                          else draw.false_positive_mean)
        mean = draw.volume_ml * concentration * recovery + false_positive
        counts: IntArray = self.rng.poisson(mean).astype(np.int64)
        self.rows.add(alive, t, "draw", draw.site, "", -1, counts.astype(float),
                      volume_ml=draw.volume_ml)
        return counts

    def _start(self, patients: IntArray, t: float) -> None:
        """Start each patient's next line at ``t``; meet the lesions; a new baseline.

        The line meets the lesions had: each holds a resistant share (drawn), and goes
        on the eradication schedule again (:meth:`Eradication.restart`).
        """
        if patients.size == 0:
            return
        x = self.x
        line = self.rules.next_line[patients]
        mask = np.zeros(x.n_patients, dtype=bool)
        mask[patients] = True
        if _jit.ENABLED:
            ids = loops.start_lesions(mask, x.offsets, x.had, x.founded, t)
            untreated, factor = x.untreated(ids, t), x.survival(ids, t)
            met, met_untreated, met_factor, ids, n, lesion_line, rho = loops.start_shares(
                ids, untreated, factor, x.is_always, x.pat, self.rules.next_line,
                x.effects["resistant_fraction"])
            x.begin(patients, line, t)
            x.treated[patients] = True
        else:
            ids = x.lesions_of(mask)
            ids = ids[x.had[ids] & (x.founded[ids] <= t)]
            untreated, factor = x.untreated(ids, t), x.survival(ids, t)
            cells = untreated * factor  # before the new line starts
            bounded = np.nonzero(~x.is_always[ids])[0]
            met, met_untreated, met_factor = ids[bounded], untreated[bounded], factor[bounded]
            x.begin(patients, line, t)
            x.treated[patients] = True
            alive = cells >= 1.0
            ids, n = ids[alive], np.maximum(cells[alive], 1.0)
            lesion_line = self.rules.next_line[x.pat[ids]]
            rho = x.regimen_value("resistant_fraction", x.pat[ids], lesion_line)
        exists = self.rng.random(ids.size) < -np.expm1(-rho * n)
        x.resistant.reshape(-1)[ids * x.n_lines + lesion_line] = np.where(
            exists, np.maximum(rho, 1.0 / n), 0.0)
        self.rules.started(patients, t)
        # The colonies had are followed for eradication from their next possible day
        # under the new line.
        with np.errstate(divide="ignore"):
            log_factor = np.log(met_factor)
        self.eradication.restart(self.k, t, patients, met, log_factor, met_untreated)
        # RECIST: a new baseline, from the last measuring scan if it is recent.
        self.recist.new_baseline(patients, t)

    # -- the result ----------------------------------------------------------------------
    def _finish(self) -> BatchCourse:
        x = self.x
        end = np.where(np.isnan(self.death_day), x.horizon, self.death_day)
        final = x.final_cells(end)
        recist = self.recist
        pairs = _pairs(x, recist.detected)
        lines = np.argwhere(np.isfinite(x.line_start))
        pat, k = lines[:, 0], lines[:, 1]
        end_day = x.line_end[pat, k]
        therapy = pd.DataFrame({
            "patient": pat.astype(np.int64), "line": (k + 1).astype(np.int64),
            "regimen": np.asarray(x.line_names, dtype=object)[k],
            "kind": np.asarray(x.line_kinds, dtype=object)[k],
            "start_day": x.line_start[pat, k],
            "end_day": np.where(np.isinf(end_day), np.nan, end_day),
            "end_reason": self.rules.end_reason[pat, k]})
        eradicated = _pairs(x, np.isfinite(x.eradicated))
        eradicated["day"] = x.eradicated[np.isfinite(x.eradicated)]
        observations = self.rows.table()
        first_line = (x.line_start[:, 0] if x.line_start.shape[1]
                      else np.full(x.n_patients, np.inf))
        origin = np.where(np.isfinite(first_line), first_line, 0.0)
        progression_day, progression_reason = _first_progressions(observations, origin)
        return BatchCourse(
            observations=observations, death_day=self.death_day,
            death_cause=self.death_cause, progression_day=progression_day,
            progression_reason=progression_reason, first_detection_day=recist.first,
            cutoff=x.cutoff.copy(), horizon_days=np.full(x.n_patients, x.horizon),
            therapy=therapy, lesion_offsets=x.offsets.copy(), final_cells=final,
            detected=pairs, prevented=_pairs(x, ~x.kept), eradicated=eradicated,
            volume_ml=self.rows.volume_ml, _eradicated_day=x.eradicated.copy(),
            _resistant=x.resistant, _lesions=x)


def _first_progressions(observations: pd.DataFrame, origin: FloatArray,
                        ) -> tuple[FloatArray, NDArray[np.object_]]:
    """(patients,) day and reason of each one's first progression after ``origin``.

    NaN and ``""`` for none (:func:`~metacascade.clinic.course.first_progression`).
    """
    n = len(origin)
    day = np.full(n, np.nan)
    reason = np.full(n, "", dtype=object)
    kind = observations["kind"].to_numpy(dtype=object)
    rows = np.flatnonzero(kind == "progression")
    patient = observations["patient"].to_numpy(dtype=np.int64)[rows]
    time_days = observations["time_days"].to_numpy(dtype=np.float64)[rows]
    after = time_days > origin[patient]
    rows, patient, time_days = rows[after], patient[after], time_days[after]
    # Rows are by patient then time: each patient's first is where its run starts.
    first = np.r_[True, patient[1:] != patient[:-1]] if rows.size else np.zeros(0, bool)
    day[patient[first]] = time_days[first]
    reason[patient[first]] = observations["name"].to_numpy(dtype=object)[rows[first]]
    return day, reason


def _pairs(x: Lesions, mask: BoolArray) -> pd.DataFrame:
    """(patient, lesion id) of the lesions in ``mask``."""
    ids = np.nonzero(mask)[0]
    pat = x.pat[ids]
    return pd.DataFrame({"patient": pat, "lesion": ids - x.offsets[pat]})
