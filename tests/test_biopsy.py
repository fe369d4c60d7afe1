"""Liquid biopsy: blood flows, CTC concentrations from the routing, the Poisson count,
cut-offs and bad input."""

import numpy as np
import pytest
from scipy import stats

from metacascade.clinic.biopsy import (
    ARM_VEIN_BED,
    FALSE_POSITIVE_MEAN,
    HEALTHY_AT_LEAST_TWO,
    RECOVERY,
    Circulation,
    bed_flow_ml_per_s,
    bed_flows_ml_per_s,
    classify,
    ctc_concentration_per_ml,
    ctc_cutoff,
    draining_vein_ratio,
    draw_ctc,
    expected_ctc,
)
from metacascade.errors import CatalogError, ParameterError
from metacascade.physiology import get_body

#: Significance of each statistical check (two-sided).
ALPHA = 0.001

N_DRAWS = 20_000


@pytest.fixture(scope="module")
def breast() -> Circulation:
    return Circulation.for_cancer("breast")


@pytest.fixture(scope="module")
def colon() -> Circulation:
    return Circulation.for_cancer("colon")


def _dispersion_p(counts: np.ndarray) -> float:
    """Two-sided p of the index of dispersion (n - 1) s^2 / x-bar against chi2(n - 1).

    The sample mean is the denominator (the standard statistic, which tests the shape
    of the law alone); the mean itself is tested by :func:`_mean_z_p`.
    """
    n = counts.size
    statistic = (n - 1) * counts.var(ddof=1) / counts.mean()
    tail = stats.chi2.sf(statistic, n - 1)
    return float(2 * min(tail, 1 - tail))


def _mean_z_p(counts: np.ndarray, mean: float) -> float:
    """Two-sided p of the sample mean against a Poisson mean (z-test, variance = mean)."""
    z = (counts.mean() - mean) / np.sqrt(mean / counts.size)
    return float(2 * stats.norm.sf(abs(z)))


# --- flows ---------------------------------------------------------------------------
@pytest.mark.parametrize("body_name", ["adult_male", "adult_female"])
def test_flows_are_positive_and_the_lung_takes_the_cardiac_output(body_name):
    body = get_body(body_name)
    flows = bed_flows_ml_per_s(body)
    output = body.cardiac_output.value * 1000 / 60
    assert (flows > 0).all()
    assert flows[body.organs.index("lung")] == pytest.approx(output)
    muscle = bed_flow_ml_per_s(body, "skeletal_muscle")
    assert muscle == pytest.approx(body.arterial_share("skeletal_muscle") * output)


@pytest.mark.parametrize("body_name", ["adult_male", "adult_female"])
def test_the_gut_outflow_into_the_portal_vein_is_the_livers_portal_inflow(body_name):
    body = get_body(body_name)
    output = body.cardiac_output.value * 1000 / 60
    portal_in = sum(bed_flow_ml_per_s(body, name) * bed.drains_to["portal"].value
                    for name, bed in body.beds.items() if "portal" in bed.drains_to)
    liver = bed_flow_ml_per_s(body, "liver")
    assert liver - body.arterial_share("liver") * output == pytest.approx(portal_in)
    assert portal_in > 0.15 * output  # ICRP 89: the portal vein carries 19-20.5 %


# --- concentrations ------------------------------------------------------------------
@pytest.mark.parametrize("cancer", ["breast", "colon"])
def test_the_tumour_vein_holds_more_cells_than_an_arm_vein(cancer):
    circ = Circulation.for_cancer(cancer)
    sources = circ.primary_sources(1e7)
    tumour = ctc_concentration_per_ml(sources, circ, draw_site="tumour_vein")
    arm = ctc_concentration_per_ml(sources, circ, draw_site="arm_vein")
    assert tumour > arm > 0
    assert draining_vein_ratio(circ) == pytest.approx(tumour / arm)
    assert draining_vein_ratio(circ) > 10


def test_the_tumour_vein_carries_at_least_the_shed_cells_over_its_flow(breast):
    """The direct term: every cell shed into the vein is in it; recirculation adds a little."""
    rate_per_day = 1e7
    sources = breast.primary_sources(rate_per_day)
    direct = sources[breast.entries.index("breast")] / 86_400 / bed_flow_ml_per_s(
        breast.body, "breast")
    tumour = ctc_concentration_per_ml(sources, breast, draw_site="tumour_vein")
    assert direct <= tumour < 1.01 * direct


def test_arm_vein_is_the_muscle_vein_and_bed_names_are_sites(breast):
    sources = breast.primary_sources(1e7)
    assert ARM_VEIN_BED == "skeletal_muscle"
    assert ctc_concentration_per_ml(sources, breast) == ctc_concentration_per_ml(
        sources, breast, draw_site="skeletal_muscle")
    assert ctc_concentration_per_ml(sources, breast, draw_site="liver") > 0


def test_concentrations_are_linear_and_vectorised_over_times(colon):
    rng = np.random.default_rng(3)
    rates = rng.uniform(0, 1e6, size=(4, len(colon.entries)))
    series = expected_ctc(rates, colon)
    assert series.shape == (4,)
    one_by_one = [float(expected_ctc(row, colon)) for row in rates]
    assert series == pytest.approx(one_by_one)
    total = ctc_concentration_per_ml(rates.sum(axis=0), colon)
    assert total == pytest.approx(ctc_concentration_per_ml(rates, colon).sum())


