"""Virtual cohorts: many patients, in shards, on a local pool or a Dask cluster, to Parquet.

:func:`simulate_cohort` runs patients ``0 .. n-1`` of a :class:`Population` in shards of
``shard_size`` patients. Each shard writes one file to each of three Parquet datasets,

* ``patients/shard-NNNNN.parquet``: one row per patient (:data:`PATIENT_COLUMNS` and a
  ``param_...`` column per sampled parameter),
* ``colonies/shard-NNNNN.parquet``: colonies of at least :data:`COLONY_MIN_DIAMETER_MM`
  at the end of follow-up, or ever detected (:data:`COLONY_COLUMNS`),
* ``observations/shard-NNNNN.parquet``: the clinic's observations with a ``patient``
  column,

each written to a hidden temporary name and renamed, so no partial file is ever
readable; ``manifest.json`` (also replaced atomically) lists the shards done, the
scenario, the seed and the versions. A patient's results depend only on the cohort seed
and the patient's index, so the concatenated tables are identical whatever the shard
size, the number of workers, the executor or the order shards finish in. ``resume``
finishes the shards a killed run left undone.

Times in the patients table run from the patient's *origin*: the start of the first line
of therapy when the scenario has therapy (patients who never start it are not
``enrolled``), else day 0. ``baseline_ctc`` is the arm-vein count drawn at the origin (or
the last one in the 28 days before it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metacascade._version import __version__
from metacascade.clinic.course import OBSERVATION_COLUMNS, follow
from metacascade.cohort.population import Population
from metacascade.errors import OutputError

MANIFEST = "manifest.json"
FORMAT = "metacascade-cohort/1"
DATASETS = ("patients", "colonies", "observations")
#: Colonies this large at the end of follow-up are kept in the colonies table, mm.
COLONY_MIN_DIAMETER_MM = 1.0
#: How long before the origin an arm-vein draw still counts as the baseline, days.
BASELINE_WINDOW_DAYS = 28.0
DEFAULT_SHARD_SIZE = 64

PATIENT_COLUMNS = (
    "patient", "seed", "cancer", "primary_organ", "enrolled", "origin_day", "baseline_ctc",
    "ctc_cutoff", "first_detection_day", "os_days", "os_event", "pfs_days", "pfs_event",
    "death_day", "death_cause", "horizon_days", "colonies_founded", "lines_of_therapy",
)
COLONY_COLUMNS = ("patient", "id", "organ", "parent", "founded_day", "diameter_mm_end",
                  "detected", "first_detected_day")


# -- one patient -------------------------------------------------------------------------
def patient_tables(population: Population, cohort_seed: int, patient: int,
                   ) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Simulate and follow one patient: (patient row, colonies, observations)."""
    from metacascade.engine.kernel import simulate

    scenario, seed, values = population.patient(cohort_seed, patient)
    result = simulate(scenario, seed=seed)
    course = follow(result, scenario)
    model = result.model
    obs = course.observations
    therapy = scenario.clinic is not None and scenario.clinic.therapy is not None
    origin = (course.therapy[0].start_day if course.therapy else math.nan) if therapy else 0.0
    enrolled = not math.isnan(origin)
    zero = origin if enrolled else 0.0
    arm = obs[(obs["kind"] == "draw") & (obs["name"] == "arm_vein")]
    baseline = arm[(arm["time_days"] <= zero) & (arm["time_days"] >= zero - BASELINE_WINDOW_DAYS)]
    progressions = obs[(obs["kind"] == "progression") & (obs["time_days"] > zero)]["time_days"]
    end = course.end_day
    progression = float(progressions.iloc[0]) if len(progressions) else math.inf
    dead = course.death_day is not None
    row: dict[str, Any] = {
        "patient": patient, "seed": seed, "cancer": scenario.cancer,
        "primary_organ": model.organs[model.primary_organ], "enrolled": enrolled,
        "origin_day": origin,
        "baseline_ctc": float(baseline["value"].iloc[-1]) if len(baseline) else math.nan,
        "ctc_cutoff": course.cutoff,
        "first_detection_day": _nan(course.first_detection_day),
        "os_days": end - zero, "os_event": dead,
        "pfs_days": min(progression, end) - zero,
        "pfs_event": bool(progression <= end or dead),
        "death_day": _nan(course.death_day), "death_cause": course.death_cause or "",
        "horizon_days": course.horizon_days, "colonies_founded": len(result.raw.organ),
        "lines_of_therapy": len(course.therapy),
        **{k: (float(v) if not isinstance(v, str) else v) for k, v in values.items()},
    }
    diameter = model.diameter_mm(course.final_cells[1:])
    scans = obs[(obs["kind"] == "scan") & (obs["lesion"] > 0)]
    first_seen = scans.groupby("lesion")["time_days"].min()
    ids = np.arange(1, len(diameter) + 1)
    detected = np.isin(ids, first_seen.index.to_numpy())
    keep = (diameter >= COLONY_MIN_DIAMETER_MM) | detected
    raw = result.raw
    organs = np.asarray(model.organs, dtype=object)
    colonies = pd.DataFrame({
        "patient": np.full(int(keep.sum()), patient, dtype=np.int64),
        "id": ids[keep].astype(np.int64), "organ": organs[raw.organ[keep]],
        "parent": raw.parent[keep].astype(np.int64), "founded_day": raw.founded[keep],
        "diameter_mm_end": diameter[keep], "detected": detected[keep],
        "first_detected_day": first_seen.reindex(ids[keep]).to_numpy(dtype=float),
    }, columns=list(COLONY_COLUMNS))
    observations = obs.assign(patient=np.int64(patient))[["patient", *OBSERVATION_COLUMNS]]
    return row, colonies, observations


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


