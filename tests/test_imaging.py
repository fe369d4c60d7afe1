"""Imaging: detection curves per modality and organ, the cited anchors, bad input."""

import numpy as np
import pytest
from scipy import stats

from metacascade.citations import Citation
from metacascade.clinic.imaging import (
    MODALITIES,
    PET_RESOLUTION_MM,
    REGIONS,
    Modality,
    catalog_organs,
    detection_probability,
    get_modality,
    scan,
)
from metacascade.errors import ParameterError, ScenarioError
from metacascade.scenario import Scenario

#: Significance of each statistical check.
ALPHA = 0.001

DIAMETERS = np.linspace(0.1, 60.0, 300)


@pytest.mark.parametrize("name", list(MODALITIES))
def test_detection_rises_with_diameter_in_every_organ_seen(name):
    modality = MODALITIES[name]
    for organ in modality.organs:
        p = detection_probability(name, organ, DIAMETERS)
        assert np.all(np.diff(p) >= 0), organ
        above = modality.floor_mm.value < DIAMETERS
        assert np.all(p[~above] == 0.0), organ  # at or below the floor: never found
        rising = above[1:] & above[:-1] & (p[1:] < 1 - 1e-9)  # until it rounds to 1
        assert np.all(np.diff(p)[rising] > 0), organ
        assert 0.0 < p[above][0] < p[-1] <= 1.0


def test_microscopic_lesions_are_never_found():
    # Thousands of sub-mm colonies must not add up to detections through the tail.
    for name, modality in MODALITIES.items():
        tiny = np.linspace(0.001, modality.floor_mm.value, 50)
        assert detection_probability(name, modality.organs[0], tiny).max() == 0.0, name


def test_unseen_organs_and_empty_lesions_are_never_found():
    assert detection_probability("bone_scan", ["liver", "lung", "brain"], 50.0).tolist() == [
        0.0, 0.0, 0.0]
    assert detection_probability("bone_scan", "vertebral_marrow", 50.0) > 0.9
    assert detection_probability("mammography", "lung", 30.0) == 0.0
    assert detection_probability("ct", "liver", [0.0, -3.0]).tolist() == [0.0, 0.0]
    assert not get_modality("bone_scan").sees("liver")
    assert get_modality("bone_scan").sees("bone_marrow")


def test_liver_ct_reproduces_robinson_2000():
    """About half found at the 1 cm boundary; virtually all from 2 cm."""
    p10, p20 = detection_probability("ct", "liver", [10.0, 20.0])
    assert p10 == pytest.approx(0.5, abs=1e-9)
    assert p20 > 0.95
    assert isinstance(MODALITIES["ct"].curve("liver").d50_mm.source, Citation)


def test_mammography_reproduces_weedon_fekjaer_2008():
    p5, p10 = detection_probability("mammography", "breast", [5.0, 10.0])
    assert p5 == pytest.approx(0.26, abs=1e-9)
    assert p10 == pytest.approx(0.91, abs=1e-9)


def test_pet_is_tied_to_its_resolution_and_blind_in_the_brain():
    pet = MODALITIES["pet"]
    assert pet.default.d50_mm.value == pytest.approx(2 * PET_RESOLUTION_MM.value)
    assert 4.0 <= PET_RESOLUTION_MM.value <= 5.0
    assert pet.curve("brain").d50_mm.value > pet.default.d50_mm.value


def test_mri_is_the_better_test_for_brain_and_liver():
    for organ in ("brain", "liver"):
        assert detection_probability("mri", organ, 8.0) > detection_probability(
            "ct", organ, 8.0), organ
    ct_lung = detection_probability("ct", "lung", 5.0)
    assert ct_lung > detection_probability("ct", "liver", 5.0)


def test_every_parameter_has_a_unit_a_source_and_its_value_in_bounds():
    for modality in MODALITIES.values():
        for name, param in modality.parameters().items():
            assert param.unit == "mm", name
            assert param.source.describe()
            assert param.bounds[0] <= param.value <= param.bounds[1]


