"""Routing: the compiled chain against cells walked through the *body* itself.

``walk_cells`` (tests/test_routing.py, verification/test_routing_walks.py) walks the
compiled Q, R and E, so it checks the linear algebra but not the compiling: a chain
that read a body's transit times or arrest odds wrongly would agree with its own walk.
The walk here reads the body's beds, junctions, shares and transit times directly (an
independent reading of the same description): each cell carries its own exponential
death clock while it travels, may be killed or arrest on entering a bed, and otherwise
crosses the capillaries and leaves along one of the bed's outflows. Its fates are
compared with the closed form by a Pearson chi-square test and its mean time in blood
with the chain's by a z test.

Family-wise significance ALPHA = 0.001, Bonferroni over the 2 x len(CASES) = 8 tests.
Seen to fail with the capillary transit left out of a bed's travel time (the killing
clock then runs only in the veins) and with arrest probabilities scaled instead of
their odds.
"""

import math

import numpy as np
import pytest
from scipy import stats

from metacascade.physiology import EMBOLI, get_body
from metacascade.physiology.emboli import SIZE_CLASSES
from metacascade.physiology.model import Body
from metacascade.physiology.routing import compiled

ALPHA = 0.001
CASES = [("adult_male", "single", "prostate"), ("adult_female", "single", "breast"),
         ("adult_male", "single", "portal"), ("adult_female", "cluster", "arterial")]
#: Per-test threshold: Bonferroni over a chi-square and a z test per case.
THRESHOLD = ALPHA / (2 * len(CASES))
N_CELLS = 20_000


def _walk(body: Body, embolus: str, entry: str, n_cells: int,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Fates (beds in body order, then died in blood) and times in blood, in s."""
    kind = EMBOLI[embolus]
    hazard_per_s = kind.killing_rate.value / 3600.0
    factor = kind.arrest_odds_factor.value * SIZE_CLASSES["medium"].arrest_odds_factor.value
    beds = list(body.beds)

    def arrest(name: str) -> float:
        base = body.beds[name].arrest_per_pass.value
        if base >= 1.0:
            return 1.0
        odds = base / (1.0 - base) * factor
        return odds / (1.0 + odds)

    def choose(shares: dict) -> str:
        names = list(shares)
        weights = np.array([shares[k].value for k in names])
        return names[rng.choice(len(names), p=weights / weights.sum())]

    fates = np.zeros(len(beds) + 1, dtype=np.int64)
    times = np.zeros(n_cells)
    for c in range(n_cells):
        t = 0.0
        clock = rng.exponential(1.0 / hazard_per_s) if hazard_per_s > 0 else math.inf
        node, leaving = entry, entry in body.beds  # an entry at a bed: its venous outflow
        absorbed = False
        while not absorbed:
            if node in body.junctions:
                t += body.junctions[node].transit.value
                if t >= clock:
                    break
                node = choose(dict(body.junctions[node].feeds))
                continue
            bed = body.beds[node]
            if not leaving:
                if rng.random() < min(1.0, bed.death_per_pass.value * kind.death_factor.value):
                    fates[-1] += 1
                    absorbed = True
                elif rng.random() < arrest(node):
                    fates[beds.index(node)] += 1
                    absorbed = True
                if absorbed:
                    times[c] = t
                    break
                t += bed.capillary_transit.value
                if t >= clock:
                    break
            leaving = False
            node = choose(dict(bed.drains_to))
        if not absorbed:  # the clock ran out on the way
            fates[-1] += 1
            times[c] = clock
    return fates, times


@pytest.mark.parametrize(("body", "embolus", "entry"), CASES)
def test_the_compiled_chain_is_the_bodys(body, embolus, entry):
    """Fates (chi-square) and mean time in blood (z) at THRESHOLD each."""
    chain = compiled(body, embolus)
    fates, times = _walk(get_body(body), embolus, entry, N_CELLS, np.random.default_rng(3))
    assert fates.sum() == N_CELLS
    expected = N_CELLS * chain.absorption_from(entry)
    keep = expected >= 5
    obs = np.append(fates[keep], fates[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    p_fates = stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue
    assert p_fates > THRESHOLD, f"fates: p = {p_fates:.3g}"
    mean = chain.time_in_blood_s[chain.entry_index(entry)]
    z = (times.mean() - mean) / (times.std(ddof=1) / math.sqrt(N_CELLS))
    p_time = 2 * stats.norm.sf(abs(z))
    assert p_time > THRESHOLD, f"time in blood {times.mean():.4g} s vs {mean:.4g} s"
