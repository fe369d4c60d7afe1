"""The clinical course of one simulated patient: scans, blood draws, stage, progression, death.

:func:`follow` reads a :class:`~metacascade.engine.result.Result` (whose tumour sizes are
closed forms of time) and the scenario's ``clinic`` section, and returns a
:class:`ClinicalCourse`:

* **Death** comes at the first time (weekly grid, :data:`DEATH_GRID_DAYS`) when the total
  tumour burden (primary and every colony) reaches ``lethal_burden_cells`` (about 1e12
  cells, Coumans et al. 2013) or the burden in a vital organ reaches its threshold
  (:data:`VITAL_ORGAN_LETHAL_CELLS`, stated assumptions). Nothing is observed after death.
* **Scans** (:mod:`metacascade.clinic.imaging`) at every scheduled time find each lesion
  present with the modality's probability for its organ and diameter. A patient is
  imaged once a day by one modality: scans of one modality due on one day from several
  schedules are one examination of the union of their regions (:func:`examinations`),
  with one chance to find each lesion and one row for each lesion found.
* **Blood draws** (:mod:`metacascade.clinic.biopsy`) count CTCs in the sample: Poisson
  with mean from the live cells shed at that moment by the primary and every
  vascularised metastasis, routed through the compiled circulation to the draw site.
  The cancer's cut-off (a count per 7.5 mL) classifies each peripheral (arm-vein) draw
  as favourable or unfavourable, its count scaled to 7.5 mL
  (:func:`~metacascade.clinic.biopsy.per_7_5_ml`); a draw from another site (the
  tumour's vein, an organ's) gets no class: the cut-offs were validated in peripheral
  blood only.
* **Stage** is M1 from the first scan that finds a distant lesion (any organ but the
  primary's and the regional lymph nodes); M0 before.
* **Progression** (RECIST 1.1, simplified): after a baseline scan, a distant lesion
  found (by any modality) that no earlier scan found, or a sum of target diameters at
  least 20% and 5 mm above its smallest value so far (the nadir). Targets are up to 5
  distant lesions of >= 10 mm, at most 2 per organ, found by a measuring modality (CT,
  MRI; not a bone scan or PET: :attr:`~metacascade.clinic.imaging.Modality.measures`)
  at the first such scan that finds any; their sum is read only at the measuring scans
  that image their organs. A visit that images none of them does not assess them; one
  that images some is progression if their sum alone is (the others only add to it),
  and sets no nadir. Before therapy the first scan is the baseline; a line of therapy
  takes the scans up to its start if the last is at most 4 weeks before it (its targets
  chosen again, from the last measuring scan among them, else at the next one that
  finds a measurable lesion), else waits for its next scan, which is its baseline
  (:class:`~._course_rules.Recist`). A
  ``progression`` row is written at every such scan, also before therapy (the first
  distant lesion, found after an M0 scan, is one); the course's progression
  (:attr:`ClinicalCourse.progression_day`, progression-free survival) counts only those
  after the *origin*: the start of the first line of therapy, or day 0 when none was
  given, as a cohort's patients table does. So the scan that first finds a distant
  lesion and starts therapy is the line's baseline, not its progression
  (:attr:`ClinicalCourse.first_detection_day` is that scan).
* **Progression-free survival** ends at the first progression after the origin, or at
  death (an event, however long after the last scan: this simple model does not censor
  a death that follows missed assessments), or is censored at the last scan on or after
  the origin (the last tumour assessment, as the FDA and EMA guidances count it; at the
  origin if there was none). Overall survival is censored at the end of follow-up.

The course draws from its own random stream (the result's seed, spawn key 1), so the
engine's draws are the same with and without a clinic, and the same seed gives the same
course.

Observations are one table (:data:`OBSERVATION_COLUMNS`): ``time_days``, ``kind``
(``scan``, ``draw``, ``stage``, ``progression``, ``therapy``, ``death``), ``name``
(modality, draw site, stage, progression reason, ``start:REGIMEN`` or
``stop:REGIMEN:REASON``, death cause), ``organ``, ``lesion`` (colony id, 0 the primary,
-1 none) and ``value`` (a scan: diameter mm of the lesion found, 0 on the one row of a
scan that found none; a draw: the CTC count; a stage: distant lesions found by that
scan; a progression: the sum of the target diameters that visit measured, mm, NaN if it
measured none; therapy: the line's number; death: the burden in cells).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.cancers import get_cancer
from metacascade.clinic._course_rules import Recist, Row, Rules
from metacascade.clinic._patient import Patient
from metacascade.clinic.biopsy import (
    FALSE_POSITIVE_MEAN,
    PERIPHERAL_SITE,
    RECOVERY,
    SAMPLE_VOLUME_ML,
    Circulation,
    is_unfavourable,
    per_7_5_ml,
)
from metacascade.clinic.biopsy import expected_ctc as expected_ctc_mean
from metacascade.clinic.criteria import (
    BOUND_MARGIN,
    DEATH_GRID_DAYS,
    LETHAL_BURDEN,
    PROGRESSION_GROWTH,
    PROGRESSION_MIN_MM,
    TARGET_MIN_MM,
    VITAL_ORGAN_LETHAL_CELLS,
)
from metacascade.clinic.imaging import REGIONS
from metacascade.clinic.therapy import TherapyHistory
from metacascade.engine.growth import colony_cells, primary_cells
from metacascade.engine.limits import MAX_COLONIES, too_many_colonies
from metacascade.engine.result import Result
from metacascade.errors import MetacascadeError, ParameterError, ScenarioError
from metacascade.scenario import (
    Clinic,
    DrawSchedule,
    ScanSchedule,
    Scenario,
    as_scenario,
    schedule_days,
)

# The criteria are importable from here, as before they had their own module.
__all__ = ["BOUND_MARGIN", "DEATH_GRID_DAYS", "LETHAL_BURDEN", "OBSERVATION_COLUMNS",
           "PROGRESSION_GROWTH", "PROGRESSION_MIN_MM", "TARGET_MIN_MM",
           "VITAL_ORGAN_LETHAL_CELLS", "ClinicalCourse", "Examination", "TherapyLine",
           "circulation_for", "course_rng", "examinations", "follow", "scan_days",
           "shedding_by_entry"]

FloatArray = NDArray[np.float64]

OBSERVATION_COLUMNS = ("time_days", "kind", "name", "organ", "lesion", "value")
#: One examination on a scan day: a modality and the regions it images (None: all).
Examination = tuple[str, tuple[str, ...] | None]

@dataclass(frozen=True)
class TherapyLine:
    """One line of therapy as given: ``end_day`` None while it ran to the end of follow-up."""

    line: int
    regimen: str
    kind: str
    start_day: float
    end_day: float | None
    end_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {"line": self.line, "regimen": self.regimen, "kind": self.kind,
                "start_day": self.start_day, "end_day": self.end_day,
                "end_reason": self.end_reason}


@dataclass(frozen=True, eq=False)
class ClinicalCourse:
    """What the clinic saw of one patient, and what therapy did.

    Attributes
    ----------
    observations
        Every observation in time order (:data:`OBSERVATION_COLUMNS`).
    detected
        Colony ids found by any scan (distant or not).
    death_day, death_cause
        Day and cause (``"total"`` or the vital organ) of death, or None.
    progression_day, progression_reason
        First progression (``"new_lesion"`` or ``"target_growth"``) after the origin
        (:attr:`origin_day`), or None.
    first_detection_day
        First scan that found a distant lesion (stage M1), or None.
    horizon_days
        End of follow-up when the patient lives.
    cutoff
        CTC count per 7.5 mL at or above which a peripheral draw is unfavourable.
    therapy
        The lines of therapy given, in order.
    final_cells
        (lesions,) cells in every lesion (the primary first, then colony ``id`` order) at
        :attr:`end_day`, with therapy: 0 for a lesion eradicated or never founded
        because therapy prevented it.
    prevented, eradicated
        Colony ids the treated patient never had (thinned foundings and their
        descendants), and colony ids therapy eradicated.
    history, eradicated_day
        The therapy given (each line's kill rates and resistant shares) and, per lesion,
        the day therapy eradicated it (inf: never), for :meth:`cells_at`.
    draw_volume_ml
        (draws,) the blood volume of each ``draw`` row of :attr:`observations`, in
        their order, mL (None: every draw was 7.5 mL).

    """

    observations: pd.DataFrame
    detected: frozenset[int]
    death_day: float | None
    death_cause: str | None
    progression_day: float | None
    progression_reason: str | None
    first_detection_day: float | None
    horizon_days: float
    cutoff: int
    final_cells: FloatArray = field(repr=False)
    therapy: tuple[TherapyLine, ...] = ()
    prevented: frozenset[int] = frozenset()
    eradicated: frozenset[int] = frozenset()
    history: TherapyHistory | None = field(default=None, repr=False)
    eradicated_day: FloatArray | None = field(default=None, repr=False)
    draw_volume_ml: FloatArray | None = field(default=None, repr=False)

    @property
    def end_day(self) -> float:
        """Death, or the horizon."""
        return self.death_day if self.death_day is not None else self.horizon_days

    @property
    def origin_day(self) -> float:
        """The start of the first line of therapy, or day 0 if none was given.

        Progression is counted after it (:attr:`progression_day`), as a cohort's
        patients table counts it (there, times also run from it).
        """
        return self.therapy[0].start_day if self.therapy else 0.0

    def draws(self) -> pd.DataFrame:
        """Blood draws, one row each, in time order.

        ``time_days``, ``site``, ``count`` (CTCs counted in the sample), ``volume_ml``
        (the sample's volume), ``per_7_5_ml`` (the count scaled to 7.5 mL, the unit of
        the cut-off) and ``unfavourable`` (nullable boolean: ``per_7_5_ml`` at or above
        :attr:`cutoff` for a peripheral draw, from the arm vein; NA for a draw from
        another site, where the cut-offs do not apply).
        """
        obs = self.observations[self.observations["kind"] == "draw"]
        count = obs["value"].round().astype(np.int64).to_numpy()
        volume = (np.full(len(obs), SAMPLE_VOLUME_ML) if self.draw_volume_ml is None
                  else np.asarray(self.draw_volume_ml, dtype=np.float64))
        if volume.shape != count.shape:
            raise ParameterError(f"draw_volume_ml: {volume.size} volumes for {count.size} "
                                 "draws; give one per draw row of the observations")
        site = obs["name"].to_numpy()
        scaled = per_7_5_ml(count, volume)
        flag = pd.array(scaled >= self.cutoff, dtype="boolean")
        flag[site != PERIPHERAL_SITE] = pd.NA
        return pd.DataFrame({"time_days": obs["time_days"].to_numpy(), "site": site,
                             "count": count, "volume_ml": volume, "per_7_5_ml": scaled,
                             "unfavourable": flag})

    def cells_at(self, result: Result, t_days: float) -> FloatArray:
        """(lesions,) cells in every lesion at ``t_days``, with therapy applied.

        The primary comes first, then the colonies in ``id`` order, as in
        :attr:`final_cells` (which this equals at :attr:`end_day`). A lesion's size is its
        untreated closed form (:mod:`metacascade.engine.growth`) times the therapy's
        survival factor :math:`S_i(t)` (:meth:`TherapyHistory.survival`); it is 0 before
        its founding, from the day therapy eradicated it, and always for a colony the
        treated patient never had. ``result`` is the result this course followed.
        """
        model, raw = result.model, result.raw
        cells = np.concatenate([np.atleast_1d(primary_cells(model, t_days)),
                                colony_cells(model, t_days, raw.founded, raw.w, raw.switch)])
        if len(cells) != len(self.final_cells):
            raise ParameterError("cells_at: the result is not the one this course followed")
        if self.history is not None and self.history.periods:
            cells = cells * self.history.survival(t_days)
        if self.eradicated_day is not None:
            cells = np.where(self.eradicated_day <= t_days, 0.0, cells)
        if self.prevented:
            cells[np.fromiter(self.prevented, dtype=np.int64)] = 0.0
        return np.asarray(cells, dtype=float)

    def therapy_spans(self) -> list[tuple[float, float, str]]:
        """(start, end, regimen) of every line, for :func:`~metacascade.plots.plot_ctc`."""
        spans = [(line.start_day, self.end_day if line.end_day is None else line.end_day,
                  line.regimen) for line in self.therapy]
        return [span for span in spans if span[1] > span[0]]

    def last_scan_day(self) -> float | None:
        """The last scan on or after :attr:`origin_day` (the last tumour assessment), or None."""
        obs = self.observations
        times = obs["time_days"][(obs["kind"] == "scan") & (obs["time_days"] >= self.origin_day)]
        return float(times.max()) if len(times) else None

    def progression_free_survival(self) -> tuple[float, bool]:
        """(day, censored): the end of progression-free survival, in days from day 0.

        The first progression after the origin (:attr:`progression_day`), else death,
        both events; else censored at the last scan on or after the origin
        (:meth:`last_scan_day`), or at the origin without one.
        """
        if self.progression_day is not None:
            return self.progression_day, False
        if self.death_day is not None:
            return self.death_day, False
        last = self.last_scan_day()
        return (self.origin_day if last is None else last), True

    def summary(self) -> dict[str, Any]:
        """Plain data for the ``clinical`` block of ``summary.json``.

        Progression (``progression_day``, ``progressions``, progression-free survival)
        counts only progressions after ``origin_day`` (:attr:`origin_day`); the
        ``progression`` rows of the observations before it (the first distant lesion,
        which starts therapy at M1) are not. Survival is in days from day 0.
        """
        obs = self.observations
        stages = obs[obs["kind"] == "stage"]
        draws = self.draws()
        dead = self.death_day is not None
        pfs_end, pfs_censored = self.progression_free_survival()
        progressions = obs[(obs["kind"] == "progression")
                           & (obs["time_days"] > self.origin_day)]
        return {
            "stage_over_time": [{"time_days": float(t), "stage": str(s)}
                                for t, s in zip(stages["time_days"], stages["name"],
                                                strict=True)],
            "first_detection_day": self.first_detection_day,
            "ctc_cutoff": self.cutoff,
            "ctc_draws": [{"time_days": float(t), "site": str(site), "count": int(c),
                           "volume_ml": float(v), "per_7_5_ml": float(scaled),
                           "unfavourable": None if u is pd.NA else bool(u)}
                          for t, site, c, v, scaled, u in draws.itertuples(index=False)],
            "scans": int((obs["kind"] == "scan").groupby(obs["time_days"]).any().sum()),
            "lesions_detected": len(self.detected),
            "progressions": [{"time_days": float(t), "reason": str(r)}
                             for t, r in zip(progressions["time_days"], progressions["name"],
                                             strict=True)],
            "origin_day": self.origin_day,
            "progression_day": self.progression_day,
            "progression_reason": self.progression_reason,
            "therapy": [line.to_dict() for line in self.therapy],
            "colonies_prevented_by_therapy": len(self.prevented),
            "colonies_eradicated_by_therapy": len(self.eradicated),
            "death_day": self.death_day,
            "death_cause": self.death_cause,
            "overall_survival_days": self.end_day,
            "overall_survival_censored": not dead,
            "progression_free_survival_days": pfs_end,
            "progression_free_survival_censored": pfs_censored,
        }


def course_rng(seed: int) -> np.random.Generator:
    """The clinic's random stream for a result's seed (independent of the engine's)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


_KIND_ORDER = {"stage": 0, "scan": 1, "draw": 2, "progression": 3, "therapy": 4, "death": 5}


#: Scenario fields the natural history does not read: a result may be followed (and
#: written) with others. (The clinic's surgery day is read: it stops the shedding.)
_NOT_SIMULATED = frozenset({"clinic", "embolus", "seed", "body"})
#: The cancer overrides only the clinic reads.
_CLINIC_OVERRIDES = frozenset({"ctc_cutoff"})


def check_same_patient(result: Result, scenario: Scenario) -> None:
    """Refuse a scenario other than the one ``result`` simulated, but for its clinic.

    Every field the natural history reads must be the simulated one's: the cancer, the
    body (a body left out is the cancer's default), overrides (but the CTC cut-off),
    horizon, step, primary size, and the clinic's surgery day. The rest of the clinic may
    differ: following one natural history under several clinics is what ``clinic`` is
    for.
    """
    _check_simulated(result.provenance.get("scenario"), scenario)


def _check_simulated(simulated: Mapping[str, Any] | None, scenario: Scenario, *,
                     what: str = "scenario", whose: str = "the simulated patient's",
                     ) -> None:
    """:func:`check_same_patient` against the plain data of the scenario simulated.

    ``simulated``: what the engine ran (a result's provenance, a compiled model's
    ``scenario``; nothing is checked without it). ``what`` names the argument, ``whose``
    the patient (:func:`~metacascade.clinic.batch.follow_batch` names each).
    """
    if not simulated:
        return
    given = scenario.to_dict()
    given, simulated = ({**data, "cancer_overrides": {
        k: v for k, v in (data.get("cancer_overrides") or {}).items()
        if k not in _CLINIC_OVERRIDES}} for data in (given, simulated))

    def refuse(name: str, value: Any, was: Any) -> None:
        # The data differ; the natural history may not ("80 d" and 80, a catalog value
        # given): what the engines read, the compiled models, decides.
        if _same_natural_history(simulated, scenario):
            return
        raise ScenarioError(f"{what}: {name} {value!r} is not {whose} ({was!r}); follow "
                            "or write a result with the scenario it was simulated from (its "
                            "clinic may differ, but not its surgery_day)")

    for name in sorted((given.keys() | simulated.keys()) - _NOT_SIMULATED):
        if given.get(name) != simulated.get(name):
            return refuse(name, given.get(name), simulated.get(name))
    body, was = (data.get("body") or get_cancer(data["cancer"]).default_body
                 for data in (given, simulated))
    if body != was:
        return refuse("body", body, was)
    surgery, was = ((data.get("clinic") or {}).get("surgery_day")
                    for data in (given, simulated))
    if surgery != was:
        return refuse("clinic.surgery_day", surgery, was)
    return None


def _day_or_none(day: float) -> float | None:
    return None if math.isinf(day) else day


def _same_natural_history(simulated: Mapping[str, Any], scenario: Scenario) -> bool:
    """Whether ``scenario`` compiles to the model the plain data ``simulated`` compiles to.

    Every field of the compiled models but the scenario they record and its citations:
    the numbers and arrays the engines read.
    """
    from metacascade.engine.compile import CompiledModel, compile_scenario

    try:
        before = compile_scenario(Scenario.from_dict(dict(simulated)))
    except MetacascadeError:  # (data of another version that no longer reads)
        return False
    now = compile_scenario(scenario)
    for item in dataclass_fields(CompiledModel):
        if item.name in ("scenario", "citations"):
            continue
        a, b = getattr(before, item.name), getattr(now, item.name)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                    and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)):
                return False
        elif a != b:
            return False
    return True


