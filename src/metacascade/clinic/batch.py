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
(the bound of ``_Patient._may_die``, with every colony that has not switched counted at
its avascular limit), eradication only for the lesions whose lower bound may fall below
one cell (each lesion examined again only from the first day its bounds may let it
through: the untreated size never shrinks and the survival factor falls at most at the
kill rates of the running and coming lines), and scans and draws read only the primary
and the colonies past their angiogenic switch, which is all they can see or count when no
scan of the clinic can see a colony at its avascular limit (otherwise every lesion is
read, as :func:`follow` does).

The regimens' effects (``kill_rate``, ``dose``, ``brain_exposure``, ``shedding_factor``,
``ctc_survival``, ``resistant_fraction``) may differ by patient (a population samples
them); everything else in the clinic section must be the same, or
:func:`follow_batch` raises :class:`~metacascade.errors.ParameterError` naming the field
(the caller then follows those patients one by one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.clinic._lesions import Lesions, check_shared
from metacascade.clinic._rows import Rows
from metacascade.clinic.biopsy import FALSE_POSITIVE_MEAN, RECOVERY, SECONDS_PER_DAY
from metacascade.clinic.course import (
    BOUND_MARGIN,
    DEATH_GRID_DAYS,
    OBSERVATION_COLUMNS,
    PROGRESSION_GROWTH,
    PROGRESSION_MIN_MM,
    TARGET_MIN_MM,
    ClinicalCourse,
    TherapyLine,
    _schedule,
)
from metacascade.clinic.imaging import Detector
from metacascade.clinic.therapy import Period, TherapyHistory
from metacascade.engine.batch_result import BatchResult, as_batch
from metacascade.engine.result import Result
from metacascade.scenario import Clinic, DrawSchedule, ScanSchedule, Scenario

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Stage codes (0: no scan yet).
M0, M1 = 1, 2
STAGE_NAMES = np.array(["", "M0", "M1"], dtype=object)
#: At most this many targets, and this many per organ (RECIST 1.1).
MAX_TARGETS, MAX_TARGETS_PER_ORGAN = 5, 2
#: Margin of the cheap eradication bound, in log cells: far above its rounding.
LOG_MARGIN = 1e-6
#: Margin of a lesion's next possible day, in log cells: far above the rounding of the
#: bounds it is computed from.
LOG_SLACK = 1e-6


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
        (patients,) as in :class:`ClinicalCourse` (NaN and ``""`` for None).
    cutoff, horizon_days
        (patients,) CTC cut-off and end of follow-up.
    therapy
        Lines given: ``patient``, ``line``, ``regimen``, ``kind``, ``start_day``,
        ``end_day`` (NaN: ran to the horizon), ``end_reason`` (``""``: none).
    lesion_offsets, final_cells
        Patient ``i``'s lesions (the primary first, then colony ids) are
        ``final_cells[lesion_offsets[i]:lesion_offsets[i + 1]]``, cells at the end.
    detected, prevented, eradicated
        (patient, lesion) pairs: found by a scan, never had (thinned), eradicated.

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
            history=history, eradicated_day=self._eradicated_day[lo:hi].copy())

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


def follow_batch(results: Sequence[Result] | BatchResult, scenarios: Sequence[Scenario],
                 rng: np.random.Generator) -> BatchCourse:
    """Follow every patient of a batch through the clinic they share.

    ``results`` holds patient ``i``'s engine result for ``scenarios[i]``: a list of
    :class:`Result` or the :class:`~metacascade.engine.batch_result.BatchResult` of
    :func:`~metacascade.engine.batch.run_batch` (read as it is, without building a
    Result per patient). The patients must share the clinic section (but for the
    regimens' effects) and the horizon; otherwise
    :class:`~metacascade.errors.ParameterError` names the field. ``rng`` is the
    clinic's one stream for the batch.
    """
    batch = as_batch(results)
    clinic = check_shared(batch, scenarios)
    lesions = Lesions(batch, scenarios, clinic)
    return _Batch(lesions, clinic, rng).run()


