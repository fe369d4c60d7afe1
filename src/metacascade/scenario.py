"""Scenarios: what a user asks for, loaded from YAML or TOML and checked.

A scenario names a body and a cancer from the catalogs and may override their
parameters. Unknown keys, values of the wrong kind or unit, and values outside a
parameter's bounds are refused with :class:`~metacascade.errors.ScenarioError`, whose
message names the field (``cancer_overrides.doubling_time: ...``).
The overrides are applied by :mod:`metacascade.overrides`.

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

import inspect
import json
import math
import os
import textwrap
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    StrictBool,
    ValidationError,
    model_validator,
)

from metacascade._checks import TRUTH_VALUES, as_path
from metacascade._memo import IdentityMemo
from metacascade.cancers import Cancer
from metacascade.cancers.cascade import Cascade
from metacascade.engine.limits import MAX_STEPS, check_steps
from metacascade.errors import MetacascadeError, ScenarioError
from metacascade.overrides import SCENARIO_SOURCE as SCENARIO_SOURCE  # (re-exported)
from metacascade.overrides import cascade_of, resolve
from metacascade.physiology import Body

#: A value given by the user: a number in the catalog unit, "<number> <unit>", or
#: {value, unit}.
QuantityInput = Annotated[float, Strict()] | str | dict[str, Any]  # (true is no number)
#: true or false (a NumPy one too), not a number or a word such as "no".
TruthValue = Annotated[StrictBool, BeforeValidator(
    lambda value: bool(value) if isinstance(value, TRUTH_VALUES) else value)]

class FrozenDict(dict[Any, Any]):
    """A dict that cannot be changed: a validated model's mappings (``soil``, ...).

    A ``dict`` still, so that pydantic dumps it and code that reads a dict reads it.
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a scenario's values cannot be changed; build a new scenario "
                        "(Scenario.from_dict, or model_copy(update=...))")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # (pickle and copy build it whole)
        return (type(self), (dict(self),))


class FrozenList(list[Any]):
    """A list that cannot be changed: a validated model's lists (``scans``, ...)."""

    _refuse = FrozenDict._refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


# YAML writes them as the dict and list they are (yaml.safe_dump refused them).
for _dumper in (yaml.SafeDumper, yaml.Dumper):
    _dumper.add_representer(FrozenDict, yaml.representer.SafeRepresenter.represent_dict)
    _dumper.add_representer(FrozenList, yaml.representer.SafeRepresenter.represent_list)


