"""One shard of a cohort: its patients simulated and followed, its three files written.

The worker's side of :func:`metacascade.cohort.run.simulate_cohort`: :func:`run_shard`
runs on a worker of the executor (a process of the local pool, a Dask worker), simulates
the shard's patients in batches (:func:`_batch`, the batch engine) or one by one
(:func:`patient_tables`), and writes one Parquet file to each dataset, each under a
hidden temporary name renamed when whole (the patients file last). A running shard
counts its patients done in a hidden progress file (:func:`progress_file`), which the run
reads for its progress line.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from metacascade.clinic.course import OBSERVATION_COLUMNS, follow
from metacascade.cohort.executors import (
    task_cancelled,
)
from metacascade.cohort.population import Population
from metacascade.cohort.tables import (
    COLONY_COLUMNS,
    batch_columns,
    cohort_tables,
    courses_columns,
)
from metacascade.errors import MetacascadeError, OutputError

#: Patients simulated together by the batch engine (the unit of its random streams).
DEFAULT_BATCH_SIZE = 512
#: Spawn keys of a batch's streams: engine, clinic (a patient's are in population.py).
BATCH_ENGINE_STREAM, BATCH_CLINIC_STREAM = 5, 6
#: Added with the half (0 or 1) to the spawn key of a batch's patients run in two halves
#: because together they would hold too many colonies (``MAX_BATCH_COLONIES``), and with
#: the piece's index to that of a half still too many, run in pieces that always fit.
HALF_KEY, PIECE_KEY = 7, 8


# -- one patient -------------------------------------------------------------------------
def patient_tables(population: Population, cohort_seed: int, patient: int,
                   ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Simulate and follow one patient: (patient row, colonies, observations)."""
    patients, colonies, observations = _patient_batch(population, cohort_seed,
                                                      [patient])
    return patients.iloc[0].to_dict(), colonies, observations