# -- one shard ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """Patients ``start .. stop-1`` of a cohort, written as shard ``index`` under ``out``."""

    population: dict[str, Any]
    seed: int
    index: int
    start: int
    stop: int
    out: str


_POPULATIONS: dict[str, Population] = {}


def run_shard(shard: Shard) -> int:
    """Simulate one shard and write its three files (atomically); the shard index."""
    key = json.dumps(shard.population, sort_keys=True)
    population = _POPULATIONS.get(key)
    if population is None:
        population = _POPULATIONS.setdefault(key, Population.from_dict(shard.population))
    rows, colonies, observations = [], [], []
    for patient in range(shard.start, shard.stop):
        row, col, obs = patient_tables(population, shard.seed, patient)
        rows.append(row)
        colonies.append(col)
        observations.append(obs)
    names = ["patient", *[c for c in PATIENT_COLUMNS if c != "patient"],
             *population.parameter_names()]
    tables = {
        "patients": pd.DataFrame(rows, columns=names),
        "colonies": _concat(colonies, COLONY_COLUMNS),
        "observations": _concat(observations, ("patient", *OBSERVATION_COLUMNS)),
    }
    out = Path(shard.out)
    # The patients file last: a shard with a patients file has the other two.
    for name in ("colonies", "observations", "patients"):
        _write_atomic(tables[name], out / name / shard_file(shard.index))
    return shard.index


#: Column types of the colonies and observations tables (also when a shard has none).
DTYPES: dict[str, str] = {
    "patient": "int64", "id": "int64", "organ": "str", "parent": "int64",
    "founded_day": "float64", "diameter_mm_end": "float64", "detected": "bool",
    "first_detected_day": "float64", "time_days": "float64", "kind": "str", "name": "str",
    "lesion": "int64", "value": "float64",
}


def _concat(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
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
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), temporary)
    os.replace(temporary, path)


# -- executors ---------------------------------------------------------------------------
class Task(Protocol):
    """A unit of work an executor runs: a shard, or another job keyed the same way."""

    @property
    def population(self) -> dict[str, Any]:
        """What the task computes from (hashed into its Dask key)."""
        ...

    @property
    def seed(self) -> int:
        """Its seed."""
        ...

    @property
    def index(self) -> int:
        """Its index (what the executor yields when it is done)."""
        ...


TaskT = TypeVar("TaskT", bound=Task)


class Executor(Protocol):
    """Runs shards; yields each shard's index as it finishes (in any order)."""

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run ``fn`` on every shard; yield each result as it finishes."""
        ...


class LocalExecutor:
    """A local process pool of ``workers`` processes (1: in this process)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        if self.workers < 1:
            raise OutputError(f"workers: {self.workers} must be >= 1")

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run every shard; yield indices as they finish."""
        if self.workers == 1 or len(shards) <= 1:
            for shard in shards:
                yield fn(shard)
            return
        with ProcessPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(fn, shard) for shard in shards]
            for future in as_completed(futures):
                yield future.result()


class DaskExecutor:
    """Dask distributed: a ``LocalCluster`` of ``n_workers`` or an existing scheduler.

    Tasks are submitted with ``pure=False`` and a key naming the cohort and shard, so
    Dask never merges two shards' random draws into one cached result.
    """

    def __init__(self, *, address: str | None = None, n_workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise OutputError("the Dask executor needs the 'dask' extra: "
                              "pip install 'metacascade[dask]'") from None
        self._cluster = None
        if address is None:
            self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=n_workers or 2, threads_per_worker=1, processes=True,
                dashboard_address=None)
            self.client = Client(self._cluster)  # type: ignore[no-untyped-call]
        else:
            self.client = Client(address)  # type: ignore[no-untyped-call]

    def run(self, fn: Callable[[TaskT], int], shards: Sequence[TaskT]) -> Iterator[int]:
        """Run every shard on the cluster; yield indices as they finish."""
        from distributed import as_completed as dask_completed

        futures = [self.client.submit(fn, shard, pure=False, key=_task_key(shard))
                   for shard in shards]
        for future in dask_completed(futures):  # type: ignore[no-untyped-call]
            yield int(future.result())

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (and the local cluster, if this executor made it)."""
        self.client.close()  # type: ignore[no-untyped-call]
        if self._cluster is not None:
            self._cluster.close()


def _task_key(shard: Task) -> str:
    digest = hashlib.sha1(json.dumps(shard.population, sort_keys=True).encode()).hexdigest()
    return f"metacascade-shard-{digest[:12]}-{shard.seed}-{shard.index}"


