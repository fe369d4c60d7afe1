"""Compile a scenario into plain arrays: the one input of both engines.

The fast engine (:mod:`metacascade.engine.kernel`) and the per-cell reference
(:mod:`metacascade.engine.reference`) take the same :class:`CompiledModel`, so a
comparison between them tests the algorithm, not two readings of the catalogs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from metacascade._memo import IdentityMemo
from metacascade.cancers import Cancer
from metacascade.cancers.cascade import Cascade
from metacascade.engine.limits import check_steps, step_count
from metacascade.physiology import Body
from metacascade.physiology.routing import compile_routing
from metacascade.scenario import Scenario

FloatArray = NDArray[np.float64]

#: Embolus kinds, in the order of the compiled arrays.
EMBOLUS_KINDS = ("single", "platelet", "cluster")

#: Growth-law codes.
EXPONENTIAL, GOMPERTZ, POWER = 0, 1, 2
_LAW_CODES = {"exponential": EXPONENTIAL, "gompertz": GOMPERTZ, "power": POWER}

@dataclass(frozen=True, eq=False)
class CompiledModel:
    """Everything the engines need, as numbers and arrays (units in the names).

    The routing arrays (``absorption``, ``Q``, ``R``, ``E``, ``E_death``,
    ``time_in_blood_s``, ``organ_entry``) are read-only, shared by the models compiled
    for one body.
    """

    organs: tuple[str, ...]
    entries: tuple[str, ...]
    #: (kinds, entries, organs + 1): where an embolus entering at an entry ends; the
    #: last column is death in blood.
    absorption: FloatArray
    #: The chains behind ``absorption``, per kind (for the per-cell reference walk):
    #: Q (kinds, organs, organs) bed to next bed; R (kinds, organs, organs + 1) bed to
    #: arrest there or death; E (kinds, entries, organs) entry to first bed; E_death
    #: (kinds, entries) death on that first leg.
    Q: FloatArray
    R: FloatArray
    E: FloatArray
    E_death: FloatArray
    #: (kinds, entries): expected time in blood, s.
    time_in_blood_s: FloatArray
    #: Share of emboli of each kind, and cells per embolus of each kind.
    embolus_share: FloatArray
    cells_per_embolus: FloatArray
    primary_organ: int
    primary_entry: int
    lymph_entry: int
    lymphatic_share: float
    #: Entry index of each organ's venous outflow (where its metastases shed).
    organ_entry: NDArray[np.int64]
    growth_law: int
    primary_cells0: float
    growth_rate_per_day: float
    growth_exponent: float
    primary_capacity_cells: float
    shedding_per_cell_per_day: float
    #: Per organ: probability that an arrested cell fails to extravasate, and, for a
    #: cell that crossed, of becoming dormant or starting to divide (soil applied).
    p_fail_extravasation: FloatArray
    p_dormant: FloatArray
    p_divide: FloatArray
    establishment: float
    wake_rate_per_day: float
    dormant_death_rate_per_day: float
    avascular_cells: float
    switch_rate_per_day: float
    metastasis_capacity_cells: float
    cells_per_cm3: float
    macrometastasis_diameter_mm: float
    surface_share: float
    necrosis_diameter_mm: float
    horizon_days: float
    step_days: float
    scenario: dict[str, Any]
    citations: tuple[str, ...]
    #: Day the primary is removed (surgery): it holds and sheds no cells from then on.
    primary_removed_day: float = math.inf
    #: Per organ: probability that a dormant cell that wakes starts dividing there,
    #: min(1, soil) (a hostile soil keeps woken cells from growing out, as it keeps
    #: arrested ones); None means 1 everywhere.
    p_wake_divide: FloatArray | None = None
    #: Size at which a vascularised metastasis doubles in the cancer's doubling time,
    #: cells; at or below ``avascular_cells`` colonies grow at that rate from their
    #: founding (:attr:`colony_rate_per_day`).
    doubling_reference_cells: float = 0.0

    def wake_founding(self) -> FloatArray:
        """Per organ: probability that a woken dormant cell founds a colony."""
        wake = np.ones(self.n_organs) if self.p_wake_divide is None else self.p_wake_divide
        return np.asarray(wake * self.establishment, dtype=float)

    @property
    def colony_rate_per_day(self) -> float:
        r"""Net growth rate of a colony up to its avascular limit, per day.

        Its Gompertz growth after the switch starts at this rate and slows
        (:math:`\alpha = r_c / \ln(K_m/K_a)`), so that it doubles in the cancer's
        doubling time at ``doubling_reference_cells``:
        :math:`r_c = r \ln(K_m/K_a) / \ln(K_m/N_{ref})`. With the reference at or below
        the avascular limit, :math:`r_c = r`.
        """
        r, ka, km = self.growth_rate_per_day, self.avascular_cells, self.metastasis_capacity_cells
        ref = self.doubling_reference_cells
        if ref <= ka or km <= ka:
            return r
        if ref >= km:
            raise ValueError(f"doubling_reference_cells ({ref:g}) must be below "
                             f"metastasis_capacity_cells ({km:g})")
        return r * math.log(km / ka) / math.log(km / ref)

    @property
    def n_organs(self) -> int:
        """Number of capillary beds."""
        return len(self.organs)

    @property
    def cells_per_shed_embolus(self) -> float:
        """Mean cells per embolus."""
        return float(self.embolus_share @ self.cells_per_embolus)

    def diameter_mm(self, cells: FloatArray | float) -> FloatArray:
        """Diameter of a spherical tumour of ``cells`` cells, mm."""
        volume_cm3 = np.asarray(cells, dtype=float) / self.cells_per_cm3
        return np.asarray(10.0 * np.cbrt(6.0 * volume_cm3 / math.pi), dtype=float)

    def step_bounds(self) -> tuple[FloatArray, FloatArray]:
        """Start and end day of every engine step (the last one ends at the horizon)."""
        n_steps = step_count(self.horizon_days, self.step_days)
        starts = np.arange(n_steps, dtype=np.float64) * self.step_days
        return starts, np.minimum(starts + self.step_days, self.horizon_days)

    def record_days(self) -> list[float]:
        """Days the ledger is recorded: each year's end within the horizon, and the horizon."""
        return list(_record_days(self.horizon_days))

    def cells_for_diameter(self, diameter_mm: float) -> float:
        """Cells in a sphere of the given diameter."""
        return math.pi / 6.0 * (diameter_mm / 10.0) ** 3 * self.cells_per_cm3


@lru_cache(maxsize=64, typed=True)
def _record_days(horizon_days: float) -> tuple[float, ...]:
    # (at least one year: a horizon within 1e-9 year of 0 would otherwise have no record,
    # not even the horizon, and the engines need one at their last step)
    years = max(1, math.ceil(horizon_days / 365.25 - 1e-9))
    return tuple(sorted({min(horizon_days, 365.25 * k) for k in range(1, years + 1)}))


def compile_model(body: Body, cancer: Cancer, cascade: Cascade, *, horizon_years: float,
                  primary_diameter_mm: float, step_days: float,
                  embolus_mix: bool = True, scenario: dict[str, Any] | None = None,
                  vertebral_plexus: bool = True,
                  primary_removed_day: float = math.inf) -> CompiledModel:
    """Compile a resolved body, cancer and cascade into a :class:`CompiledModel`.

    With ``embolus_mix`` the cancer's cluster and platelet shares set the mix of
    emboli; without, every embolus is a single cell. A ``step_days`` that makes more than
    :data:`~metacascade.engine.limits.MAX_STEPS` steps over the horizon raises
    :class:`~metacascade.errors.ScenarioError`.
    """
    check_steps(horizon_years, step_days)
    cancer.check_body(body)
    routes = _routes(body, cancer.size_class.name, vertebral_plexus)
    entries, organs = routes.entries, routes.organs
    cluster = cancer.cluster_share.value if embolus_mix else 0.0
    platelet = cancer.platelet_share.value if embolus_mix else 0.0
    share = np.array([(1 - cluster) * (1 - platelet), (1 - cluster) * platelet, cluster])
    cells = np.array([1.0, 1.0, cascade.cells_per_cluster.value])

    extravasate = _BY_ORGAN.get((cascade, routes), "extravasation", lambda: _read_only(
        [cascade.extravasation[barrier].value for barrier in routes.barriers]))
    # The soil mapping is shared by the cancers a population's patients get when they
    # do not vary the soil (overrides.py), so its array is kept by it.
    soil = _BY_ORGAN.get((cancer.soil, cancer.other_soil, routes), "soil", lambda: _read_only(
        [cancer.soil_for(o).value for o in organs]))
    dormant = np.full(len(organs), cascade.dormant_after_extravasation.value)
    divide = np.minimum(cascade.divide_after_extravasation.value * soil, 1.0 - dormant)

    cells_per_cm3 = cascade.cells_per_cm3.value
    primary_cells0 = math.pi / 6.0 * (primary_diameter_mm / 10.0) ** 3 * cells_per_cm3
    exponent = cancer.growth_exponent.value if cancer.growth_exponent is not None else 1.0
    citations = sorted(routes.citations | _CITATIONS.get(
        (cascade,), None, lambda: _keys(cascade.parameters().values()))
        | _keys([*cancer.parameters().values(), *cancer.soil.values(), cancer.other_soil]))
    return CompiledModel(
        organs=organs,
        entries=entries,
        absorption=routes.absorption,
        Q=routes.Q,
        R=routes.R,
        E=routes.E,
        E_death=routes.E_death,
        time_in_blood_s=routes.time_in_blood_s,
        embolus_share=share,
        cells_per_embolus=cells,
        primary_organ=organs.index(cancer.primary_organ),
        primary_entry=entries.index(cancer.primary_organ),
        lymph_entry=entries.index("lymphatic"),
        lymphatic_share=cancer.lymphatic_share.value,
        organ_entry=routes.organ_entry,
        growth_law=_LAW_CODES[cancer.growth_law],
        primary_cells0=primary_cells0,
        growth_rate_per_day=math.log(2.0) / cancer.doubling_time.value,
        growth_exponent=exponent,
        primary_capacity_cells=cancer.carrying_capacity.value,
        shedding_per_cell_per_day=cancer.shedding_rate.value / cells_per_cm3,
        p_fail_extravasation=1.0 - extravasate,
        p_dormant=dormant,
        p_divide=divide,
        establishment=cascade.establishment.value,
        wake_rate_per_day=cascade.wake_rate.value,
        dormant_death_rate_per_day=cascade.dormant_death_rate.value,
        avascular_cells=cascade.avascular_cells.value,
        switch_rate_per_day=cascade.switch_rate.value,
        metastasis_capacity_cells=cascade.metastasis_capacity.value,
        # (0: at or below the avascular limit, which a model derived from this one with
        # another limit keeps)
        doubling_reference_cells=(cascade.doubling_reference_cells.value
                                  if cascade.doubling_reference_cells.value
                                  > cascade.avascular_cells.value else 0.0),
        cells_per_cm3=cells_per_cm3,
        macrometastasis_diameter_mm=cascade.macrometastasis_diameter.value,
        surface_share=cascade.surface_share.value,
        necrosis_diameter_mm=cascade.necrosis_diameter.value,
        horizon_days=365.25 * horizon_years,
        step_days=step_days,
        scenario=dict(scenario or {}),
        citations=tuple(citations),
        primary_removed_day=primary_removed_day,
        p_wake_divide=np.minimum(soil, 1.0),
    )


def _read_only(values: list[float]) -> FloatArray:
    array = np.array(values)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class _Routes:
    """What a model takes from its body alone.

    The routing of each embolus kind (stacked in the order of :data:`EMBOLUS_KINDS`),
    each organ's barrier and the body's citation keys. The arrays are read-only: the
    models of a cohort share them.
    """

    organs: tuple[str, ...]
    entries: tuple[str, ...]
    absorption: FloatArray
    Q: FloatArray
    R: FloatArray
    E: FloatArray
    E_death: FloatArray
    time_in_blood_s: FloatArray
    organ_entry: NDArray[np.int64]
    barriers: tuple[str, ...]
    citations: frozenset[str]


#: Most routes kept (a cohort compiles one body per patient, usually the same).
ROUTES_CACHE = 32
#: Routes of the bodies compiled lately, by body object (with size class and plexus).
_ROUTES: IdentityMemo[_Routes] = IdentityMemo(ROUTES_CACHE)
#: Citation keys of the cascades compiled lately, by cascade object.
_CITATIONS: IdentityMemo[frozenset[str]] = IdentityMemo(ROUTES_CACHE)
#: Per-organ arrays of the cascades and soil mappings compiled lately, by them and the
#: routes (read-only: a model's arrays are computed from them, none is one of them).
_BY_ORGAN: IdentityMemo[FloatArray] = IdentityMemo(2 * ROUTES_CACHE)


