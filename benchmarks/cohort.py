"""Cohort throughput and memory: patients per second with the full clinic.

Prints one JSON object. Usage::

    python benchmarks/cohort.py [--json] [--patients N] [--workers K] [--population FILE]

Keys (goals from the issue in brackets):

``patients_per_s`` [>= 1700]
    The population of ``--population`` (default ``examples/breast_population.yaml``, the
    issue's "default breast population, 10-year horizon, full clinic": catalog breast
    cancer, CT and bone scans, CTC draws, two chemotherapy lines;
    ``examples/virtual_trial_breast.yaml`` is another case: six years, metastases
    doubling in the tumour's time at 1e9 cells) run by :func:`simulate_cohort` on a
    local pool of ``--workers`` processes (default 2) with ``--engine`` (default
    ``batch``, ``--batch-size`` 512), N patients / wall seconds. The goal is for
    100,000 patients; the default ``--patients`` 20,480 (40 batches, 20 a worker)
    comes within a few % of it (2-core machine, in one half hour: 854-884 patients/s,
    and 822 at 100,000), where 2,048 gave 657-671: the workers' start and the last
    batch weigh on a short run.
``peak_rss_mib``
    Peak resident memory of the largest single process, this one or a worker (MiB,
    ``getrusage``).
``peak_total_rss_mib``
    Peak of the summed resident memory of this process and all its workers, sampled
    every 0.5 s during the run, and at least ``peak_rss_mib`` (a short run's samples
    miss its peaks; MiB; null without ``psutil``, which the ``dask`` extra brings).
``colonies_per_patient``
    Mean colonies founded per patient in the profiled batch (batch engine; null otherwise).
``numba``
    numba's version if the compiled loops ran (the ``fast`` extra; same results), else
    null (``METACASCADE_JIT=0`` turns them off).
``jit_warmup_seconds``
    With the loops on, the wall seconds of a small batch run in a separate process
    before the timed run, so that the loops are compiled into numba's on-disk cache
    (about 20 s, once after an install or a change of the code) or loaded from it
    (under a second); the workers of the timed run then load them. Without it a first
    run's ``seconds`` would include the compiling, in every worker at once. Null with
    the loops off.
``seconds_per_patient``
    Where the time goes, per patient, in one process: for the batch engine one batch
    of ``--batch-size`` patients (as in a worker: its memory setting, the compiled loops
    loaded beforehand) split into drawing the patients' parameters and
    compiling their models (``population``), the batch engine (``engine``), the batch
    clinic (``clinic``) and the tables (``tables``); for the per-patient engine the
    first ``--profile-patients`` patients' engine and clinic.
``draws_seconds_per_patient``
    Of ``engine`` and ``clinic`` in that batch, the CPU time spent inside the random
    draws of NumPy's ``Generator`` (binomial, Poisson, uniform, exponential), by
    method, per patient (batch engine only; null otherwise). It is the part of the
    time that the model's number of draws sets: compiled code draws them no faster
    (numba's ``Generator`` runs NumPy's algorithms on the same bit generator).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from metacascade import _jit
from metacascade.clinic.course import follow
from metacascade.cohort import LocalExecutor, load_population, simulate_cohort
from metacascade.cohort.executors import keep_freed_memory
from metacascade.cohort.population import Population
from metacascade.cohort.shards import DEFAULT_BATCH_SIZE
from metacascade.cohort.tables import batch_columns, cohort_tables
from metacascade.engine.compile import compile_scenario
from metacascade.engine.kernel import simulate
from metacascade.errors import MetacascadeError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "breast_population.yaml"


class TimedDraws:
    """A ``Generator`` that adds up the CPU time of each draw method (the same draws)."""

    def __init__(self, rng: np.random.Generator, totals: dict[str, float]) -> None:
        self._rng, self._totals = rng, totals

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._rng, name)
        if not callable(method):
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                self._totals[name] = self._totals.get(name, 0.0) + time.process_time() - start

        return timed


def profile_batch(population: Population, batch_size: int,
                  ) -> tuple[dict[str, float], dict[str, dict[str, float]], float]:
    """Seconds per patient of each stage of one batch (one process), colonies per patient.

    Also the CPU seconds per patient inside the engine's and the clinic's draws, by
    method (:class:`TimedDraws`; its bookkeeping, about a microsecond a call, is in the
    stages' times).

    Run as in a worker: with its memory setting, after a small batch has loaded (or
    compiled) the compiled loops, so that their loading is not counted.
    """
    from metacascade.clinic.batch import follow_batch
    from metacascade.engine.batch import run_batch

    keep_freed_memory()
    drawn = [population.patient(1, i) for i in range(8)]
    warm = run_batch([compile_scenario(d[0]) for d in drawn], np.random.default_rng(1),
                     seeds=[d[1] for d in drawn])
    follow_batch(warm, [d[0] for d in drawn], np.random.default_rng(2))
    start = time.perf_counter()
    drawn = [population.patient(1, i) for i in range(batch_size)]
    models = [compile_scenario(d[0]) for d in drawn]
    drawn_at = time.perf_counter()
    engine_draws: dict[str, float] = {}
    clinic_draws: dict[str, float] = {}
    results = run_batch(models, cast(np.random.Generator, TimedDraws(
        np.random.default_rng(1), engine_draws)), seeds=[d[1] for d in drawn])
    engine_at = time.perf_counter()
    course = batch_columns(follow_batch(results, [d[0] for d in drawn], cast(
        np.random.Generator, TimedDraws(np.random.default_rng(2), clinic_draws))))
    clinic_at = time.perf_counter()
    cohort_tables([d[0] for d in drawn], [d[1] for d in drawn], [d[2] for d in drawn],
                  range(batch_size), results, course, population.parameter_names())
    end = time.perf_counter()
    return {"population": (drawn_at - start) / batch_size,
            "engine": (engine_at - drawn_at) / batch_size,
            "clinic": (clinic_at - engine_at) / batch_size,
            "tables": (end - clinic_at) / batch_size}, {
        stage: {"total": sum(draws.values()) / batch_size,
                **{k: v / batch_size for k, v in sorted(draws.items(), key=lambda kv: -kv[1])}}
        for stage, draws in (("engine", engine_draws), ("clinic", clinic_draws))
    }, float(results.counts.mean())


class TreeMemory:
    """Samples the summed RSS of this process and its descendants in a thread (psutil)."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.peak: float | None = None
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that just ended
                    total += process.memory_info().rss
            self.peak = max(self.peak or 0, total)
            self._stop.wait(self.every_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def profile_patients(population: Population, n: int) -> dict[str, float]:
    """Seconds per patient of the per-patient engine and clinic (one process)."""
    engine = clinic = 0.0
    for i in range(n):
        scenario, seed, _ = population.patient(1, i)
        start = time.perf_counter()
        result = simulate(scenario, seed=seed)
        middle = time.perf_counter()
        follow(result, scenario)
        engine += middle - start
        clinic += time.perf_counter() - middle
    return {"engine": engine / n, "clinic": clinic / n}


def warm_compiled_loops(population_file: Path) -> float:
    """Wall seconds to compile (or load) the compiled loops in a process of their own.

    Runs a batch of 8 patients of the population through the batch engine and clinic,
    as a worker would, which fills numba's on-disk cache for the timed run's workers.
    """
    code = ("import sys, numpy as np\n"
            "from metacascade.cohort import load_population\n"
            "from metacascade.engine.compile import compile_scenario\n"
            "from metacascade.engine.batch import run_batch\n"
            "from metacascade.clinic.batch import follow_batch\n"
            "pop = load_population(sys.argv[1])\n"
            "drawn = [pop.patient(1, i) for i in range(8)]\n"
            "r = run_batch([compile_scenario(d[0]) for d in drawn], np.random.default_rng(1),"
            " seeds=[d[1] for d in drawn])\n"
            "follow_batch(r, [d[0] for d in drawn], np.random.default_rng(2))\n")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(population_file)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true",
                        help="print the JSON object on one line (default: indented)")
    parser.add_argument("--patients", type=int, default=20480)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", choices=("batch", "patient"), default="batch")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--profile-patients", type=int, default=10)
    parser.add_argument("--progress", action="store_true",
                        help="show the cohort's progress bar (on stderr)")
    parser.add_argument("--population", type=Path, default=EXAMPLE,
                        help="population file (default: examples/breast_population.yaml)")
    args = parser.parse_args()
    for name in ("patients", "workers", "batch_size", "profile_patients"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(args, name)} must be >= 1")
    try:
        population = load_population(args.population)
    except MetacascadeError as error:
        parser.error(str(error))
    shard = args.batch_size if args.engine == "batch" else 16
    warmup = warm_compiled_loops(args.population) if _jit.ENABLED else None
    with tempfile.TemporaryDirectory() as tmp, TreeMemory() as memory:
        start = time.perf_counter()
        simulate_cohort(population, args.patients, seed=1, out=Path(tmp) / "cohort",
                        executor=LocalExecutor(args.workers), shard_size=shard,
                        progress=args.progress, engine=args.engine,
                        batch_size=args.batch_size)
        seconds = time.perf_counter() - start
    # Memory of the run alone (the profile below holds a batch in this process).
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    colonies: float | None = None
    draws: dict[str, dict[str, float]] | None = None
    if args.engine == "batch":
        stages, draws, colonies = profile_batch(population, args.batch_size)
    else:
        stages = profile_patients(population, args.profile_patients)
    out = {
        "population": args.population.name,
        "patients": args.patients, "workers": args.workers, "engine": args.engine,
        "batch_size": args.batch_size if args.engine == "batch" else None,
        "horizon_years": population.base.horizon_years,
        "seconds": round(seconds, 3),
        "patients_per_s": round(args.patients / seconds, 2),
        "peak_rss_mib": round(max(own, children) / 1024, 1),
        "peak_total_rss_mib": (None if memory.peak is None else round(
            max(memory.peak / 2**20, max(own, children) / 1024), 1)),
        "seconds_per_patient": {k: round(v, 6) for k, v in stages.items()},
        "draws_seconds_per_patient": None if draws is None else {
            stage: {k: round(v, 6) for k, v in by_method.items()}
            for stage, by_method in draws.items()},
        "colonies_per_patient": None if colonies is None else round(colonies, 1),
        "python": sys.version.split()[0],
        "numba": _jit.NUMBA_VERSION if _jit.ENABLED else None,
        "jit_warmup_seconds": None if warmup is None else round(warmup, 2),
    }
    print(json.dumps(out, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