def follow(result: Result, scenario: Scenario | Mapping[str, Any], *,
           clinic: Clinic | Mapping[str, Any] | None = None) -> ClinicalCourse:
    """Follow a simulated patient through the scenario's clinic (or ``clinic``).

    Time runs forward from one decision (a scan, a draw, a therapy start or stop day) to
    the next; between two decisions therapy is fixed, so the patient's lesions are
    closed forms of time and death is checked on the weekly grid. At a decision the
    scans and draws are made, stage and progression updated, and the therapy rules
    applied to what was just seen.

    Parameters
    ----------
    result
        The patient's untreated natural history: what :func:`metacascade.simulate`
        returned for ``scenario``.
    scenario
        The scenario ``result`` came from (a :class:`~metacascade.scenario.Scenario` or
        its plain data): its circulation gives the CTC draws, its cancer the cut-off.
    clinic
        A :class:`~metacascade.scenario.Clinic` or its plain data, replacing the
        scenario's. With neither, there are no scans, draws or therapy, and the patient
        is followed to death or the horizon.

    Returns
    -------
    ClinicalCourse
        Drawn from its own stream of the result's seed (:func:`course_rng`), so the
        same result and scenario always give the same course.

    Raises
    ------
    ScenarioError
        If ``scenario`` is not the one ``result`` was simulated from (its clinic may
        differ, but not its surgery day): :func:`check_same_patient`.
    EngineError
        If the engine ended the patient's history at its colony limit
        (``result.history_end_day``) and the patient is still alive then: the course
        would miss the colonies the engine did not found. (One that dies by then is
        followed as any other: everything up to that day is exact.)

    """
    if not isinstance(result, Result):
        raise TypeError(f"result: expected a Result (from metacascade.simulate), not "
                        f"{type(result).__name__}")
    scenario = as_scenario(scenario)
    check_same_patient(result, scenario)
    if clinic is not None and not isinstance(clinic, (Clinic, Mapping)):
        raise ScenarioError(f"clinic: expected a Clinic or a mapping of its fields, "
                            f"not {type(clinic).__name__}")
    given: Clinic | None = None
    if clinic is not None:  # (checked with the scenario: its horizon, its surgery day)
        if isinstance(clinic, Mapping):
            given = Scenario.from_dict({**scenario.to_dict(), "clinic": dict(clinic)}).clinic
        else:
            given = scenario.model_copy(update={"clinic": clinic}).clinic
    if given is not None:  # (its surgery stops the shedding: the engine's to decide)
        surgery = math.inf if given.surgery_day is None else given.surgery_day
        if surgery != result.model.primary_removed_day:
            raise ScenarioError(
                f"clinic: surgery_day {given.surgery_day!r} is not the simulated "
                f"patient's ({_day_or_none(result.model.primary_removed_day)!r}); surgery "
                "changes the natural history: simulate the scenario with it")
    followed = given if given is not None else scenario.clinic
    clinic = followed if followed is not None else Clinic()
    model = result.model
    horizon = model.horizon_days
    rng = course_rng(result.seed)
    patient = Patient(result, clinic, rng)
    scans = scan_days(clinic, horizon)
    draws: dict[float, list[DrawSchedule]] = {}
    for draw in clinic.draws:
        for t in schedule_days(draw.start_day, draw.every_weeks, draw.stop_day, horizon):
            draws.setdefault(t, []).append(draw)
    plan = clinic.therapy
    rules = Rules(plan, patient) if plan is not None else None
    decided = set(scans) | set(draws) | ({d for d in (plan.start_day, plan.stop_day)
                                          if d is not None and d <= horizon} if plan else set())
    decisions = sorted(decided)
    circulation = circulation_for(scenario) if draws else None
    if circulation is not None and circulation.entries != model.entries:
        raise ParameterError("clinic: the circulation's entries differ from the model's")
    # The resolved cancer: ``cancer_overrides.ctc_cutoff`` applies.
    recist = Recist(patient, int(scenario.resolve()[1].ctc_cutoff.value))
    rows: list[Row] = []
    volumes: list[float] = []  # of the draws, in the order their rows were made
    death: tuple[float, str, float] | None = None
    previous = -math.inf
    for t in [*decisions, horizon]:
        death = patient.advance(previous, t)
        if death is not None or (t >= horizon and t not in decided):
            break
        found = measured = np.zeros(0, dtype=np.int64)
        covered = np.zeros(len(model.organs), dtype=bool)
        for exam in scans.get(t, ()):
            seen = _scan(patient, exam, t, rng, rows)
            found = np.union1d(found, seen)
            detector = patient.detector(*exam)
            if detector.measures:
                measured = np.union1d(measured, seen)
                covered |= detector.covers
        unfavourable = False
        for draw in draws.get(t, ()):
            assert circulation is not None
            count = _draw(patient, circulation, draw, t, rng, rows)
            volumes.append(draw.volume_ml)
            unfavourable |= bool(draw.site == PERIPHERAL_SITE and is_unfavourable(
                count, recist.cutoff, volume_ml=draw.volume_ml))
        progressed = recist.scan(t, found, measured, covered, rows) if t in scans else None
        if rules is not None:
            rules.apply(t, progressed is not None, unfavourable, recist, rows)
        previous = t
    if rules is not None and death is not None:
        patient.therapy.stop(death[0], "death")
        patient.changed()
    end = death[0] if death is not None else horizon
    if end > result.history_end_day:  # alive where the engine founded no more colonies
        raise too_many_colonies(MAX_COLONIES, result.history_end_day)
    if death is not None:
        rows.append((death[0], "death", death[1],
                     death[1] if death[1] != "total" else "", -1, death[2]))
    observations = _observation_table(rows)
    lines = tuple(TherapyLine(line=p.line, regimen=p.regimen.name, kind=p.regimen.kind,
                              start_day=p.start_day,
                              end_day=None if math.isinf(p.end_day) else p.end_day,
                              end_reason=p.end_reason)
                  for p in patient.therapy.periods)
    progression_day, progression_reason = first_progression(
        observations, lines[0].start_day if lines else 0.0)
    return ClinicalCourse(
        observations=observations, detected=frozenset(recist.detected),
        death_day=None if death is None else death[0],
        death_cause=None if death is None else death[1],
        progression_day=progression_day, progression_reason=progression_reason,
        first_detection_day=recist.first, horizon_days=horizon, cutoff=recist.cutoff,
        therapy=lines, final_cells=patient.cells(end),
        prevented=frozenset(np.nonzero(~patient.kept)[0].tolist()),
        eradicated=frozenset(np.nonzero(np.isfinite(patient.eradicated))[0].tolist()),
        history=patient.therapy, eradicated_day=patient.eradicated.copy(),
        # The draw rows keep the order they were made in (a stable sort, in time order).
        draw_volume_ml=np.array(volumes, dtype=np.float64))