def _patient_batch(population: Population, cohort_seed: int, patients: Sequence[int],
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tables of ``patients``, each simulated and followed on its own stream."""
    from metacascade.engine.kernel import simulate

    drawn = population.patients(cohort_seed, patients)
    results, courses = [], []
    for patient, (scenario, seed, _) in zip(patients, drawn, strict=True):
        try:
            results.append(simulate(scenario, seed=seed))
            courses.append(follow(results[-1], scenario))
        except MetacascadeError as error:  # name the cohort's patient, as batches do
            raise type(error)(f"patient {patient}: {error}") from None
    return cohort_tables([d[0] for d in drawn], [d[1] for d in drawn], [d[2] for d in drawn],
                         patients, results, courses_columns(results, courses),
                         population.parameter_names())


def _batch(population: Population, cohort_seed: int, batch: int, batch_size: int,
           n_patients: int, done: Callable[[int], None] | None = None,
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tables of the patients of batch ``batch`` (those below ``n_patients``).

    ``done`` is called with the number of those patients each time some are done (the
    whole batch, or a group, half or piece of it).

    All ``batch_size`` patients of the batch are simulated, whatever ``n_patients``, so
    a patient's results depend on the cohort seed, the batch size and its index only.
    Patients the batch engine or clinic cannot run together (a population that varies
    the body, the horizon, the step, the routing or the clinic's schedules) run in
    groups of patients that agree (:func:`structure_groups`), group ``g`` on the streams
    of spawn keys ``(5, batch, g)`` and ``(6, batch, g)``. Patients whose colonies would
    pass the batch engine's memory limit together (``MAX_BATCH_COLONIES``) run in two
    halves, each on streams of spawn keys with :data:`HALF_KEY` and the half added; a
    half still too many runs in pieces of
    :func:`~metacascade.engine.batch.always_fit` patients (10, who always fit), keys
    with :data:`PIECE_KEY` and the piece's index added. (Halving again would run every
    level up to the limit in vain: with choriocarcinoma, as long as the runs that fit.)
    """
    from metacascade.clinic.batch import follow_batch
    from metacascade.engine.batch import always_fit, run_batch
    from metacascade.engine.compile import compile_scenario
    from metacascade.engine.limits import BatchTooLarge

    patients = range(batch * batch_size, (batch + 1) * batch_size)
    drawn = population.patients(cohort_seed, patients)
    scenarios = [d[0] for d in drawn]
    models = [compile_scenario(s) for s in scenarios]
    groups = structure_groups(models, scenarios)
    parts: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = []

    def run_together(members: list[int], key: tuple[int, ...], halved: bool = False,
                     ) -> None:
        engine_rng, clinic_rng = (
            np.random.default_rng(np.random.SeedSequence(cohort_seed, spawn_key=(k, *key)))
            for k in (BATCH_ENGINE_STREAM, BATCH_CLINIC_STREAM))
        chosen = [scenarios[j] for j in members]
        refused: BatchTooLarge | None = None
        try:
            results = run_batch([models[j] for j in members], engine_rng,
                                seeds=[drawn[j][1] for j in members])
            course = batch_columns(follow_batch(results, chosen, clinic_rng))
        except BatchTooLarge as error:  # (without its frames: the failed run's memory)
            refused = error.with_traceback(None)
        except MetacascadeError as error:  # name the cohort's patient, not the batch's
            raise type(error)(_renumber(str(error), [patients[j] for j in members])) from None
        if refused is not None:  # on streams of their own (outside the handler: no context)
            size = always_fit()
            if len(members) == 1 or (halved and len(members) <= size):
                raise refused  # (cannot be: a piece always fits)
            if halved:
                for i in range(0, len(members), size):
                    run_together(members[i:i + size], (*key, PIECE_KEY, i // size), True)
            else:
                half = (len(members) + 1) // 2
                run_together(members[:half], (*key, HALF_KEY, 0), True)
                run_together(members[half:], (*key, HALF_KEY, 1), True)
            return
        parts.append(cohort_tables(chosen, [drawn[j][1] for j in members],
                                   [drawn[j][2] for j in members],
                                   [patients[j] for j in members], results, course,
                                   population.parameter_names()))
        if done is not None:
            done(sum(patients[j] < n_patients for j in members))

    for g, members in enumerate(groups):
        run_together(members, (batch,) if len(groups) == 1 else (batch, g))
    last = patients.start + min(batch_size, n_patients - patients.start)
    kept = []
    for k in range(3):
        table = pd.concat([part[k] for part in parts], ignore_index=True)
        if len(parts) > 1:  # back in patient order (each group's rows in their order)
            table = table.sort_values("patient", kind="stable", ignore_index=True)
        if last < patients.stop:  # (else every row is kept: the table as it is)
            table = table[table["patient"] < last].reset_index(drop=True)
        kept.append(table)
    return kept[0], kept[1], kept[2]


def _renumber(message: str, numbers: Sequence[int]) -> str:
    """``message`` with a leading "patient i" (batch position) made cohort patient number."""
    return re.sub(r"^patient (\d+)", lambda m: f"patient {numbers[int(m[1])]}", message)


#: ``json.dumps(..., sort_keys=True)`` of plain data (a model's dump holds no cycle).
_SORTED_JSON = json.JSONEncoder(sort_keys=True, check_circular=False)


def structure_groups(models: Sequence[Any], scenarios: Sequence[Any]) -> list[list[int]]:
    """Positions of the patients the batch engine and clinic can run together.

    Patients agree when their compiled models share every field of
    :data:`metacascade.engine.batch_plan.STRUCTURAL` and their clinics agree but for
    the regimens' effects. Groups come in order of their first patient; usually one.
    """
    from metacascade.clinic._shared import _clinic_key
    from metacascade.engine.batch_plan import STRUCTURAL
    from metacascade.scenario import Clinic

    # Models share arrays (their body's routing): each is read once (and kept, so that
    # its id is not reused).
    arrays: dict[int, tuple[np.ndarray, Any]] = {}

    def hashable(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            found = arrays.get(id(value))
            if found is None:
                found = arrays[id(value)] = (
                    value, (value.shape, value.dtype.str, value.tobytes()))
            return found[1]
        if isinstance(value, list):
            value = tuple(value)
        try:
            hash(value)
        except TypeError:  # a tuple holding arrays
            return tuple(hashable(v) for v in value)
        return value

    groups: dict[Any, list[int]] = {}
    for i, (model, scenario) in enumerate(zip(models, scenarios, strict=True)):
        clinic = scenario.clinic if scenario.clinic is not None else Clinic()
        key = (tuple(hashable(get(model)) for _, get in STRUCTURAL),
               _SORTED_JSON.encode(_clinic_key(clinic)))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


# -- one shard ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """Patients ``start .. stop-1`` of a cohort, written as shard ``index`` under ``out``.

    ``engine`` ``"batch"`` runs them in batches of ``batch_size`` (``start`` is a
    multiple of it); ``"patient"`` one by one.
    """

    population: dict[str, Any]
    seed: int
    index: int
    start: int
    stop: int
    out: str
    engine: str = "patient"
    batch_size: int = DEFAULT_BATCH_SIZE
    n_patients: int = 0
    #: Write the patients done so far to :func:`progress_file` (for the progress line).
    progress: bool = False


def progress_file(out: Path, index: int) -> Path:
    """The hidden file in which shard ``index`` counts its patients done so far."""
    return out / f".shard-{index:05d}.progress"


class ShardCancelled(Exception):
    """A shard stopped between batches because its run no longer wants it."""


class _ShardProgress:
    """A running shard's count of patients done, in its :func:`progress_file` (or none).

    The count is replaced as a whole (a temporary file renamed), so a reader sees the
    last count or the one before, never a partial one.
    """

    def __init__(self, shard: Shard) -> None:
        self.path = progress_file(Path(shard.out), shard.index) if shard.progress else None
        self.done = 0

    def add(self, patients: int) -> None:
        """Count ``patients`` more done; stop the shard if its Dask task was cancelled."""
        if task_cancelled():  # (its run has stopped: it would write for no one)
            raise ShardCancelled
        self.done += patients
        if self.path is None or not patients:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(OSError):  # progress only: never stops a shard
            temporary.write_text(str(self.done))
            os.replace(temporary, self.path)

    def remove(self) -> None:
        """Remove the shard's progress file (its run, which would, has ended)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


def patients_under_way(out: Path) -> int:
    """Patients done so far in the shards under way (their :func:`progress_file`).

    The run removes a shard's file when it counts the shard as done.
    """
    total = 0
    for path in out.glob(".shard-*.progress"):
        with contextlib.suppress(OSError, ValueError):  # (removed meanwhile)
            total += int(path.read_text())
    return total


_POPULATIONS: dict[str, Population] = {}


def run_shard(shard: Shard) -> int:
    """Simulate one shard and write its three files (atomically); the shard index.

    Refused where ``out`` is no directory: a worker that does not share the run's file
    system (which created it) would write a cohort of its own.

    The shard runs with one BLAS thread (``threadpoolctl``): the executors already run
    one process per core, and OpenBLAS's threads, which start on the larger products of
    a big batch, would only compete with them (at a batch size of 2048 the engine used
    60 % more CPU time for no gain in wall time). Results do not depend on it.
    """
    out = Path(shard.out)
    if not out.is_dir():  # (not written into: the run's process created it)
        raise OutputError(f"out: {shard.out!r} is not a directory on {platform.node()!r}, "
                          f"where shard {shard.index} ran; {_SHARED}")
    key = json.dumps(shard.population, sort_keys=True)
    population = _POPULATIONS.get(key)
    if population is None:
        population = _POPULATIONS.setdefault(  # (checked when the run began)
            key, Population.from_dict(shard.population, check=False))
    progress = _ShardProgress(shard)
    try:
        with threadpool_limits(limits=1):  # one process per core: no BLAS threads besides
            if shard.engine == "batch":
                parts = [_batch(population, shard.seed, b, shard.batch_size,
                                shard.n_patients, progress.add)
                         for b in range(shard.start // shard.batch_size,
                                        -(-shard.stop // shard.batch_size))]
            else:  # patient by patient: a patient's result is freed once it is tables
                parts = []
                for p in range(shard.start, shard.stop):
                    parts.append(_patient_batch(population, shard.seed, [p]))
                    progress.add(1)
    except ShardCancelled:
        progress.remove()
        raise
    tables = {name: _concat([part[k] for part in parts], columns)
              for k, (name, columns) in enumerate((
                  ("patients", None), ("colonies", COLONY_COLUMNS),
                  ("observations", ("patient", *OBSERVATION_COLUMNS))))}
    # The patients file last: a shard with a patients file has the other two.
    for name in ("colonies", "observations", "patients"):
        _write_atomic(tables[name], out / name / shard_file(shard.index))
    return shard.index


#: Column types of the colonies and observations tables (also when a shard has none),
#: and of the patients table's :data:`PATIENT_COLUMNS` (those of a cohort with no shard
#: done; a sampled parameter's: :func:`_parameter_dtype`).
DTYPES: dict[str, str] = {
    "patient": "int64", "id": "int64", "organ": "str", "parent": "int64",
    "founded_day": "float64", "diameter_mm_end": "float64", "detected": "bool",
    "first_detected_day": "float64", "time_days": "float64", "kind": "str", "name": "str",
    "lesion": "int64", "value": "float64",
    "seed": "int64", "cancer": "str", "primary_organ": "str", "enrolled": "bool",
    "origin_day": "float64", "baseline_ctc": "float64", "ctc_cutoff": "int64",
    "first_detection_day": "float64", "os_days": "float64", "os_event": "bool",
    "pfs_days": "float64", "pfs_event": "bool", "death_day": "float64",
    "death_cause": "str", "horizon_days": "float64", "colonies_founded": "int64",
    "history_end_day": "float64", "lines_of_therapy": "int64",
}


def _concat(frames: Sequence[pd.DataFrame], columns: Sequence[str] | None) -> pd.DataFrame:
    """One table of ``frames``.

    With ``columns`` (all of them, also when there are no rows) in the types of
    :data:`DTYPES`; None: the patients table, as it comes.
    """
    if columns is None:
        return pd.concat(frames, ignore_index=True)
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=DTYPES[c]) for c in columns})
    table = pd.concat(frames, ignore_index=True)
    return table.astype({c: DTYPES[c] for c in columns})


def shard_file(index: int) -> str:
    """File name of a shard in each dataset."""
    return f"shard-{index:05d}.parquet"


def _write_atomic(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    schema = pa.Schema.from_pandas(table, preserve_index=False)
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type):  # an empty text column is still text
            schema = schema.set(i, pa.field(field.name, pa.string()))
    # One thread: a worker has its core, and pyarrow would start a thread pool per table.
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False,
                                        nthreads=1), temporary)
    os.replace(temporary, path)


#: What the workers of a Dask cluster need to write a cohort (said when they cannot).
_SHARED = ("the workers of a Dask cluster (--scheduler, DaskExecutor(address=...)) must see "
           "the cohort directory at the same path as this process: a file system they share")