def test_regions_hold_every_catalog_organ_once_but_the_trunk_beds():
    from metacascade.clinic.imaging import TRUNK_BEDS

    listed = [o for organs in REGIONS.values() for o in organs if o not in TRUNK_BEDS]
    assert sorted(listed) == sorted(set(catalog_organs()) - set(TRUNK_BEDS))
    for organ in TRUNK_BEDS:
        holding = {region for region, organs in REGIONS.items() if organ in organs}
        assert {"chest", "abdomen", "pelvis"} <= holding, organ
        assert not holding & {"head", "neck"}, organ


def test_a_staging_ct_sees_bone_and_nodes():
    """A CT of chest, abdomen and pelvis never found a bone or nodal metastasis."""
    organs = ["vertebral_marrow", "bone_marrow", "lymph_node", "brain"]
    p = detection_probability("ct", organs, 30.0, regions=["chest", "abdomen", "pelvis"])
    assert (p[:3] > 0.9).all() and p[3] == 0.0


def test_a_ct_without_regions_sees_the_head_as_its_label_says():
    """The label said 'head on request', yet a CT without regions saw the brain."""
    label = MODALITIES["ct"].label
    assert "head on request" not in label and "every region, the head too" in label
    assert detection_probability("ct", "brain", 30.0) > 0.9
    assert detection_probability("ct", "brain", 30.0, regions=["chest"]) == 0.0


def test_no_regions_at_all_is_refused():
    """``regions: []`` saw nothing at all, silently; leaving regions out sees all."""
    with pytest.raises(ParameterError, match=r"^regions: give at least one region"):
        detection_probability("ct", "liver", 20.0, regions=[])
    with pytest.raises(ScenarioError, match=r"^clinic\.scans\.0\.regions: give at least one "
                                            r"region, or leave regions out"):
        Scenario.from_dict({"cancer": "breast", "clinic": {
            "scans": [{"modality": "ct", "every_weeks": 12, "regions": []}]}})


def test_measuring_modalities_are_ct_and_mri():
    """RECIST measures on CT and MRI; a bone scan or PET finds lesions, measures none."""
    assert [m.name for m in MODALITIES.values() if m.measures] == ["ct", "mri"]


def test_a_restricted_scan_sees_only_its_regions():
    p = detection_probability("ct", ["liver", "lung"], 20.0, regions=["chest"])
    assert p[0] == 0.0 and p[1] > 0.9
    chest = get_modality("ct").restricted(["chest"])
    assert isinstance(chest, Modality)
    assert set(chest.organs) == set(REGIONS["chest"])
    assert set(chest.overrides) <= set(REGIONS["chest"])
    assert detection_probability(chest, "liver", 20.0) == 0.0


def test_scan_draws_one_bernoulli_per_lesion(rng):
    """Detections among 20,000 liver lesions of 10 mm: binomial(n, 0.5), at ALPHA."""
    n = 20_000
    found = scan("ct", "liver", np.full(n, 10.0), rng)
    assert found.dtype == np.bool_ and found.shape == (n,)
    p = stats.binomtest(int(found.sum()), n, 0.5).pvalue
    assert p > ALPHA
    again = scan("ct", "liver", np.full(n, 10.0), np.random.default_rng(20261121))
    assert np.array_equal(found, again)
    assert not np.array_equal(found, scan("ct", "liver", np.full(n, 10.0),
                                          np.random.default_rng(1)))


def test_scan_never_finds_what_the_test_cannot_see(rng):
    found = scan("bone_scan", np.array(["liver", "vertebral_marrow"] * 500), 80.0, rng)
    assert not found[0::2].any() and found[1::2].all()


def test_unknown_modality_is_refused_with_the_allowed_names():
    with pytest.raises(ParameterError, match=r"^modality: unknown modality 'xray'.*ct, mri"):
        get_modality("xray")
    with pytest.raises(ParameterError, match=r"^modality:"):
        detection_probability("xray", "liver", 10.0)


def test_unknown_organ_is_refused_with_the_allowed_names():
    with pytest.raises(ParameterError, match=r"^organs: unknown organ 'spleeen'.*liver"):
        detection_probability("ct", ["liver", "spleeen"], [10.0, 10.0])


def test_unknown_region_and_bad_diameters_are_refused():
    with pytest.raises(ParameterError, match=r"^regions: unknown region 'torso'.*chest"):
        detection_probability("ct", "liver", 10.0, regions=["torso"])
    with pytest.raises(ParameterError, match=r"^diameter_mm:"):
        detection_probability("ct", "liver", np.nan)