def first_progression(observations: pd.DataFrame, origin_day: float,
                      ) -> tuple[float | None, str | None]:
    """(day, reason) of the first ``progression`` row after ``origin_day``, or Nones.

    ``origin_day``: the start of the first line of therapy, or 0 without one
    (:attr:`ClinicalCourse.origin_day`).
    """
    rows = observations[(observations["kind"] == "progression")
                        & (observations["time_days"] > origin_day)]
    if rows.empty:
        return None, None
    return float(rows["time_days"].iloc[0]), str(rows["name"].iloc[0])



def _observation_table(rows: list[Row]) -> pd.DataFrame:
    """The rows as a table in time order.

    At one time rows go by kind (:data:`_KIND_ORDER`), then lesion, else in the order
    they were made (a stable sort).
    """
    time_days, kind, name, organ, lesion, value = (
        zip(*rows, strict=True) if rows else ((),) * len(OBSERVATION_COLUMNS))
    order = np.lexsort((np.array(lesion, dtype=np.int64),
                        np.array([_KIND_ORDER[k] for k in kind], dtype=np.int64),
                        np.array(time_days, dtype=np.float64)))

    def text(values: tuple[str, ...]) -> NDArray[np.object_]:
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column[order]

    return pd.DataFrame({
        "time_days": np.array(time_days, dtype=np.float64)[order], "kind": text(kind),
        "name": text(name), "organ": text(organ),
        "lesion": np.array(lesion, dtype=np.int64)[order],
        "value": np.array(value, dtype=np.float64)[order]}, columns=list(OBSERVATION_COLUMNS))




