"""Batched engine cost on the virtual trial population, against the per-patient kernel.

Prints one JSON object. Usage::

    python benchmarks/batch.py [--sizes 64 256 1024] [--kernel-patients 64]

Keys:

``batch_ms_per_patient``
    For each batch size: wall time of :func:`metacascade.engine.batch.simulate_batch`
    (per-patient arrays, every step, the results) over the batch size, in ms, on
    patients 0 .. size-1 of ``examples/virtual_trial_breast.yaml`` (compiled beforehand).
``kernel_ms_per_patient``
    Mean time of :func:`metacascade.engine.kernel.run` on the first patients, in ms.
``colonies_per_patient``
    Mean colonies founded per patient in the largest batch.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from metacascade.cohort.population import load_population
from metacascade.engine.batch import simulate_batch
from metacascade.engine.compile import compile_scenario
from metacascade.engine.kernel import run

POPULATION = Path(__file__).resolve().parent.parent / "examples" / "virtual_trial_breast.yaml"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--kernel-patients", type=int, default=64)
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.kernel_patients < 1:
        parser.error("--sizes and --kernel-patients: each must be >= 1")
    population = load_population(POPULATION)
    models = [compile_scenario(population.patient(1, i)[0]) for i in range(max(args.sizes))]
    out: dict[str, object] = {"python": platform.python_version(), "numpy": np.__version__}
    per_patient = {}
    colonies = 0.0
    for size in args.sizes:
        start = time.perf_counter()
        results = simulate_batch(models[:size], np.random.default_rng(size))
        per_patient[str(size)] = round(1000 * (time.perf_counter() - start) / size, 3)
        colonies = float(np.mean([len(r.raw.organ) for r in results]))
    out["batch_ms_per_patient"] = per_patient
    out["colonies_per_patient"] = round(colonies, 1)
    start = time.perf_counter()
    for i, model in enumerate(models[: args.kernel_patients]):
        run(model, i)
    out["kernel_ms_per_patient"] = round(
        1000 * (time.perf_counter() - start) / args.kernel_patients, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