def _frozen(value: Any) -> Any:
    """``value`` with its dicts and lists (nested) made :class:`FrozenDict`/:class:`FrozenList`."""
    if isinstance(value, dict) and not isinstance(value, FrozenDict):
        return FrozenDict({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list) and not isinstance(value, FrozenList):
        return FrozenList(_frozen(v) for v in value)
    return value


class InputModel(BaseModel):
    """Base of the models of user input: unknown keys refused, values frozen.

    Frozen through and through: a field cannot be set, nor can its mappings and lists
    be changed in place (they are :class:`FrozenDict` and :class:`FrozenList`). A copy
    with changes, ``model_copy(update=...)``, is validated as a new model is.

    YAML's true and false are refused where a number is expected (pydantic would read
    true as 1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    @model_validator(mode="after")
    def _freeze(self) -> Any:
        cls = type(self)
        names = _CONTAINER_FIELDS.get(cls)
        if names is None:
            names = _CONTAINER_FIELDS[cls] = tuple(
                k for k, f in cls.model_fields.items() if _container(f.annotation))
        for name in names:
            value = getattr(self, name)
            if isinstance(value, dict | list):
                object.__setattr__(self, name, _frozen(value))
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Any:
        """A copy; with ``update``, the fields changed and the whole validated again.

        (pydantic's own copy sets the fields without validation: a scenario's body and
        cancer, worked out when it was validated, would stay those of the original.)
        Bad values raise :class:`ScenarioError`.
        """
        if not update:
            return super().model_copy(deep=deep)
        fields = {name: getattr(self, name) for name in type(self).model_fields
                  if name in self.model_fields_set}
        try:
            return type(self).model_validate({**fields, **update})
        except ValidationError as error:
            raise ScenarioError(_first_error(error)) from None

    @model_validator(mode="before")
    @classmethod
    def _no_truth_value_as_number(cls, data: Any) -> Any:
        """YAML's true and false are not numbers (pydantic would read true as 1).

        Nor are NumPy's (``np.bool_``), also inside a mapping or list of numbers
        (``soil: {lung: true}``, ``weights: [true, 1]``). (One look at the mapping per
        model, not a validator per field: patients' scenarios are validated by the
        thousand.)
        """
        if isinstance(data, dict):
            numeric = _NUMERIC_FIELDS.get(cls)
            if numeric is None:
                numeric = _NUMERIC_FIELDS[cls] = frozenset(
                    k for k, f in cls.model_fields.items() if _numeric(f.annotation))
            for key, value in data.items():
                if isinstance(value, _CONTAINS_TRUTH) and key in numeric:
                    where = _truth_value_in(value)
                    if where is not None:
                        path, truth = where
                        raise ValueError(f"{key}{path}: {str(truth).lower()} is not a "
                                         "number; give a number")
        return data


_Strict = InputModel
_Model = TypeVar("_Model", bound=InputModel)

#: Each input model's fields that take numbers (or mappings or lists of numbers).
_NUMERIC_FIELDS: dict[type[BaseModel], frozenset[str]] = {}
#: Each input model's fields that may hold a dict or a list (frozen once validated).
_CONTAINER_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _container(annotation: Any) -> bool:
    """Whether a field's type may hold a dict or a list (also in a union)."""
    if annotation in (dict, list) or getattr(annotation, "__origin__", None) in (dict, list):
        return True
    return any(_container(a) for a in get_args(annotation))
#: What may hold a truth value (Python's or NumPy's).
_CONTAINS_TRUTH = (*TRUTH_VALUES, dict, list, tuple)


def _truth_value_in(value: Any) -> tuple[str, Any] | None:
    """The first truth value in ``value`` (itself, or in its mappings and lists, nested).

    Returns its path below ``value`` (``""``, ``".lung"``, ``".0"``) and the value, or
    None.
    """
    if isinstance(value, TRUTH_VALUES):
        return "", value
    items: Any = (value.items() if isinstance(value, dict)
                  else enumerate(value) if isinstance(value, list | tuple) else ())
    for key, item in items:
        if isinstance(item, _CONTAINS_TRUTH):
            found = _truth_value_in(item)
            if found is not None:
                return f".{key}{found[0]}", found[1]
    return None


def _numeric(annotation: Any) -> bool:
    """Whether a field's type takes a number and not a bool (float, int, or a union of one).

    (Also a mapping or list of numbers: their items must not be truth values either.)
    """
    if annotation is bool:
        return False
    if annotation in (float, int):
        return True
    arguments = get_args(annotation)
    return bool not in arguments and any(_numeric(a) for a in arguments)


def _fields_documented(cls: type[_Model]) -> type[_Model]:
    """``cls`` with its fields' descriptions, units and bounds in its docstring.

    (``help(Scenario)`` shows the docstring, not the fields' descriptions; written once,
    in the fields.)
    """
    lines = [inspect.cleandoc(cls.__doc__ or ""), "", "Attributes", "----------"]
    for name, info in cls.model_fields.items():
        lines += [name, *textwrap.wrap(info.description or "", 84, initial_indent="    ",
                                       subsequent_indent="    ")]
    cls.__doc__ = "\n".join(lines)
    return cls


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
    doubling_reference_cells: QuantityInput | None = None
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
    start_day: float = Field(default=0.0, ge=0.0, allow_inf_nan=False,
                             description="first scan, days from start")
    stop_day: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    regions: list[str] | None = Field(
        default=None, description="restrict the scan to these regions (default: every "
        "organ the modality sees, the head too)")

    @model_validator(mode="after")
    def _check(self) -> ScanSchedule:
        from metacascade.clinic.imaging import MODALITIES, REGIONS

        if self.modality not in MODALITIES:
            raise ValueError(f"modality: unknown modality {self.modality!r}; allowed: "
                             f"{', '.join(MODALITIES)}")
        if self.regions is not None and not self.regions:
            raise ValueError("regions: give at least one region, or leave regions out for "
                             f"every organ the modality sees; regions: {', '.join(REGIONS)}")
        for region in self.regions or ():
            if region not in REGIONS:
                raise ValueError(f"regions: unknown region {region!r}; allowed: "
                                 f"{', '.join(REGIONS)}")
        _check_window(self.start_day, self.stop_day)
        return self


class DrawSchedule(_Strict):
    """Blood draws for circulating tumour cells (CellSearch-like assay)."""

    every_weeks: float = Field(gt=0.0, le=520.0)
    start_day: float = Field(default=0.0, ge=0.0, allow_inf_nan=False,
                             description="first draw, days from start")
    stop_day: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    site: str = Field(default="arm_vein",
                      description="arm_vein, tumour_vein (before any surgery_day) or the "
                      "vein of an organ")
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


#: The events that move therapy to the next line unless a scenario says otherwise.
DEFAULT_SWITCH_ON = ("progression",)


class Therapy(_Strict):
    """Lines of systemic therapy, given one after another, and the rules between them."""

    lines: list[Regimen] = Field(min_length=1)
    start_day: float | None = Field(default=None, ge=0.0, allow_inf_nan=False,
                                    description="first line starts on this day")
    start_at_m1: TruthValue = Field(default=False,
                              description="first line starts when the stage becomes M1")
    stop_day: float | None = Field(
        default=None, gt=0.0, allow_inf_nan=False,
        description="all therapy ends: the running line stops on this day, and no line "
        "starts on or after it (with start_at_m1, a patient first staged M1 then is not "
        "treated)")
    switch_on: list[str] = Field(default_factory=lambda: list(DEFAULT_SWITCH_ON),
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
        default=1e12, gt=0.0, allow_inf_nan=False,
        description="total tumour cells at death (Coumans 2013)")
    vital_organ_lethal_cells: dict[str, float] | None = Field(
        default=None, description="organ -> lethal cells there (default: liver, lung, brain)")
    surgery_day: float | None = Field(
        default=None, ge=0.0, allow_inf_nan=False,
        description="day the primary is removed (it sheds no more; leave it out for none)")
    therapy: Therapy | None = Field(default=None, description="systemic therapy lines")

    @model_validator(mode="after")
    def _check(self) -> Clinic:
        for organ, cells in (self.vital_organ_lethal_cells or {}).items():
            if not (math.isfinite(cells) and cells > 0):
                raise ValueError(f"vital_organ_lethal_cells.{organ}: {cells!r} must be a "
                                 "positive number of cells")
        self._check_no_repeats()
        self._check_therapy_can_happen()
        return self

    def _check_no_repeats(self) -> None:
        """Refuse a scan or draw schedule listed twice.

        Each schedule is followed as given: the same one twice doubled a scan's chance
        to find a lesion (and its rows), or the draws. (Scans of one modality on one day
        from different schedules are one examination: :mod:`metacascade.clinic.course`.)
        """
        for name, schedules in (("scans", self.scans), ("draws", self.draws)):
            first: dict[str, int] = {}
            for i, schedule in enumerate(schedules):
                data = schedule.model_dump(mode="json")
                if data.get("regions") is not None:
                    data["regions"] = sorted(set(data["regions"]))
                key = json.dumps(data, sort_keys=True)
                if key in first:
                    raise ValueError(f"{name}.{i}: the same schedule as clinic.{name}."
                                     f"{first[key]}; list each schedule once")
                first[key] = i

    def _check_therapy_can_happen(self) -> None:
        """Refuse therapy rules that nothing in this clinic can set off.

        M1 and progression are seen only at scans, an unfavourable CTC count only at an
        arm-vein draw: without them such a rule did nothing, silently (a therapy that
        never started). No line starts on or after ``stop_day``: ``start_at_m1`` needs a
        scan before it. ``switch_on`` at its default value (``[progression]``) is not
        refused, given or not: a scenario's plain data (:meth:`Scenario.to_dict`) holds
        its defaults, and must read back.
        """
        therapy = self.therapy
        if therapy is None:
            return
        arm_vein = any(draw.site == "arm_vein" for draw in self.draws)
        if therapy.start_at_m1 and not self.scans:
            raise ValueError("therapy.start_at_m1: the stage becomes M1 only at a scan, and "
                             "the clinic has none; give scans, or a start_day")
        if (therapy.start_at_m1 and therapy.stop_day is not None
                and all(scan.start_day >= therapy.stop_day for scan in self.scans)):
            raise ValueError(f"therapy.stop_day: no line starts on or after it "
                             f"({therapy.stop_day:g}), and no scan comes before it to find "
                             "M1 (start_at_m1); give a later stop_day or earlier scans")
        for name in ("switch_on", "stop_on"):
            if name == "switch_on" and therapy.switch_on == list(DEFAULT_SWITCH_ON):
                continue
            for event in getattr(therapy, name):
                if event == "progression" and not self.scans:
                    raise ValueError(f"therapy.{name}: progression is seen only at a scan, "
                                     "and the clinic has none; give scans, or leave "
                                     "progression out")
                if event == "ctc_unfavourable" and not arm_vein:
                    raise ValueError(f"therapy.{name}: ctc_unfavourable is seen only at an "
                                     "arm-vein draw, and the clinic has none; give draws "
                                     "(site arm_vein), or leave ctc_unfavourable out")


def _check_window(start: float, stop: float | None) -> None:
    if not math.isfinite(start):
        raise ValueError("start_day must be a finite number of days >= 0")
    if stop is not None and stop <= start:
        raise ValueError(f"stop_day: {stop!r} must be after start_day ({start!r})")


@_fields_documented
class Scenario(_Strict):
    """What to simulate: a body, a cancer, overrides, a horizon and a seed.

    Construct with :meth:`from_dict` or :func:`load_scenario` to get
    :class:`ScenarioError` for bad input (direct construction raises pydantic's
    ``ValidationError``). The fields, their units and bounds follow (each field's
    ``description``; ``Scenario.model_json_schema()`` gives them too).
    """

    cancer: str = Field(
        description="the primary's cancer type, a catalog name such as breast, prostate or "
        "colon (`metacascade catalog` lists them)")
    body: str | None = Field(
        default=None, description="the body, a catalog name: adult_male or adult_female "
        "(default: the cancer's default body)")
    embolus: Literal["single", "cluster", "platelet"] = Field(
        default="single", description="the kind `route` follows; a simulation sheds the "
        "cancer's mix (cluster_share, platelet_share)")
    vertebral_plexus: TruthValue = Field(
        default=True, description="true (the default): Batson's vertebral venous plexus "
        "is open; false closes it, for comparison")
    horizon_years: float = Field(
        default=10.0, gt=0.0, le=100.0,
        description="years simulated from day 0, in (0, 100] (default 10)")
    seed: int | None = Field(
        default=None, ge=0, lt=2**63,
        description="seed of the random stream, a whole number in [0, 2^63); default: a "
        "fresh one each run, recorded with the outputs (in a population file, the cohort "
        "seed `metacascade cohort` takes without --seed)")
    primary_diameter_mm: float = Field(
        default=10.0, gt=0.0, le=300.0,
        description="diameter of the primary at day 0, mm, in (0, 300] (default 10)")
    step_days: float = Field(
        default=14.0, gt=0.0, le=91.0,
        description=f"the engines' step, days, in (0, 91] and at most {MAX_STEPS:,} steps "
        "over the horizon (default 14); rates are piecewise constant in it")
    cancer_overrides: CancerOverrides = Field(
        default_factory=CancerOverrides,
        description="the cancer type's parameters changed (doubling_time, shedding_rate, "
        "soil: organ -> soil, ...; CancerOverrides): a number in the unit "
        "`metacascade catalog` gives, or a quantity with its unit ('400 d'), within the "
        "parameter's bounds")
    body_overrides: BodyOverrides = Field(
        default_factory=BodyOverrides,
        description="the body's figures changed (cardiac_output, drains_to, "
        "arrest_per_pass, ...; BodyOverrides), as cancer_overrides; shares that must sum "
        "to 1 still must")
    cascade_overrides: CascadeOverrides = Field(
        default_factory=CascadeOverrides,
        description="the cascade after arrest changed (extravasation, dormancy, colony "
        "growth: wake_rate, avascular_cells, ...; CascadeOverrides), as cancer_overrides")
    clinic: Clinic | None = Field(
        default=None, description="how the patient is followed: scans, blood draws, "
        "surgery_day, lethal burdens, therapy (Clinic); default: no scans or draws, the "
        "patient followed to a lethal burden")

    _resolved: tuple[Body, Cancer] | None = PrivateAttr(default=None)
    _cascade: Cascade | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        for name in ("horizon_years", "primary_diameter_mm", "step_days"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        check_steps(self.horizon_years, self.step_days)
        # Our errors are ValueErrors: pydantic reports them, and from_dict turns the
        # report back into one ScenarioError line.
        self._resolved = resolve(self)
        self._cascade = cascade_of(self.cascade_overrides)
        if self.clinic is not None:
            body = self._resolved[0]
            organs = body.organs
            for i, draw in enumerate(self.clinic.draws):
                if draw.site not in ("arm_vein", "tumour_vein", *organs):
                    raise ValueError(f"clinic.draws.{i}.site: unknown draw site "
                                     f"{draw.site!r}; allowed: arm_vein, tumour_vein, "
                                     f"{', '.join(organs)}")
            self._check_tumour_vein_before_surgery(self.clinic)
            for organ in self.clinic.vital_organ_lethal_cells or {}:
                if organ not in organs:
                    raise ValueError(f"clinic.vital_organ_lethal_cells: unknown organ "
                                     f"{organ!r}; allowed: {', '.join(organs)}")
        return self

    def _check_tumour_vein_before_surgery(self, clinic: Clinic) -> None:
        """Refuse a tumour-vein draw on or after the surgery day.

        The primary is removed at the start of ``surgery_day`` (it holds no cells from
        then on), and its draining vein with it: a draw there has nothing to sample
        (it read the systemic blood that passes that organ's vein). The schedule is
        known at read time, up to the horizon.
        """
        surgery = clinic.surgery_day
        if surgery is None:
            return
        for i, draw in enumerate(clinic.draws):
            if draw.site != "tumour_vein":
                continue
            days = schedule_days(draw.start_day, draw.every_weeks, draw.stop_day,
                                 365.25 * self.horizon_years)
            late = [day for day in days if day >= surgery]
            if late:
                hint = (f"give the schedule a stop_day before {surgery:g}, or another site"
                        if days[0] < surgery else "draw from another site")
                raise ValueError(
                    f"clinic.draws.{i}: a tumour_vein draw on day {late[0]:g}, on or after "
                    f"surgery_day ({surgery:g}), when the primary and its vein are gone; "
                    f"{hint}")

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Scenario:
        """Validate plain data (as read from YAML or TOML; any mapping); raise ScenarioError."""
        if not isinstance(data, dict):
            if not isinstance(data, Mapping):
                raise ScenarioError(
                    f"a scenario is a mapping of fields, not {type(data).__name__}"
                )
            data = dict(data)
        if "population" in data:
            raise ScenarioError("population: a population is for `metacascade cohort` "
                                "(metacascade.simulate_cohort); this takes one patient's "
                                "scenario")
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

    def primary_removed_by(self, day: float) -> bool:
        """Whether surgery (``clinic.surgery_day``) has removed the primary by ``day``."""
        surgery = None if self.clinic is None else self.clinic.surgery_day
        return surgery is not None and surgery <= day

    def to_dict(self) -> dict[str, Any]:
        """Plain data that :meth:`from_dict` reads back to an equal scenario."""
        return self.model_dump(mode="json", exclude_none=True)

    def __eq__(self, other: object) -> bool:
        """Scenarios are equal when their plain data (:meth:`to_dict`) are.

        (pydantic's equality would also compare the body and cancer worked out from the
        fields, objects compared by identity.)
        """
        if not isinstance(other, Scenario):
            return NotImplemented
        return self is other or self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        # (numbers as floats: 400 == 400.0 and -0.0 == 0.0 in the data compared)
        return hash(json.dumps(_canonical(self.to_dict()), sort_keys=True))

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _canonical(value: Any) -> Any:
    """Plain data with every number a float (``+ 0.0``: -0.0 is 0.0), for hashing."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) + 0.0
    return value


def as_scenario(scenario: Any, what: str = "scenario", *, files: bool = False) -> Scenario:
    """``scenario`` if it is a :class:`Scenario`, else its plain data validated.

    With ``files``, a str or ``os.PathLike`` is the path of a scenario file, read by
    :func:`load_scenario`. Anything else is refused with :class:`ScenarioError` naming
    the argument ``what``.
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return Scenario.from_dict(scenario)
    if files and isinstance(scenario, str | os.PathLike):
        return load_scenario(os.fspath(scenario))
    path = ", the path of a scenario file" if files else ""
    raise ScenarioError(f"{what}: expected a Scenario{path} or a mapping of its fields (as "
                        f"in a scenario file), not {type(scenario).__name__}")


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a ``.yaml``/``.yml`` or ``.toml`` file; raise ScenarioError."""
    return Scenario.from_dict(read_scenario_file(path))


def read_scenario_file(path: str | Path) -> Any:
    """The plain data of a ``.yaml``/``.yml`` or ``.toml`` file; raise ScenarioError."""
    path = as_path(path, "scenario file", error=ScenarioError)
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
        data = tomllib.loads(text) if suffix == ".toml" else _load_yaml(text)
    except _DuplicateKey as error:
        raise ScenarioError(f"scenario file {str(path)!r}: {error}") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScenarioError(f"scenario file {str(path)!r}: cannot parse: {first}") from None
    if data is None:
        raise ScenarioError(f"scenario file {str(path)!r} is empty; give at least "
                            "'cancer: NAME'")
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario file {str(path)!r}: expected fields (name: value), "
                            f"not a {_KINDS.get(type(data), type(data).__name__)}")
    return data


_KINDS = {list: "list", str: "text", int: "number", float: "number", bool: "truth value"}


class _DuplicateKey(Exception):
    """A key given twice in one YAML mapping (TOML refuses it itself)."""


_MERGE, _VALUE = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"


def _load_yaml(text: str) -> Any:
    """YAML's safe load, refusing a key given twice in a mapping (the last would win).

    The keys are checked on the composed nodes, before anything is constructed: merge
    keys (``<<: *anchor``) are left out, so their keys may be overridden.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen:  # (an alias: the anchored node again)
                continue
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))  # (in the file's order)
            elif isinstance(node, yaml.MappingNode):
                keys: set[Any] = set()
                for key_node, _ in node.value:
                    if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = (key_node.value if key_node.tag == _VALUE  # ("=": a text key)
                           else loader.construct_object(key_node))
                    if key in keys:
                        raise _DuplicateKey(f"{key!r} is given twice (line "
                                            f"{key_node.start_mark.line + 1}); give each "
                                            "field once")
                    keys.add(key)
                stack.extend(value for _, value in reversed(node.value))
        return loader.construct_document(root)
    finally:
        loader.dispose()


