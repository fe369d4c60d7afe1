from dataclasses import replace

import pytest

from metacascade.citations import Assumption, Parameter
from metacascade.errors import BodyError, CatalogError
from metacascade.physiology import get_body, list_bodies
from metacascade.physiology.model import Junction

REQUIRED_BEDS = {
    "lung", "liver", "brain", "vertebral_marrow", "bone_marrow", "adrenal", "kidney",
    "spleen", "heart", "pancreas", "stomach", "small_intestine", "large_intestine", "skin",
    "skeletal_muscle", "adipose", "thyroid", "breast", "rest",
}


def _frac(x: float) -> Parameter:
    return Parameter(x, "1", Assumption("test"), (0.0, 1.0))


@pytest.mark.parametrize("name", ["adult_male", "adult_female"])
def test_reference_bodies_are_complete_and_valid(name):
    body = get_body(name)
    assert body.validate() is body
    assert set(body.beds) >= REQUIRED_BEDS
    assert ("prostate" in body.beds) == (name == "adult_male")
    assert ("uterus" in body.beds) == (name == "adult_female")
    arterial = sum(p.value for p in body.junctions["arterial"].feeds.values())
    assert arterial == pytest.approx(1.0, abs=1e-9)
    # Gut organs drain to the portal vein; the lung to the arterial side.
    for organ in ("stomach", "small_intestine", "large_intestine", "spleen", "pancreas"):
        assert set(body.beds[organ].drains_to) == {"portal"}
    assert set(body.beds["lung"].drains_to) == {"arterial"}
    assert body.junctions["portal"].feeds.keys() == {"liver"}
    assert {"portal", "venous"} <= set(body.beds["rectum"].drains_to)
    assert "vertebral_plexus" in body.beds["breast"].drains_to


@pytest.mark.parametrize(("name", "seconds"), [("adult_male", 49.0), ("adult_female", 40.0)])
def test_one_circuit_takes_blood_volume_over_cardiac_output(name, seconds):
    """ICRP 89: mean circulation time 49 s (male) and 40 s (female)."""
    body = get_body(name)
    assert body.circulation_time_s() == pytest.approx(seconds, abs=0.5)
    circuit = (body.junctions["venous"].transit.value + body.beds["lung"].capillary_transit.value
               + body.junctions["arterial"].transit.value
               + body.beds["kidney"].capillary_transit.value)
    assert circuit == pytest.approx(body.circulation_time_s(), rel=1e-3)


def test_icrp_shares_are_those_of_table_2_40():
    male, female = get_body("adult_male"), get_body("adult_female")
    assert male.arterial_share("brain") == pytest.approx(0.12)
    assert male.arterial_share("kidney") == pytest.approx(0.19)
    assert female.arterial_share("kidney") == pytest.approx(0.17)
    assert male.arterial_share("liver") == pytest.approx(0.065)
    portal = sum(male.arterial_share(o) for o in
                 ("stomach", "small_intestine", "large_intestine", "rectum", "spleen", "pancreas"))
    assert portal == pytest.approx(0.19)


def test_unknown_body_lists_what_exists():
    with pytest.raises(CatalogError, match=r"unknown body 'adult_child'.*adult_male, adult_fem"):
        get_body("adult_child")
    assert list_bodies() == ("adult_male", "adult_female")


def _with_bed(body, organ, **changes):
    return replace(body, beds={**body.beds, organ: replace(body.beds[organ], **changes)})


def test_a_bed_that_drains_nowhere_is_refused_by_name():
    body = get_body("adult_male")
    with pytest.raises(BodyError, match=r"bed 'kidney' drains nowhere"):
        _with_bed(body, "kidney", drains_to={}).validate()


def test_drainage_that_does_not_sum_is_refused_by_name():
    body = get_body("adult_male")
    with pytest.raises(BodyError, match=r"bed 'kidney' drainage fractions sum to 0\.9"):
        _with_bed(body, "kidney", drains_to={"venous": _frac(0.9)}).validate()


def test_a_route_to_nowhere_is_refused():
    body = get_body("adult_male")
    with pytest.raises(BodyError, match=r"bed 'kidney'.*target 'bladder'"):
        _with_bed(body, "kidney", drains_to={"bladder": _frac(1.0)}).validate()


def test_arterial_shares_must_sum_to_one():
    body = get_body("adult_female")
    feeds = dict(body.junctions["arterial"].feeds)
    feeds["brain"] = _frac(0.2)
    arterial = replace(body.junctions["arterial"], feeds=feeds)
    broken = replace(body, junctions={**body.junctions, "arterial": arterial})
    with pytest.raises(BodyError, match=r"arterial shares sum to 1\.08"):
        broken.validate()


def test_a_loop_of_junctions_is_refused():
    body = get_body("adult_male")
    loop = Junction("a", "a", {"b": _frac(1.0)}, body.junctions["portal"].transit)
    back = Junction("b", "b", {"a": _frac(1.0)}, body.junctions["portal"].transit)
    broken = replace(body, junctions={**body.junctions, "a": loop, "b": back})
    with pytest.raises(BodyError, match=r"junctions form a loop \(a -> b -> a\)"):
        broken.validate()


def test_closing_the_vertebral_plexus_sends_its_share_to_the_vena_cava():
    body = get_body("adult_male")
    closed = body.without_vertebral_plexus()
    assert not closed.has_vertebral_plexus() and body.has_vertebral_plexus()
    assert set(closed.beds["prostate"].drains_to) == {"venous"}
    assert closed.beds["prostate"].drains_to["venous"].value == pytest.approx(1.0)
    assert closed.beds["rectum"].drains_to["venous"].value == pytest.approx(
        body.beds["rectum"].drains_to["venous"].value
        + body.beds["rectum"].drains_to["vertebral_plexus"].value)
