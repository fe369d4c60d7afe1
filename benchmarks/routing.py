"""Routing costs: compiling a body, and drawing the fates of 10 vs 10^12 cells.

Prints a table, or one JSON object with ``--json``. Usage:
``python benchmarks/routing.py [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from metacascade.physiology import get_body
from metacascade.physiology.routing import compile_routing


def _median_seconds(fn, repeats: int = 200) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> dict[str, float]:
    body = get_body("adult_male")
    chain = compile_routing(body, "single")
    rng = np.random.default_rng(1)
    small = _median_seconds(lambda: chain.sample_fates("prostate", 10, rng), 2000)
    large = _median_seconds(lambda: chain.sample_fates("prostate", 10**12, rng), 2000)
    return {
        "compile_s": _median_seconds(lambda: compile_routing(body, "single"), 50),
        "draw_10_cells_s": small,
        "draw_1e12_cells_s": large,
        "cost_ratio_1e12_vs_10": large / small,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args()
    result = main()
    if options.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<24} {value:.3g}")