# -- helpers ---------------------------------------------------------------------------
def _first_error(error: ValidationError) -> str:
    """One line naming the field and what is wrong with it."""
    first = error.errors()[0]
    # (a key that is not printable, such as a newline, is shown as its repr: one line)
    loc = ".".join(str(part) if str(part).isprintable() else repr(part)
                   for part in first["loc"] if not _is_union_tag(part))
    if first["type"] == "extra_forbidden":
        model = _model_at(first["loc"][:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        return f"{loc}: unknown field; allowed here: {allowed}"
    loc, message = name_field(loc, error_message(first))
    return f"{loc}: {message}" if loc else message


def error_message(error: Any) -> str:
    """The message of one of pydantic's errors (an item of ``errors()``), said plainly.

    NaN fails every bound, and pydantic says it "should be less than or equal to 100":
    the message says it is no number first.
    """
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if isinstance(given, float) and math.isnan(given) and error["type"] in _BOUND_ERRORS:
        return f"nan is not a number ({message})"
    if error["type"] == "bool_type":
        return f"{given!r} is not true or false"
    return message


#: pydantic's error types of a number outside a bound (NaN fails them all).
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def schedule_days(start: float, every_weeks: float, stop: float | None,
                  end: float) -> list[float]:
    """The days of a scan or draw schedule, in days.

    From ``start`` every ``every_weeks`` weeks to ``stop`` (if given) or ``end`` (the
    horizon), both included; rounded to 1e-6 d, so that a fractional interval gives the
    days a person would write (every 0.1 weeks from day 367: 367.7, not
    367.69999999999999), which the 4-week baseline window compares with.
    """
    import numpy as np

    last = end if stop is None else min(stop, end)
    days = np.arange(start, last + 1e-9, 7.0 * every_weeks)
    return list(np.round(days, 6).tolist())


def name_field(loc: str, message: str) -> tuple[str, str]:
    """A validation error's location and message, the field named first moved onto it.

    Our validators name the field first (``"high: must be ..."``).
    """
    field, sep, rest = message.partition(": ")
    if sep and field.replace(".", "").replace("_", "").isalnum():
        return (f"{loc}.{field}" if loc else field), rest
    return loc, message


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