def examinations(scans: Iterable[ScanSchedule]) -> list[Examination]:
    """The examinations of the scans due on one day: one per modality.

    A patient is not imaged twice on one day by one modality: the scans of a modality
    from several schedules are one examination of the union of their regions (every
    region the modality sees if one of them is not restricted), in the order of each
    modality's first schedule; the regions in :data:`~.imaging.REGIONS` order.
    """
    regions: dict[str, set[str] | None] = {}
    for scan in scans:
        given = None if scan.regions is None else set(scan.regions)
        if scan.modality in regions:
            before = regions[scan.modality]
            given = None if before is None or given is None else before | given
        regions[scan.modality] = given
    return [(modality, None if chosen is None else tuple(r for r in REGIONS if r in chosen))
            for modality, chosen in regions.items()]


def scan_days(clinic: Clinic, horizon: float) -> dict[float, list[Examination]]:
    """Every scan day of ``clinic`` up to ``horizon`` and its :func:`examinations`."""
    due: dict[float, list[ScanSchedule]] = {}
    for scan in clinic.scans:
        for t in schedule_days(scan.start_day, scan.every_weeks, scan.stop_day, horizon):
            due.setdefault(t, []).append(scan)
    return {t: examinations(scans) for t, scans in due.items()}


def _scan(patient: Patient, exam: Examination, t: float, rng: np.random.Generator,
          rows: list[Row]) -> NDArray[np.int64]:
    """One examination: the lesions it finds (and a row for each, or one row for none)."""
    diameter = patient.diameter_mm(t)
    present = np.nonzero(diameter > 0)[0]
    p = patient.detector(*exam).probability(patient.organ[present], diameter[present])
    found = present[rng.random(present.size) < p]
    for i in found.tolist():
        rows.append((t, "scan", exam[0], str(patient.organs[patient.organ[i]]), i,
                     float(diameter[i])))
    if found.size == 0:
        rows.append((t, "scan", exam[0], "", -1, 0.0))
    return found


