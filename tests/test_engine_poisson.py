"""The engines' Poisson draws: NumPy's below POISSON_PART, exact in law above it.

NumPy's sampler is too dispersed for very large means (numpy/numpy#31986); the engines
draw such a mean as a sum of parts (:func:`metacascade.engine.limits.poisson`).
"""

import numpy as np
import pytest

from metacascade.engine.limits import MAX_POISSON_MEAN, POISSON_PART, poisson

#: Two-sided significance level of each statistical check here.
ALPHA = 0.001
Z = 3.29  # the standard normal's 1 - ALPHA / 2 quantile


def _dispersion_z(counts: np.ndarray, mean: float) -> tuple[float, float]:
    """z-scores of the sample mean and variance against a Poisson law of ``mean``."""
    n = counts.size
    deviations = (counts - int(mean)).astype(np.float64)  # exact in int64 first
    z_mean = deviations.mean() / np.sqrt(mean / n)
    # For a mean this large the law is normal to within 1e-8: the sample variance over
    # the mean is chi-square(n - 1) / (n - 1), of standard deviation sqrt(2 / (n - 1)).
    z_var = (deviations.var(ddof=1) / mean - 1.0) / np.sqrt(2.0 / (n - 1))
    return float(z_mean), float(z_var)


@pytest.mark.parametrize("lam", [
    3.5, np.float64(0.0), np.array(7.0), np.array([]), np.array([[0.5, 2.0], [1e9, 0.0]]),
    np.full(5, POISSON_PART),
])
def test_the_same_draws_as_numpy_below_the_part(lam: object) -> None:
    ours = poisson(np.random.default_rng(3), lam)
    numpy = np.random.default_rng(3).poisson(lam)
    assert type(ours) is type(numpy)
    assert np.array_equal(ours, numpy)


def test_a_large_mean_keeps_shape_and_sums_its_parts() -> None:
    lam = np.array([[2.0, 3 * POISSON_PART], [10 * POISSON_PART + 1.0, 0.0]])
    counts = poisson(np.random.default_rng(4), lam)
    assert counts.shape == lam.shape and counts.dtype == np.int64
    assert counts[1, 1] == 0
    # Within 8 standard deviations of the means (each is a sum of its parts).
    assert np.all(np.abs(counts - lam) <= 8 * np.sqrt(lam) + 8)


@pytest.mark.parametrize("lam", [1e15, np.float64(1e15), np.array(1e15)])
def test_a_large_scalar_mean_gives_an_int(lam: object) -> None:
    count = poisson(np.random.default_rng(6), lam)
    assert type(count) is int and abs(count - 1e15) < 8 * np.sqrt(1e15)


def test_nan_is_refused_as_numpy_refuses_it() -> None:
    with pytest.raises(ValueError):
        poisson(np.random.default_rng(0), np.array([1.0, np.nan]))


def test_exact_in_law_where_numpy_is_not() -> None:
    """At a mean of 1e16 the sum of parts has Poisson's mean and variance; NumPy's own
    draws have 40 % too much variance, which the same check rejects."""
    mean, n = 1e16, 4000
    assert mean <= MAX_POISSON_MEAN
    z_mean, z_var = _dispersion_z(poisson(np.random.default_rng(5), np.full(n, mean)), mean)
    assert abs(z_mean) < Z and abs(z_var) < Z, (z_mean, z_var)
    _, z_var_numpy = _dispersion_z(np.random.default_rng(5).poisson(np.full(n, mean)), mean)
    assert z_var_numpy > Z, z_var_numpy
