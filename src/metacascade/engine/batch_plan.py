"""What the batched engine reads of a batch of compiled models, as per-patient arrays.

The structural fields (body, entries, routing, embolus kinds, step grid, horizon) must
agree across the batch; everything else (growth, shedding, soils, establishment,
dormancy, lymphatic share, embolus mix) becomes an array with one row per patient. The
formulas are the kernel's (:class:`metacascade.engine.kernel_plan.KernelPlan`) and the
growth module's, vectorised over patients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade.engine.compile import EXPONENTIAL, GOMPERTZ, CompiledModel
from metacascade.engine.limits import EngineError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Fields every model of a batch must share, and how each is compared.
STRUCTURAL: tuple[tuple[str, Callable[[CompiledModel], Any]], ...] = (
    ("organs", lambda m: m.organs),
    ("entries", lambda m: m.entries),
    ("absorption", lambda m: m.absorption),
    ("cells_per_embolus", lambda m: m.cells_per_embolus),
    ("primary_entry", lambda m: m.primary_entry),
    ("lymph_entry", lambda m: m.lymph_entry),
    ("organ_entry", lambda m: m.organ_entry),
    ("step_days", lambda m: m.step_days),
    ("horizon_days", lambda m: m.horizon_days),
    ("record_days", lambda m: m.record_days()),
)


def check_structure(models: Sequence[CompiledModel]) -> None:
    """Raise :class:`EngineError` naming the first structural field that differs."""
    first = models[0]
    for name, get in STRUCTURAL:
        reference = get(first)
        for i, model in enumerate(models[1:], start=1):
            value = get(model)
            same = (np.array_equal(reference, value) if isinstance(reference, np.ndarray)
                    else reference == value)
            if not same:
                raise EngineError(f"models of a batch differ in {name} (patient {i} "
                                  "against patient 0); run them one by one")


def _column(models: Sequence[CompiledModel], get: Callable[[CompiledModel], Any]) -> FloatArray:
    return np.array([get(m) for m in models], dtype=float)


def primary_sizes(law: IntArray, n0: FloatArray, rate: FloatArray, capacity: FloatArray,
                  exponent: FloatArray, t: FloatArray) -> FloatArray:
    """Untreated primary sizes, patients (rows, arrays of shape (P, 1)) x times.

    :func:`metacascade.engine.growth.primary_cells` before removal, per patient.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(capacity / n0)
        capped = n0 * np.exp(np.minimum(rate * t, log_ratio))
        alpha = rate / log_ratio
        gompertz = capacity * np.exp(-log_ratio * np.exp(-alpha * t))
        one = exponent == 1.0
        b = np.where(one, 0.5, exponent)
        a = rate * n0 ** (1.0 - b)
        base = n0 ** (1.0 - b) + a * (1.0 - b) * t
        power = np.where(one, capped, np.power(np.maximum(base, 0.0), 1.0 / (1.0 - b)))
    out = np.where(law == EXPONENTIAL, capped, np.where(law == GOMPERTZ, gompertz, power))
    out = np.where(n0 >= capacity, capacity, out)
    return np.asarray(np.minimum(out, capacity), dtype=float)


def vascular_cells(capacity: FloatArray, log_ka_km: FloatArray, alpha: FloatArray,
                   t: float, switch: FloatArray) -> FloatArray:
    """Cells at ``t`` of colonies past their switch (Gompertz), elementwise.

    ``capacity``, ``log_ka_km`` (log of avascular over capacity cells) and ``alpha`` are
    each colony's patient's.
    """
    late = capacity * np.exp(log_ka_km * np.exp(-alpha * np.maximum(t - switch, 0.0)))
    return np.asarray(late, dtype=float)


