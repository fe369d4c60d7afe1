"""What a cohort's cost per patient depends on: the horizon, the step and the batch size.

Prints one JSON object. Usage::

    python benchmarks/scaling.py [--population FILE] [--patients N]
                                 [--horizons 4 6 8 10] [--steps 7 14 28]
                                 [--batch-sizes 128 256 512 1024]

For each value, the population (default ``examples/breast_population.yaml``) with that
one field changed runs ``--patients`` patients (default 1024) in one process, in
batches, through :func:`~metacascade.engine.batch.run_batch` and
:func:`~metacascade.clinic.batch.follow_batch` (the cohort's batch engine and clinic;
the compiled loops loaded beforehand, as in a worker), each batch ``--repeats`` times
(default 2; the quickest counts: single runs vary by about 10 %). Keys:

``horizon_years``, ``step_days``, ``batch_size``
    One row per value: ``engine_ms`` and ``clinic_ms`` per patient (wall time),
    ``colonies`` founded per patient, ``died`` (share of patients dead by the horizon).
    The batch size is ``--batch-size`` (default 512) in the first two.
``after_death``
    At the population's own horizon and step: the share of the engine's colonies
    founded after their patient's death (the untreated history runs to the horizon),
    and of the patient-time (patients x days) after death. They bound what stopping
    the engine at death could save.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from metacascade.clinic.batch import follow_batch
from metacascade.cohort.executors import keep_freed_memory
from metacascade.cohort.population import Population
from metacascade.engine.batch import run_batch
from metacascade.engine.compile import compile_scenario
from metacascade.errors import MetacascadeError
from metacascade.scenario import read_scenario_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "breast_population.yaml"


def measure(data: dict[str, Any], n: int, batch_size: int, repeats: int = 1,
            ) -> tuple[dict[str, float], float, float]:
    """Per patient costs of ``n`` patients of population ``data`` in batches.

    Each batch's engine and clinic run ``repeats`` times; the quickest of each counts.
    Also the shares of colonies and of patient-time after death.
    """
    population = Population.from_dict(data)
    engine = clinic = 0.0
    colonies = died = after = 0
    patient_days = days_after = 0.0
    for start in range(0, n, batch_size):
        drawn = population.patients(1, range(start, min(n, start + batch_size)))
        models = [compile_scenario(d[0]) for d in drawn]
        times = []
        for _ in range(repeats):  # (the same draws each time: the quickest counts)
            began = time.perf_counter()
            results = run_batch(models, np.random.default_rng(start + 1),
                                seeds=[d[1] for d in drawn])
            ran = time.perf_counter()
            course = follow_batch(results, [d[0] for d in drawn],
                                  np.random.default_rng(start + 2))
            times.append((ran - began, time.perf_counter() - ran))
        engine += min(t[0] for t in times)
        clinic += min(t[1] for t in times)
        death = np.where(np.isnan(course.death_day), np.inf, course.death_day)
        founded = results.colonies["founded"]
        colonies += founded.size
        after += int((founded > death[results.patient]).sum())
        died += int(np.isfinite(death).sum())
        horizon = float(models[0].horizon_days)
        patient_days += horizon * len(drawn)
        days_after += float(np.clip(horizon - death, 0.0, None).sum())
    row = {"engine_ms": round(engine / n * 1e3, 3), "clinic_ms": round(clinic / n * 1e3, 3),
           "colonies": round(colonies / n, 1), "died": round(died / n, 3)}
    return row, after / max(colonies, 1), days_after / patient_days


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--population", type=Path, default=EXAMPLE)
    parser.add_argument("--patients", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--horizons", type=float, nargs="+", default=[4, 6, 8, 10])
    parser.add_argument("--steps", type=float, nargs="+", default=[7, 14, 28])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for name in ("patients", "batch_size", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(args, name)} must be >= 1")
    if min(args.batch_sizes) < 1:
        parser.error(f"--batch-sizes: {min(args.batch_sizes)} must be >= 1")
    if min(args.horizons) <= 0 or min(args.steps) <= 0:
        parser.error("--horizons and --steps: each must be > 0")
    keep_freed_memory()
    try:
        base = read_scenario_file(args.population)
    except MetacascadeError as error:
        parser.error(str(error))
    measure(base, 8, 8)  # the compiled loops loaded (or compiled) first

    def varied(field: str, value: Any) -> dict[str, Any]:
        data = copy.deepcopy(base)
        data[field] = value
        return data

    out: dict[str, Any] = {"population": args.population.name, "patients": args.patients}
    for key, field, values in (("horizon_years", "horizon_years", args.horizons),
                               ("step_days", "step_days", args.steps)):
        out[key] = [{key: v, **measure(varied(field, v), args.patients, args.batch_size,
                                       args.repeats)[0]}
                    for v in values]
    out["batch_size"] = [{"batch_size": b, **measure(base, args.patients, b, args.repeats)[0]}
                         for b in args.batch_sizes]
    _, colonies, time_after = measure(base, args.patients, args.batch_size)
    out["after_death"] = {"colonies": round(colonies, 3), "patient_time": round(time_after, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
