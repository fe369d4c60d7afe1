"""Cohort throughput and memory: patients per second with the full clinic.

Prints one JSON object. Usage::

    python benchmarks/cohort.py [--json] [--patients N] [--workers K] [--profile]

Keys (goals from the issue in brackets):

``patients_per_s`` [>= 1700]
    The virtual-trial breast population (``examples/virtual_trial_breast.yaml``: scans,
    CTC draws, chemotherapy lines; its horizon) run by :func:`simulate_cohort` on a local
    pool of ``--workers`` processes (default 2), N patients / wall seconds.
``peak_rss_mib``
    Peak resident memory of this process and its workers (MiB, ``getrusage``).
``seconds_per_patient_engine``, ``seconds_per_patient_clinic``
    Where one patient's time goes (one process, the first ``--profile-patients``
    patients): the engine (:func:`metacascade.simulate`) and the clinical course
    (:func:`metacascade.clinic.course.follow`).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from metacascade.clinic.course import follow
from metacascade.cohort import LocalExecutor, load_population, simulate_cohort
from metacascade.engine.kernel import simulate

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "virtual_trial_breast.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile-patients", type=int, default=10)
    args = parser.parse_args()
    population = load_population(EXAMPLE)
    engine = clinic = 0.0
    for i in range(args.profile_patients):
        scenario, seed, _ = population.patient(1, i)
        start = time.perf_counter()
        result = simulate(scenario, seed=seed)
        middle = time.perf_counter()
        follow(result, scenario)
        engine += middle - start
        clinic += time.perf_counter() - middle
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        simulate_cohort(population, args.patients, seed=1, out=Path(tmp) / "cohort",
                        executor=LocalExecutor(args.workers), shard_size=16, progress=False)
        seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {
        "patients": args.patients, "workers": args.workers,
        "horizon_years": population.base.horizon_years,
        "seconds": round(seconds, 3),
        "patients_per_s": round(args.patients / seconds, 2),
        "peak_rss_mib": round(max(own, children) / 1024, 1),
        "seconds_per_patient_engine": round(engine / args.profile_patients, 4),
        "seconds_per_patient_clinic": round(clinic / args.profile_patients, 4),
        "python": sys.version.split()[0],
    }
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
