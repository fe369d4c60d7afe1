"""The cohort tables of many patients at once, from flat columns (no loop over patients).

:func:`cohort_tables` turns what the engine and the clinic made for a batch of patients
into the three tables of a shard (``patients``, ``colonies``, ``observations``) with
the same columns and values as :func:`metacascade.cohort.shards.patient_tables` gives one
patient at a time; :func:`courses_columns` makes the flat columns from per-patient
results and courses (the per-patient path, and the check that both agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from metacascade.clinic.biopsy import PERIPHERAL_SITE, per_7_5_ml
from metacascade.clinic.course import OBSERVATION_COLUMNS, ClinicalCourse
from metacascade.engine.batch_result import BatchResult, as_batch
from metacascade.engine.result import Result
from metacascade.scenario import Scenario

if TYPE_CHECKING:
    from metacascade.clinic.batch import BatchCourse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Colonies this large at the end of follow-up are kept in the colonies table, mm.
COLONY_MIN_DIAMETER_MM = 1.0
#: How long before the origin an arm-vein draw still counts as the baseline, days.
BASELINE_WINDOW_DAYS = 28.0

PATIENT_COLUMNS = (
    "patient", "seed", "cancer", "primary_organ", "enrolled", "origin_day", "baseline_ctc",
    "ctc_cutoff", "first_detection_day", "os_days", "os_event", "pfs_days", "pfs_event",
    "death_day", "death_cause", "horizon_days", "colonies_founded", "history_end_day",
    "lines_of_therapy",
)
COLONY_COLUMNS = ("patient", "id", "organ", "parent", "founded_day", "diameter_mm_end",
                  "detected", "first_detected_day")


@dataclass(frozen=True)
class CourseColumns:
    """What the clinic made of a batch of patients, as flat columns.

    Per patient (arrays of the batch's length): ``death_day`` (NaN: alive at the end),
    ``death_cause`` ("" if alive), ``first_detection_day`` (NaN: never), ``cutoff``,
    ``horizon_days``, ``first_line_day`` (start of the first line of therapy, NaN: none)
    and ``lines``. ``observations``: the observations of every patient, with a leading
    ``patient`` column (batch position), each patient's rows in their course's order;
    ``volume_ml``: per row of ``observations``, a draw's blood volume in mL (NaN for
    the other rows). ``final_cells``: every colony's cells at the end of follow-up (with
    therapy), in the order of :func:`colony_columns`.
    """

    death_day: FloatArray
    death_cause: NDArray[np.object_]
    first_detection_day: FloatArray
    cutoff: IntArray
    horizon_days: FloatArray
    first_line_day: FloatArray
    lines: IntArray
    observations: pd.DataFrame
    final_cells: FloatArray
    volume_ml: FloatArray


def colony_columns(results: Sequence[Result] | BatchResult) -> dict[str, NDArray[Any]]:
    """Every colony of the batch, in patient then id order.

    Columns ``patient`` (batch position), ``id``, ``organ`` (index), ``parent``,
    ``founded``.
    """
    batch = as_batch(results)
    patient = batch.patient
    ids = np.arange(patient.size, dtype=np.int64) - batch.offsets[patient] + 1
    return {"patient": patient, "id": ids,
            "organ": batch.colonies["organ"].astype(np.int64),
            "parent": batch.colonies["parent"].astype(np.int64),
            "founded": batch.colonies["founded"].astype(np.float64)}


def courses_columns(results: Sequence[Result], courses: Sequence[ClinicalCourse],
                    ) -> CourseColumns:
    """:class:`CourseColumns` of per-patient courses (one per result)."""
    def opt(values: Sequence[float | None]) -> FloatArray:
        return np.array([math.nan if v is None else v for v in values], dtype=float)

    frames = [c.observations.assign(patient=np.int64(i))[["patient", *OBSERVATION_COLUMNS]]
              for i, c in enumerate(courses)]
    observations = (pd.concat(frames, ignore_index=True) if frames
                    else pd.DataFrame(columns=["patient", *OBSERVATION_COLUMNS]))
    final = [c.final_cells[1:] for c in courses]
    volumes = []
    for c in courses:
        volume = np.full(len(c.observations), math.nan)
        volume[(c.observations["kind"] == "draw").to_numpy()] = c.draws()["volume_ml"]
        volumes.append(volume)
    return CourseColumns(
        death_day=opt([c.death_day for c in courses]),
        death_cause=np.array([c.death_cause or "" for c in courses], dtype=object),
        first_detection_day=opt([c.first_detection_day for c in courses]),
        cutoff=np.array([c.cutoff for c in courses], dtype=np.int64),
        horizon_days=np.array([c.horizon_days for c in courses], dtype=float),
        first_line_day=opt([c.therapy[0].start_day if c.therapy else None for c in courses]),
        lines=np.array([len(c.therapy) for c in courses], dtype=np.int64),
        observations=observations,
        final_cells=np.concatenate(final) if final else np.zeros(0),
        volume_ml=np.concatenate(volumes) if volumes else np.zeros(0))


def cohort_tables(scenarios: Sequence[Scenario], seeds: Sequence[int],
                  values: Sequence[Mapping[str, Any]], patients: Sequence[int],
                  results: Sequence[Result] | BatchResult, course: CourseColumns,
                  parameter_names: Sequence[str],
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(patients, colonies, observations) of a batch, numbered ``patients``.

    The same rows and values as :func:`metacascade.cohort.shards.patient_tables` for each
    patient, computed over the whole batch at once. ``results``: per-patient results or
    the batch engine's :class:`~metacascade.engine.batch_result.BatchResult`.
    """
    batch = as_batch(results)
    n = len(batch)
    number = np.asarray(patients, dtype=np.int64)
    obs = course.observations
    at = obs["patient"].to_numpy(dtype=np.int64)
    time_days = obs["time_days"].to_numpy(dtype=float)
    kind = obs["kind"].to_numpy(dtype=object)
    name = obs["name"].to_numpy(dtype=object)
    value = obs["value"].to_numpy(dtype=float)
    therapy = np.array([s.clinic is not None and s.clinic.therapy is not None
                        for s in scenarios], dtype=bool)
    origin = np.where(therapy, course.first_line_day, 0.0)
    enrolled = ~np.isnan(origin)
    zero = np.where(enrolled, origin, 0.0)
    dead = ~np.isnan(course.death_day)
    end = np.where(dead, course.death_day, course.horizon_days)
    # Baseline: the last arm-vein draw in [origin - window, origin] (rows in time order),
    # its count per 7.5 mL (the cut-off's unit). The names are compared only on the rows
    # in the window (the same mask as comparing every row first: a string comparison on
    # 100,000 object rows costs a millisecond).
    arm = (time_days <= zero[at]) & (time_days >= zero[at] - BASELINE_WINDOW_DAYS)
    _narrow(arm, lambda rows: (kind[rows] == "draw") & (name[rows] == PERIPHERAL_SITE))
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, at[arm], np.flatnonzero(arm))  # rows are in time order
    baseline = np.full(n, math.nan)
    drawn = last >= 0
    baseline[drawn] = per_7_5_ml(value[last[drawn]], course.volume_ml[last[drawn]])
    # Progression-free survival: to the first progression after the origin, else to
    # death (an event), else censored at the last scan on or after the origin (the last
    # tumour assessment), or at the origin if there was none.
    progression = np.full(n, math.inf)
    later = time_days > zero[at]
    _narrow(later, lambda rows: kind[rows] == "progression")
    np.minimum.at(progression, at[later], time_days[later])
    last_scan = zero.copy()
    scanned = time_days >= zero[at]
    _narrow(scanned, lambda rows: kind[rows] == "scan")
    np.maximum.at(last_scan, at[scanned], time_days[scanned])
    progressed = np.isfinite(progression)
    pfs_end = np.where(progressed, progression,
                       np.where(dead, course.death_day, last_scan))
    models = batch.models
    table: dict[str, Any] = {
        "patient": number, "seed": np.asarray(seeds, dtype=np.int64),
        "cancer": np.array([s.cancer for s in scenarios], dtype=object),
        "primary_organ": np.array([m.organs[m.primary_organ] for m in models], dtype=object),
        "enrolled": enrolled, "origin_day": origin, "baseline_ctc": baseline,
        "ctc_cutoff": course.cutoff, "first_detection_day": course.first_detection_day,
        "os_days": end - zero, "os_event": dead, "pfs_days": pfs_end - zero,
        "pfs_event": progressed | dead, "death_day": course.death_day,
        "death_cause": course.death_cause, "horizon_days": course.horizon_days,
        "colonies_founded": batch.counts,
        # (NaN: the natural history ran to the horizon)
        "history_end_day": np.where(np.isinf(batch.history_end_day), math.nan,
                                    batch.history_end_day),
        "lines_of_therapy": course.lines,
    }
    for column in parameter_names:
        table[column] = [(float(v[column]) if not isinstance(v[column], str) else v[column])
                         for v in values]
    patients_table = pd.DataFrame(table, columns=[*PATIENT_COLUMNS, *parameter_names])

    colonies = colony_columns(batch)
    p = colonies["patient"]
    # CompiledModel.diameter_mm, with each colony's patient's cells per cm^3.
    per_cm3 = np.array([m.cells_per_cm3 for m in models], dtype=float)[p]
    diameter = 10.0 * np.cbrt(6.0 * (course.final_cells / per_cm3) / math.pi)
    lesion = obs["lesion"].to_numpy(dtype=np.int64)
    seen = lesion > 0
    _narrow(seen, lambda rows: kind[rows] == "scan")
    first_seen = np.full(p.size, math.inf)
    starts = np.searchsorted(p, np.arange(n))
    np.minimum.at(first_seen, starts[at[seen]] + lesion[seen] - 1, time_days[seen])
    detected = np.isfinite(first_seen)
    first_seen[~detected] = math.nan
    keep = (diameter >= COLONY_MIN_DIAMETER_MM) | detected
    # Organ names: one table for the batch (patients of one body), else per patient.
    names = sorted({m.organs for m in models})
    table_of = {organs: i for i, organs in enumerate(names)}
    width = max((len(o) for o in names), default=0)
    lookup = np.full((len(names), width), "", dtype=object)
    for i, organs in enumerate(names):
        lookup[i, :len(organs)] = organs
    body = np.array([table_of[m.organs] for m in models], dtype=np.int64)
    colonies_table = pd.DataFrame({
        "patient": number[p[keep]], "id": colonies["id"][keep],
        "organ": lookup[body[p[keep]], colonies["organ"][keep]],
        "parent": colonies["parent"][keep], "founded_day": colonies["founded"][keep],
        "diameter_mm_end": diameter[keep], "detected": detected[keep],
        "first_detected_day": first_seen[keep],
    }, columns=list(COLONY_COLUMNS))
    columns = ["patient", *OBSERVATION_COLUMNS]
    if list(obs.columns) == columns and obs.index.equals(pd.RangeIndex(len(obs))):
        # The clinic's frame has these columns in this order and a range index (the
        # batch clinic's does): one copy with the numbers set, where assign, select and
        # reset_index copied it three times; the same columns, types and index.
        observations = obs.copy()
        observations["patient"] = number[at]
    else:
        observations = obs.assign(patient=number[at])[columns].reset_index(drop=True)
    return patients_table, colonies_table, observations


