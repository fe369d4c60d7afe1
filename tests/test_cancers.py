"""The cancer catalog: registry, sources and bounds of every number, body compatibility."""

from __future__ import annotations

import dataclasses
import importlib
import math

import pytest

from metacascade.cancers import catalog
from metacascade.cancers.catalog import get_cancer, list_cancers, register_cancer
from metacascade.cancers.model import GROWTH_LAWS, Cancer
from metacascade.citations import Assumption, Calibrated, Citation, Parameter
from metacascade.errors import CatalogError
from metacascade.physiology.catalog import get_body

NAMES = (
    "breast", "prostate", "colon", "rectum", "lung", "stomach", "pancreas", "melanoma",
    "kidney", "liver", "osteosarcoma", "choriocarcinoma",
)


def _all_parameters(cancer: Cancer) -> list[tuple[str, Parameter]]:
    named = list(cancer.parameters().items())
    named += [(f"soil[{organ}]", value) for organ, value in cancer.soil.items()]
    named.append(("other_soil", cancer.other_soil))
    return named


def _check_parameter(where: str, param: Parameter) -> None:
    assert param.unit, f"{where}: no unit"
    assert param.source.describe().strip(), f"{where}: empty source"
    low, high = param.bounds
    assert low <= param.value <= high, f"{where}: {param.value} outside {param.bounds}"


def test_all_types_are_listed() -> None:
    assert set(list_cancers()) == set(NAMES)
    assert len(list_cancers()) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_name_matches_module(name: str) -> None:
    module = importlib.import_module(f"metacascade.cancers.catalog.{name}")
    assert module.CANCER.name == name
    assert module.CANCER is get_cancer(name)
    assert module.__doc__ and module.__doc__.strip()


@pytest.mark.parametrize("name", NAMES)
def test_default_body_carries_the_cancer(name: str) -> None:
    cancer = get_cancer(name)
    body = get_body(cancer.default_body)
    cancer.check_body(body)
    assert body.sex in cancer.sexes
    assert cancer.primary_organ in body.beds
    assert set(cancer.soil) <= set(body.beds)


@pytest.mark.parametrize("name", NAMES)
def test_every_number_has_unit_source_and_bounds(name: str) -> None:
    cancer = get_cancer(name)
    for where, param in _all_parameters(cancer):
        _check_parameter(f"{name}.{where}", param)


@pytest.mark.parametrize("name", NAMES)
def test_bounds_are_finite(name: str) -> None:
    for where, param in _all_parameters(get_cancer(name)):
        assert all(math.isfinite(b) for b in param.bounds), f"{name}.{where}"


@pytest.mark.parametrize("name", NAMES)
def test_sources_are_citations_or_stated_assumptions(name: str) -> None:
    for where, param in _all_parameters(get_cancer(name)):
        source = param.source
        if isinstance(source, Citation):
            # The shared CellSearch cut-offs point at the whole paper (empty ``where``)
            # and say what they take from it in the note.
            assert source.where or source.note, f"{name}.{where}: citation says nothing"
        elif isinstance(source, Calibrated):
            # A fitted value names its run, its data and how to reproduce it.
            assert source.calibration and "diSibio" in source.data, f"{name}.{where}"
            assert "metacascade calibrate" in source.note, f"{name}.{where}"
        else:
            assert isinstance(source, Assumption), f"{name}.{where}: {source!r}"
            assert len(source.reason) > 20, f"{name}.{where}: reason too thin"


@pytest.mark.parametrize("name", NAMES)
def test_soil_values_are_dimensionless_and_moderate(name: str) -> None:
    cancer = get_cancer(name)
    for organ, value in [*cancer.soil.items(), ("other", cancer.other_soil)]:
        assert value.unit == "1", f"{name}: soil[{organ}]"
        # Fitted, or stated relative to the calibrated primaries' typical level: within
        # the calibration's prior, and never above neutral by more than 30 times.
        assert 1e-6 <= value.value <= 30.0, f"{name}: soil[{organ}] = {value.value}"
        if not isinstance(value.source, Calibrated):
            assert "calibrated primaries" in value.source.describe(), f"{name}: {organ}"


