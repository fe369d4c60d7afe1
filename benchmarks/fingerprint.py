"""Hashes of what the engine, the clinic and the tables make (a change must keep them).

A change meant to make the code faster or tidier must leave every result as it was.
This prints, for each example population, one SHA-256 per stage of a batch run
(``engine``: every colony column, snapshot and the primaries; ``clinic``: the course's
arrays and tables; ``tables``: the cohort's three tables), one line each. Run it before
and after the change and compare::

    python benchmarks/fingerprint.py --batch-size 7 > before.txt
    # ... change ...
    python benchmarks/fingerprint.py --batch-size 7 | diff before.txt -

Small and large batches (``--batch-size 7`` and ``64``) exercise different paths; so do
the compiled loops on and off (``METACASCADE_JIT=0``), which must give the same hashes.
The hashes depend on NumPy's version (its random algorithms), so compare runs on one
installation only; they are not stored in the repository.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metacascade.clinic.batch import follow_batch
from metacascade.cohort import load_population
from metacascade.cohort.tables import batch_columns, cohort_tables
from metacascade.engine.batch import run_batch
from metacascade.engine.compile import compile_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
POPULATIONS = ("breast_population.yaml", "virtual_trial_breast.yaml")


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` (arrays, frames, mappings, sequences, scalars) to ``digest``."""
    if isinstance(value, pd.DataFrame):
        digest.update(repr(list(value.columns)).encode())
        digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            digest.update(repr(value.tolist()).encode())
        else:
            digest.update(str(value.dtype).encode() + repr(value.shape).encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        for key in sorted(value):
            digest.update(str(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            _feed(digest, item)
    else:
        text = repr(value)
        if " at 0x" in text:  # an object's address: not a result
            raise TypeError(f"cannot fingerprint {type(value).__name__}")
        digest.update(text.encode())


def fingerprint(parts: Iterable[Any]) -> str:
    """SHA-256 of ``parts`` in order."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


def run(population_file: Path, patients: int, batch_size: int) -> dict[str, str]:
    """The engine, clinic and tables hashes of ``patients`` patients in batches."""
    population = load_population(population_file)
    engine, clinic, tables = [], [], []
    for start in range(0, patients, batch_size):
        numbers = range(start, min(patients, start + batch_size))
        drawn = [population.patient(1, i) for i in numbers]
        scenarios = [d[0] for d in drawn]
        result = run_batch([compile_scenario(s) for s in scenarios],
                           np.random.default_rng(start), seeds=[d[1] for d in drawn])
        engine += [result.offsets, dict(result.colonies), result.primary_cells_end,
                   result.history_end_day,
                   [(s.t_days, s.shed, s.died, s.counters, s.dormant_now, s.colonies)
                    for s in result.snapshots]]
        course = follow_batch(result, scenarios, np.random.default_rng(10**6 + start))
        # The lesions object holds the engine's columns and the scenarios' rules again.
        clinic += [{f.name: getattr(course, f.name) for f in dataclasses.fields(course)
                    if f.name != "_lesions"}]
        tables += list(cohort_tables(scenarios, [d[1] for d in drawn], [d[2] for d in drawn],
                                     numbers, result, batch_columns(course),
                                     population.parameter_names()))
    return {"engine": fingerprint(engine), "clinic": fingerprint(clinic),
            "tables": fingerprint(tables)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if args.patients < 1 or args.batch_size < 1:
        parser.error("--patients and --batch-size: each must be >= 1")
    for name in POPULATIONS:
        hashes = run(EXAMPLES / name, args.patients, args.batch_size)
        for stage, value in hashes.items():
            print(f"{name} {stage} {value}")


if __name__ == "__main__":
    main()