def _narrow(mask: NDArray[np.bool_], test: Any) -> None:
    """``mask &= test(all rows)``, calling ``test`` only on the rows ``mask`` holds.

    ``test`` takes an index array of rows and returns a boolean per row.
    """
    rows = np.flatnonzero(mask)
    mask[rows] = test(rows)


def batch_columns(course: BatchCourse) -> CourseColumns:
    """:class:`CourseColumns` of a batch clinic's :class:`BatchCourse`."""
    n = len(course)
    lines = course.therapy
    patient = lines["patient"].to_numpy(dtype=np.int64)
    first = lines["line"].to_numpy(dtype=np.int64) == 1
    first_line_day = np.full(n, math.nan)
    first_line_day[patient[first]] = lines["start_day"].to_numpy(dtype=float)[first]
    colonies = np.ones(course.final_cells.size, dtype=bool)
    colonies[course.lesion_offsets[:-1][np.diff(course.lesion_offsets) > 0]] = False
    return CourseColumns(
        death_day=course.death_day, death_cause=course.death_cause,
        first_detection_day=course.first_detection_day, cutoff=course.cutoff,
        horizon_days=course.horizon_days, first_line_day=first_line_day,
        lines=np.bincount(patient, minlength=n).astype(np.int64),
        observations=course.observations, final_cells=course.final_cells[colonies],
        volume_ml=course.volume_ml)
