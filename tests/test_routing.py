"""Routing: the closed form B = (I - Q)^-1 R against the facts it must reproduce and
against a per-cell walk through the same compiled chain."""

import numpy as np
import pytest
from scipy import stats

from metacascade import route
from metacascade.cancers import get_cancer, list_cancers
from metacascade.physiology import get_body
from metacascade.physiology.routing import compile_routing, compiled, walk_cells

#: Significance of each chi-square comparison, before Bonferroni correction.
ALPHA = 0.001


def _chi_square_p(counts: np.ndarray, probs: np.ndarray) -> float:
    """Pearson chi-square p-value; cells with expected count < 5 are pooled."""
    n = counts.sum()
    expected = n * probs / probs.sum()
    small = expected < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    return float(stats.chisquare(obs, exp).pvalue)


WALK_CASES = [
    ("adult_male", "single", "prostate"),
    ("adult_male", "single", "portal"),
    ("adult_male", "cluster", "lung"),
    ("adult_female", "platelet", "breast"),
    ("adult_female", "single", "lymphatic"),
    ("adult_female", "single", "arterial"),
]


@pytest.mark.parametrize(("body", "embolus", "entry"), WALK_CASES)
def test_closed_form_matches_a_walk_of_single_cells(body, embolus, entry):
    """Chi-square at ALPHA / len(WALK_CASES) (Bonferroni over the cases)."""
    chain = compiled(body, embolus)
    counts = walk_cells(chain, entry, 20_000, np.random.default_rng(7))
    assert counts.sum() == 20_000
    p = _chi_square_p(counts, chain.absorption_from(entry))
    assert p > ALPHA / len(WALK_CASES), f"p = {p:.3g}"


def test_the_walk_comparison_detects_a_broken_chain():
    """Move 2 % of the absorption mass from lung to kidney: the test must reject."""
    chain = compiled("adult_male", "single")
    counts = walk_cells(chain, "venous", 20_000, np.random.default_rng(7))
    broken = chain.absorption_from("venous").copy()
    lung, kidney = chain.states.index("lung"), chain.states.index("kidney")
    broken[lung] -= 0.02
    broken[kidney] += 0.02
    assert _chi_square_p(counts, broken) < ALPHA / len(WALK_CASES)


@pytest.mark.parametrize("embolus", ["single", "cluster", "platelet"])
@pytest.mark.parametrize("plexus", [True, False])
def test_shares_sum_to_one(embolus, plexus):
    for name in list_cancers():
        result = route(name, embolus=embolus, vertebral_plexus=plexus)
        total = sum(result.arrest.values()) + result.died_in_blood
        assert abs(total - 1.0) < 1e-9, name
        assert all(v >= 0 for v in result.arrest.values())
        assert result.mean_time_in_blood_s > 0


def _top(name: str) -> str:
    return route(name).ranked()[0][0]


@pytest.mark.parametrize("name", ["colon", "stomach"])
def test_gut_primaries_arrest_mostly_in_liver(name):
    assert _top(name) == "liver"


def test_rectum_splits_between_liver_and_lung():
    """Upper rectum: portal vein (liver first); mid and lower: caval (lung first)."""
    ranked = [organ for organ, _ in route("rectum").ranked()[:2]]
    assert set(ranked) == {"liver", "lung"}


@pytest.mark.parametrize("name", ["breast", "osteosarcoma", "choriocarcinoma", "melanoma",
                                  "kidney"])
def test_caval_primaries_arrest_mostly_in_lung(name):
    assert _top(name) == "lung"


def test_lung_primary_spreads_by_arterial_flow():
    result = route("lung")
    # Only cells that pass a systemic bed come back to the lung: far fewer than for a
    # primary draining into the vena cava.
    assert result.arrest["lung"] < 0.5 * route("breast").arrest["lung"]
    body = get_body(result.body)
    groups = {"brain": ["brain"], "bone": ["vertebral_marrow", "bone_marrow"],
              "adrenal": ["adrenal"], "kidney": ["kidney"]}
    ratios = {
        g: sum(result.arrest[o] for o in organs) / sum(body.arterial_share(o) for o in organs)
        for g, organs in groups.items()
    }
    # Share per unit of arterial flow is the same for all four, within 10 %.
    assert max(ratios.values()) / min(ratios.values()) < 1.10, ratios
    order = sorted(groups, key=lambda g: -sum(result.arrest[o] for o in groups[g]))
    assert order == ["kidney", "brain", "bone", "adrenal"]


