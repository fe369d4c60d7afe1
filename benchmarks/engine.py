"""Engine costs: speed-up over the per-cell reference, cost vs cells shed, throughput.

Prints a table, or one JSON object with ``--json``. Usage::

    python benchmarks/engine.py [--json] [--quick] [--profile]

Keys (goals from the issue in brackets):

``speedup_vs_reference`` [>= 1000]
    Median time of :func:`metacascade.engine.reference.run_reference` over the median
    time of :func:`metacascade.engine.kernel.run`, on the same compiled model: a breast
    primary over one year, its diameter chosen so that about 10^5 cells are shed. Null
    (with ``reference_error``) when the reference engine cannot be imported or run.
``cost_ratio_1e12_vs_1e4`` [<= 2]
    Time of one patient-year when 10^12 cells are shed over time with 10^4, the chance to
    divide or go dormant after extravasation scaled inversely so that the expected
    number of colonies is the same (``colonies_1e4_mean`` and ``colonies_1e12_mean``
    show it is).
``patient_years_per_s`` [>= 100]
    Default breast scenario (10 years), one process, compiled once: 10 * runs / seconds.
    ``patient_years_per_s_with_compile`` counts compiling the scenario in every run.

``--profile`` prints the ten most expensive functions of ``kernel.run`` on the default
breast scenario to stderr (cProfile, by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.engine.growth import primary_cells
from metacascade.engine.kernel import run, simulate
from metacascade.scenario import Scenario

SPEEDUP_CELLS = 1e5
SMALL_CELLS, LARGE_CELLS = 1e4, 1e12


def _median_seconds(fn: Callable[[int], Any], repeats: int) -> float:
    """Median wall time of ``fn(i)`` for ``i`` in ``range(repeats)`` (a seed per run)."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _expected_shed(model: CompiledModel) -> float:
    """Cells the primary is expected to shed over the horizon (colonies' share left out)."""
    t = np.linspace(0.0, model.horizon_days, 4001)
    cells = primary_cells(model, t)
    integral = float(np.sum(0.5 * (cells[1:] + cells[:-1]) * np.diff(t)))
    return model.shedding_per_cell_per_day * integral


def _breast(**fields: Any) -> CompiledModel:
    return compile_scenario(Scenario.from_dict({"cancer": "breast", **fields}))


def speedup_vs_reference(repeats: int, reference_repeats: int) -> dict[str, Any]:
    """Fast engine vs the per-cell reference, same compiled model, ~1e5 cells shed."""
    diameter = 1.0
    for _ in range(4):  # shed cells grow about as diameter^3; a few rounds settle it
        model = _breast(horizon_years=1, primary_diameter_mm=diameter)
        diameter *= (SPEEDUP_CELLS / _expected_shed(model)) ** (1 / 3)
    model = _breast(horizon_years=1, primary_diameter_mm=diameter)
    out: dict[str, Any] = {
        "speedup_primary_diameter_mm": diameter,
        "speedup_expected_shed": _expected_shed(model),
        "speedup_vs_reference": None,
    }
    fast = _median_seconds(lambda i: run(model, i), repeats)
    out["speedup_kernel_s"] = fast
    try:
        from metacascade.engine.reference import run_reference
    except ImportError as error:
        out["reference_error"] = f"cannot import the reference engine: {error}"
        return out
    try:
        slow = _median_seconds(lambda i: run_reference(model, i), reference_repeats)
    except Exception as error:  # report it; a benchmark should not crash on it
        out["reference_error"] = f"{type(error).__name__}: {error}"
        return out
    out.update(speedup_reference_s=slow, speedup_vs_reference=slow / fast)
    return out


def _scaled(base: CompiledModel, cells: float, colonise: float) -> CompiledModel:
    """``base`` shedding ``cells`` in expectation, colonisation chances times ``colonise``."""
    return replace(
        base,
        shedding_per_cell_per_day=base.shedding_per_cell_per_day * cells / _expected_shed(base),
        p_divide=base.p_divide * colonise,
        p_dormant=base.p_dormant * colonise,
    )


def cost_ratio(repeats: int) -> dict[str, Any]:
    """One patient-year at 1e12 vs 1e4 cells shed, the same expected number of colonies.

    Colonies come from cells that divide at once or after dormancy; both chances are
    scaled by the same factor, inversely to the cells shed, so every expected count
    downstream of extravasation is the same. The 1e4 model uses the largest factor that
    keeps ``p_divide + p_dormant`` just below 1.
    """
    base = _breast(horizon_years=1)
    most = 0.999 / float(np.max(base.p_divide + base.p_dormant))  # a hair below 1: rounding
    small = _scaled(base, SMALL_CELLS, most)
    large = _scaled(base, LARGE_CELLS, most * SMALL_CELLS / LARGE_CELLS)
    colonies: dict[str, list[int]] = {"small": [], "large": []}

    def timed(model: CompiledModel, key: str) -> float:
        def once(i: int) -> None:
            colonies[key].append(len(run(model, i).colonies))

        return _median_seconds(once, repeats)

    small_s, large_s = timed(small, "small"), timed(large, "large")
    return {
        "cost_ratio_1e12_vs_1e4": large_s / small_s,
        "patient_year_1e4_s": small_s,
        "patient_year_1e12_s": large_s,
        "colonies_1e4_mean": statistics.fmean(colonies["small"]),
        "colonies_1e12_mean": statistics.fmean(colonies["large"]),
    }


def throughput(repeats: int) -> dict[str, Any]:
    """Patient-years per second for the default breast scenario (10 years)."""
    scenario = Scenario.from_dict({"cancer": "breast"})
    years = scenario.horizon_years
    compile_s = _median_seconds(lambda i: compile_scenario(scenario), repeats)
    model = compile_scenario(scenario)
    run_s = _median_seconds(lambda i: run(model, i), repeats)
    total_s = _median_seconds(lambda i: simulate(scenario, seed=i), repeats)
    return {
        "patient_years_per_s": years / run_s,
        "patient_years_per_s_with_compile": years / total_s,
        "breast_run_s": run_s,
        "breast_compile_s": compile_s,
        "breast_simulate_s": total_s,
        "breast_horizon_years": years,
        "breast_step_days": model.step_days,
    }


def profile(top: int = 10) -> None:
    """Print the ``top`` functions of one default breast run by own time (stderr)."""
    model = compile_scenario(Scenario.from_dict({"cancer": "breast"}))
    run(model, 0)  # warm caches and imports
    profiler = cProfile.Profile()
    profiler.enable()
    for seed in range(20):
        run(model, seed)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str]) -> dict[str, Any]:
    quick = "--quick" in argv
    result: dict[str, Any] = {}
    result.update(speedup_vs_reference(repeats=5 if quick else 21,
                                       reference_repeats=1 if quick else 3))
    result.update(cost_ratio(repeats=5 if quick else 21))
    result.update(throughput(repeats=5 if quick else 21))
    result.update(python=platform.python_version(), numpy=np.__version__, quick=quick)
    if "--profile" in argv:
        profile()
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--profile", action="store_true",
                        help="the ten most expensive functions of kernel.run, on stderr")
    options = parser.parse_args()
    measured = {key: _plain(value) for key, value in main(sys.argv[1:]).items()}
    if options.json:
        print(json.dumps(measured))
    else:
        for key, value in measured.items():
            print(f"{key:<36} {value:.4g}" if isinstance(value, float) else
                  f"{key:<36} {value}")
