"""Long check: the closed-form absorption B = (I - Q)^-1 R against per-cell walks.

Every entry point of both reference bodies, for every embolus type, is walked with
1,000,000 cells and compared with the closed form by a Pearson chi-square test. The
family-wise significance is ALPHA, Bonferroni-corrected over all comparisons. Run with
``make verify`` (about a minute); ``tests/test_routing.py`` runs a quick subset in CI.
"""

import numpy as np
import pytest
from scipy import stats

from metacascade.physiology import EMBOLI, get_body, list_bodies
from metacascade.physiology.routing import compiled, walk_cells

ALPHA = 0.01
N_CELLS = 1_000_000

CASES = [
    (body, embolus, entry)
    for body in list_bodies()
    for embolus in EMBOLI
    for entry in (*get_body(body).beds, *get_body(body).junctions)
]


def _run(body: str, embolus: str, entry: str, seed: int) -> float:
    chain = compiled(body, embolus)
    counts = walk_cells(chain, entry, N_CELLS, np.random.default_rng(seed))
    expected = N_CELLS * chain.absorption_from(entry)
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    exp *= obs.sum() / exp.sum()
    return float(stats.chisquare(obs, exp).pvalue)


@pytest.mark.parametrize(("body", "embolus", "entry"), CASES)
def test_walk_matches_closed_form(body, embolus, entry):
    seed = CASES.index((body, embolus, entry))
    assert _run(body, embolus, entry, seed) > ALPHA / len(CASES)