# -- the cohort --------------------------------------------------------------------------
@dataclass(frozen=True)
class Cohort:
    """A cohort directory: its manifest, and its tables on demand."""

    path: Path

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest (shards done, scenario, seed, versions)."""
        data: dict[str, Any] = json.loads((self.path / MANIFEST).read_text())
        return data

    def table(self, name: str) -> pd.DataFrame:
        """One dataset (``patients``, ``colonies``, ``observations``), sorted by patient.

        Only the shards the manifest lists as done are read.
        """
        if name not in DATASETS:
            raise OutputError(f"table: unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
        paths = [str(self.path / name / shard_file(i))
                 for i in sorted(self.manifest["shards_done"])]
        return pq.read_table(paths).to_pandas() if paths else pd.DataFrame()


def simulate_cohort(population: Population, n_patients: int, *, seed: int, out: str | Path,
                    executor: Executor | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                    resume: bool = False, progress: bool | None = None) -> Cohort:
    """Simulate ``n_patients`` patients of ``population`` into the cohort directory ``out``.

    Parameters
    ----------
    population
        The scenario and its patient-level distributions.
    n_patients
        Number of patients (>= 1).
    seed
        Cohort seed: patient ``i``'s results depend on it and on ``i`` only.
    out
        Cohort directory. A directory that exists and is not empty is refused unless
        ``resume`` is set and its manifest is of the same scenario, seed, number of
        patients and shard size.
    executor
        :class:`LocalExecutor` (default, one process per core) or :class:`DaskExecutor`.
    shard_size
        Patients per shard (the unit of work and of resumption).
    resume
        Finish the shards a previous run of the same cohort left undone.
    progress
        Print progress to stderr (default: when stderr is a terminal, or ``CI`` is set).

    """
    if not isinstance(n_patients, int) or n_patients < 1:
        raise OutputError(f"patients: {n_patients!r} must be a whole number >= 1")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise OutputError(f"shard_size: {shard_size!r} must be a whole number >= 1")
    if not (isinstance(seed, int) and 0 <= seed < 2**63):
        raise OutputError(f"seed: {seed!r} must be a whole number in [0, 2^63)")
    out = Path(out)
    scenario = population.to_dict()
    identity = {"format": FORMAT, "scenario": scenario, "seed": seed,
                "n_patients": n_patients, "shard_size": shard_size}
    done = _prepare(out, identity, resume)
    n_shards = math.ceil(n_patients / shard_size)
    shards = [Shard(scenario, seed, k, k * shard_size, min(n_patients, (k + 1) * shard_size),
                    str(out)) for k in range(n_shards) if k not in done]
    manifest = {**identity, "shards_total": n_shards, "shards_done": sorted(done),
                "versions": _versions(), "complete": not shards}
    _write_manifest(out, manifest)
    show = (progress if progress is not None
            else sys.stderr.isatty() or bool(os.environ.get("CI")))
    started = time.perf_counter()
    executor = executor or LocalExecutor()
    patients_done = 0
    for index in executor.run(run_shard, shards):
        done.add(index)
        manifest["shards_done"] = sorted(done)
        manifest["complete"] = len(done) == n_shards
        _write_manifest(out, manifest)
        patients_done += min(n_patients, (index + 1) * shard_size) - index * shard_size
        if show:
            elapsed = time.perf_counter() - started
            rate = patients_done / elapsed if elapsed > 0 else math.inf
            left = sum(s.stop - s.start for s in shards) - patients_done
            end = "\n" if not sys.stderr.isatty() or len(done) == n_shards else "\r"
            print(f"shards {len(done)}/{n_shards}  patients {patients_done} this run  "
                  f"{rate:.1f}/s  about {left / rate if rate else 0:.0f} s left",
                  file=sys.stderr, end=end, flush=True)
    return Cohort(out)


def _prepare(out: Path, identity: dict[str, Any], resume: bool) -> set[int]:
    """Check the directory; the shards already done (resume)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"out: {str(out)!r} is a file, not a directory")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return set()
    manifest_path = out / MANIFEST
    if not manifest_path.exists():
        raise OutputError(f"out: {str(out)!r} is not empty and holds no cohort; "
                          "choose another directory")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise OutputError(f"out: {str(out)!r} has an unreadable {MANIFEST}") from None
    same = all(manifest.get(k) == v for k, v in identity.items())
    if not same:
        raise OutputError(f"out: {str(out)!r} holds another cohort (scenario, seed, "
                          "patients or shard size differ); choose another directory")
    if not resume:
        raise OutputError(f"out: {str(out)!r} already holds this cohort; pass --resume "
                          "to finish it, or choose another directory")
    for dataset in DATASETS:  # temporary files of a killed run
        for stale in (out / dataset).glob(".shard-*.tmp"):
            stale.unlink()
    done = {int(i) for i in manifest.get("shards_done", [])}
    return {i for i in done if all((out / d / shard_file(i)).exists() for d in DATASETS)}


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    temporary = out / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, out / MANIFEST)


def _versions() -> dict[str, str]:
    return {"metacascade": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__,
            "pyarrow": pa.__version__}
