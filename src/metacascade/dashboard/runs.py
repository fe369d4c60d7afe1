"""What the dashboard runs, without Panel: scenarios from the controls, runs, key numbers.

The dashboard's controls become a plain :class:`Inputs`; :func:`build_scenario` turns it
into a :class:`~metacascade.scenario.Scenario` with the dashboard's clinic
(:data:`SCANS`, :data:`DRAWS` and, if a therapy kind is chosen, one line of it started
when the stage becomes M1). A single patient is simulated and followed exactly as
``metacascade simulate`` does (:func:`metacascade.simulate`, then
:func:`metacascade.clinic.course.follow`); a cohort is run by
:func:`metacascade.cohort.simulate_cohort` into a temporary directory, one patient per
shard, so that a cancel request is honoured between patients.

Everything here raises :class:`~metacascade.errors.MetacascadeError` for bad input;
the app shows its message.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from metacascade.cancers.catalog import get_cancer, list_cancers
from metacascade.clinic.course import ClinicalCourse, follow
from metacascade.engine.result import Result
from metacascade.errors import MetacascadeError
from metacascade.physiology import get_body, list_bodies
from metacascade.scenario import Scenario

#: Therapy choices: none, or one line of a regimen kind (its default effects).
THERAPIES = ("none", "cytotoxic", "targeted", "immunotherapy")
#: The dashboard's clinic: a CT every 12 weeks and an arm-vein CTC draw every 4 weeks,
#: both from day 0 (so every patient has a baseline count at the origin).
SCANS: tuple[dict[str, Any], ...] = ({"modality": "ct", "every_weeks": 12},)
DRAWS: tuple[dict[str, Any], ...] = ({"every_weeks": 4, "site": "arm_vein"},)
#: Patients a cohort may have in the dashboard (the CLI runs larger cohorts).
MAX_PATIENTS = 500
#: Smallest lesion drawn on the body map, mm (as in ``body.png``).
BODY_MIN_DIAMETER_MM = 0.2

Mode = Literal["patient", "cohort"]


class RunCancelled(MetacascadeError):
    """The user cancelled a cohort; ``done`` patients had finished."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"cancelled after {done} of {total} patients")
        self.done, self.total = done, total


@dataclass(frozen=True)
class Inputs:
    """The dashboard's controls.

    Attributes
    ----------
    cancer, body
        Names from the catalogs (``body`` None: the cancer's default body).
    therapy
        One of :data:`THERAPIES`.
    seed
        Seed of the patient (single run) or of the cohort.
    horizon_years
        Follow-up, years, in (0, 100].
    mode
        ``"patient"`` or ``"cohort"``.
    patients
        Cohort size, 1 to :data:`MAX_PATIENTS` (cohort mode only).

    """

    cancer: str
    body: str | None = None
    therapy: str = "none"
    seed: int = 1
    horizon_years: float = 10.0
    mode: Mode = "patient"
    patients: int = 20


def cancer_names() -> tuple[str, ...]:
    """The registered cancer types, in catalog order."""
    return list_cancers()


def compatible_bodies(cancer: str) -> list[str]:
    """Bodies that can carry ``cancer``, its default body first."""
    kind = get_cancer(cancer)
    names = [kind.default_body]
    for name in list_bodies():
        body = get_body(name)
        if name not in names and kind.primary_organ in body.beds and body.sex in kind.sexes:
            names.append(name)
    return names


def scenario_data(inputs: Inputs) -> dict[str, Any]:
    """Plain scenario data (as in a scenario file) for the controls."""
    if inputs.therapy not in THERAPIES:
        raise MetacascadeError(f"therapy: unknown choice {inputs.therapy!r}; allowed: "
                               f"{', '.join(THERAPIES)}")
    clinic: dict[str, Any] = {"scans": [dict(s) for s in SCANS],
                              "draws": [dict(d) for d in DRAWS]}
    if inputs.therapy != "none":
        clinic["therapy"] = {"start_at_m1": True, "lines": [{"kind": inputs.therapy}]}
    data: dict[str, Any] = {"cancer": inputs.cancer, "horizon_years": inputs.horizon_years,
                            "seed": inputs.seed, "clinic": clinic}
    if inputs.body:
        data["body"] = inputs.body
    return data