@pytest.mark.parametrize("name", NAMES)
def test_growth_law_and_exponent(name: str) -> None:
    cancer = get_cancer(name)
    assert cancer.growth_law in GROWTH_LAWS
    assert (cancer.growth_law == "power") == (cancer.growth_exponent is not None)
    assert cancer.doubling_time.unit == "d"
    assert cancer.ctc_diameter.unit == "um"


@pytest.mark.parametrize(
    ("name", "cutoff"),
    [("colon", 3), ("rectum", 3), ("breast", 5), ("prostate", 5)],
)
def test_validated_ctc_cutoffs(name: str, cutoff: int) -> None:
    param = get_cancer(name).ctc_cutoff
    assert param.value == cutoff
    assert isinstance(param.source, Citation)


def test_measured_ctc_diameters_are_cited() -> None:
    for name, diameter in (("breast", 12.4), ("prostate", 10.3), ("colon", 7.5),
                           ("rectum", 7.5)):
        param = get_cancer(name).ctc_diameter
        assert param.value == diameter
        assert isinstance(param.source, Citation)


def test_sarcoma_and_trophoblast_rarely_use_lymphatics() -> None:
    for name in ("osteosarcoma", "choriocarcinoma"):
        assert get_cancer(name).lymphatic_share.value <= 0.01


def test_prostate_is_osteotropic() -> None:
    """The calibrated marrow soil is well above the primary's blood-flow-alone level."""
    cancer = get_cancer("prostate")
    for bed in ("vertebral_marrow", "bone_marrow"):
        assert cancer.soil[bed].value >= 5.0 * cancer.other_soil.value


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(CatalogError) as info:
        get_cancer("nope")
    message = str(info.value)
    assert "'nope'" in message
    for name in NAMES:
        assert name in message


def test_duplicate_registration_is_refused() -> None:
    before = list_cancers()
    with pytest.raises(CatalogError, match="already registered"):
        register_cancer(get_cancer("breast"))
    assert list_cancers() == before


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as before its first use (the catalog not loaded); restored after."""
    monkeypatch.setattr(catalog, "_REGISTRY", {})
    monkeypatch.setattr(catalog, "_LOADED", [])


def test_a_catalog_name_registered_before_the_catalog_loads_is_refused(fresh_registry):
    """It left the catalog loaded without its types: list_cancers() gave ('breast',)."""
    from metacascade.cancers.catalog.breast import CANCER

    with pytest.raises(CatalogError, match=r"^cancer 'breast' is already registered; a new "
                       r"type needs a name not among: breast, prostate, .*, choriocarcinoma$"):
        register_cancer(dataclasses.replace(CANCER, name="breast"))
    assert list_cancers() == NAMES
    assert get_cancer("prostate").name == "prostate"
    assert get_cancer("breast") is CANCER
    # a new name comes after the catalog's
    register_cancer(dataclasses.replace(CANCER, name="breast_copy"))
    assert list_cancers() == (*NAMES, "breast_copy")


def test_a_failed_load_of_the_catalog_is_tried_again_in_full(fresh_registry, monkeypatch):
    monkeypatch.setattr(catalog, "_MODULES", (*NAMES[:3], "no_such_module", *NAMES[3:]))
    with pytest.raises(ModuleNotFoundError):
        list_cancers()
    monkeypatch.setattr(catalog, "_MODULES", NAMES)
    assert list_cancers() == NAMES


def test_a_duplicate_body_is_refused_and_the_bodies_stay() -> None:
    from metacascade.physiology.catalog import list_bodies, register_body

    before = list_bodies()
    with pytest.raises(CatalogError, match=r"^body 'adult_male' is already registered"):
        register_body("adult_male", lambda: get_body("adult_female"))
    assert list_bodies() == before == ("adult_male", "adult_female")
    assert get_body("adult_male").name == "adult_male"


def test_prostate_refused_by_female_body() -> None:
    with pytest.raises(CatalogError, match="'prostate'"):
        get_cancer("prostate").check_body(get_body("adult_female"))


def test_choriocarcinoma_refused_by_male_body() -> None:
    with pytest.raises(CatalogError, match="'uterus'"):
        get_cancer("choriocarcinoma").check_body(get_body("adult_male"))


def test_sex_restricted_types() -> None:
    assert get_cancer("prostate").sexes == ("male",)
    assert get_cancer("choriocarcinoma").sexes == ("female",)
    assert get_cancer("choriocarcinoma").default_body == "adult_female"
