"""Overrides applied to the catalog's cancers, bodies and cascades.

:func:`resolve` gives a scenario's body and cancer with its ``body_overrides`` and
``cancer_overrides`` applied, :func:`cascade_of` the cascade with its
``cascade_overrides``. Each override is checked against its parameter's unit and
bounds, and an error names the field (``cancer_overrides.soil.liver: ...``). Results
are kept per catalog object and overrides, so the patients of a population share what
they do not sample.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from metacascade._memo import IdentityMemo
from metacascade.cancers import Cancer, get_cancer
from metacascade.cancers.cascade import DEFAULT_CASCADE, Cascade
from metacascade.citations import Assumption, Parameter
from metacascade.errors import MetacascadeError, ScenarioError
from metacascade.physiology import Body, get_body
from metacascade.physiology.model import ARTERIAL
from metacascade.units import quantity_text, to_unit

if TYPE_CHECKING:
    from metacascade.scenario import (
        BodyOverrides,
        CancerOverrides,
        CascadeOverrides,
        Scenario,
    )

#: The source of every value a scenario sets.
SCENARIO_SOURCE = Assumption("set in the scenario")


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


def resolve(scenario: Scenario) -> tuple[Body, Cancer]:
    """The scenario's body and cancer with every override applied (ScenarioError if bad)."""
    try:
        catalog_cancer = get_cancer(scenario.cancer)
    except MetacascadeError as error:
        raise ScenarioError(f"cancer: {error}") from None
    try:
        catalog_body = get_body(catalog_cancer.default_body if scenario.body is None
                                else scenario.body)
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


def cascade_of(overrides: CascadeOverrides) -> Cascade:
    """The cascade with ``overrides`` applied (kept for scenarios with the same ones)."""
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
    if cascade.doubling_reference_cells.value >= cascade.metastasis_capacity.value:
        raise ScenarioError(
            f"cascade_overrides.doubling_reference_cells: must be below metastasis_capacity "
            f"({quantity_text(cascade.metastasis_capacity.value, 'cell')}), got "
            f"{quantity_text(cascade.doubling_reference_cells.value, 'cell')}")
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