def build_scenario(inputs: Inputs) -> Scenario:
    """The scenario of the controls; ScenarioError names a bad field."""
    if inputs.mode not in ("patient", "cohort"):
        raise MetacascadeError(f"mode: {inputs.mode!r} must be 'patient' or 'cohort'")
    if inputs.mode == "cohort" and not 1 <= inputs.patients <= MAX_PATIENTS:
        raise MetacascadeError(f"patients: {inputs.patients} must be in 1..{MAX_PATIENTS}")
    return Scenario.from_dict(scenario_data(inputs))


# -- one patient ---------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PatientRun:
    """A simulated and followed patient, and the scenario that made it."""

    scenario: Scenario
    result: Result
    course: ClinicalCourse

    @property
    def end_day(self) -> float:
        """Death, or the horizon: the last day the body map can show."""
        return self.course.end_day


def run_patient(inputs: Inputs) -> PatientRun:
    """Simulate and follow one patient, as ``metacascade simulate`` does."""
    from metacascade.engine.kernel import simulate

    scenario = build_scenario(inputs)
    result = simulate(scenario)
    return PatientRun(scenario=scenario, result=result, course=follow(result, scenario))


def key_numbers(run: PatientRun) -> dict[str, Any]:
    """The numbers the page shows, by key (None: did not happen).

    ``colonies`` founded and ``macrometastases``, both by the horizon (or by the day a
    history ended at the colony limit is counted to: ``Result.counted_to_day``), distant
    and regional
    ``metastases_detected`` (colonies found by any scan), ``m1_day`` (first scan that
    found a distant lesion), ``last_ctc`` and ``last_draw_day`` (the last arm-vein
    draw), ``death_day``, ``therapy_lines`` given, and the ``seed``.
    """
    course = run.course
    draws = course.draws()
    arm = draws[draws["site"] == "arm_vein"]
    last = arm.iloc[-1] if len(arm) else None
    return {
        "colonies": len(run.result.counted_colonies()),
        "macrometastases": len(run.result.macrometastases()),
        "metastases_detected": sum(1 for i in course.detected if i > 0),
        "m1_day": course.first_detection_day,
        "last_ctc": None if last is None else int(last["count"]),
        "last_draw_day": None if last is None else float(last["time_days"]),
        "ctc_cutoff": course.cutoff,
        "death_day": course.death_day,
        "therapy_lines": len(course.therapy),
        "seed": run.result.seed,
    }


def lesions_at(run: PatientRun, day: float) -> pd.DataFrame:
    """Colonies of at least :data:`BODY_MIN_DIAMETER_MM` at ``day``, for the body map.

    Sizes are :meth:`ClinicalCourse.cells_at` (the closed-form growth of each colony,
    with therapy applied); a lesion is ``detected`` once a scan on or before ``day`` has
    found it. Columns as :func:`metacascade.plots.plot_body` reads them.
    """
    result, course = run.result, run.course
    model = result.model
    diameter = model.diameter_mm(course.cells_at(result, day)[1:])
    colonies = result.colonies
    keep = diameter >= BODY_MIN_DIAMETER_MM
    obs = course.observations
    seen = obs[(obs["kind"] == "scan") & (obs["lesion"] > 0) & (obs["time_days"] <= day)]
    surface = (colonies["depth"] == "surface").to_numpy()
    return pd.DataFrame({
        "organ": colonies["organ"].to_numpy()[keep],
        "diameter_mm": diameter[keep],
        "detected": colonies["id"].isin(seen["lesion"]).to_numpy()[keep],
        "umbilicated": (surface & (diameter > model.necrosis_diameter_mm))[keep],
        "depth": colonies["depth"].to_numpy()[keep],
    })


# -- a cohort ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CohortRun:
    """The tables of a finished dashboard cohort."""

    inputs: Inputs
    patients: pd.DataFrame
    colonies: pd.DataFrame


Progress = Callable[[int, int], None]


