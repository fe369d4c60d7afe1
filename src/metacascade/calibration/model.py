"""From calibration parameters to organ involvement at autopsy.

Parameter names (all fitted on the scales below, with uniform priors):

``soil.<cancer>.<organ>``
    log10 of the soil compatibility of ``cancer`` in a target organ (every bed the
    organ covers: ``bone`` is both marrow beds);
``soil.<cancer>``
    log10 of one soil shared by every bed of ``cancer`` (blood flow alone decides the
    pattern): the "flow only" model;
``arrest``
    per-pass arrest probability of a medium single cell in every capillary bed but the
    lymph nodes;
``extravasation.<barrier>``
    probability of crossing a vessel wall of that kind (sinusoid, fenestrated,
    continuous, blood_brain);
``log10_dormant``
    log10 of the share of extravasated cells that become dormant.

A bed no soil parameter names keeps the cancer's ``soil.<cancer>`` level if given, else
1. Blood flow is never fitted: it is ICRP 89 (the body catalog).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from metacascade._checks import is_number
from metacascade.calibration.forward import arrival_per_shed_cell, source_integrals
from metacascade.calibration.targets import CalibrationError, Targets
from metacascade.citations import cited
from metacascade.engine.compile import CompiledModel, compile_scenario
from metacascade.references import BLOOM_1962
from metacascade.scenario import Scenario

FloatArray = NDArray[np.float64]

#: Vessel-wall kinds whose extravasation may be fitted.
BARRIERS = ("sinusoid", "fenestrated", "continuous", "blood_brain")
#: Shared (physiology) parameter names.
SHARED = ("arrest", *(f"extravasation.{b}" for b in BARRIERS), "log10_dormant")

#: Years from the start of the natural history (a primary of
#: ``AUTOPSY_PRIMARY_DIAMETER_MM``) to death and autopsy.
AUTOPSY_YEARS = cited(
    3.0, "yr", BLOOM_1962.at(
        "abstract", "untreated breast cancer, 250 patients of 1805-1933: median survival "
        "2.7 years from the first symptom; 3 years taken for every primary (an assumption "
        "beyond breast), bounds 1-10 years"),
    (1.0, 10.0))


@dataclass(frozen=True)
class Autopsy:
    """When the virtual autopsy happens and what it counts.

    Attributes
    ----------
    years
        Years from the start (primary of ``primary_diameter_mm``) to death, untreated.
    primary_diameter_mm
        Size of the primary at the start, mm.
    min_diameter_mm
        Smallest colony counted as involvement. The default, 0, counts every
        established colony: with the catalog's growth a colony needs 7 years or more to
        reach 5 mm, longer than untreated patients lived, so a size cut-off would find
        nothing; this reads the autopsy as histological.

    """

    years: float = AUTOPSY_YEARS.value
    primary_diameter_mm: float = 10.0
    min_diameter_mm: float = 0.0

    def __post_init__(self) -> None:
        # (a scenario's bounds: the autopsy is simulated as one)
        for name, low, high in (("years", 0.0, 100.0), ("primary_diameter_mm", 0.0, 300.0),
                                ("min_diameter_mm", None, math.inf)):
            value = getattr(self, name)
            if not (is_number(value) and math.isfinite(value) and value <= high and (
                    value >= 0 if low is None else value > low)):
                allowed = ">= 0" if low is None else f"in ({low:g}, {high:g}]"
                raise CalibrationError(f"autopsy.{name}: {value!r} must be a finite "
                                       f"number {allowed}")

    @property
    def day(self) -> float:
        """Day of the autopsy."""
        return 365.25 * self.years


def parameter_names(targets: Targets, *, soil: str) -> list[str]:
    """Names of the soil parameters of ``targets``: ``soil`` is ``"organ"`` or ``"flow"``."""
    if soil == "flow":
        return [f"soil.{c}" for c in targets.cancers]
    if soil != "organ":
        raise CalibrationError(f"soil: {soil!r} is not one of organ, flow")
    return [f"soil.{c}.{slug(o)}" for i, c in enumerate(targets.cancers)
            for j, o in enumerate(targets.organs) if targets.mask[i, j]]


def slug(organ: str) -> str:
    """Organ name as used in parameter names (``skeletal muscle`` -> ``skeletal_muscle``)."""
    return organ.replace(" ", "_")


class AutopsyModel:
    """Involvement shares of ``targets``' organs for given parameter values.

    Parameters
    ----------
    targets
        The rows (cancers) and columns (organs) to predict.
    autopsy
        When the autopsy happens and what it counts.

    """

    def __init__(self, targets: Targets, autopsy: Autopsy | None = None) -> None:
        if not isinstance(targets, Targets):
            raise CalibrationError(f"targets: a Targets (load_targets('disibio2008')), not "
                                   f"{type(targets).__name__}")
        if autopsy is not None and not isinstance(autopsy, Autopsy):
            raise CalibrationError(f"autopsy: an Autopsy or None, not "
                                   f"{type(autopsy).__name__}")
        self.targets = targets
        self.autopsy = autopsy or Autopsy()
        self._known = set(SHARED) | set(parameter_names(targets, soil="organ")) | set(
            parameter_names(targets, soil="flow"))

    def expected(self, values: Mapping[str, float]) -> FloatArray:
        """(cancers, organs) expected colonies found at autopsy (NaN where masked)."""
        unknown = sorted(set(values) - self._known)
        if unknown:
            raise CalibrationError(f"parameters: unknown name(s) {unknown}; known: "
                                   "soil.<cancer>[.<organ>], " + ", ".join(SHARED))
        for name, value in values.items():
            if not (is_number(value) and math.isfinite(value)):
                raise CalibrationError(f"{name}: {value!r} must be a finite number")
        out = np.full(self.targets.counts.shape, np.nan)
        for i, cancer in enumerate(self.targets.cancers):
            direct, woken = self._sources(cancer, values)
            soil = np.full(len(direct), 10.0 ** values.get(f"soil.{cancer}", 0.0))
            for j, organ in enumerate(self.targets.organs):
                beds = self._beds(cancer, organ)
                key = f"soil.{cancer}.{slug(organ)}"
                if key in values:
                    soil[beds] = 10.0 ** values[key]
                if self.targets.mask[i, j]:
                    # Woken dormant cells grow out with probability min(1, soil).
                    wake = np.minimum(soil[beds], 1.0)
                    out[i, j] = float((soil[beds] * direct[beds] + wake * woken[beds]).sum())
        return out

    def shares(self, values: Mapping[str, float]) -> FloatArray:
        """(cancers, organs) expected share of autopsies with the organ involved."""
        return np.asarray(-np.expm1(-self.expected(values)), dtype=float)

    def sample(self, values: Mapping[str, float], rng: np.random.Generator) -> FloatArray:
        """Simulated autopsy shares: binomial counts over each row's autopsies."""
        p = self.shares(values)
        n = np.broadcast_to(self.targets.n_autopsies[:, None], p.shape)
        counts = rng.binomial(n, np.nan_to_num(p))
        return np.asarray(np.where(self.targets.mask, counts / n, np.nan), dtype=float)

    def _beds(self, cancer: str, organ: str) -> list[int]:
        organs = _base(cancer, self.autopsy).organs
        return [organs.index(b) for b in self.targets.beds[organ] if b in organs]

    def _sources(self, cancer: str, values: Mapping[str, float]) -> tuple[FloatArray, FloatArray]:
        """Per bed: colonies founded on arrest at soil 1, and by woken cells."""
        base = _base(cancer, self.autopsy)
        arrival = base.arrival
        if "arrest" in values:
            arrival = _arrival_at(cancer, self.autopsy, float(values["arrest"]))
        crossed = base.crossed.copy()
        for k, barrier in enumerate(BARRIERS):
            name = f"extravasation.{barrier}"
            if name in values:
                crossed[base.barrier == k] = float(values[name])
        dormant = base.dormant
        if "log10_dormant" in values:
            dormant = 10.0 ** float(values["log10_dormant"])
        per_cell = arrival * crossed * base.establishment
        return per_cell * base.divide * base.direct, per_cell * dormant * base.woken


