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
the last one in the 28 days before it) per 7.5 mL of blood (the count x 7.5 / the draw's
volume in mL), the unit of ``ctc_cutoff``. Progression-free survival ends at the first
progression after the origin or at death (events), else is censored at the last scan on
or after the origin (at the origin without one); overall survival is censored at the
end of follow-up.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metacascade._checks import as_path, is_truth_value, whole_number
from metacascade.cohort.directory import (
    DATASETS,
    FORMAT,
    LOCK,
    MANIFEST,
    Cohort,
    _check_directory,
    _claimed,
    _prepare,
    _remove_temporaries,
    _take_back,
    _versions,
    _write_manifest,
    being_written,
    incomplete_note,
    remove_derived,
)
from metacascade.cohort.executors import (
    Executor,
    LocalExecutor,
    usable_cores,
)
from metacascade.cohort.population import Population, load_population
from metacascade.cohort.progress import Progress, is_terminal
from metacascade.cohort.shards import (
    _SHARED,
    DEFAULT_BATCH_SIZE,
    Shard,
    patient_tables,
    patients_under_way,
    progress_file,
    run_shard,
    shard_file,
)
from metacascade.errors import (
    MetacascadeError,
    OutputError,
    ParameterError,
    ScenarioError,
    WorkerDied,
)

# The public names this module held before shards.py and directory.py were split from it
# (their old import paths still work).
__all__ = [
    "DATASETS", "DEFAULT_BATCH_SIZE", "DEFAULT_ENGINE", "DEFAULT_SHARD_SIZE", "ENGINES",
    "FORMAT", "LOCK", "MANIFEST", "MAX_BATCH_SIZE", "MAX_PATIENTS", "SHARD_VISIBLE_S",
    "Cohort", "CohortInterrupted", "Shard", "being_written", "incomplete_note",
    "patient_tables", "patients_under_way", "progress_file", "run_shard", "shard_file",
    "simulate_cohort",
]

DEFAULT_SHARD_SIZE = 64
#: Engines a cohort can run on (see :func:`simulate_cohort`).
ENGINES = ("batch", "patient")
DEFAULT_ENGINE = "batch"
#: Largest batch: the batch engine holds every patient of a batch in memory at once
#: (about 60 kB each over half a year, more over longer horizons).
MAX_BATCH_SIZE = 16_384
#: Most patients in one cohort (the shards are listed up front; at a few hundred
#: patients a second on a workstation, this many would take days).
MAX_PATIENTS = 100_000_000
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
        Number of patients, 1 to :data:`MAX_PATIENTS` (100,000,000).
    seed
        Cohort seed, in [0, 2^63): patient ``i``'s results depend on it, on ``i``, and
        (batch engine) on ``batch_size`` only. It has no default here, and the file's
        ``seed`` (``population.base.seed``) is not read: pass it. (``metacascade
        cohort`` takes ``--seed``, else the file's ``seed``, else 0: the same cohort is
        ``seed=population.base.seed or 0``.)
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
        Finish the shards a previous run of the same cohort left undone. When shards
        remain, the ``analysis.json``, ``survival.png``, ``organs.png`` and
        ``report.html`` of the shards done so far (what ``analyze`` and ``report`` wrote
        there) are removed first, with a note among the progress lines: they would
        describe fewer patients than the finished cohort.
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
        Patients per batch of the batch engine, 1 to :data:`MAX_BATCH_SIZE` (16,384: a
        batch is held in memory whole); default :data:`DEFAULT_BATCH_SIZE` (512).

    Returns
    -------
    Cohort
        The cohort directory (``path``; path-like), its manifest and its tables
        (:meth:`Cohort.table`).

    Raises
    ------
    ParameterError
        ``n_patients``, ``seed``, ``batch_size`` or ``shard_size`` is not a whole number
        in its range, ``shard_size`` not a multiple of ``batch_size`` (batch engine),
        ``engine`` not one of :data:`ENGINES`, ``resume`` not true or false (or true
        without ``out``), or ``progress`` not true, false or None; the message names the
        argument. Nothing is written.
    TypeError
        ``executor`` is not an executor (such as the class :class:`LocalExecutor`
        rather than an instance). Nothing is written.
    ScenarioError
        ``population`` is not a population, or its file or data is refused.
    OutputError
        ``out`` is not a directory's path, is a file, holds something else or another
        cohort (or this one, without ``resume``), is in use by another run, was begun
        with another NumPy, or cannot be written.
    MetacascadeError
        A patient the scenario or the engine refuses (a
        :class:`~metacascade.errors.ScenarioError` or
        :class:`~metacascade.engine.limits.EngineError` naming the patient's index in
        the cohort); what the run wrote is taken back when no shard is done.
    CohortInterrupted
        The run was interrupted (Ctrl-C, or SIGTERM where it raises
        :class:`~metacascade.errors.Terminated`); ``resume=True`` finishes it.
    WorkerDied
        A worker of the local pool died; ``resume=True`` finishes the run.

    """
    population = _population(population)
    if progress is not None and not is_truth_value(progress):
        raise ParameterError(f"progress: {progress!r} is not true, false or None")
    if not is_truth_value(resume):  # (a string such as "no" would count as true)
        raise ParameterError(f"resume: {resume!r} is not true or false")
    if out is not None:
        out = as_path(out, "out", noun="a directory's path", error=OutputError)
    if isinstance(executor, type):  # (its ``run`` is callable, but not without an instance)
        raise TypeError(f"executor: {executor.__name__} is a class, not an executor; give "
                        f"an instance, such as {executor.__name__}(), or None (a local "
                        "process pool)")
    if executor is not None and not callable(getattr(executor, "run", None)):
        raise TypeError(f"executor: {executor!r} is not an executor; give a "
                        "LocalExecutor, a DaskExecutor, or None (a local process pool)")
    if out is None and resume:
        raise ParameterError("out: give the directory of the cohort to resume")
    if engine not in ENGINES:
        raise ParameterError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    batch_size = whole_number(batch_size, "batch_size", low=1, high=MAX_BATCH_SIZE,
                              error=ParameterError)
    if shard_size is None:
        shard_size = batch_size if engine == "batch" else DEFAULT_SHARD_SIZE
    n_patients = whole_number(n_patients, "n_patients", low=1, high=MAX_PATIENTS,
                              error=ParameterError)
    shard_size = whole_number(shard_size, "shard_size", low=1, error=ParameterError)
    if engine == "batch" and shard_size % batch_size:
        raise ParameterError(f"shard_size: {shard_size} must be a multiple of the batch "
                             f"size {batch_size} with the batch engine")
    seed = whole_number(seed, "seed", low=0, high=2**63 - 1, allowed="in [0, 2^63)",
                        error=ParameterError)
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
    removed = remove_derived(out) if shards else []  # (stale once shards come)
    executor = executor or LocalExecutor()
    with (Progress(n_shards, len(done), sum(s.stop - s.start for s in shards),
                   under_way=lambda: patients_under_way(out),
                   notes=_removed_note(removed) + (_notes(
                       n_shards, getattr(executor, "workers", None), identity)
                       if not done else []))
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


def _removed_note(removed: list[str]) -> list[str]:
    """The note of a resume that removed the analysis or report of the shards done."""
    if not removed:
        return []
    return [f"removed {', '.join(removed)}, written for the shards done before this resume "
            "(metacascade analyze and report write them again for the whole cohort)"]


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