def test_vertebral_plexus_carries_prostate_cells_to_the_spine():
    open_ = route("prostate").arrest["vertebral_marrow"]
    closed = route("prostate", vertebral_plexus=False).arrest["vertebral_marrow"]
    assert open_ >= 5 * closed


@pytest.mark.parametrize("body", ["adult_male", "adult_female"])
def test_injection_route_decides_the_first_organ(body):
    """Proctor 1976: portal injection -> liver, vena cava -> lung, arterial -> many organs."""
    chain = compiled(body)
    portal = dict(zip(chain.absorbing, chain.absorption_from("portal"), strict=True))
    venous = dict(zip(chain.absorbing, chain.absorption_from("venous"), strict=True))
    arterial = chain.absorption_from("arterial")
    assert max(portal, key=portal.get) == "liver" and portal["liver"] > 0.7
    assert max(venous, key=venous.get) == "lung" and venous["lung"] > 0.7
    assert arterial.max() < 0.25 and (arterial > 0.01).sum() >= 8


def test_clusters_arrest_in_the_first_bed_more_than_single_cells():
    single = route("breast", embolus="single")
    cluster = route("breast", embolus="cluster")
    platelet = route("breast", embolus="platelet")
    assert cluster.arrest["lung"] > single.arrest["lung"]
    assert cluster.died_in_blood < single.died_in_blood
    assert platelet.died_in_blood < single.died_in_blood


def test_time_in_blood_is_about_one_venous_leg_for_caval_primaries():
    chain = compiled("adult_male")
    leg = get_body("adult_male").junctions["venous"].transit.value
    t = chain.time_in_blood_s[chain.entry_index("kidney")]
    assert leg < t < 2 * get_body("adult_male").circulation_time_s()


def test_absorption_is_the_fundamental_matrix_times_r():
    chain = compiled("adult_female")
    b_states = chain.fundamental() @ chain.R
    expected = chain.E @ b_states
    expected[:, -1] += chain.E_death
    np.testing.assert_allclose(chain.absorption, expected, atol=1e-12)


def test_fates_of_ten_or_a_trillion_cells_are_one_draw(rng):
    chain = compiled("adult_male")
    for n in (10, 10**12):
        counts = chain.sample_fates("prostate", n, rng)
        assert counts.sum() == n and (counts >= 0).all()


def test_a_chain_where_nothing_is_absorbed_is_refused(monkeypatch):
    from dataclasses import replace

    from metacascade.citations import Assumption, Parameter
    from metacascade.errors import BodyError
    from metacascade.physiology import emboli

    body = get_body("adult_male")
    zero = Parameter(0.0, "1", Assumption("test"), (0.0, 1.0))
    beds = {k: replace(b, arrest_per_pass=zero, death_per_pass=zero) for k, b in body.beds.items()}
    immortal = replace(emboli.EMBOLI["single"],
                       killing_rate=Parameter(0.0, "1/h", Assumption("test")))
    monkeypatch.setitem(emboli.EMBOLI, "single", immortal)
    with pytest.raises(BodyError, match="circulate forever"):
        compile_routing(replace(body, beds=beds), "single")


def test_size_class_follows_ctc_diameter():
    assert get_cancer("breast").size_class.name == "large"
    assert get_cancer("colon").size_class.name == "small"
    assert get_cancer("prostate").size_class.name == "medium"


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"cancer": None}, "CatalogError", r"^cancer: expected a cancer's catalog name"),
    ({"cancer": 3}, "CatalogError", r"^cancer: expected a cancer's catalog name"),
    ({"cancer": "breast", "vertebral_plexus": "no"}, "ParameterError",
     r"^vertebral_plexus: 'no' is not true or false"),
    ({"cancer": "breast", "vertebral_plexus": None}, "ParameterError",
     r"^vertebral_plexus: None is not true or false"),
])
def test_route_names_a_bad_argument(kwargs, error, pattern):
    from metacascade import errors

    with pytest.raises(getattr(errors, error), match=pattern):
        route(**kwargs)


def test_route_takes_numpy_truth_values():
    closed = route("prostate", vertebral_plexus=np.bool_(False))
    assert closed.vertebral_plexus is False
    assert closed.arrest == route("prostate", vertebral_plexus=False).arrest