@dataclass(frozen=True, eq=False)
class _Base:
    """What a cancer's autopsy model needs, at the catalog's values and soil 1."""

    organs: tuple[str, ...]
    barrier: NDArray[np.int64]
    arrival: FloatArray
    crossed: FloatArray
    divide: float
    dormant: float
    establishment: float
    direct: float
    woken: float


@functools.lru_cache(maxsize=64)
def _base(cancer: str, autopsy: Autopsy) -> _Base:
    model = _compiled(cancer, autopsy, None)
    body, _ = Scenario.model_validate({"cancer": cancer}).resolve()
    kinds = [body.beds[o].barrier for o in model.organs]
    barrier = np.array([BARRIERS.index(k) if k in BARRIERS else -1 for k in kinds])
    direct, woken = source_integrals(model, autopsy.day, autopsy.min_diameter_mm)
    return _Base(model.organs, barrier, arrival_per_shed_cell(model),
                 1.0 - model.p_fail_extravasation, float(model.p_divide[0]),
                 float(model.p_dormant[0]), model.establishment,
                 direct, woken)


@functools.lru_cache(maxsize=64)
def _arrival_grid(cancer: str, autopsy: Autopsy) -> tuple[FloatArray, FloatArray]:
    """Arrival per shed cell on :func:`arrest_grid` values of the single-cell arrest."""
    grid = arrest_grid()
    rows = [arrival_per_shed_cell(_compiled(cancer, autopsy, float(a))) for a in grid]
    return grid, np.array(rows)


