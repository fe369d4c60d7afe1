"""Virtual cohorts: many patients, in shards, on a local pool or a Dask cluster, to Parquet.

:func:`simulate_cohort` runs patients ``0 .. n-1`` of a :class:`Population` in shards of
``shard_size`` patients. Each shard writes one file to each of three Parquet datasets,

* ``patients/shard-NNNNN.parquet``: one row per patient (:data:`PATIENT_COLUMNS` and a
  ``param_...`` column per sampled parameter, the number drawn in its distribution's
  ``unit``; ``history_end_day`` is the day the batch
  engine ended a patient's natural history at its colony limit, NaN if it ran to the
  horizon: its colonies table holds none founded later),
* ``colonies/shard-NNNNN.parquet``: colonies of at least
  :data:`~metacascade.cohort.tables.COLONY_MIN_DIAMETER_MM` at the end of follow-up, or
  ever detected (:data:`COLONY_COLUMNS`),
* ``observations/shard-NNNNN.parquet``: the clinic's observations with a ``patient``
  column,

each written to a hidden temporary name and renamed, so no partial file is ever
readable; ``manifest.json`` (also replaced atomically) lists the shards done, the
scenario, the seed, the engine and the versions. A run holds a lock on the hidden
``.lock`` file, so that a second run on the same directory is refused while it lasts.

By default patients run in **batches** (``batch_size``, 512) as arrays of patients x
organs, each batch on its own random streams; a shard is a whole number of batches. A
patient's results depend only on the cohort seed, the batch size and the patient's
index, so the concatenated tables are identical whatever the shard size, the number of
workers, the executor or the order shards finish in. ``engine="patient"`` runs each
patient on its own stream instead (patient ``i`` is then exactly a single ``simulate``
and ``follow`` of its scenario and seed). ``resume`` finishes the shards a killed run
left undone.

Times in the patients table run from the patient's *origin*: the start of the first line
of therapy when the scenario has therapy (patients who never start it are not
``enrolled``), else day 0. ``baseline_ctc`` is the arm-vein count drawn at the origin (or
the last one in the 28 days before it).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from metacascade import _jit
from metacascade._checks import as_path, is_truth_value, whole_number
from metacascade._version import __version__
from metacascade.clinic.course import OBSERVATION_COLUMNS, follow
from metacascade.cohort.executors import (
    Executor,
    LocalExecutor,
    task_cancelled,
    usable_cores,
)
from metacascade.cohort.population import Distribution, Population, load_population
from metacascade.cohort.progress import Progress, is_terminal
from metacascade.cohort.tables import (
    COLONY_COLUMNS,
    PATIENT_COLUMNS,
    batch_columns,
    cohort_tables,
    courses_columns,
)
from metacascade.errors import MetacascadeError, OutputError, ScenarioError, WorkerDied

MANIFEST = "manifest.json"
#: The hidden file a run holds a lock on, so that a second run on the directory is refused.
LOCK = ".lock"
#: Tries to take a cohort directory's lock, 50 ms apart, before it is said to be in use.
LOCK_TRIES = 5
#: The manifest's format; raised whenever the same seed would give other patients, so
#: that ``--resume`` refuses a directory begun by another version (3: the batch engine
#: draws dormant cells when they arrive and the rare fates from fixed rows; 4: Poisson
#: means above 2^40 cells are drawn in parts, :func:`metacascade.engine.limits.poisson`;
#: 5: a patient past the colony limit has its history ended, not the cohort, and the
#: patients table has ``history_end_day``; 6: a parameter drawn with a unit is a number in
#: the patients table, not a string).
FORMAT = "metacascade-cohort/6"
DATASETS = ("patients", "colonies", "observations")
DEFAULT_SHARD_SIZE = 64
#: Engines a cohort can run on (see :func:`simulate_cohort`).
ENGINES = ("batch", "patient")
DEFAULT_ENGINE = "batch"
#: Patients simulated together by the batch engine (the unit of its random streams).
DEFAULT_BATCH_SIZE = 512
#: Largest batch: the batch engine holds every patient of a batch in memory at once
#: (about 60 kB each over half a year, more over longer horizons).
MAX_BATCH_SIZE = 16_384
#: Most patients in one cohort (the shards are listed up front; at a few hundred
#: patients a second on a workstation, this many would take days).
MAX_PATIENTS = 100_000_000
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


def being_written(out: str | os.PathLike[str]) -> bool:
    """Whether a run holds the cohort directory ``out`` now (its lock; False without one)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: runs are not guarded
        return False
    try:
        handle = open(Path(out) / LOCK)  # noqa: SIM115 (closed below)
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:  # a file system without locks
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def incomplete_note(out: str | os.PathLike[str]) -> str:
    """What to do about an incomplete cohort: wait for its run, or resume an interrupted one."""
    if being_written(out):
        return "a run is writing it now"
    return ("if its run was interrupted, 'metacascade cohort ... --resume' finishes it "
            "(in Python: simulate_cohort(..., resume=True))")


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