def circulation_for(scenario: Scenario) -> Circulation:
    """The circulation (with the cancer's emboli) of a scenario's resolved body."""
    body, cancer = scenario.resolve()
    return Circulation.for_cancer(cancer, body, cascade=scenario.cascade(),
                                  vertebral_plexus=scenario.vertebral_plexus)


def shedding_by_entry(result: Result, t: float, cells: FloatArray | None = None,
                      ) -> FloatArray:
    """(entries,) cells shed per day at ``t`` by the primary and vascularised colonies.

    ``cells`` (lesions,) are the lesions' sizes at ``t`` (the primary first); by default
    the untreated sizes of the result.
    """
    model, raw = result.model, result.raw
    if cells is None:
        cells = np.concatenate([np.atleast_1d(primary_cells(model, t)),
                                colony_cells(model, t, raw.founded, raw.w, raw.switch)])
    rates = np.zeros(len(model.entries))
    primary = model.shedding_per_cell_per_day * float(cells[0])
    rates[model.primary_entry] += (1.0 - model.lymphatic_share) * primary
    rates[model.lymph_entry] += model.lymphatic_share * primary
    vascular = (raw.switch <= t) & (raw.founded <= t) & (cells[1:] > 0)
    if vascular.any():
        np.add.at(rates, model.organ_entry[raw.organ[vascular]],
                  model.shedding_per_cell_per_day * cells[1:][vascular])
    return rates


def _draw(patient: Patient, circulation: Circulation, draw: DrawSchedule, t: float,
          rng: np.random.Generator, rows: list[Row]) -> int:
    """One blood draw: the CTC count (Poisson with the closed-form mean)."""
    history = patient.therapy
    rates = shedding_by_entry(patient.result, t, patient.seen(t))
    rates *= history.shedding_factor() * history.ctc_survival()
    mean = expected_ctc_mean(
        rates[None, :], circulation, draw_site=draw.site, volume_ml=draw.volume_ml,
        recovery=RECOVERY.value if draw.recovery is None else draw.recovery,
        false_positive_mean=(FALSE_POSITIVE_MEAN.value if draw.false_positive_mean is None
                             else draw.false_positive_mean))
    count = int(rng.poisson(float(np.asarray(mean).reshape(-1)[0])))
    rows.append((t, "draw", draw.site, "", -1, float(count)))
    return count