class BatchPlan:
    """Per-patient arrays of a batch of compiled models (patients first)."""

    def __init__(self, models: Sequence[CompiledModel]) -> None:
        check_structure(models)
        self.models = list(models)
        first = models[0]
        P, n = len(models), first.n_organs
        self.P, self.n, self.n_entries = P, n, len(first.entries)
        starts, ends = first.step_bounds()
        keep = ends > starts
        self.starts, self.ends = starts[keep], ends[keep]
        self.n_steps = len(self.starts)
        self.record_steps = sorted({int(np.searchsorted(self.ends, day - 1e-9))
                                    for day in first.record_days()})
        self.organ_entry = first.organ_entry
        self._growth(models)
        self._routing(models)
        self._fates(models)

    def _growth(self, models: Sequence[CompiledModel]) -> None:
        col = _column
        self.rate = col(models, lambda m: m.growth_rate_per_day)
        #: Each patient's colony growth rate (early; alpha * log(capacity / avascular)).
        self.colony_rate = col(models, lambda m: m.colony_rate_per_day)
        self.avascular = col(models, lambda m: m.avascular_cells)
        capacity = col(models, lambda m: m.metastasis_capacity_cells)
        self.log_ka_km = np.log(self.avascular / capacity)
        self.alpha = self.colony_rate / np.log(capacity / self.avascular)
        self.capacity = capacity
        self.shedding = col(models, lambda m: m.shedding_per_cell_per_day)
        self.switch_rate = col(models, lambda m: m.switch_rate_per_day)
        self.surface_share = col(models, lambda m: m.surface_share)
        law = np.array([m.growth_law for m in models], dtype=np.int64)[:, None]
        n0 = col(models, lambda m: m.primary_cells0)[:, None]
        k = col(models, lambda m: m.primary_capacity_cells)[:, None]
        b = col(models, lambda m: m.growth_exponent)[:, None]
        removed = col(models, lambda m: m.primary_removed_day)[:, None]
        rate = self.rate[:, None]
        starts, ends = self.starts[None, :], self.ends[None, :]
        # As growth.primary_step_integrals: a step cut by the removal ends there.
        stop = np.minimum(ends, np.maximum(starts, removed))
        values = [primary_sizes(law, n0, rate, k, b, t)
                  for t in (starts, 0.5 * (starts + stop), stop)]
        integral = (values[0] + 4.0 * values[1] + values[2]) / 6.0 * (stop - starts)
        self.primary_expected = self.shedding[:, None] * integral
        horizon = np.full((1, 1), models[0].horizon_days)
        end = primary_sizes(law, n0, rate, k, b, horizon)
        self.primary_cells_end = np.where(horizon < removed, end, 0.0)[:, 0]

    def vascular_cells(self, p: IntArray, t: float, switch: FloatArray) -> FloatArray:
        """Cells at ``t`` of colonies of patients ``p`` past their switch (Gompertz)."""
        return vascular_cells(self.capacity[p], self.log_ka_km[p], self.alpha[p], t, switch)

    def _routing(self, models: Sequence[CompiledModel]) -> None:
        first = models[0]
        absorption = first.absorption
        single = first.cells_per_embolus == 1
        per_cell = np.array([m.embolus_share / m.cells_per_shed_embolus for m in models])
        lymph = _column(models, lambda m: m.lymphatic_share)[:, None]
        #: (P, entries, organs + 1): single-cell emboli per shed cell, by entry.
        self.single_by_entry = np.einsum("pk,kes->pes", per_cell * single, absorption)
        pe, le = first.primary_entry, first.lymph_entry
        self.single_primary_row = ((1.0 - lymph) * self.single_by_entry[:, pe]
                                   + lymph * self.single_by_entry[:, le])
        kinds = np.nonzero(~single)[0]
        self.cluster_sizes = [int(first.cells_per_embolus[c]) for c in kinds]
        #: Per cluster kind: absorption (entries, organs + 1), clusters per shed cell (P).
        self.cluster_absorption = [absorption[c] for c in kinds]
        self.cluster_per_cell = [per_cell[:, c] for c in kinds]
        self.cluster_primary_rows = [
            per_cell[:, c, None] * ((1.0 - lymph) * absorption[c, pe] + lymph * absorption[c, le])
            for c in kinds]

    def _fates(self, models: Sequence[CompiledModel]) -> None:
        """Fates of an arrested cell per patient and organ (as the kernel's plan)."""
        q = _column(models, lambda m: m.establishment)
        self.q = q
        fail = np.array([m.p_fail_extravasation for m in models])
        crossed = 1.0 - fail
        p_dormant = crossed * np.array([m.p_dormant for m in models])
        p_divide = crossed * np.array([m.p_divide for m in models])
        p_died = crossed - p_dormant - p_divide
        self.p_dormant = p_dormant
        self.p_found = p_divide * q[:, None]
        #: (P, organs, 3): failed, died after extravasation, extinct.
        self.p_common = np.stack([fail, p_died, p_divide * (1.0 - q[:, None])], axis=2)
        rare_cell = p_dormant + p_divide
        self.rare_cell = rare_cell  # (P, organs): chance a cell is dormant or divides
        with np.errstate(divide="ignore", invalid="ignore"):
            self.dormant_given_rare = np.where(rare_cell > 0, p_dormant / rare_cell, 0.0)
            common = fail + p_died
            self.fail_given_common = np.where(common > 0, fail / common, 0.0)
            active = 1.0 - p_dormant
            self.founder_given_active = np.where(active > 0, self.p_found / active, 0.0)
            rest = active - self.p_found
            self.fail_given_rest = np.clip(np.where(rest > 0, fail / rest, 0.0), 0, 1)
            after_fail = rest - fail
            self.died_given_rest = np.clip(
                np.where(after_fail > 0, p_died / after_fail, 0.0), 0, 1)
        #: Per cluster kind (P, organs): chance that a cluster has a rare cell.
        self.cluster_rare: list[FloatArray] = [
            -np.expm1(m * np.log1p(-np.minimum(rare_cell, 1.0))) for m in self.cluster_sizes]
        wake = _column(models, lambda m: m.wake_rate_per_day)
        hazard = wake + _column(models, lambda m: m.dormant_death_rate_per_day)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.wake_share = np.where(hazard > 0, wake / hazard, 0.0)
        #: (P,): a dormant cell's event rate (waking or death, per day).
        self.hazard = hazard
        #: (P, organs): chance that an arrested cell becomes dormant and will wake, or die.
        self.p_dormant_wake = p_dormant * self.wake_share[:, None]
        self.p_dormant_die = p_dormant - self.p_dormant_wake
        self.wake_founding = np.array([m.wake_founding() for m in models])
        #: (P, organs): chance that an arrested cell becomes a sleeper that will wake and
        #: found a colony, or wake and go extinct.
        self.p_dormant_wake_found = self.p_dormant_wake * self.wake_founding
        self.p_dormant_wake_idle = self.p_dormant_wake - self.p_dormant_wake_found
        self._cluster_kinds()

    def _cluster_kinds(self) -> None:
        """Quiet and loud clusters: the rare ones split by whether the ledger alone sees them.

        A cluster is quiet when its only rare cell is dormant and will die (the others
        fail or die after extravasation): it changes nothing but the ledger and the
        sleepers, so it is drawn at the record. The other rare clusters are loud. Per
        kind (P, organs): the chance of each, the distribution of a loud cluster's rare
        cells (cumulative, 1 .. m), and the chance that a loud cluster's one rare cell is
        a sleeper that will wake (rather than a dividing cell).
        """
        die_given_rare = self.dormant_given_rare * (1.0 - self.wake_share[:, None])
        rare_cell = self.rare_cell
        self.cluster_quiet: list[FloatArray] = []
        self.cluster_loud: list[FloatArray] = []
        self.cluster_loud_cdf: list[FloatArray] = []
        for m in self.cluster_sizes:
            r = np.arange(1, m + 1)
            comb = np.array([math.comb(m, int(i)) for i in r])
            pmf = comb * rare_cell[..., None] ** r * (1.0 - rare_cell[..., None]) ** (m - r)
            quiet = pmf[..., 0] * die_given_rare
            pmf[..., 0] -= quiet
            loud = pmf.sum(axis=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                cdf = np.cumsum(pmf, axis=2) / np.where(loud > 0, loud, 1.0)[..., None]
            cdf[..., -1] = 1.0
            self.cluster_quiet.append(quiet)
            self.cluster_loud.append(loud)
            self.cluster_loud_cdf.append(cdf)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.wake_given_one = np.where(
                die_given_rare < 1.0, (self.dormant_given_rare - die_given_rare)
                / (1.0 - die_given_rare), 0.0)
