"""The calibration estimator: ABC-SMC (pyABC) over the autopsy model.

Two ways to compare a particle with the autopsies (``kernel``):

``"binomial"`` (the default): exact ABC (Wilson 2020-style stochastic acceptance, as
    pyABC implements it). The closed-form model gives each cell's expected share and the
    kernel is the binomial likelihood of the observed counts; pyABC's
    :class:`~pyabc.StochasticAcceptor` with a :class:`~pyabc.Temperature` schedule
    lowers the temperature to 1, and the last generation samples the posterior itself,
    not an approximation at some tolerance.
``"distance"``: classic rejection ABC, each particle simulating binomial autopsies
    compared by a count-weighted Euclidean distance. It is kept for comparison: where
    many particles simulate the same shares (an organ saturated at 100 %), its median
    tolerance stops falling and the posterior stays near the prior.

scikit-learn's contract (STYLE item 7): the constructor stores its arguments, ``fit``
checks them all before any work (and before it needs pyABC, so a bad argument is named
where pyABC is missing too) and returns ``self``, fitted values end in ``_``. A fit is
reproducible from its seed: pyABC draws its perturbations from NumPy's global generator,
which ``fit`` seeds (and restores afterwards), with the single-core sampler, and every
model evaluation draws from a generator seeded by the fit's seed and the parameter
values. Fits run in parallel one per task (:func:`metacascade.calibration.fit.calibrate`
spreads them over the cohort executors), never one fit over several processes, whose
workers would reseed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from metacascade._checks import is_number
from metacascade.calibration.model import Autopsy, AutopsyModel
from metacascade.calibration.targets import CalibrationError, Targets
from metacascade.errors import MetacascadeError, install_hint
from metacascade.random import resolve_seed

FloatArray = NDArray[np.float64]

#: Ways to compare a particle with the autopsies (see the module docstring).
KERNELS = ("binomial", "distance")

#: pyABC's loggers, quietened during a fit.
_LOGGERS = ("ABC", "ABC.Sampler", "ABC.History", "ABC.Epsilon", "ABC.Distance",
            "ABC.Population", "ABC.Acceptor", "ABC.Predictor", "ABC.Transition",
            "ABC.Adaptive")


class Calibration:
    """Fit parameters of the autopsy model to organ-involvement targets by ABC-SMC.

    The constructor stores the arguments as given; :meth:`fit` checks them all before
    any work and names the first bad one (:class:`CalibrationError`).

    Parameters
    ----------
    targets
        Observed involvement (:class:`~metacascade.calibration.targets.Targets`).
    parameters
        Names of the fitted parameters (:mod:`metacascade.calibration.model`).
    prior
        Name -> (low, high): independent uniform priors on the parameters' scales.
    fixed
        Values of parameters held fixed (others keep the catalog's).
    autopsy
        When the autopsy happens and what it counts.
    population_size, generations
        ABC-SMC particles per generation and the most generations run.
    min_acceptance_rate
        Stop earlier when a generation accepts fewer proposals than this share.
    kernel
        ``"binomial"`` (exact, the binomial likelihood) or ``"distance"`` (tolerance
        ABC on simulated autopsies); see the module docstring.
    seed
        Seed of the fit (None draws one; it is kept in ``seed_``).

    Attributes
    ----------
    posterior_
        Accepted particles of the last generation: one column per parameter and
        ``weight`` (summing to 1).
    summary_
        Per parameter: weighted mean, sd, 2.5 %, 50 % and 97.5 % quantiles, prior bounds.
    generations_
        Per generation: epsilon, accepted particles, model evaluations, acceptance rate,
        and the particles' effective sample size (``ess``, Kish's: far below the
        particles when a few weights dominate, and the quantiles rest on those few).
    point_
        Posterior medians, as a parameter mapping.
    reached_posterior_
        With the binomial kernel, whether the last generation ran at temperature 1 (its
        particles sample the posterior); ``False`` when the run stopped before (at
        ``generations``, or at ``min_acceptance_rate``): they then sample a tempered
        posterior, broader than the posterior (its temperature is the last generation's
        epsilon). ``None`` with the distance kernel.
    seed_, runtime_s_
        The seed used and the wall time of the fit.

    """

    def __init__(self, targets: Targets, parameters: Sequence[str],
                 prior: Mapping[str, tuple[float, float]], *,
                 fixed: Mapping[str, float] | None = None, autopsy: Autopsy | None = None,
                 population_size: int = 400, generations: int = 10,
                 min_acceptance_rate: float = 0.02, kernel: str = "binomial",
                 seed: int | None = None) -> None:
        self.targets = targets
        self.parameters = parameters
        self.prior = prior
        self.fixed = fixed
        self.autopsy = autopsy
        self.population_size = population_size
        self.generations = generations
        self.min_acceptance_rate = min_acceptance_rate
        self.kernel = kernel
        self.seed = seed

    def fit(self) -> Calibration:
        """Run ABC-SMC; return ``self`` with the fitted attributes set.

        Raises
        ------
        CalibrationError
            Naming the first bad argument, before any work; or if pyABC (the
            ``calibration`` extra) is not installed, with how to install it.

        """
        names = self._check()
        pyabc = require_pyabc()
        model = AutopsyModel(self.targets, self.autopsy)
        fixed = dict(self.fixed or {})
        seed = resolve_seed(self.seed)
        observed = self.targets.shares[self.targets.mask]
        weights = np.broadcast_to(self.targets.n_autopsies[:, None],
                                  self.targets.counts.shape)[self.targets.mask]

        counts = self.targets.counts[self.targets.mask]

        def simulate(theta: Mapping[str, float]) -> dict[str, FloatArray]:
            values = {**fixed, **{k: float(theta[k]) for k in names}}
            if self.kernel == "binomial":
                return {"shares": model.shares(values)[self.targets.mask]}
            rng = np.random.default_rng(_evaluation_seed(seed, values, names))
            return {"shares": model.sample(values, rng)[self.targets.mask]}

        def distance(x: Mapping[str, FloatArray], y: Mapping[str, FloatArray]) -> float:
            return float(np.sqrt(np.sum(weights * (x["shares"] - y["shares"]) ** 2)))

        prior = pyabc.Distribution(**{
            k: pyabc.RV("uniform", self.prior[k][0], self.prior[k][1] - self.prior[k][0])
            for k in names})
        state = np.random.get_state()  # noqa: NPY002 -- pyABC draws from the global state
        levels = {name: logging.getLogger(name).level for name in _LOGGERS}
        try:
            for name in _LOGGERS:
                # ERROR: tempered generations warn of tiny (but normalised) weights.
                logging.getLogger(name).setLevel(logging.ERROR)
            np.random.seed(seed % 2**32)  # noqa: NPY002 -- see the module docstring
            if self.kernel == "binomial":
                abc = pyabc.ABCSMC(simulate, prior, _binomial_kernel(counts, weights),
                                   population_size=self.population_size,
                                   eps=pyabc.Temperature(),
                                   acceptor=pyabc.StochasticAcceptor(),
                                   sampler=pyabc.sampler.SingleCoreSampler())
            else:
                abc = pyabc.ABCSMC(simulate, prior, distance,
                                   population_size=self.population_size,
                                   sampler=pyabc.sampler.SingleCoreSampler())
            abc.new("sqlite://", {"shares": observed})
            start = time.perf_counter()
            history = abc.run(max_nr_populations=self.generations,
                              min_acceptance_rate=self.min_acceptance_rate)
            self.runtime_s_ = time.perf_counter() - start
        finally:
            np.random.set_state(state)  # noqa: NPY002
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        frame, w = history.get_distribution()
        posterior = frame[names].reset_index(drop=True).astype(float)
        posterior["weight"] = np.asarray(w, dtype=float) / float(np.sum(w))
        self.posterior_ = posterior
        self.generations_ = _generations(history)
        self.summary_ = _summary(posterior, names, self.prior)
        self.point_ = {k: float(self.summary_.loc[k, "median"]) for k in names}
        self.reached_posterior_ = (
            bool(abs(float(self.generations_["epsilon"].iloc[-1]) - 1.0) <= 1e-9)
            if self.kernel == "binomial" else None)
        self.seed_ = seed
        return self

    def predict(self, n_draws: int = 200, *, seed: int = 0,
                point: bool = False) -> FloatArray:
        """Posterior predictive autopsy shares, (draws, cancers, organs).

        Particles are drawn by weight and each gives one binomial autopsy series of the
        targets' sizes; with ``point`` every draw uses the posterior medians.
        """
        posterior = self._fitted()
        rng = np.random.default_rng(seed)
        model = AutopsyModel(self.targets, self.autopsy)
        names = [c for c in posterior.columns if c != "weight"]
        rows = rng.choice(len(posterior), size=n_draws, p=posterior["weight"].to_numpy())
        out = np.empty((n_draws, *self.targets.counts.shape))
        for k, row in enumerate(rows):
            values = dict(self.fixed or {})
            values.update(self.point_ if point else
                          {n: float(posterior.at[row, n]) for n in names})
            out[k] = model.sample(values, rng)
        return out

    def expected_shares(self) -> FloatArray:
        """(cancers, organs) model shares at the posterior medians."""
        self._fitted()
        model = AutopsyModel(self.targets, self.autopsy)
        return model.shares({**dict(self.fixed or {}), **self.point_})

    def _fitted(self) -> pd.DataFrame:
        if not hasattr(self, "posterior_"):
            raise CalibrationError("this Calibration is not fitted yet: call fit() first")
        return self.posterior_

    def _check(self) -> list[str]:
        if isinstance(self.parameters, str):  # (its letters would be the names)
            raise CalibrationError(f"parameters: a list of names, not the string "
                                   f"{self.parameters!r}")
        names = list(self.parameters)
        if not names:
            raise CalibrationError("parameters: at least one parameter must be fitted")
        missing = [n for n in names if n not in self.prior]
        if missing:
            raise CalibrationError(f"prior: no bounds for {missing}")
        for n in names:
            bounds = self.prior[n]
            if isinstance(bounds, str) or not isinstance(bounds, Sequence) or len(
                    bounds) != 2 or not all(is_number(b) for b in bounds):
                raise CalibrationError(f"prior.{n}: {bounds!r} must be (low, high), two "
                                       "numbers")
            low, high = bounds
            if not np.isfinite(low) or not np.isfinite(high) or not low < high:
                raise CalibrationError(f"prior.{n}: ({low}, {high}) must be finite with "
                                       "low < high")
        for name, low in (("population_size", 10), ("generations", 1)):
            value = getattr(self, name)
            if not (is_number(value) and isinstance(value, int | np.integer)
                    and value >= low):
                raise CalibrationError(f"{name}: {value!r} must be a whole number >= {low}")
        rate = self.min_acceptance_rate
        if not (is_number(rate) and 0.0 <= rate <= 1.0):
            raise CalibrationError(f"min_acceptance_rate: {rate!r} must be a number in "
                                   "[0, 1]")
        if self.kernel not in KERNELS:
            raise CalibrationError(f"kernel: {self.kernel!r} is not one of "
                                   f"{', '.join(KERNELS)}")
        if self.seed is not None:
            try:
                resolve_seed(self.seed)
            except MetacascadeError as error:
                raise CalibrationError(str(error)) from None
        AutopsyModel(self.targets, self.autopsy).expected(
            {**dict(self.fixed or {}), **{n: float(np.mean(self.prior[n])) for n in names}})
        return names


def require_pyabc() -> Any:
    """The ``pyabc`` module, or :class:`CalibrationError` saying how to install it."""
    try:
        import pyabc  # type: ignore[import-untyped]
    except ImportError:
        raise CalibrationError("fitting needs pyABC, the 'calibration' extra: "
                               + install_hint("calibration")) from None
    return pyabc


def _binomial_kernel(counts: NDArray[Any], trials: NDArray[Any]) -> Any:
    """PyABC kernel: log-likelihood of the observed ``counts`` of ``trials`` autopsies.

    The simulated statistic is each cell's expected share; the kernel's maximum (needed
    by the stochastic acceptor) is the likelihood at the observed shares themselves.
    """
    from pyabc.distance import SCALE_LOG, StochasticKernel  # type: ignore[import-untyped]

    k = np.asarray(counts, dtype=float)
    n = np.asarray(trials, dtype=float)
    tiny = 1e-300

    def loglik(p: FloatArray) -> float:
        p = np.clip(np.nan_to_num(np.asarray(p, dtype=float)), tiny, 1.0 - 1e-16)
        return float(np.sum(stats.binom.logpmf(k, n, p)))

    class _Binomial(StochasticKernel):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(ret_scale=SCALE_LOG, keys=["shares"],
                             pdf_max=loglik(k / n))

        def __call__(self, x: dict[str, Any], x_0: dict[str, Any], t: int | None = None,
                     par: Any = None) -> float:
            return loglik(x["shares"])

    return _Binomial()


def _evaluation_seed(seed: int, values: Mapping[str, float], names: Sequence[str]) -> int:
    bits = np.array([values[n] for n in names], dtype=np.float64).view(np.uint32)
    return int(np.random.SeedSequence([seed, *bits.tolist()]).generate_state(1)[0])


def _generations(history: Any) -> pd.DataFrame:
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0].reset_index(drop=True)
    weights = [np.asarray(history.get_distribution(t=int(t))[1], dtype=float)
               for t in pops["t"]]
    out = pd.DataFrame({"generation": pops["t"].astype(int), "epsilon": pops["epsilon"],
                        "evaluations": pops["samples"].astype(int),
                        "particles": [len(w) for w in weights]})
    out["acceptance_rate"] = out["particles"] / out["evaluations"]
    # Kish's effective sample size of the weighted particles (the particles if equal)
    out["ess"] = [float(np.sum(w) ** 2 / np.sum(w ** 2)) for w in weights]
    return out


def _summary(posterior: pd.DataFrame, names: Sequence[str],
             prior: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    w = posterior["weight"].to_numpy()
    rows = []
    for n in names:
        x = posterior[n].to_numpy()
        order = np.argsort(x)
        cdf = np.cumsum(w[order])
        q = [float(x[order][min(np.searchsorted(cdf, p), len(x) - 1)])
             for p in (0.025, 0.5, 0.975)]
        mean = float(np.sum(w * x))
        rows.append({"parameter": n, "mean": mean,
                     "sd": float(np.sqrt(np.sum(w * (x - mean) ** 2))),
                     "q025": q[0], "median": q[1], "q975": q[2],
                     "prior_low": prior[n][0], "prior_high": prior[n][1]})
    return pd.DataFrame(rows).set_index("parameter")
