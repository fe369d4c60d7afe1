"""Speed of follow vs follow_batch on the trial population's Results (ms per patient).

Run: python benchmarks/clinic_batch.py [patients]
"""

import argparse
import time
from pathlib import Path

import numpy as np

from metacascade.clinic.batch import follow_batch
from metacascade.clinic.course import follow
from metacascade.cohort import load_population
from metacascade.engine.kernel import simulate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "virtual_trial_breast.yaml"


def main(n: int) -> None:
    population = load_population(EXAMPLE)
    patients = [population.patient(1, i) for i in range(n)]
    scenarios = [scenario for scenario, _, _ in patients]
    results = [simulate(scenario, seed=seed) for scenario, seed, _ in patients]
    start = time.perf_counter()
    for result, scenario in zip(results, scenarios, strict=True):
        follow(result, scenario)
    single = (time.perf_counter() - start) / n * 1e3
    start = time.perf_counter()
    follow_batch(results, scenarios, np.random.default_rng(1))
    batch = (time.perf_counter() - start) / n * 1e3
    print(f"{n} patients: follow {single:.2f} ms/patient, follow_batch {batch:.2f} ms/patient")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patients", type=int, nargs="?", default=256,
                        help="patients of the trial population (default 256)")
    patients = parser.parse_args().patients
    if patients < 1:
        parser.error(f"patients: {patients} must be >= 1")
    main(patients)