class _Batch:
    """The clinic's state for every patient; one step per decision day."""

    def __init__(self, lesions: Lesions, clinic: Clinic, rng: np.random.Generator) -> None:
        self.x, self.clinic, self.rng = lesions, clinic, rng
        n_p, n_k = lesions.n_patients, lesions.n_lines
        self.rows = Rows()
        self.alive = np.ones(n_p, dtype=bool)
        self.death_day = np.full(n_p, np.nan)
        self.death_cause = np.full(n_p, "", dtype=object)
        # RECIST
        self.stage = np.zeros(n_p, dtype=np.int64)
        self.first = np.full(n_p, np.nan)
        self.progression_day = np.full(n_p, np.nan)
        self.progression_reason = np.full(n_p, "", dtype=object)
        self.detected = np.zeros(lesions.n, dtype=bool)
        self.seen = np.zeros(lesions.n, dtype=bool)
        self.chosen = np.zeros(n_p, dtype=bool)
        self.targets = np.full((n_p, MAX_TARGETS), -1, dtype=np.int64)
        self.nadir = np.full(n_p, np.inf)
        self.baseline = np.zeros(n_p, dtype=bool)
        self.progressed = np.zeros(n_p, dtype=bool)
        self.diameter = np.zeros(lesions.n)
        # Rules
        self.over = np.zeros(n_p, dtype=bool)
        self.active = np.full(n_p, -1, dtype=np.int64)
        self.next_line = np.zeros(n_p, dtype=np.int64)
        self.end_reason = np.full((n_p, max(n_k, 1)), "", dtype=object)
        self.scans: dict[float, list[ScanSchedule]] = {}
        self.draws: dict[float, list[DrawSchedule]] = {}
        horizon = lesions.horizon
        for scan in clinic.scans:
            for t in _schedule(scan.start_day, scan.every_weeks, scan.stop_day, horizon):
                self.scans.setdefault(t, []).append(scan)
        for draw in clinic.draws:
            for t in _schedule(draw.start_day, draw.every_weeks, draw.stop_day, horizon):
                self.draws.setdefault(t, []).append(draw)
        plan = clinic.therapy
        self.decided = set(self.scans) | set(self.draws) | (
            {d for d in (plan.start_day, plan.stop_day) if d is not None and d <= horizon}
            if plan is not None else set())
        self.detectors = [Detector(s.modality, lesions.organs, regions=s.regions)
                          for s in clinic.scans]

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> BatchCourse:
        """Every decision in time order, then the end of follow-up."""
        x = self.x
        stops = [*sorted(self.decided), x.horizon]
        self.stops = np.array(stops)
        x.set_intervals(self.stops)
        #: Per interval, the lesions to examine for eradication then (``_postpone``).
        self.pending: list[list[IntArray]] = [[] for _ in stops]
        self.k = 0
        previous = -math.inf
        for k, t in enumerate(stops):
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
            self._eradicate(k, previous, t, times, treated)
        for p, day, cause, burden in self.x.deaths(previous, t, times, self.alive):
            self.alive[p] = False
            self.death_day[p], self.death_cause[p] = day, cause
            self.rows.add(np.array([p]), day, "death", cause,
                          cause if cause != "total" else "", -1, burden)
            line = self.active[p]
            if line >= 0:
                self.x.line_end[p, line] = day
                self.end_reason[p, line] = "death"
                self.active[p] = -1

    def _settle(self, k: int, treated: BoolArray) -> None:
        """Which colonies founded in the k-th interval the treated patients have (``_settle``)."""
        x = self.x
        new = x.founded_in(k)
        new = new[treated[x.pat[new]]]
        if new.size == 0:
            return
        p = x.pat[new]
        line = self.active[p]
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
        parent = x.parent[new]
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

    def _eradicate(self, k: int, previous: float, t: float, times: FloatArray,
                   treated: BoolArray) -> None:
        """Lesions of treated patients below one cell on the grid (``_eradicate_quiet``).

        Only the lesions that may be candidates are examined: the primaries and the
        lesions of patients whose sizes are not bounded (always), the colonies founded in
        the interval, and the lesions whose next possible day (:meth:`_postpone`, set
        when the patient's first line starts and at each examination) has come. The
        others would fail one of the bounds below, so the eradications are the same.
        """
        x = self.x
        new = x.founded_in(k)
        parts = [x.always[treated[x.pat[x.always]]],
                 new[treated[x.pat[new]] & ~x.is_always[new]], *self.pending[k]]
        self.pending[k] = []
        ids = np.concatenate(parts)
        ids = ids[treated[x.pat[ids]] & x.had[ids] & (x.founded[ids] <= t)]
        always = x.is_always[ids]
        due = np.full(ids.size, -np.inf)
        rest = np.ones(ids.size, dtype=bool)
        if not math.isinf(previous):
            # A first, cheap bound (per patient for therapy, in logs for the size):
            # most lesions are far above one cell.
            floor = x.log_survival_floor(t)[x.pat[ids]]
            cheap = x.log_untreated_floor(ids, previous) + floor
            rest = (cheap < LOG_MARGIN) | always
            far = ~rest
            due[far] = _later(t, cheap[far] - 2.0 * LOG_MARGIN, x.kappa_all[x.pat[ids[far]]])
        # The second bound, for every lesion examined (its next possible day is usually
        # the later); the grid is evaluated for the lesions both bounds let through.
        lower = x.survival(ids, t)
        if not math.isinf(previous):
            lower = lower * np.maximum(x.untreated(ids, previous), 1.0)
        maybe = (lower < 1.0 + BOUND_MARGIN) | always
        above = np.nonzero(~maybe)[0]
        due[above] = np.maximum(due[above],
                                self._survival_due(t, ids[above], lower[above]))
        grid = ids[rest & maybe]
        if grid.size:
            column = times[:, None]
            cells = x.untreated(grid, column) * x.survival(grid, column)
            below = (cells < 1.0) & (column >= x.founded[grid])
            hit = below.any(axis=0)
            if hit.any():
                x.eradicated[grid[hit]] = times[np.argmax(below[:, hit], axis=0)]
                x.had[grid[hit]] = False
        later = ~always & x.had[ids]
        self._postpone(k, ids[later], due[later])

    def _survival_due(self, t: float, ids: IntArray, lower: FloatArray) -> FloatArray:
        """Next possible day of lesions whose survival bound ``lower`` (>= 1) holds at t.

        The log bound falls only through the survival factor (the untreated size never
        decreases): the running line's factor (kill rate k, resistant share rho) by at
        most k per day and never below rho, so by at most c = log(factor / rho) in all;
        the lines not started yet by at most their largest kill rate k_next per day
        (one line at a time). Over d days the fall is at most min(max(k, k_next) d,
        c + k_next d); ended lines no longer change.
        """
        x = self.x
        pat = x.pat[ids]
        with np.errstate(divide="ignore"):
            room = np.log(lower) - LOG_SLACK
        # Per (patient, organ): the running line's kill rate and the largest of the lines
        # still to come (0 without).
        n_p, n_k = x.n_patients, x.n_lines
        running = self.active >= 0
        line = np.where(running, self.active, 0)
        table = x.kill_table
        kill_now = np.where(running[:, None], table[np.arange(n_p), line], 0.0)
        ahead = np.arange(n_k)[None, :] >= self.next_line[:, None]
        kill_next = np.where(ahead[:, :, None], table, 0.0).max(axis=1, initial=0.0)
        where = pat * len(x.organs) + x.organ[ids]
        k_now = kill_now.reshape(-1)[where]
        k_next = kill_next.reshape(-1)[where]
        c = np.zeros(ids.size)
        on = np.nonzero(running[pat])[0]
        if on.size:
            sub, p = ids[on], pat[on]
            k = line[p]
            rho = x.resistant.reshape(-1)[sub * n_k + k]
            start = x.line_start[p, k]
            end = x.line_end[p, k]
            exposed = np.maximum(np.minimum(t, end) - np.maximum(start, x.founded[sub]), 0.0)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                factor = (1.0 - rho) * np.exp(-k_now[on] * exposed) + rho
                # No floor without a resistant share.
                c[on] = np.where(rho > 0, np.log(factor) - np.log(rho), np.inf)
        return np.maximum(_later(t, room, np.maximum(k_now, k_next)),
                          _later(t, room - c, k_next))

    def _postpone(self, k: int, ids: IntArray, due: FloatArray) -> None:
        """Examine ``ids`` again in the first interval after k that ends after ``due``.

        ``due`` is the lesion's next possible day: before it, neither bound of
        :meth:`_eradicate` can let it through (never, if infinite).
        """
        at = np.minimum(np.maximum(np.searchsorted(self.stops, due, side="right"), k + 1),
                        len(self.stops))
        small = at.astype(np.int16) if len(self.stops) < 2**15 - 1 else at
        order = np.argsort(small, kind="stable")  # a radix sort in 16 bits
        at, ids = at[order], ids[order]
        starts = np.flatnonzero(np.diff(at, prepend=-1))
        bounds = [*starts.tolist(), ids.size]
        for j, key in enumerate(at[starts].tolist()):
            if key < len(self.stops):
                self.pending[key].append(ids[bounds[j]:bounds[j + 1]])

    # -- one decision --------------------------------------------------------------------
    def _decide(self, t: float) -> None:
        x = self.x
        alive = np.nonzero(self.alive)[0]
        ids, cells = x.visible(t, self.alive)
        found = np.zeros(0, dtype=np.int64)
        if t in self.scans:
            diameter = x.diameter_mm(ids, cells)
            self.diameter[ids] = diameter
            for scan in self.scans[t]:
                detector = self.detectors[self.clinic.scans.index(scan)]
                found = np.union1d(found, self._scan(scan, detector, t, ids, cells,
                                                     diameter, alive))
        unfavourable = np.zeros(x.n_patients, dtype=bool)
        for draw in self.draws.get(t, ()):
            counts = self._draw(draw, t, ids, cells, alive)
            if draw.site == "arm_vein":
                unfavourable[alive] |= counts >= x.cutoff[alive]
        progressed = np.zeros(x.n_patients, dtype=bool)
        distant = found[x.distant[found]]
        if t in self.scans:
            progressed = self._recist(t, found, distant, alive)
        if self.clinic.therapy is not None:
            self._rules(t, progressed, unfavourable, distant, t in self.scans)

    def _scan(self, scan: ScanSchedule, detector: Detector, t: float, ids: IntArray,
              cells: FloatArray, diameter: FloatArray, alive: IntArray) -> IntArray:
        """One scan of every living patient: the lesions found (``_scan``)."""
        x = self.x
        present = cells > 0
        p = np.zeros(ids.size)
        p[present] = detector.probability(x.organ[ids[present]], diameter[present])
        hit = present & (self.rng.random(ids.size) < p)
        found = ids[hit]
        pat = x.pat[found]
        self.rows.add(pat, t, "scan", scan.modality,
                      np.asarray(x.organs, dtype=object)[x.organ[found]],
                      found - x.offsets[pat], diameter[hit])
        none = alive[np.bincount(pat, minlength=x.n_patients)[alive] == 0]
        self.rows.add(none, t, "scan", scan.modality, "", -1, 0.0)
        return found

    def _draw(self, draw: DrawSchedule, t: float, ids: IntArray, cells: FloatArray,
              alive: IntArray) -> IntArray:
        """One blood draw of every living patient: the CTC counts (``_draw``)."""
        x = self.x
        rates = x.shedding_by_entry(ids, cells, t)[alive]
        line = self.active[alive]
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
        self.rows.add(alive, t, "draw", draw.site, "", -1, counts.astype(float))
        return counts

    def _recist(self, t: float, found: IntArray, distant: IntArray,
                alive: IntArray) -> BoolArray:
        """Stage, first detection and progression after the scans at ``t`` (``_Recist.scan``)."""
        x, n_p = self.x, self.x.n_patients
        self.detected[found] = True
        n_distant = np.bincount(x.pat[distant], minlength=n_p)
        now = np.where((n_distant > 0) | (self.stage == M1), M1, M0)
        changed = alive[now[alive] != self.stage[alive]]
        self.rows.add(changed, t, "stage", STAGE_NAMES[now[changed]], "", -1,
                      n_distant[changed].astype(float))
        self.stage[alive] = now[alive]
        first = alive[(n_distant[alive] > 0) & np.isnan(self.first[alive])]
        self.first[first] = t
        choose = alive[~self.chosen[alive] & (n_distant[alive] > 0)]
        self._choose_targets(choose, distant)
        total = self._target_sum()
        check = np.zeros(n_p, dtype=bool)
        check[alive] = self.baseline[alive] & ~self.progressed[alive]
        new = np.bincount(x.pat[distant[~self.seen[distant]]], minlength=n_p) > 0
        n_targets = (self.targets >= 0).sum(axis=1)
        growth = (self.chosen & (n_targets > 0)
                  & (total >= (1 + PROGRESSION_GROWTH) * self.nadir)
                  & (total - self.nadir >= PROGRESSION_MIN_MM))
        progressed: BoolArray = check & (new | growth)
        reason = np.where(new, "new_lesion", "target_growth").astype(object)
        hit = np.nonzero(progressed)[0]
        self.rows.add(hit, t, "progression", reason[hit], "", -1, total[hit])
        self.progressed |= progressed
        firsts = hit[np.isnan(self.progression_day[hit])]
        self.progression_day[firsts], self.progression_reason[firsts] = t, reason[firsts]
        measured = np.zeros(n_p, dtype=bool)
        measured[alive] = self.chosen[alive] & (n_targets[alive] > 0)
        self.nadir[measured] = np.minimum(self.nadir[measured], total[measured])
        self.seen[distant] = True
        self.baseline[alive] = True
        return progressed

    def _target_sum(self) -> FloatArray:
        """(patients,) sum of the target diameters now (0 without targets)."""
        chosen = self.targets >= 0
        total: FloatArray = np.where(chosen, self.diameter[np.maximum(self.targets, 0)],
                                     0.0).sum(axis=1)
        return total

    def _choose_targets(self, patients: IntArray, distant: IntArray) -> None:
        """Up to 5 targets of >= 10 mm, at most 2 per organ, largest first (``_targets``)."""
        if patients.size == 0:
            return
        x = self.x
        self.chosen[patients] = True
        self.targets[patients] = -1
        mask = np.zeros(x.n_patients, dtype=bool)
        mask[patients] = True
        ids = distant[mask[x.pat[distant]]]
        ids = ids[self.diameter[ids] >= TARGET_MIN_MM]
        if ids.size == 0:
            return
        pat, organ = x.pat[ids], x.organ[ids]
        order = np.lexsort((ids, -self.diameter[ids], pat))  # largest first, then id
        ids, pat, organ = ids[order], pat[order], organ[order]
        by_organ = np.lexsort((np.arange(ids.size), organ, pat))
        rank = np.empty(ids.size, dtype=np.int64)
        rank[by_organ] = _rank_in_runs(pat[by_organ] * (len(x.organs) + 1) + organ[by_organ])
        keep = rank < MAX_TARGETS_PER_ORGAN
        ids, pat = ids[keep], pat[keep]
        rank = _rank_in_runs(pat)
        keep = rank < MAX_TARGETS
        self.targets[pat[keep], rank[keep]] = ids[keep]

    # -- therapy rules -------------------------------------------------------------------
    def _rules(self, t: float, progressed: BoolArray, unfavourable: BoolArray,
               distant: IntArray, scanned: bool) -> None:
        """Start, switch and stop lines (``_Rules.apply``)."""
        plan = self.clinic.therapy
        assert plan is not None
        ready = self.alive & ~self.over
        idle = ready & (self.active < 0)
        start = idle & (((plan.start_day is not None) and t >= plan.start_day)
                        | (plan.start_at_m1 & (self.stage == M1)))
        running = np.nonzero(ready & (self.active >= 0))[0]
        if plan.stop_day is not None and t >= plan.stop_day:
            self._stop(running, t, "stop_day")
            self.over[running] = True
            running = running[:0]
        started = self.x.line_start[running, self.active[running]]
        events = {"progression": progressed[running],
                  "ctc_unfavourable": unfavourable[running]
                  & (t - started >= 7.0 * plan.ctc_followup_weeks)}
        switch = _first_event(events, plan.switch_on)
        stop = _first_event(events, plan.stop_on)
        switching = switch != ""
        self._stop(running[switching], t, switch[switching])
        more = self.next_line[running[switching]] < self.x.n_lines
        self.over[running[switching][~more]] = True
        stopping = ~switching & (stop != "")
        self._stop(running[stopping], t, stop[stopping])
        self.over[running[stopping]] = True
        self._start(np.union1d(np.nonzero(start)[0], running[switching][more]), t,
                    distant, scanned)

    def _stop(self, patients: IntArray, t: float, reason: Any) -> None:
        if patients.size == 0:
            return
        x = self.x
        line = self.active[patients]
        x.line_end[patients, line] = t
        self.end_reason[patients, line] = reason
        names = np.asarray(x.line_names, dtype=object)[line]
        label = np.array([f"stop:{n}:{r}" for n, r in
                          zip(names, np.broadcast_to(np.asarray(reason, dtype=object),
                                                     patients.shape), strict=True)],
                         dtype=object)
        self.rows.add(patients, t, "therapy", label, "", -1, (line + 1).astype(float))
        self.active[patients] = -1

    def _start(self, patients: IntArray, t: float, distant: IntArray, scanned: bool,
               ) -> None:
        """Start each patient's next line at ``t``; meet the lesions; a new baseline."""
        if patients.size == 0:
            return
        x = self.x
        line = self.next_line[patients]
        mask = np.zeros(x.n_patients, dtype=bool)
        mask[patients] = True
        ids = x.lesions_of(mask)
        ids = ids[x.had[ids] & (x.founded[ids] <= t)]
        cells = x.untreated(ids, t) * x.survival(ids, t)  # before the new line starts
        first = ~x.treated[x.pat[ids]] & ~x.is_always[ids]
        met, met_cells = ids[first], cells[first]
        x.line_start[patients, line] = t
        x.treated[patients] = True
        alive = cells >= 1.0
        ids, n = ids[alive], np.maximum(cells[alive], 1.0)
        lesion_line = self.next_line[x.pat[ids]]
        rho = x.regimen_value("resistant_fraction", x.pat[ids], lesion_line)
        exists = self.rng.random(ids.size) < -np.expm1(-rho * n)
        x.resistant.reshape(-1)[ids * x.n_lines + lesion_line] = np.where(
            exists, np.maximum(rho, 1.0 / n), 0.0)
        names = np.asarray(x.line_names, dtype=object)[line]
        label = np.array([f"start:{n}" for n in names], dtype=object)
        self.rows.add(patients, t, "therapy", label, "", -1, (line + 1).astype(float))
        self.active[patients] = line
        self.next_line[patients] += 1
        # A first line: the lesions had are followed for eradication from now on, from
        # their next possible day (before any line their survival factor is 1, so
        # ``met_cells`` are their untreated sizes at t, the bound of the next interval).
        self._postpone(self.k, met, self._survival_due(t, met, np.maximum(met_cells, 1.0)))
        # RECIST: a new baseline, from this day's scan if there is one.
        self.progressed[patients] = False
        self.chosen[patients] = False
        self.targets[patients] = -1
        self.nadir[patients] = np.inf
        self.baseline[patients] = scanned
        if scanned:
            mask = np.zeros(x.n_patients, dtype=bool)
            mask[patients] = True
            n_distant = np.bincount(x.pat[distant], minlength=x.n_patients)
            self._choose_targets(patients[n_distant[patients] > 0], distant)
            total = self._target_sum()
            measured = mask & self.chosen & (self.targets >= 0).any(axis=1)
            self.nadir[measured] = total[measured]

    # -- the result ----------------------------------------------------------------------
    def _finish(self) -> BatchCourse:
        x = self.x
        end = np.where(np.isnan(self.death_day), x.horizon, self.death_day)
        final = x.final_cells(end)
        pairs = _pairs(x, self.detected)
        lines = np.argwhere(np.isfinite(x.line_start))
        pat, k = lines[:, 0], lines[:, 1]
        end_day = x.line_end[pat, k]
        therapy = pd.DataFrame({
            "patient": pat.astype(np.int64), "line": (k + 1).astype(np.int64),
            "regimen": np.asarray(x.line_names, dtype=object)[k],
            "kind": np.asarray(x.line_kinds, dtype=object)[k],
            "start_day": x.line_start[pat, k],
            "end_day": np.where(np.isinf(end_day), np.nan, end_day),
            "end_reason": self.end_reason[pat, k]})
        eradicated = _pairs(x, np.isfinite(x.eradicated))
        eradicated["day"] = x.eradicated[np.isfinite(x.eradicated)]
        return BatchCourse(
            observations=self.rows.table(), death_day=self.death_day,
            death_cause=self.death_cause, progression_day=self.progression_day,
            progression_reason=self.progression_reason, first_detection_day=self.first,
            cutoff=x.cutoff.copy(), horizon_days=np.full(x.n_patients, x.horizon),
            therapy=therapy, lesion_offsets=x.offsets.copy(), final_cells=final,
            detected=pairs, prevented=_pairs(x, ~x.kept), eradicated=eradicated,
            _eradicated_day=x.eradicated.copy(), _resistant=x.resistant,
            _lesions=x)