# -- the cohort --------------------------------------------------------------------------
@dataclass(frozen=True)
class Cohort:
    """A cohort directory: its manifest, and its tables on demand.

    A path-like object (``os.fspath(cohort)`` is its directory):
    :func:`metacascade.analysis.analyze`, :func:`metacascade.analysis.read_cohort` and
    :class:`pathlib.Path` take it as the directory.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", as_path(self.path, "path", noun="a directory's path"))

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest (shards done, scenario, seed, versions).

        :class:`~metacascade.errors.OutputError` if the directory holds no readable one.
        """
        path = self.path / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OutputError(f"{str(self.path)!r} is not a cohort directory: no "
                              f"{MANIFEST}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise OutputError(f"cannot read {str(path)!r}: "
                              f"{getattr(error, 'strerror', None) or error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("shards_done"), list):
            raise OutputError(f"{str(path)!r} is not a cohort's manifest (no list of "
                              "shards done)")
        return data

    def table(self, name: str, *, columns: Sequence[str] | None = None,
              where: Sequence[tuple[str, str, Any]] | None = None) -> pd.DataFrame:
        """One dataset (``patients``, ``colonies``, ``observations``), sorted by patient.

        Only the shards the manifest lists as done are read; with none, the table has
        no rows but its columns, in the types a shard's would have.

        ``columns``: only these columns, in this order (default: all; a list or tuple).
        ``where``: only the rows for which every ``(column, op, value)`` of the list (or
        tuple) holds, ``op`` one of ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``,
        ``not in`` (pyarrow's filters), e.g. ``[("kind", "==", "scan"), ("lesion", ">",
        0)]``. A cohort of a million patients holds about 200 million observations,
        mostly blood draws: more than a laptop's memory if read whole.
        """
        if name not in DATASETS:
            raise OutputError(f"table: unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
        manifest = self.manifest
        known = _columns(name, manifest)
        if columns is not None:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise OutputError(f"columns: {columns!r} is not a list of column names")
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise OutputError(f"columns: {', '.join(map(repr, unknown))} not in the "
                                  f"{name} dataset; its columns: {', '.join(known)}")
        filters = _where(where, list(known), name)
        paths = [str(self.path / name / shard_file(i)) for i in sorted(manifest["shards_done"])]
        if not paths:  # (in the types a shard's columns would have)
            return pd.DataFrame({c: pd.Series(dtype=known[c])
                                 for c in (known if columns is None else columns)})
        try:
            return pq.read_table(paths, columns=None if columns is None else list(columns),
                                 filters=filters).to_pandas()
        except FileNotFoundError as error:
            raise OutputError(f"cannot read the {name} dataset of {str(self.path)!r}: a "
                              f"shard the manifest lists as done is missing ({error})") from None
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            if filters is None:
                raise OutputError(f"cannot read the {name} dataset of {str(self.path)!r}: "
                                  f"{error}") from None
            raise OutputError(f"where: {list(where or [])!r} does not fit the {name} "
                              f"dataset's column types ({error})") from None
        except (OSError, pa.ArrowException) as error:
            raise OutputError(f"cannot read the {name} dataset of {str(self.path)!r}: "
                              f"{error}") from None


#: The comparisons :meth:`Cohort.table` takes in ``where``.
WHERE_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")


def _where(where: object, known: Sequence[str],
           name: str) -> list[tuple[str, str, Any]] | None:
    """``where`` checked: a list of (column of the dataset, comparison, value).

    ``where`` may be any sequence of them (a list, a tuple), but a string, or one
    ``(column, op, value)`` alone.
    """
    if where is None:
        return None
    if isinstance(where, (str, bytes)) or not isinstance(where, Sequence):
        raise OutputError(f"where: {where!r} is not a list of (column, op, value)")
    if len(where) == 3 and isinstance(where[0], str):  # one condition, not a list of them
        raise OutputError(f"where: {where!r} is not a list of (column, op, value) but one; "
                          f"give [{where!r}]")
    checked = []
    for condition in where:
        if not (isinstance(condition, (tuple, list)) and len(condition) == 3):
            raise OutputError(f"where: {condition!r} is not a (column, op, value)")
        column, op, value = condition
        if column not in known:
            raise OutputError(f"where: {column!r} not in the {name} dataset; its columns: "
                              f"{', '.join(known)}")
        if op not in WHERE_OPS:
            raise OutputError(f"where: {op!r} is not one of {', '.join(WHERE_OPS)}")
        if op in ("in", "not in") and (isinstance(value, (str, bytes))
                                       or not isinstance(value, Iterable)):
            raise OutputError(f"where: {op!r} takes a list of values, not {value!r}")
        checked.append((column, op, value))
    return checked or None


def simulate_cohort(population: Population | Mapping[str, Any] | str | os.PathLike[str],
                    n_patients: int, *, seed: int, executor: Executor | None = None,
                    out: str | os.PathLike[str] | None = None, shard_size: int | None = None,
                    resume: bool = False, progress: bool | None = None,
                    engine: str = DEFAULT_ENGINE, batch_size: int = DEFAULT_BATCH_SIZE,
                    ) -> Cohort:
    """Simulate ``n_patients`` patients of ``population`` into the cohort directory ``out``.

    Parameters
    ----------
    population
        The scenario and its patient-level distributions: a :class:`Population`, the
        plain data of a scenario file with a ``population`` section, or the path of
        such a file (:func:`load_population`). A scenario without one gives every
        patient its values (each patient still draws its own engine seed).
    n_patients
        Number of patients (>= 1).
    seed
        Cohort seed: patient ``i``'s results depend on it, on ``i``, and (batch engine)
        on ``batch_size`` only.
    executor
        :class:`LocalExecutor` (default, one process per core), :class:`DaskExecutor`,
        or any object with their ``run`` method.
    out
        Cohort directory. A directory that exists and is not empty is refused unless
        ``resume`` is set and its manifest is of the same scenario, seed, number of
        patients, engine, batch size and shard size. Default: a new temporary
        directory (``metacascade-cohort-*`` in the system's temporary directory; the
        returned :class:`Cohort`'s ``path``), which is left for the caller to remove.
    shard_size
        Patients per shard (the unit of work and of resumption); with the batch engine
        a multiple of ``batch_size`` (default: ``batch_size``), else default
        :data:`DEFAULT_SHARD_SIZE`.
    resume
        Finish the shards a previous run of the same cohort left undone.
    progress
        Print progress to stderr (default: when stderr is a terminal, or ``CI`` is set).
    engine
        ``"batch"`` (default): patients in batches of ``batch_size`` as arrays of
        patients x organs (:func:`metacascade.engine.batch.run_batch`,
        :func:`metacascade.clinic.batch.follow_batch`), each batch on its own random
        streams (cohort seed, spawn keys ``(5, batch)`` engine and ``(6, batch)``
        clinic), every patient of a batch simulated even past ``n_patients``.
        ``"patient"``: one patient at a time, each on its own stream, so that patient
        ``i`` is exactly ``simulate`` + ``follow`` of its scenario and seed (slower).
        The two are equal in law, not in draws.
    batch_size
        Patients per batch of the batch engine (>= 1).

    Returns
    -------
    Cohort
        The cohort directory (``path``; path-like), its manifest and its tables
        (:meth:`Cohort.table`).

    """
    population = _population(population)
    if progress is not None and not is_truth_value(progress):
        raise OutputError(f"progress: {progress!r} is not true, false or None")
    if not is_truth_value(resume):  # (a string such as "no" would count as true)
        raise OutputError(f"resume: {resume!r} is not true or false")
    if out is not None:
        out = as_path(out, "out", noun="a directory's path", error=OutputError)
    if isinstance(executor, type):  # (its ``run`` is callable, but not without an instance)
        raise OutputError(f"executor: {executor.__name__} is a class, not an executor; give "
                          f"an instance, such as {executor.__name__}(), or None (a local "
                          "process pool)")
    if executor is not None and not callable(getattr(executor, "run", None)):
        raise OutputError(f"executor: {executor!r} is not an executor; give a "
                          "LocalExecutor, a DaskExecutor, or None (a local process pool)")
    if out is None and resume:
        raise OutputError("out: give the directory of the cohort to resume")
    if engine not in ENGINES:
        raise OutputError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    batch_size = whole_number(batch_size, "batch_size", low=1, high=MAX_BATCH_SIZE,
                              error=OutputError)
    if shard_size is None:
        shard_size = batch_size if engine == "batch" else DEFAULT_SHARD_SIZE
    n_patients = whole_number(n_patients, "patients", low=1, high=MAX_PATIENTS,
                              error=OutputError)
    shard_size = whole_number(shard_size, "shard_size", low=1, error=OutputError)
    if engine == "batch" and shard_size % batch_size:
        raise OutputError(f"shard_size: {shard_size} must be a multiple of the batch size "
                          f"{batch_size} with the batch engine")
    seed = whole_number(seed, "seed", low=0, high=2**63 - 1, allowed="in [0, 2^63)",
                        error=OutputError)
    scenario = population.to_dict()
    identity = {"format": FORMAT, "scenario": scenario, "seed": seed,
                "n_patients": n_patients, "shard_size": shard_size, "engine": engine,
                "batch_size": batch_size if engine == "batch" else None}
    if out is None:  # a new temporary directory, taken as one this run began
        out, existed, locked = Path(tempfile.mkdtemp(prefix="metacascade-cohort-")), False, False
    else:
        _check_directory(out, identity, resume)  # nothing is written before it passes
        existed, locked = out.exists(), (out / LOCK).exists()
    with _claimed(out):
        # again: a run may have ended meanwhile (the lock is this run's now)
        _check_directory(out, identity, resume, claimed=True)
        fresh = not any(p.name != LOCK for p in out.iterdir())
        try:
            return _run(out, identity, batch_size, executor, progress)
        except WorkerDied:  # kept, as after an interrupt: the run can be resumed
            raise
        except Exception as error:
            # What only a patient shows (a value drawn that the scenario refuses, a
            # patient the engine refuses), or an unexpected failure (an executor that
            # does not run): what this run wrote into a directory it began is taken
            # back when no shard is done, so that the corrected command can use it.
            # (With shards done, the directory and its shards are kept; after an
            # unexpected failure also a shard written but not yet listed. An interrupt
            # is not taken back: the run can be resumed.)
            refused = error
            taken_back = fresh and _take_back(
                out, unlisted=isinstance(error, MetacascadeError))
            if taken_back and not locked:
                (out / LOCK).unlink(missing_ok=True)  # while held: no run can take it
    if taken_back and not existed:
        with contextlib.suppress(OSError):  # (another run may have begun in it)
            out.rmdir()
    raise refused


def _population(population: Any) -> Population:
    """A :class:`Population` from one, from its plain data, or from its file's path."""
    if isinstance(population, Population):
        return population
    if isinstance(population, (str, os.PathLike)):
        return load_population(os.fspath(population))
    if isinstance(population, Mapping):
        return Population.from_dict(dict(population))
    raise ScenarioError(f"population: {type(population).__name__} is not a population; "
                        "give a Population, its plain data or the path of its file")


def _take_back(out: Path, *, unlisted: bool = True) -> bool:
    """Remove what a refused run wrote into a directory it began, if no shard is done.

    ``unlisted``: also the shards a worker finished as another was refused, not yet
    listed in the manifest (else nothing is removed if there is one).
    """
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if manifest.get("shards_done"):
        return False
    if not unlisted and any(any((out / d).glob("shard-*.parquet")) for d in DATASETS):
        return False
    _remove_temporaries(out)
    for dataset in DATASETS:
        for shard in (out / dataset).glob("shard-*.parquet"):
            shard.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            (out / dataset).rmdir()  # only if empty
    manifest_path.unlink(missing_ok=True)
    return True


def _recorded(out: Path, done: set[int]) -> int:
    """The shards the manifest on disk lists as done: what ``--resume`` will find.

    (A stop between a shard's arrival and its manifest's write made the message count
    one shard more than the manifest.) ``len(done)`` if the manifest cannot be read.
    """
    try:
        return len(json.loads((out / MANIFEST).read_text(encoding="utf-8"))["shards_done"])
    except (OSError, ValueError, KeyError, TypeError):
        return len(done)


def _run(out: Path, identity: dict[str, Any], batch_size: int, executor: Executor | None,
         progress: bool | None) -> Cohort:
    """Run the shards of a checked and claimed cohort directory (:func:`simulate_cohort`).

    An interrupt (Ctrl-C; SIGTERM, which the command line makes a
    :class:`~metacascade.errors.Terminated`) is a :class:`CohortInterrupted`, the
    temporary files removed; a worker that died (:class:`WorkerDied`) says so with the
    same account of what is done.
    """
    n_shards = math.ceil(identity["n_patients"] / identity["shard_size"])
    done: set[int] = set()
    try:
        _run_shards(out, identity, batch_size, executor, progress, done)
    except KeyboardInterrupt as stop:
        _remove_temporaries(out)
        raise CohortInterrupted(out, _recorded(out, done), n_shards,
                                getattr(stop, "signal_number", signal.SIGINT)) from None
    except WorkerDied as error:  # (the executor has ended the other workers)
        _remove_temporaries(out)
        raise WorkerDied(f"{error}; "
                         f"{_how_to_finish(out, _recorded(out, done), n_shards)}") from None
    finally:
        for path in out.glob(".shard-*.progress"):  # a run stopped: none is under way
            path.unlink(missing_ok=True)
    return Cohort(out)


def _run_shards(out: Path, identity: dict[str, Any], batch_size: int,
                executor: Executor | None, progress: bool | None, done: set[int]) -> None:
    """Write the manifest and run the shards not yet ``done`` (adding each as it is)."""
    scenario, seed, n_patients = identity["scenario"], identity["seed"], identity["n_patients"]
    shard_size, engine = identity["shard_size"], identity["engine"]
    done.update(_prepare(out))
    n_shards = math.ceil(n_patients / shard_size)
    show = (progress if progress is not None
            else is_terminal(sys.stderr) or bool(os.environ.get("CI")))
    # The workers write where they see the path: absolute, not in their own directory.
    shards = [Shard(scenario, seed, k, k * shard_size, min(n_patients, (k + 1) * shard_size),
                    str(out.absolute()), engine, batch_size, n_patients, progress=show)
              for k in range(n_shards) if k not in done]
    manifest = {**identity, "shards_total": n_shards, "shards_done": sorted(done),
                "versions": _versions(), "complete": not shards}
    if shards or not (out / MANIFEST).exists():  # (a complete cohort's is left as it is)
        _write_manifest(out, manifest)
    executor = executor or LocalExecutor()
    with (Progress(n_shards, len(done), sum(s.stop - s.start for s in shards),
                   under_way=lambda: patients_under_way(out),
                   notes=_notes(n_shards, getattr(executor, "workers", None),
                                identity) if not done else ())
          if show else contextlib.nullcontext()) as bar:
        runs = executor.run(run_shard, shards)
        try:
            for index in runs:
                _await_shard(out, index)
                done.add(index)
                manifest["shards_done"] = sorted(done)
                manifest["complete"] = len(done) == n_shards
                _write_manifest(out, manifest)
                progress_file(out, index).unlink(missing_ok=True)
                if bar is not None:
                    bar.shard_done(min(n_patients, (index + 1) * shard_size)
                                   - index * shard_size)
        finally:
            close = getattr(runs, "close", None)  # stop the executor's shards now
            if close is not None:
                close()


#: What the workers of a Dask cluster need to write a cohort (said when they cannot).
_SHARED = ("the workers of a Dask cluster (--scheduler, DaskExecutor(address=...)) must see "
           "the cohort directory at the same path as this process: a file system they share")
#: Seconds a shard's files may take to appear in the cohort directory once its worker
#: has written them (a network file system shows another machine's new files late: an
#: NFS client may keep a directory's "no such file" for up to 60 s, its acdirmax).
SHARD_VISIBLE_S = 90.0


def _await_shard(out: Path, index: int) -> None:
    """Wait until shard ``index``'s files are in ``out``, which the executor says it wrote.

    Refused if they do not come: its worker wrote them where it sees ``out``, on a file
    system of its own, and a manifest listing the shard would describe a cohort with
    nothing in it.
    """
    deadline = time.monotonic() + SHARD_VISIBLE_S
    while not all((out / d / shard_file(index)).exists() for d in DATASETS):
        if time.monotonic() >= deadline:
            raise OutputError(f"out: shard {index} ran, but its files are not in "
                              f"{str(out.absolute())!r} (after {SHARD_VISIBLE_S:g} s); "
                              f"{_SHARED}")
        time.sleep(0.1)


def _notes(n_shards: int, workers: int | None, identity: Mapping[str, Any]) -> list[str]:
    """What to know before a run: work beyond the cohort, workers idle or beyond the cores.

    With the batch engine every patient of a batch is simulated, also those past
    ``n_patients`` (so that a patient's results do not depend on it); said when that is
    more than the cohort itself. A shard runs on one worker, the others wait; with the
    batch engine a shard is at least a batch, and a patient's results depend on the
    batch size. Workers beyond the cores (those with a shard to run) only share them,
    each with a batch in memory; not refused (a server may have them to spare).
    """
    notes = []
    n, size = identity["n_patients"], identity["batch_size"]
    batch = identity["engine"] == "batch"
    simulated = math.ceil(n / size) * size if batch else n  # (every batch whole)
    if simulated > 2 * n:
        notes.append(f"{simulated} patients are simulated for these {n} (every patient of "
                     f"a batch of {size}, so that a patient's results do not depend on "
                     f"--patients, n_patients); --batch-size {n} (batch_size={n}) simulates "
                     "only these, with other draws")
    if workers is not None and n_shards < min(workers, n):  # (at most a shard a patient)
        many = (f"{n_shards} shard{'s' * (n_shards != 1)} for {workers} workers: only "
                f"{n_shards} run{'s' * (n_shards == 1)} at once")
        # (with the batch engine a shard is at least a batch)
        notes.append(f"{many}; a smaller batch size (--batch-size, batch_size) makes more "
                     "shards, with "
                     "other results (a patient's draws depend on the batch size)"
                     if batch and (identity["shard_size"] == size or n <= size) else
                     f"{many}; a smaller --shard-size (shard_size) makes more shards, with the "
                     "same results")
    cores = usable_cores()
    if workers is not None and min(workers, n_shards) > cores:
        busy = min(workers, n_shards)
        notes.append(f"{busy} workers share {cores} core{'s' * (cores != 1)}: a run is no "
                     f"faster than with {cores}, and each worker holds a batch in memory")
    return notes


def _columns(name: str, manifest: Mapping[str, Any]) -> dict[str, str]:
    """The columns of dataset ``name`` of the cohort of ``manifest``, and their types."""
    if name == "colonies":
        return {c: DTYPES[c] for c in COLONY_COLUMNS}
    if name == "observations":
        return {c: DTYPES[c] for c in ("patient", *OBSERVATION_COLUMNS)}
    try:
        population = Population.from_dict(manifest["scenario"], check=False)
    except (MetacascadeError, KeyError, TypeError):  # a manifest of another kind
        parameters = {}
    else:
        parameters = {column: _parameter_dtype(dist) for column, dist in zip(
            population.parameter_names(), population.distributions.values(), strict=True)}
    return {**{c: DTYPES[c] for c in PATIENT_COLUMNS}, **parameters}


def _parameter_dtype(dist: Distribution) -> str:
    """The type of a sampled parameter's column (:func:`~.tables.cohort_tables`).

    A number (a truth value too) is written as a float, a string as it is.
    """
    if dist.discrete is None:
        return "float64"
    text = [isinstance(v, str) for v in dist.discrete.values]
    return "str" if all(text) else "object" if any(text) else "float64"


class CohortInterrupted(KeyboardInterrupt):
    """A cohort run stopped by an interrupt; its directory can be resumed.

    The interrupt is Ctrl-C, or a SIGTERM where it raises
    :class:`~metacascade.errors.Terminated` (as the command does); ``signal_number``
    says which (the command's exit status is 128 + it). The shards listed in the
    manifest are whole; ``resume`` finishes the others.
    """

    def __init__(self, out: Path, done: int, total: int,
                 signal_number: int = signal.SIGINT) -> None:
        stopped = "terminated" if signal_number == signal.SIGTERM else "interrupted"
        super().__init__(f"{stopped}: {_how_to_finish(out, done, total)}")
        self.out, self.done, self.total = out, done, total
        self.signal_number = signal_number


def _how_to_finish(out: Path, done: int, total: int) -> str:
    """What a stopped run has done, and how to finish it."""
    return (f"{done} of {total} shards done in {str(out)!r}; the same command with "
            "--resume (in Python: resume=True) finishes it")


def _remove_temporaries(out: Path) -> None:
    """Remove the hidden temporary files a stopped run's shards left (and their progress)."""
    for dataset in DATASETS:
        for stale in (out / dataset).glob(".shard-*.tmp"):
            stale.unlink(missing_ok=True)
    for stale in out.glob(".shard-*.progress*"):
        stale.unlink(missing_ok=True)
    (out / f".{MANIFEST}.tmp").unlink(missing_ok=True)  # (a manifest's write stopped)


def _check_directory(out: Path, identity: dict[str, Any], resume: bool, *,
                     claimed: bool = False) -> None:
    """Refuse a directory that is not this cohort's to write (it only reads).

    ``claimed``: this run holds the directory's lock (another run cannot).
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"out: {str(out)!r} is a file, not a directory")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"out: {str(out)!r}: {str(parent)!r} is a file, not a "
                              "directory")
    if not out.exists() or not any(p.name != LOCK for p in out.iterdir()):
        return
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        raise OutputError(f"out: {str(out)!r} is not empty and holds no cohort; "
                          "choose another directory")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise OutputError(f"out: {str(out)!r} has an unreadable {MANIFEST}") from None
    differ = [k for k, v in identity.items() if manifest.get(k) != v]
    if differ == ["format"]:
        raise OutputError(f"out: {str(out)!r} holds a cohort of format "
                          f"{manifest.get('format')!r}, begun by another version of "
                          f"metacascade (this one writes {FORMAT!r}, whose patients differ "
                          "for the same seed); choose another directory")
    if differ:
        names = {"n_patients": "patients", "shard_size": "shard size",
                 "batch_size": "batch size"}
        raise OutputError(f"out: {str(out)!r} holds another cohort (not the same "
                          f"{', '.join(names.get(k, k) for k in differ)}); choose "
                          "another directory")
    if not claimed and being_written(out):  # (refused when the lock is taken; said first)
        raise OutputError(f"out: {str(out)!r} is in use by another metacascade run; wait "
                          "for it to end, or stop it")
    if not resume:
        if manifest.get("complete"):
            raise OutputError(f"out: {str(out)!r} already holds this cohort, complete; "
                              "choose another directory to run it again")
        raise OutputError(f"out: {str(out)!r} already holds this cohort, unfinished; pass "
                          "--resume (in Python: resume=True) to finish it, or choose "
                          "another directory")
    begun = (manifest.get("versions") or {}).get("numpy")
    n_shards = math.ceil(identity["n_patients"] / identity["shard_size"])
    if (len(_shards_on_disk(out, manifest)) < n_shards and begun is not None
            and begun != np.__version__):
        raise OutputError(f"out: {str(out)!r} was begun with NumPy {begun}, whose random "
                          f"draws this NumPy ({np.__version__}) need not repeat; resume "
                          f"with NumPy {begun}, or choose another directory")


@contextlib.contextmanager
def _claimed(out: Path) -> Iterator[None]:
    """Hold the cohort directory for this run: a second run on it is refused.

    An exclusive ``flock`` on its hidden :data:`LOCK` file, released when the run ends
    (also by a crash or a kill: the system releases it with the process). Where
    ``fcntl`` is missing (Windows), runs are not guarded.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"out: cannot create {str(out)!r}: "
                          f"{error.strerror or error}") from None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        handle = open(out / LOCK, "a")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise OutputError(f"out: cannot write in {str(out)!r}: "
                          f"{error.strerror or error}") from None
    with handle:
        # (a few tries: `being_written` holds a shared lock for an instant)
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_TRIES - 1:
                    raise OutputError(f"out: {str(out)!r} is in use by another metacascade "
                                      "run; wait for it to end, or stop it") from None
                time.sleep(0.05)
            except OSError:  # a file system without locks: run unguarded
                yield
                return
        _HELD_LOCKS.add(handle.fileno())
        try:
            yield
        finally:
            _HELD_LOCKS.discard(handle.fileno())
            fcntl.flock(handle, fcntl.LOCK_UN)


#: The descriptors of the cohort locks this process holds (:func:`_claimed`).
_HELD_LOCKS: set[int] = set()


def _drop_locks() -> None:
    """In a child just forked (a worker of the local pool): let go of the run's locks.

    A lock (``flock``) belongs to the open file, which a fork shares: a worker that
    outlived a killed run would hold its directory, and ``--resume`` be refused. Each
    descriptor is pointed at /dev/null rather than closed, so that its number is not
    taken by another file while the copied run still names it.
    """
    if not _HELD_LOCKS:
        return
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            for descriptor in _HELD_LOCKS:
                os.dup2(null, descriptor, inheritable=False)
        finally:
            os.close(null)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):  # (POSIX; spawned processes inherit no lock)
    os.register_at_fork(after_in_child=_drop_locks)


def _prepare(out: Path) -> set[int]:
    """The shards a claimed directory already holds (resume), its temporaries removed."""
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        return set()
    manifest = json.loads(manifest_path.read_text())
    _remove_temporaries(out)  # those of a killed run
    return _shards_on_disk(out, manifest)


def _shards_on_disk(out: Path, manifest: Mapping[str, Any]) -> set[int]:
    """The shards the manifest lists as done whose three files are in ``out``."""
    done = {int(i) for i in manifest.get("shards_done", [])}
    return {i for i in done if all((out / d / shard_file(i)).exists() for d in DATASETS)}


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    temporary = out / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, out / MANIFEST)


def _versions() -> dict[str, str | None]:
    # numba: informative only (the compiled loops give the same bytes, see _jit.py)
    return {"metacascade": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__,
            "pyarrow": pa.__version__, "numba": _jit.NUMBA_VERSION if _jit.ENABLED else None}