def test_expected_count_is_volume_times_concentration_times_recovery_plus_fp(breast):
    sources = breast.primary_sources(5e8)
    c = float(ctc_concentration_per_ml(sources, breast))
    mean = float(expected_ctc(sources, breast, volume_ml=10.0, recovery=0.5,
                              false_positive_mean=0.2))
    assert mean == pytest.approx(10.0 * c * 0.5 + 0.2)
    assert float(expected_ctc(sources, breast)) == pytest.approx(
        7.5 * c * RECOVERY.value + FALSE_POSITIVE_MEAN.value)


def test_the_false_positive_mean_reproduces_allard_2004():
    lam = FALSE_POSITIVE_MEAN.value
    assert stats.poisson.sf(1, lam) == pytest.approx(HEALTHY_AT_LEAST_TWO, rel=1e-4)
    assert RECOVERY.value == 0.85


# --- the Poisson count ---------------------------------------------------------------
@pytest.fixture(scope="module")
def poisson_case(breast):
    """A draw whose closed-form mean is about 3 CTC per 7.5 mL."""
    per_cell = float(expected_ctc(breast.primary_sources(1.0), breast, false_positive_mean=0))
    sources = breast.primary_sources(3.0 / per_cell)
    mean = float(expected_ctc(sources, breast))
    counts = draw_ctc(mean, np.random.default_rng(20261121), size=N_DRAWS)
    return mean, counts


def test_counts_are_poisson_with_the_closed_form_mean(poisson_case):
    """Index of dispersion and mean z-test, each at ALPHA."""
    mean, counts = poisson_case
    assert 2.5 < mean < 3.5
    assert counts.dtype == np.int64 and counts.shape == (N_DRAWS,)
    assert _dispersion_p(counts) > ALPHA
    assert _mean_z_p(counts, mean) > ALPHA


def test_the_dispersion_test_rejects_an_over_dispersed_count(poisson_case):
    """Negative binomial with the same mean (variance mean + mean^2 / 5) must fail."""
    mean, _ = poisson_case
    r = 5.0
    counts = np.random.default_rng(20261121).negative_binomial(r, r / (r + mean), N_DRAWS)
    assert _mean_z_p(counts, mean) > ALPHA  # same mean ...
    assert _dispersion_p(counts) < ALPHA  # ... but not Poisson


def test_zero_recovery_leaves_only_false_positives(breast):
    sources = breast.primary_sources(1e12)
    mean = float(expected_ctc(sources, breast, recovery=0.0))
    assert mean == FALSE_POSITIVE_MEAN.value
    counts = draw_ctc(mean, np.random.default_rng(5), size=N_DRAWS)
    assert _mean_z_p(counts, FALSE_POSITIVE_MEAN.value) > ALPHA
    nothing = expected_ctc(sources, breast, recovery=0.0, false_positive_mean=0.0)
    assert not draw_ctc(nothing, np.random.default_rng(5), size=N_DRAWS).any()


def test_draws_are_reproducible_by_seed():
    a = draw_ctc(4.0, np.random.default_rng(9), size=100)
    assert np.array_equal(a, draw_ctc(4.0, np.random.default_rng(9), size=100))
    assert not np.array_equal(a, draw_ctc(4.0, np.random.default_rng(10), size=100))


# --- cut-offs ------------------------------------------------------------------------
def test_cutoffs_follow_the_cited_trials():
    assert ctc_cutoff("breast") == 5
    assert ctc_cutoff("prostate") == 5
    assert ctc_cutoff("colon") == 3
    assert ctc_cutoff("rectum") == 3
    with pytest.raises(CatalogError, match="unknown cancer"):
        ctc_cutoff("colorectum")


def test_classify_counts_at_the_cutoff_as_unfavourable():
    labels = classify(np.array([0, 2, 3, 4, 12]), ctc_cutoff("colon"))
    assert labels.tolist() == ["favourable", "favourable", "unfavourable", "unfavourable",
                               "unfavourable"]
    with pytest.raises(ParameterError, match=r"^cutoff:"):
        classify([1, 2], 0)


# --- bad input -----------------------------------------------------------------------
def test_unknown_draw_site_is_refused_with_the_allowed_sites(breast):
    sources = breast.primary_sources(1.0)
    with pytest.raises(ParameterError, match=r"^draw_site: unknown draw site 'leg'.*arm_vein, "
                                             r"tumour_vein, lung"):
        expected_ctc(sources, breast, draw_site="leg")


def test_bad_volume_recovery_and_sources_are_refused(breast):
    sources = breast.primary_sources(1.0)
    with pytest.raises(ParameterError, match=r"^volume_ml:"):
        expected_ctc(sources, breast, volume_ml=-7.5)
    with pytest.raises(ParameterError, match=r"^volume_ml:"):
        expected_ctc(sources, breast, volume_ml=0.0)
    with pytest.raises(ParameterError, match=r"^recovery: 1\.2 is outside"):
        expected_ctc(sources, breast, recovery=1.2)
    with pytest.raises(ParameterError, match=r"^recovery:"):
        expected_ctc(sources, breast, recovery=-0.1)
    with pytest.raises(ParameterError, match=r"^false_positive_mean:"):
        expected_ctc(sources, breast, false_positive_mean=-1.0)
    with pytest.raises(ParameterError, match=r"^sources_per_day:"):
        expected_ctc(sources[:-1], breast)
    with pytest.raises(ParameterError, match=r"^sources_per_day:"):
        expected_ctc(-sources, breast)
    with pytest.raises(ParameterError, match=r"^mean:"):
        draw_ctc(-1.0, np.random.default_rng(0))


def test_unknown_organ_for_a_flow_is_refused():
    with pytest.raises(ParameterError, match=r"^organ: unknown organ 'uterus'.*prostate"):
        bed_flow_ml_per_s(get_body("adult_male"), "uterus")
