r"""Expected organ involvement at autopsy, in closed form: the calibration's fast model.

An ABC fit evaluates its model tens of thousands of times, far too many for the
engine. This module computes, from the same :class:`~metacascade.engine.compile.CompiledModel`
the engine runs, the expected number of colonies in each organ that an autopsy on day
:math:`T` finds (at least ``min_diameter_mm`` across), counting the colonies the
*primary* founds directly and through dormant cells that woke:

.. math::

    \Lambda_o = \int_0^T \bigl[f_o(u) + g_o(u)\bigr]\, P_o(T - u)\, du,

with :math:`f_o(u) = s(u)\, a_o\, c_o\, p^{div}_o\, q` the rate of colonies founded on
arrest (shedding :math:`s(u)` cells/d, share :math:`a_o` of shed cells arrested in
organ *o* from the primary's entry points, crossing :math:`c_o`, dividing
:math:`p^{div}_o` (soil applied), establishment :math:`q`), :math:`g_o(u) = q\, w
\int_0^u s(v)\, a_o c_o p^{dor}_o e^{-(w+\delta)(u-v)} dv` the rate of colonies from
woken dormant cells (wake :math:`w`, death :math:`\delta`), and :math:`P_o(\tau)` the
chance that a colony founded :math:`\tau` days before the autopsy has reached the size
(:func:`reach_probability`). Founding is a Poisson process (docs/design.md, section 2), so the
share of patients with organ *o* involved is :math:`1 - e^{-\Lambda_o}`.

Stated approximation: colonies founded by metastases (second and later generations)
are left out. Early in the disease, when the calibration's autopsies happen, they are
few; the fit is checked against the engine, which has them (synthetic recovery and the
posterior predictive check of :mod:`metacascade.calibration.fit`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import CompiledModel
from metacascade.engine.growth import primary_cells

FloatArray = NDArray[np.float64]

#: Time points of the quadrature over [0, T].
GRID_POINTS = 401
#: Quantiles of the colony's founding size W (exponential, mean 1/q) averaged over.
_W_QUANTILES = (np.arange(64) + 0.5) / 64


def arrival_per_shed_cell(model: CompiledModel) -> FloatArray:
    """Cells arrested in each organ per cell the primary sheds (lymph route included)."""
    per_cell = model.embolus_share / model.cells_per_shed_embolus
    by_entry = np.einsum("k,kes->es", per_cell * model.cells_per_embolus, model.absorption)
    lymph = model.lymphatic_share
    row = (1.0 - lymph) * by_entry[model.primary_entry] + lymph * by_entry[model.lymph_entry]
    return np.asarray(row[: model.n_organs], dtype=float)


def reach_probability(model: CompiledModel, age_days: FloatArray,
                      min_diameter_mm: float) -> FloatArray:
    r"""Chance that a colony founded ``age_days`` ago holds a lesion of the given size.

    Below the avascular limit the colony holds :math:`W e^{r\tau}` cells with :math:`W`
    exponential of mean :math:`1/q`, so :math:`P = \\exp(-q N e^{-r\tau})`. Above it, the
    colony also waits an exponential time for its angiogenic switch and then grows by
    Gompertz (:mod:`metacascade.engine.growth`); that case is averaged over quantiles of
    :math:`W`.
    """
    age = np.maximum(np.asarray(age_days, dtype=float), 0.0)
    cells = model.cells_for_diameter(min_diameter_mm) if min_diameter_mm > 0 else 0.0
    r, q, ka = model.colony_rate_per_day, model.establishment, model.avascular_cells
    if cells <= 1.0:
        return np.ones_like(age)
    if cells <= ka:
        return np.asarray(np.exp(-q * cells * np.exp(-r * age)), dtype=float)
    km = model.metastasis_capacity_cells
    if cells >= km:
        return np.zeros_like(age)
    alpha = r / math.log(km / ka)
    gompertz = -math.log(math.log(cells / km) / math.log(ka / km)) / alpha
    w = -np.log1p(-_W_QUANTILES) / q
    to_limit = np.maximum(np.log(ka / w), 0.0) / r
    wait = age[:, None] - gompertz - to_limit[None, :]
    switched = -np.expm1(-model.switch_rate_per_day * np.maximum(wait, 0.0))
    return np.asarray(switched.mean(axis=1), dtype=float)


def expected_colonies(model: CompiledModel, autopsy_day: float,
                      min_diameter_mm: float = 0.0) -> FloatArray:
    """Expected colonies per organ an autopsy on ``autopsy_day`` finds (see module doc).

    Parameters
    ----------
    model
        The compiled scenario (its soil, arrest, extravasation and dormancy).
    autopsy_day
        Day of death, days from the start of the simulated natural history.
    min_diameter_mm
        Smallest colony counted; 0 counts every established colony.

    Returns
    -------
    ndarray
        One value per organ of ``model.organs``.

    """
    direct, woken = colony_sources(model, autopsy_day, min_diameter_mm)
    return np.asarray(direct + woken, dtype=float)


def colony_sources(model: CompiledModel, autopsy_day: float,
                   min_diameter_mm: float = 0.0) -> tuple[FloatArray, FloatArray]:
    """The two terms of :func:`expected_colonies`: founded on arrest, and by woken cells.

    The first is proportional to each organ's soil (through ``p_divide``), the second
    does not depend on it, so a fit over soil needs this only once.
    """
    direct, woken = source_integrals(model, autopsy_day, min_diameter_mm)
    per_cell = arrival_per_shed_cell(model) * (1.0 - model.p_fail_extravasation)
    q = model.establishment
    return (np.asarray(direct * per_cell * model.p_divide * q, dtype=float),
            np.asarray(woken * per_cell * model.p_dormant * model.wake_founding(), dtype=float))


def source_integrals(model: CompiledModel, autopsy_day: float,
                     min_diameter_mm: float = 0.0) -> tuple[float, float]:
    r"""Shed cells, and dormant-cell wakings, weighted by the chance to be seen at autopsy.

    Returns :math:`\int_0^T s(u) P(T-u) du` and :math:`w \int_0^T D(u) P(T-u) du`, with
    :math:`D(u) = \int_0^u s(v) e^{-(w+\delta)(u-v)} dv` the dormant cells per unit of
    dormant share still in the pool at :math:`u`.
    """
    t = np.linspace(0.0, autopsy_day, GRID_POINTS)
    dt = t[1] - t[0]
    shed = model.shedding_per_cell_per_day * primary_cells(model, t)
    reach = reach_probability(model, autopsy_day - t, min_diameter_mm)
    hazard = model.wake_rate_per_day + model.dormant_death_rate_per_day
    # D(u) by exact steps of the linear ODE D' = s - h D (trapezoid on s).
    decay = math.exp(-hazard * dt)
    gain = dt if hazard == 0 else -math.expm1(-hazard * dt) / hazard
    pool = np.zeros_like(t)
    for i in range(1, len(t)):
        pool[i] = pool[i - 1] * decay + 0.5 * (shed[i - 1] + shed[i]) * gain
    return (_trapezoid(shed * reach, dt),
            _trapezoid(pool * reach, dt) * model.wake_rate_per_day)


def _trapezoid(values: FloatArray, dt: float) -> float:
    return float(dt * (values.sum() - 0.5 * (values[0] + values[-1])))
