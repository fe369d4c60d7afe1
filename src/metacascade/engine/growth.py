r"""Closed-form tumour sizes: the primary and every colony, at any time.

Sizes are deterministic once a colony is founded, so the engine never steps a tumour:
it evaluates these functions at the times it needs (vectorised over colonies).

Primary, from :math:`N_0` cells at time 0 with initial rate :math:`r` (ln 2 / doubling):

* exponential: :math:`N = N_0 e^{rt}`, capped at the capacity :math:`K`;
* Gompertz: :math:`N = K \exp(\ln(N_0/K) e^{-\alpha t})`, :math:`\alpha = r/\ln(K/N_0)`;
* power law :math:`dN/dt = a N^b`, :math:`a = r N_0^{1-b}`:
  :math:`N = (N_0^{1-b} + a (1-b) t)^{1/(1-b)}`, capped at :math:`K`.

Colony founded at :math:`t_f` by a lineage that escaped extinction: a linear
birth-death process with net rate :math:`r` conditioned on survival grows as
:math:`W e^{r(t-t_f)}` with :math:`W` exponential of mean :math:`b/r = 1/q`
(Kendall 1948); it stalls at the avascular limit :math:`K_a` from
:math:`t_a = t_f + \ln(K_a/W)/r` until its angiogenic switch :math:`t_s`, then grows
by Gompertz toward the metastasis capacity :math:`K_m`, with
:math:`\alpha = r/\ln(K_m/K_a)` so that growth is continuous in rate.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import EXPONENTIAL, GOMPERTZ, CompiledModel

FloatArray = NDArray[np.float64]


def primary_cells(model: CompiledModel, t_days: FloatArray | float) -> FloatArray:
    """Cells in the primary at the given times (days from the start; 0 once removed)."""
    t = np.asarray(t_days, dtype=float)
    size = _primary_untreated(model, t)
    return np.asarray(np.where(t < model.primary_removed_day, size, 0.0), dtype=float)


def primary_step_integrals(model: CompiledModel, starts: FloatArray,
                           ends: FloatArray) -> FloatArray:
    """Integral of the primary's size (cell-days) over each step (Simpson's rule).

    A step cut by the primary's removal is integrated up to the removal only.
    """
    stop = np.minimum(ends, np.maximum(starts, model.primary_removed_day))
    mids = 0.5 * (starts + stop)
    values = [_primary_untreated(model, t) for t in (starts, mids, stop)]
    return integral_simpson(values[0], values[1], values[2], 1.0) * (stop - starts)


def _primary_untreated(model: CompiledModel, t: FloatArray) -> FloatArray:
    n0, r, k = model.primary_cells0, model.growth_rate_per_day, model.primary_capacity_cells
    if n0 >= k:
        return np.full_like(t, k)
    if model.growth_law == EXPONENTIAL:
        out = n0 * np.exp(np.minimum(r * t, math.log(k / n0)))
    elif model.growth_law == GOMPERTZ:
        alpha = r / math.log(k / n0)
        out = k * np.exp(math.log(n0 / k) * np.exp(-alpha * t))
    else:
        b = model.growth_exponent
        if b == 1.0:
            out = n0 * np.exp(np.minimum(r * t, math.log(k / n0)))
        else:
            a = r * n0 ** (1.0 - b)
            base = n0 ** (1.0 - b) + a * (1.0 - b) * t
            out = np.power(np.maximum(base, 0.0), 1.0 / (1.0 - b))
    return np.asarray(np.minimum(out, k), dtype=float)


def avascular_time(model: CompiledModel, founded: FloatArray, w: FloatArray) -> FloatArray:
    """Day each colony reaches its avascular limit."""
    r = model.colony_rate_per_day
    return np.asarray(founded + np.log(model.avascular_cells / w) / r, dtype=float)


def colony_cells(model: CompiledModel, t_days: float | FloatArray, founded: FloatArray,
                 w: FloatArray, switch: FloatArray) -> FloatArray:
    """Cells in each colony at ``t_days`` (0 before founding; at least 1 after).

    ``t_days`` is a scalar, or an array broadcasting against the colony arrays.
    """
    t = np.asarray(t_days, dtype=float)
    r, ka = model.colony_rate_per_day, model.avascular_cells
    with np.errstate(over="ignore"):
        early = np.minimum(np.maximum(w * np.exp(np.minimum(r * (t - founded), 700.0)), 1.0), ka)
    size = np.where(t >= switch, vascular_cells(model, t, switch), early)
    return np.asarray(np.where(t >= founded, size, 0.0), dtype=float)


def vascular_cells(model: CompiledModel, t_days: float | FloatArray,
                   switch: FloatArray) -> FloatArray:
    """Cells in colonies past their angiogenic switch (``t_days >= switch``).

    The Gompertz branch of :func:`colony_cells`, which gives these very values for a
    colony founded by ``t_days`` that has switched; callers that know every colony is
    in that state skip the avascular branch.
    """
    t = np.asarray(t_days, dtype=float)
    r, ka, km = model.colony_rate_per_day, model.avascular_cells, model.metastasis_capacity_cells
    alpha = r / math.log(km / ka)
    late = km * np.exp(math.log(ka / km) * np.exp(-alpha * np.maximum(t - switch, 0.0)))
    return np.asarray(late, dtype=float)


def time_to_reach(model: CompiledModel, cells: float, founded: FloatArray, w: FloatArray,
                  switch: FloatArray) -> FloatArray:
    """Day each colony first holds ``cells`` cells (inf if it never does)."""
    r, ka, km = model.colony_rate_per_day, model.avascular_cells, model.metastasis_capacity_cells
    if cells <= 1.0:
        return np.asarray(founded, dtype=float)
    if cells <= ka:
        return np.asarray(founded + np.maximum(np.log(cells / w), 0.0) / r, dtype=float)
    if cells >= km:
        return np.full_like(founded, np.inf, dtype=float)
    alpha = r / math.log(km / ka)
    # km * exp(ln(ka/km) e^{-alpha s}) = cells  =>  s = -ln(ln(cells/km)/ln(ka/km)) / alpha
    s = -math.log(math.log(cells / km) / math.log(ka / km)) / alpha
    return np.asarray(switch + s, dtype=float)


def integral_simpson(values_start: FloatArray, values_mid: FloatArray, values_end: FloatArray,
                     width: float) -> FloatArray:
    """Simpson's rule for the integral of a size over a step."""
    return np.asarray(width / 6.0 * (values_start + 4.0 * values_mid + values_end), dtype=float)