class _StoppableExecutor:
    """Runs shards one after another in this process; stops between them on request."""

    def __init__(self, cancel: threading.Event, progress: Progress | None, total: int) -> None:
        self.cancel, self.progress, self.total = cancel, progress, total

    def run(self, fn: Callable[[Any], int], shards: Sequence[Any]) -> Iterator[int]:
        """Run every shard unless cancelled; report patients done after each."""
        done = 0
        for shard in shards:
            if self.cancel.is_set():
                raise RunCancelled(done, self.total)
            index = fn(shard)
            done += shard.stop - shard.start
            if self.progress is not None:
                self.progress(done, self.total)
            yield index


def run_cohort(inputs: Inputs, *, cancel: threading.Event | None = None,
               progress: Progress | None = None) -> CohortRun:
    """Simulate a cohort of ``inputs.patients`` (cohort seed ``inputs.seed``).

    Patients differ by their random streams only. Raises :class:`RunCancelled` when
    ``cancel`` is set (checked before each patient); ``progress(done, total)`` is
    called after each patient. The cohort's directory is temporary.
    """
    from metacascade.cohort import Population, simulate_cohort

    scenario = build_scenario(inputs)
    population = Population(scenario.to_dict())
    executor = _StoppableExecutor(cancel or threading.Event(), progress, inputs.patients)
    out = tempfile.mkdtemp(prefix="metacascade-dashboard-")
    try:
        cohort = simulate_cohort(population, inputs.patients, seed=inputs.seed, out=out,
                                 executor=executor, shard_size=1, progress=False,
                                 engine="patient")
        return CohortRun(inputs=inputs, patients=cohort.table("patients"),
                         colonies=cohort.table("colonies"))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def cohort_numbers(run: CohortRun) -> dict[str, Any]:
    """Patients, enrolled, unfavourable at baseline, deaths, median overall survival.

    The median (days from the origin, None if not reached) is the Kaplan-Meier median of
    the enrolled patients (:func:`metacascade.analysis.median_survival`).
    """
    from metacascade.analysis.survival import median_survival

    patients = run.patients
    enrolled = patients["enrolled"].astype(bool)
    unfavourable = enrolled & (patients["baseline_ctc"] >= patients["ctc_cutoff"])
    median = None
    if enrolled.any():
        everyone = patients.loc[enrolled].assign(cohort="all")
        median = median_survival(everyone, "os", by="cohort")["all"].median_days
    return {
        "patients": len(patients),
        "enrolled": int(enrolled.sum()),
        "unfavourable": int(unfavourable.sum()),
        "deaths": int(patients["os_event"].astype(bool).sum()),
        "median_os_days": median,
    }


def organ_table(run: CohortRun) -> pd.DataFrame:
    """Organ involvement at death (or end of follow-up) beside the autopsy series.

    :func:`metacascade.analysis.involvement` of the patients' body, organs with any
    simulated or autopsy involvement, most often involved first; an organ marked as
    the organ figures mark it ("(primary)", "(not fitted)").
    """
    from metacascade.analysis.autopsy import involvement
    from metacascade.plots.cohort import organ_label

    table = involvement(run.patients, run.colonies, body=run.inputs.body or None)
    shown = table[(table["n_involved"] > 0) | (table["disibio_share"].fillna(0) > 0)]
    shown = shown.sort_values(["share", "disibio_share"], ascending=False, kind="stable")
    return pd.DataFrame({
        "organ": [organ_label(o, p, f or pd.isna(d)) for o, p, f, d in zip(
            shown["organ"], shown["primary_site"], shown["calibration_target"],
            shown["disibio_share"], strict=True)],
        "patients involved": [f"{k}/{n}" for k, n in zip(shown["n_involved"],
                                                        shown["n_patients"], strict=True)],
        "share": shown["share"].to_numpy(),
        "autopsy share (diSibio 2008)": shown["disibio_share"].to_numpy(),
        "counted at": shown["basis"].str.replace("_", " ").to_numpy(),
    })


def day_label(day: float | None) -> str:
    """``day 1,234 (3.4 y)``, or an em dash for None."""
    if day is None or (isinstance(day, float) and math.isnan(day)):
        return "\u2014"
    return f"day {day:,.0f} ({day / 365.25:.1f} y)"