def _later(t: float, room: FloatArray, rate: FloatArray) -> FloatArray:
    """The day a log bound ``room`` above its threshold at ``t`` may reach it at ``rate``.

    Never (inf) if it does not fall (rate 0) and is above; ``t`` or before if it is not.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = t + room / rate
    out[np.isnan(out)] = -np.inf  # rate 0 and no room
    return out


def _pairs(x: Lesions, mask: BoolArray) -> pd.DataFrame:
    """(patient, lesion id) of the lesions in ``mask``."""
    ids = np.nonzero(mask)[0]
    pat = x.pat[ids]
    return pd.DataFrame({"patient": pat, "lesion": ids - x.offsets[pat]})


def _first_event(events: dict[str, BoolArray], allowed: Sequence[str],
                 ) -> NDArray[np.object_]:
    """Per patient, the first event (in ``events`` order) that is ``allowed``, else ``""``."""
    n = len(next(iter(events.values())))
    out = np.full(n, "", dtype=object)
    for name in reversed(list(events)):
        if name in allowed:
            out[events[name]] = name
    return out


def _rank_in_runs(keys: IntArray) -> IntArray:
    """Position of each element within its run of equal ``keys`` (sorted by key)."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, keys[1:] != keys[:-1]]
    index = np.arange(n, dtype=np.int64)
    return index - np.maximum.accumulate(np.where(start, index, 0))