def _arrival_at(cancer: str, autopsy: Autopsy, arrest: float) -> FloatArray:
    """Arrival per shed cell at any arrest, interpolated linearly on the grid."""
    grid, rows = _arrival_grid(cancer, autopsy)
    if not grid[0] <= arrest <= grid[-1]:
        raise CalibrationError(f"arrest: {arrest} is outside [{grid[0]}, {grid[-1]}]")
    # Downstream beds see about (1 - arrest)^k of the cells: interpolate in log(1 - arrest).
    x = np.log1p(-grid)
    k = int(np.clip(np.searchsorted(grid, arrest) - 1, 0, len(grid) - 2))
    f = (math.log1p(-arrest) - x[k]) / (x[k + 1] - x[k])
    return np.asarray((1.0 - f) * rows[k] + f * rows[k + 1], dtype=float)


def arrest_bounds() -> tuple[float, float]:
    """The catalog's bounds of the single-cell arrest (the same in every bed but nodes)."""
    from metacascade.physiology import get_body

    low, high = get_body("adult_female").beds["lung"].arrest_per_pass.bounds
    return float(low), float(high)


def arrest_grid(points: int = 121) -> FloatArray:
    """Single-cell arrest values the routing is compiled at.

    The catalog's bounds of the arrest, evenly spaced in log(1 - arrest).
    """
    low, high = arrest_bounds()
    return np.asarray(1.0 - np.geomspace(1.0 - low, 1.0 - high, points), dtype=float)


def _compiled(cancer: str, autopsy: Autopsy, arrest: float | None) -> CompiledModel:
    body, _ = Scenario.model_validate({"cancer": cancer}).resolve()
    data: dict[str, object] = {
        "cancer": cancer, "horizon_years": autopsy.years,
        "primary_diameter_mm": autopsy.primary_diameter_mm,
        "cancer_overrides": {"soil": dict.fromkeys(body.beds, 1.0)},
    }
    if arrest is not None:
        beds = [b for b in body.beds if b != "lymph_node"]
        data["body_overrides"] = {"arrest_per_pass": dict.fromkeys(beds, arrest)}
    return compile_scenario(Scenario.model_validate(data))
