"""A cohort directory: its layout, manifest and lock, and reading it (:class:`Cohort`).

``manifest.json`` (replaced atomically) lists the shards done, the scenario, the seed,
the engine and the versions; ``patients/``, ``colonies/`` and ``observations/`` hold one
Parquet file a shard (:func:`~metacascade.cohort.shards.shard_file`). A run holds an
exclusive lock on the hidden ``.lock`` file (:func:`_claimed`), so that a second run on
the same directory is refused while it lasts; :func:`_check_directory` refuses a
directory that holds another cohort, and :func:`_prepare` finds what a resumed run
already has.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metacascade import _jit
from metacascade._checks import as_path
from metacascade._version import __version__
from metacascade.clinic.course import OBSERVATION_COLUMNS
from metacascade.cohort.population import Distribution, Population
from metacascade.cohort.shards import DTYPES, shard_file
from metacascade.cohort.tables import (
    COLONY_COLUMNS,
    PATIENT_COLUMNS,
)
from metacascade.errors import CohortError, MetacascadeError, OutputError, ParameterError

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
#: the patients table, not a string; 7: ``baseline_ctc`` is the count per 7.5 mL, the
#: CTC switch rule compares the count per 7.5 mL with the cut-off, PFS is censored at the
#: last scan, not the end of follow-up).
FORMAT = "metacascade-cohort/7"
DATASETS = ("patients", "colonies", "observations")
#: What ``metacascade analyze`` (``ANALYSIS_FILES``) and ``metacascade report``
#: (``REPORT_FILE``) write into a cohort directory by default: they describe the shards
#: done when they were written, so a resume that adds shards removes them
#: (:func:`remove_derived`).
DERIVED_FILES = ("analysis.json", "survival.png", "organs.png", "report.html")
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

        :class:`~metacascade.errors.CohortError` if the directory holds no readable one
        (as :func:`metacascade.analysis.read_cohort` and :func:`metacascade.analyze`
        raise).
        """
        path = self.path / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CohortError(f"{str(self.path)!r} is not a cohort directory: no "
                              f"{MANIFEST}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CohortError(f"cannot read {str(path)!r}: "
                              f"{getattr(error, 'strerror', None) or error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("shards_done"), list):
            raise CohortError(f"{str(path)!r} is not a cohort's manifest (no list of "
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

        Raises
        ------
        ParameterError
            ``name`` is not one of the datasets, ``columns`` not a list of its columns,
            or ``where`` not a list of conditions on its columns (or of values that do
            not fit their types); the message names the argument.
        CohortError
            The directory holds no readable manifest, or a shard it lists as done is
            missing or cannot be read.

        """
        if name not in DATASETS:
            raise ParameterError(f"table: unknown dataset {name!r}; allowed: "
                                 f"{', '.join(DATASETS)}")
        manifest = self.manifest
        known = _columns(name, manifest)
        if columns is not None:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise ParameterError(f"columns: {columns!r} is not a list of column names")
            unknown = [c for c in columns if c not in known]
            if unknown:
                raise ParameterError(f"columns: {', '.join(map(repr, unknown))} not in the "
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
            raise CohortError(f"cannot read the {name} dataset of {str(self.path)!r}: a "
                              f"shard the manifest lists as done is missing ({error})") from None
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            if filters is None:
                raise CohortError(f"cannot read the {name} dataset of {str(self.path)!r}: "
                                  f"{error}") from None
            raise ParameterError(f"where: {list(where or [])!r} does not fit the {name} "
                                 f"dataset's column types ({error})") from None
        except (OSError, pa.ArrowException) as error:
            raise CohortError(f"cannot read the {name} dataset of {str(self.path)!r}: "
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
        raise ParameterError(f"where: {where!r} is not a list of (column, op, value)")
    if len(where) == 3 and isinstance(where[0], str):  # one condition, not a list of them
        raise ParameterError(f"where: {where!r} is not a list of (column, op, value) but one; "
                             f"give [{where!r}]")
    checked = []
    for condition in where:
        if not (isinstance(condition, (tuple, list)) and len(condition) == 3):
            raise ParameterError(f"where: {condition!r} is not a (column, op, value)")
        column, op, value = condition
        if column not in known:
            raise ParameterError(f"where: {column!r} not in the {name} dataset; its columns: "
                                 f"{', '.join(known)}")
        if op not in WHERE_OPS:
            raise ParameterError(f"where: {op!r} is not one of {', '.join(WHERE_OPS)}")
        if op in ("in", "not in") and (isinstance(value, (str, bytes))
                                       or not isinstance(value, Iterable)):
            raise ParameterError(f"where: {op!r} takes a list of values, not {value!r}")
        checked.append((column, op, value))
    return checked or None


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


def remove_derived(out: Path) -> list[str]:
    """Remove the :data:`DERIVED_FILES` in ``out``; the names removed.

    Called when a resumed run is about to add shards: an analysis or report of the
    shards done so far would otherwise stay beside the completed cohort, describing
    fewer patients than it holds.
    """
    removed = []
    for name in DERIVED_FILES:
        path = out / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed
