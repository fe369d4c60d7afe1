"""Scenarios: what a user asks for, loaded from YAML or TOML and checked.

A scenario names a body and a cancer from the catalogs and may override their
parameters. Unknown keys, values of the wrong kind or unit, and values outside a
parameter's bounds are refused with :class:`~metacascade.errors.ScenarioError`, whose
message names the field (``cancer_overrides.doubling_time: ...``).

Example (YAML)::

    cancer: prostate
    body: adult_male
    embolus: single
    horizon_years: 10
    cancer_overrides:
      doubling_time: 400 d
      soil: {vertebral_marrow: 8}
    body_overrides:
      arterial_share: {brain: 0.11, rest: 0.0240}
      drains_to: {prostate: {venous: 0.5, vertebral_plexus: 0.5}}
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from metacascade._memo import IdentityMemo
from metacascade.cancers import Cancer, get_cancer
from metacascade.cancers.cascade import DEFAULT_CASCADE, Cascade
from metacascade.citations import Assumption, Parameter
from metacascade.errors import MetacascadeError, ScenarioError
from metacascade.physiology import Body, get_body
from metacascade.physiology.model import ARTERIAL
from metacascade.units import to_unit

#: A value given by the user: a number in the catalog unit, "<number> <unit>", or
#: {value, unit}.
QuantityInput = float | str | dict[str, Any]

SCENARIO_SOURCE = Assumption("set in the scenario")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class CancerOverrides(_Strict):
    """Overrides of a cancer type's parameters (units as in ``metacascade catalog``)."""

    doubling_time: QuantityInput | None = None
    carrying_capacity: QuantityInput | None = None
    shedding_rate: QuantityInput | None = None
    cluster_share: QuantityInput | None = None
    platelet_share: QuantityInput | None = None
    lymphatic_share: QuantityInput | None = None
    ctc_diameter: QuantityInput | None = None
    ctc_cutoff: QuantityInput | None = None
    growth_exponent: QuantityInput | None = None
    soil: dict[str, QuantityInput] | None = None


class BodyOverrides(_Strict):
    """Overrides of a body's figures; shares that must sum to 1 still must."""

    cardiac_output: QuantityInput | None = None
    blood_volume: QuantityInput | None = None
    body_mass: QuantityInput | None = None
    arterial_share: dict[str, QuantityInput] | None = None
    drains_to: dict[str, dict[str, QuantityInput]] | None = None
    junction_feeds: dict[str, dict[str, QuantityInput]] | None = None
    arrest_per_pass: dict[str, QuantityInput] | None = None
    death_per_pass: dict[str, QuantityInput] | None = None


class CascadeOverrides(_Strict):
    """Overrides of the post-arrest cascade parameters (see ``metacascade catalog``)."""

    dormant_after_extravasation: QuantityInput | None = None
    divide_after_extravasation: QuantityInput | None = None
    establishment: QuantityInput | None = None
    wake_rate: QuantityInput | None = None
    dormant_death_rate: QuantityInput | None = None
    avascular_cells: QuantityInput | None = None
    switch_rate: QuantityInput | None = None
    metastasis_capacity: QuantityInput | None = None
    cells_per_cm3: QuantityInput | None = None
    macrometastasis_diameter: QuantityInput | None = None
    cells_per_cluster: QuantityInput | None = None
    surface_share: QuantityInput | None = None
    necrosis_diameter: QuantityInput | None = None
    extravasation: dict[str, QuantityInput] | None = None


class ScanSchedule(_Strict):
    """Imaging at regular intervals: ``modality`` every ``every_weeks`` from ``start_day``."""

    modality: str
    every_weeks: float = Field(gt=0.0, le=520.0)
    start_day: float = Field(default=0.0, ge=0.0, description="first scan, days from start")
    stop_day: float | None = Field(default=None, gt=0.0)
    regions: list[str] | None = Field(
        default=None, description="restrict the scan to these regions (default: all)")

    @model_validator(mode="after")
    def _check(self) -> ScanSchedule:
        from metacascade.clinic.imaging import MODALITIES, REGIONS

        if self.modality not in MODALITIES:
            raise ValueError(f"modality: unknown modality {self.modality!r}; allowed: "
                             f"{', '.join(MODALITIES)}")
        for region in self.regions or ():
            if region not in REGIONS:
                raise ValueError(f"regions: unknown region {region!r}; allowed: "
                                 f"{', '.join(REGIONS)}")
        _check_window(self.start_day, self.stop_day)
        return self


class DrawSchedule(_Strict):
    """Blood draws for circulating tumour cells (CellSearch-like assay)."""

    every_weeks: float = Field(gt=0.0, le=520.0)
    start_day: float = Field(default=0.0, ge=0.0, description="first draw, days from start")
    stop_day: float | None = Field(default=None, gt=0.0)
    site: str = Field(default="arm_vein",
                      description="arm_vein, tumour_vein or the vein of an organ")
    volume_ml: float = Field(default=7.5, gt=0.0, le=500.0)
    recovery: float | None = Field(default=None, ge=0.0, le=1.0,
                                   description="assay recovery (default: CellSearch 0.85)")
    false_positive_mean: float | None = Field(
        default=None, ge=0.0, le=100.0,
        description="Poisson mean of false positives per sample (default: Allard 2004)")

    @model_validator(mode="after")
    def _check(self) -> DrawSchedule:
        _check_window(self.start_day, self.stop_day)
        return self


class Regimen(_Strict):
    """One line of systemic therapy.

    Effects default by ``kind`` (:data:`metacascade.clinic.therapy.REGIMEN_DEFAULTS`).
    """

    name: str | None = Field(default=None, description="label (default: the kind)")
    kind: str = Field(description="cytotoxic, targeted or immunotherapy")
    dose: float = Field(default=1.0, description="relative dose intensity (1 standard), >= 0")
    kill_rate: float | None = Field(default=None, description="per day at dose 1")
    brain_exposure: float | None = None
    shedding_factor: float | None = None
    ctc_survival: float | None = None
    resistant_fraction: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Regimen:
        # pydantic runs this again for a Regimen given as one (the lines a population's
        # patients share): the same frozen regimen passes as it did.
        _CHECKED_REGIMENS.get((self,), None, self._resolve)
        return self

    def _resolve(self) -> bool:
        from metacascade.clinic.therapy import resolve_regimen

        try:
            resolve_regimen(self, where="")
        except MetacascadeError as error:
            raise ValueError(str(error).lstrip(".")) from None
        return True


#: Regimens that passed their check lately.
_CHECKED_REGIMENS: IdentityMemo[bool] = IdentityMemo(64)


class Therapy(_Strict):
    """Lines of systemic therapy, given one after another, and the rules between them."""

    lines: list[Regimen] = Field(min_length=1)
    start_day: float | None = Field(default=None, ge=0.0,
                                    description="first line starts on this day")
    start_at_m1: bool = Field(default=False,
                              description="first line starts when the stage becomes M1")
    stop_day: float | None = Field(default=None, gt=0.0, description="all therapy ends")
    switch_on: list[str] = Field(default_factory=lambda: ["progression"],
                                 description="events that move to the next line")
    stop_on: list[str] = Field(default_factory=list,
                               description="events that end therapy")
    ctc_followup_weeks: float = Field(
        default=3.0, ge=0.0, le=520.0,
        description="an arm-vein draw this long after a line started is a follow-up")

    @model_validator(mode="after")
    def _check(self) -> Therapy:
        from metacascade.clinic.therapy import TRIGGERS

        for name in ("switch_on", "stop_on"):
            for event in getattr(self, name):
                if event not in TRIGGERS:
                    raise ValueError(f"{name}: unknown event {event!r}; allowed: "
                                     f"{', '.join(TRIGGERS)}")
        if self.start_day is None and not self.start_at_m1:
            raise ValueError("start_day: give a start day or start_at_m1: true")
        if self.start_day is not None and self.start_at_m1:
            raise ValueError("start_day: give a start day or start_at_m1: true, not both")
        if self.start_day is not None:
            _check_window(self.start_day, self.stop_day)
        return self


class Clinic(_Strict):
    """How the patient is followed: scans, blood draws, and when the burden is lethal."""

    scans: list[ScanSchedule] = Field(default_factory=list)
    draws: list[DrawSchedule] = Field(default_factory=list)
    lethal_burden_cells: float = Field(
        default=1e12, gt=0.0, description="total tumour cells at death (Coumans 2013)")
    vital_organ_lethal_cells: dict[str, float] | None = Field(
        default=None, description="organ -> lethal cells there (default: liver, lung, brain)")
    surgery_day: float | None = Field(
        default=None, ge=0.0, description="day the primary is removed (it sheds no more)")
    therapy: Therapy | None = Field(default=None, description="systemic therapy lines")

    @model_validator(mode="after")
    def _check(self) -> Clinic:
        for organ, cells in (self.vital_organ_lethal_cells or {}).items():
            if not (math.isfinite(cells) and cells > 0):
                raise ValueError(f"vital_organ_lethal_cells.{organ}: {cells!r} must be a "
                                 "positive number of cells")
        return self


def _check_window(start: float, stop: float | None) -> None:
    if not math.isfinite(start):
        raise ValueError("start_day must be a finite number of days >= 0")
    if stop is not None and stop <= start:
        raise ValueError(f"stop_day: {stop!r} must be after start_day ({start!r})")


class Scenario(_Strict):
    """What to simulate: a body, a cancer, overrides, a horizon and a seed.

    Construct with :meth:`from_dict` or :func:`load_scenario` to get
    :class:`ScenarioError` for bad input (direct construction raises pydantic's
    ``ValidationError``).
    """

    cancer: str
    body: str | None = Field(default=None, description="default: the cancer's default body")
    embolus: Literal["single", "cluster", "platelet"] = "single"
    vertebral_plexus: bool = True
    horizon_years: float = Field(default=10.0, gt=0.0, le=100.0)
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    primary_diameter_mm: float = Field(default=10.0, gt=0.0, le=300.0,
                                       description="diameter of the primary at time 0")
    step_days: float = Field(default=14.0, gt=0.0, le=91.0,
                             description="engine step; rates are piecewise constant in it")
    cancer_overrides: CancerOverrides = Field(default_factory=CancerOverrides)
    body_overrides: BodyOverrides = Field(default_factory=BodyOverrides)
    cascade_overrides: CascadeOverrides = Field(default_factory=CascadeOverrides)
    clinic: Clinic | None = Field(default=None, description="scans, draws, lethal burden")

    _resolved: tuple[Body, Cancer] | None = PrivateAttr(default=None)
    _cascade: Cascade | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        for name in ("horizon_years", "primary_diameter_mm", "step_days"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        # Our errors are ValueErrors: pydantic reports them, and from_dict turns the
        # report back into one ScenarioError line.
        self._resolved = _resolve(self)
        self._cascade = _cascade_of(self.cascade_overrides)
        if self.clinic is not None:
            body = self._resolved[0]
            organs = body.organs
            for i, draw in enumerate(self.clinic.draws):
                if draw.site not in ("arm_vein", "tumour_vein", *organs):
                    raise ValueError(f"clinic.draws.{i}.site: unknown draw site "
                                     f"{draw.site!r}; allowed: arm_vein, tumour_vein, "
                                     f"{', '.join(organs)}")
            for organ in self.clinic.vital_organ_lethal_cells or {}:
                if organ not in organs:
                    raise ValueError(f"clinic.vital_organ_lethal_cells: unknown organ "
                                     f"{organ!r}; allowed: {', '.join(organs)}")
        return self

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Scenario:
        """Validate plain data (as read from YAML or TOML); raise ScenarioError."""
        if not isinstance(data, dict):
            raise ScenarioError(
                f"a scenario is a mapping of fields, not {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ScenarioError(_first_error(error)) from None

    def resolve(self) -> tuple[Body, Cancer]:
        """The body and cancer with every override applied."""
        assert self._resolved is not None  # set by the validator
        return self._resolved

    def cascade(self) -> Cascade:
        """The post-arrest cascade parameters with every override applied."""
        assert self._cascade is not None  # set by the validator
        return self._cascade

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal scenario."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.yaml``/``.yml`` or ``.toml`` file; raise ScenarioError."""
    return Scenario.from_dict(read_scenario_file(path))


def read_scenario_file(path: str | Path) -> Any:
    """The plain data of a ``.yaml``/``.yml`` or ``.toml`` file; raise ScenarioError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ScenarioError(f"scenario file {str(path)!r}: expected a .yaml, .yml or .toml "
                            "file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"scenario file {str(path)!r}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"scenario file {str(path)!r}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScenarioError(f"scenario file {str(path)!r}: cannot parse: {first}") from None
    return data


# -- helpers ---------------------------------------------------------------------------
def _first_error(error: ValidationError) -> str:
    """One line naming the field and what is wrong with it."""
    first = error.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if not _is_union_tag(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        model = _model_at(first["loc"][:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        return f"{loc}: unknown field; allowed here: {allowed}"
    field, sep, rest = message.partition(": ")
    if loc and sep and field.replace(".", "").replace("_", "").isalnum():
        return f"{loc}.{field}: {rest}"  # our validators name the field first
    return f"{loc}: {message}" if loc else message


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in ("float", "str") or part.startswith("dict["))


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue  # an index into a list of models
        field = model.model_fields.get(str(part))
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class in ``M``, ``M | None`` or ``list[M]``, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _set(param: Parameter, value: Any, what: str) -> Parameter:
    number = to_unit(value, param.unit, what=what)
    return param.with_value(number, source=SCENARIO_SOURCE, what=what)


#: Cancers, bodies and cascades with overrides applied, by the catalog objects and the
#: overrides (frozen models) they came from: the patients of a population share their
#: unsampled overrides, and a scenario without overrides shares the catalog's. Keeping
#: one body object per body also keeps the routing compiled for it (engine.compile).
_CANCERS: IdentityMemo[Cancer] = IdentityMemo(64)
_BODIES: IdentityMemo[Body] = IdentityMemo(64)
_CASCADES: IdentityMemo[Cascade] = IdentityMemo(64)


def _resolve(scenario: Scenario) -> tuple[Body, Cancer]:
    try:
        catalog_cancer = get_cancer(scenario.cancer)
    except MetacascadeError as error:
        raise ScenarioError(f"cancer: {error}") from None
    try:
        catalog_body = get_body(scenario.body or catalog_cancer.default_body)
        catalog_cancer.check_body(catalog_body)
    except MetacascadeError as error:
        raise ScenarioError(f"body: {error}") from None
    cancer_overrides, body_overrides = scenario.cancer_overrides, scenario.body_overrides
    cancer = _CANCERS.get(
        (catalog_cancer, catalog_body, *_unless_empty(cancer_overrides)), None,
        lambda: _apply_cancer(catalog_cancer, cancer_overrides, catalog_body))
    plexus = scenario.vertebral_plexus
    body = _BODIES.get((catalog_body, *_unless_empty(body_overrides)), plexus,
                       lambda: _overridden_body(catalog_body, body_overrides, plexus))
    return body, cancer


def _unless_empty(overrides: BaseModel) -> tuple[BaseModel, ...]:
    """``(overrides,)``, or ``()`` if they override nothing (any such do the same)."""
    empty = all(value is None for value in overrides.__dict__.values())
    return () if empty else (overrides,)


def _overridden_body(body: Body, overrides: BodyOverrides, vertebral_plexus: bool) -> Body:
    body = _apply_body(body, overrides)
    return body if vertebral_plexus else body.without_vertebral_plexus()


def _cascade_of(overrides: CascadeOverrides) -> Cascade:
    """:func:`_apply_cascade`, kept for the next scenario with the same overrides."""
    return _CASCADES.get(_unless_empty(overrides), None, lambda: _apply_cascade(overrides))


def _apply_cascade(overrides: CascadeOverrides) -> Cascade:
    changes: dict[str, Any] = {}
    for name in Cascade.scalar_names():
        value = getattr(overrides, name)
        if value is not None:
            changes[name] = _set(getattr(DEFAULT_CASCADE, name), value,
                                 f"cascade_overrides.{name}")
    if overrides.extravasation:
        extravasation = dict(DEFAULT_CASCADE.extravasation)
        for barrier, value in overrides.extravasation.items():
            what = f"cascade_overrides.extravasation.{barrier}"
            if barrier not in extravasation:
                _unknown(what, "barrier", barrier, extravasation)
            extravasation[barrier] = _set(extravasation[barrier], value, what)
        changes["extravasation"] = extravasation
    cascade = replace(DEFAULT_CASCADE, **changes) if changes else DEFAULT_CASCADE
    if not float(cascade.cells_per_cluster.value).is_integer():
        raise ScenarioError("cascade_overrides.cells_per_cluster: must be a whole number of "
                            "cells")
    if cascade.dormant_after_extravasation.value + cascade.divide_after_extravasation.value > 1:
        raise ScenarioError("cascade_overrides: dormant_after_extravasation + "
                            "divide_after_extravasation must not exceed 1")
    return cascade


def _apply_cancer(cancer: Cancer, overrides: CancerOverrides, body: Body) -> Cancer:
    changes: dict[str, Any] = {}
    for name in (*Cancer.PARAMETERS, "growth_exponent"):
        value = getattr(overrides, name)
        if value is None:
            continue
        current = getattr(cancer, name)
        if current is None:
            raise ScenarioError(f"cancer_overrides.{name}: cancer {cancer.name!r} grows by "
                                f"the {cancer.growth_law} law, which has no {name}")
        changes[name] = _set(current, value, f"cancer_overrides.{name}")
    if overrides.soil:
        soil = dict(cancer.soil)
        for organ, value in overrides.soil.items():
            what = f"cancer_overrides.soil.{organ}"
            if organ not in body.beds:
                raise ScenarioError(f"{what}: unknown organ {organ!r}; organs of "
                                    f"{body.name}: {', '.join(body.beds)}")
            soil[organ] = _set(cancer.soil_for(organ), value, what)
        changes["soil"] = soil
    if "ctc_cutoff" in changes and not float(changes["ctc_cutoff"].value).is_integer():
        raise ScenarioError("cancer_overrides.ctc_cutoff: must be a whole number of cells")
    return replace(cancer, **changes) if changes else cancer


def _apply_body(body: Body, overrides: BodyOverrides) -> Body:
    """Apply body overrides group by group.

    The body is validated after each group, so that an error names the group (and the
    bed or junction) that broke it.
    """
    changes: dict[str, Any] = {}
    for name in ("cardiac_output", "blood_volume", "body_mass"):
        value = getattr(overrides, name)
        if value is not None:
            changes[name] = _set(getattr(body, name), value, f"body_overrides.{name}")
    if changes:
        body = replace(body, **changes)
    for field_name in ("arrest_per_pass", "death_per_pass"):
        for organ, value in (getattr(overrides, field_name) or {}).items():
            what = f"body_overrides.{field_name}.{organ}"
            bed = body.beds.get(organ) or _unknown(what, "organ", organ, body.beds)
            new_bed = replace(bed, **{field_name: _set(getattr(bed, field_name), value, what)})
            body = replace(body, beds={**body.beds, organ: new_bed})
    for organ, targets in (overrides.drains_to or {}).items():
        what = f"body_overrides.drains_to.{organ}"
        bed = body.beds.get(organ) or _unknown(what, "organ", organ, body.beds)
        new_bed = replace(bed, drains_to=_fractions(targets, what, body))
        body = _validated(replace(body, beds={**body.beds, organ: new_bed}), what)
    for name, targets in (overrides.junction_feeds or {}).items():
        what = f"body_overrides.junction_feeds.{name}"
        junction = body.junctions.get(name) or _unknown(what, "junction", name, body.junctions)
        new_junction = replace(junction, feeds=_fractions(targets, what, body))
        body = _validated(replace(body, junctions={**body.junctions, name: new_junction}), what)
    if overrides.arterial_share:
        feeds = dict(body.junctions[ARTERIAL].feeds)
        for organ, value in overrides.arterial_share.items():
            what = f"body_overrides.arterial_share.{organ}"
            if organ not in body.beds:
                _unknown(what, "organ", organ, body.beds)
            base = feeds.get(organ) or Parameter(0.0, "1", SCENARIO_SOURCE, (0.0, 1.0))
            feeds[organ] = _set(base, value, what)
        arterial = replace(body.junctions[ARTERIAL], feeds=feeds)
        body = replace(body, junctions={**body.junctions, ARTERIAL: arterial})
    return _validated(body, "body_overrides.arterial_share" if overrides.arterial_share
                      else "body_overrides")


def _validated(body: Body, what: str) -> Body:
    try:
        return body.validate()
    except MetacascadeError as error:
        raise ScenarioError(f"{what}: {error}") from None


def _fractions(targets: dict[str, Any], what: str, body: Body) -> dict[str, Parameter]:
    nodes = set(body.beds) | set(body.junctions)
    out = {}
    for target, value in targets.items():
        if target not in nodes:
            raise ScenarioError(f"{what}.{target}: unknown bed or junction {target!r}; "
                                f"known: {', '.join([*body.beds, *body.junctions])}")
        base = Parameter(0.0, "1", SCENARIO_SOURCE, (0.0, 1.0))
        out[target] = _set(base, value, f"{what}.{target}")
    return out


def _unknown(what: str, kind: str, name: str, known: Any) -> Any:
    raise ScenarioError(f"{what}: unknown {kind} {name!r}; known: {', '.join(known)}")