def _routes(body: Body, size_class: str, vertebral_plexus: bool) -> _Routes:
    """:func:`compile_routing` of ``body`` for each kind, kept for the next patient.

    Bodies are immutable and the catalog hands out one object per body (as does a
    scenario for the patients of a population that do not vary the body), so the
    patients of a cohort share the routes.
    """
    return _ROUTES.get((body,), (size_class, vertebral_plexus),
                       lambda: _compile_routes(body, size_class, vertebral_plexus))


def _compile_routes(body: Body, size_class: str, vertebral_plexus: bool) -> _Routes:
    chains = [compile_routing(body, kind, size_class=size_class,
                              vertebral_plexus=vertebral_plexus) for kind in EMBOLUS_KINDS]
    entries, organs = chains[0].entries, chains[0].states

    def stacked(name: str) -> FloatArray:
        array = np.stack([getattr(c, name) for c in chains])
        array.setflags(write=False)
        return array

    organ_entry = np.array([entries.index(o) for o in organs], dtype=np.int64)
    organ_entry.setflags(write=False)
    body_parameters: list[Any] = [body.cardiac_output, body.blood_volume, body.body_mass]
    for bed in body.beds.values():
        body_parameters += [bed.arrest_per_pass, bed.death_per_pass, bed.capillary_transit,
                            *bed.drains_to.values()]
    for junction in body.junctions.values():
        body_parameters += [junction.transit, *junction.feeds.values()]
    return _Routes(organs=organs, entries=entries, absorption=stacked("absorption"),
                   Q=stacked("Q"), R=stacked("R"), E=stacked("E"), E_death=stacked("E_death"),
                   time_in_blood_s=stacked("time_in_blood_s"), organ_entry=organ_entry,
                   barriers=tuple(body.beds[o].barrier for o in organs),
                   citations=_keys(body_parameters))


def _keys(parameters: Iterable[Any]) -> frozenset[str]:
    """The citation keys of the sources of ``parameters``."""
    return frozenset(p.source.key for p in parameters)


def compile_scenario(scenario: Scenario) -> CompiledModel:
    """Compile a validated scenario (body, cancer, cascade, horizon, step)."""
    body, cancer = scenario.resolve()
    return compile_model(
        body, cancer, scenario.cascade(), horizon_years=scenario.horizon_years,
        primary_diameter_mm=scenario.primary_diameter_mm, step_days=scenario.step_days,
        scenario=scenario.to_dict(), vertebral_plexus=scenario.vertebral_plexus,
        primary_removed_day=(scenario.clinic.surgery_day
                             if scenario.clinic and scenario.clinic.surgery_day is not None
                             else math.inf),
    )
