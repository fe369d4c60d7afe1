"""The clinical course: scans, draws, stage, progression, death, surgery; CLI outputs."""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metacascade import simulate
from metacascade.cli import app
from metacascade.clinic.biopsy import expected_ctc
from metacascade.clinic.course import (
    OBSERVATION_COLUMNS,
    circulation_for,
    follow,
    shedding_by_entry,
)
from metacascade.physiology import get_body
from metacascade.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CLINIC = {"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 1826}],
          "draws": [{"every_weeks": 4, "start_day": 1826},
                    {"every_weeks": 12, "start_day": 1826, "site": "tumour_vein"}]}


@cache
def _breast() -> tuple[Scenario, object]:
    # Neutral soil 1 in every bed (the catalog before its calibration): a patient who
    # reaches M1 within the horizon.
    soils = dict.fromkeys(get_body("adult_female").beds, 1.0)
    scenario = Scenario.from_dict({"cancer": "breast", "seed": 1, "horizon_years": 10,
                                   "primary_diameter_mm": 30, "clinic": CLINIC,
                                   "cancer_overrides": {"soil": soils}})
    return scenario, simulate(scenario)


def test_observations_follow_the_schedule_and_stop_at_death():
    scenario, result = _breast()
    course = follow(result, scenario)
    obs = course.observations
    assert tuple(obs.columns) == OBSERVATION_COLUMNS
    assert obs["time_days"].is_monotonic_increasing
    assert course.death_day is not None and course.death_cause == "total"
    assert obs["time_days"].max() <= course.death_day
    draws = obs[(obs["kind"] == "draw") & (obs["name"] == "arm_vein")]
    assert np.allclose(np.diff(draws["time_days"]), 28.0)
    assert draws["time_days"].iloc[0] == 1826.0
    # Stage: M0 at the first scan, M1 from the first distant detection, never back.
    stages = obs[obs["kind"] == "stage"]["name"].tolist()
    assert stages == ["M0", "M1"]
    assert course.first_detection_day == course.progression_day  # a new lesion
    summary = course.summary()
    assert summary["overall_survival_days"] == course.death_day
    assert summary["progression_free_survival_days"] == course.progression_day


def test_same_seed_same_course_and_engine_unchanged_by_the_clinic():
    scenario, result = _breast()
    a, b = follow(result, scenario), follow(result, scenario)
    pd.testing.assert_frame_equal(a.observations, b.observations)
    bare = simulate(scenario.model_copy(update={"clinic": None}))
    pd.testing.assert_frame_equal(bare.colonies, result.colonies)


def test_tumour_vein_holds_more_ctcs_than_an_arm_vein_by_the_routing_ratio():
    scenario, result = _breast()
    circulation = circulation_for(scenario)
    rates = shedding_by_entry(result, 2000.0)
    arm = expected_ctc(rates, circulation, draw_site="arm_vein", false_positive_mean=0.0)
    tumour = expected_ctc(rates, circulation, draw_site="tumour_vein",
                          false_positive_mean=0.0)
    ratio = float(tumour / arm)
    weights = circulation.concentration_weights
    primary_only = circulation.primary_sources(1.0)
    routing = float(primary_only @ weights("tumour_vein") / (primary_only @ weights("arm_vein")))
    assert ratio > 100
    # With metastases shedding too the ratio is below the primary-only routing ratio.
    assert ratio <= routing * (1 + 1e-9)


def test_scans_never_report_microscopic_lesions():
    scenario, result = _breast()
    obs = follow(result, scenario).observations
    found = obs[(obs["kind"] == "scan") & (obs["lesion"] >= 0)]
    assert (found["value"] > 2.0).all()


def test_surgery_stops_the_primary():
    base = {"cancer": "colon", "seed": 3, "horizon_years": 2, "primary_diameter_mm": 20}
    kept = simulate(Scenario.from_dict(base))
    cut = simulate(Scenario.from_dict({**base, "clinic": {"surgery_day": 100}}))
    assert cut.primary_cells_end == 0.0 and kept.primary_cells_end > 0
    assert cut.final["shed"] < kept.final["shed"]
    # No colony vascularises in these two years, so nothing sheds after day 100.
    assert cut.final["colonies_vascularised"] == 0
    assert cut.ledger["shed"].iloc[0] == cut.final["shed"]


def test_a_history_ended_after_death_changes_nothing_and_one_ended_in_life_is_refused():
    """``Result.history_end_day`` (the engine's colony limit): a patient dead by then is
    followed as before; one alive after it is refused, naming the day."""
    import dataclasses

    from metacascade.engine.limits import EngineError

    scenario, result = _breast()
    course = follow(result, scenario)
    assert course.death_day is not None and np.isinf(result.history_end_day)
    ended = dataclasses.replace(result, history_end_day=course.death_day)
    again = follow(ended, scenario)
    assert again.death_day == course.death_day and again.death_cause == course.death_cause
    pd.testing.assert_frame_equal(again.observations, course.observations)
    np.testing.assert_array_equal(again.final_cells, course.final_cells)
    with pytest.raises(EngineError, match=r"^more than \d+ colonies founded by day 2000 "
                                          r"\(year 5.5\): colonisation"):
        follow(dataclasses.replace(result, history_end_day=2000.0), scenario)


def test_course_without_clinic_still_checks_death():
    scenario = Scenario.from_dict({"cancer": "breast", "seed": 4, "horizon_years": 1})
    course = follow(simulate(scenario), scenario)
    assert course.death_day is None
    assert course.observations.empty


@pytest.mark.parametrize("clinic, field", [
    ({"scans": [{"modality": "ct", "every_weeks": 12, "start_day": -30}]},
     "clinic.scans.0.start_day"),
    ({"scans": [{"modality": "xray", "every_weeks": 12}]}, "modality"),
    ({"draws": [{"every_weeks": 4, "site": "toe"}]}, "clinic.draws.0.site"),
    ({"vital_organ_lethal_cells": {"spleenish": 1e11}}, "vital_organ_lethal_cells"),
    ({"draws": [{"every_weeks": 4, "recovery": 1.5}]}, "recovery"),
    ({"draws": [{"every_weeks": -4}]}, "every_weeks"),
])
def test_bad_clinic_input_exits_2_names_the_field_and_writes_nothing(tmp_path, clinic, field):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"cancer": "breast", "clinic": clinic}))
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["simulate", "--scenario", str(path), "--out", str(out)])
    assert run.exit_code == 2
    assert field in run.output and "Traceback" not in run.output
    assert not out.exists()


def test_cli_writes_the_clinic_outputs(tmp_path):
    out = tmp_path / "colon"
    run = CliRunner().invoke(app, ["simulate", "--scenario",
                                   str(EXAMPLES / "colorectal_followup.yaml"),
                                   "--years", "5", "--out", str(out)])
    assert run.exit_code == 0, run.output
    for name in ("observations.parquet", "ctc.png", "body.png"):
        assert (out / name).stat().st_size > 0
    obs = pd.read_parquet(out / "observations.parquet")
    assert set(obs["kind"]) <= {"scan", "draw", "stage", "progression", "therapy", "death"}
    assert {"scan", "draw"} <= set(obs["kind"])


def test_the_prostate_example_finds_a_spine_metastasis_by_bone_scan():
    """It never did: with the catalog's growth a prostate colony needs about 40 years to
    reach 5 mm, and its ten years found the primary alone. Its colonies now double in
    the tumour's time at 1e9 cells, over 20 years (the README gives these numbers)."""
    from metacascade import follow, load_scenario

    scenario = load_scenario(EXAMPLES / "prostate_bone_scans.yaml")
    result = simulate(scenario)
    course = follow(result, scenario)
    obs = course.observations
    first = obs[(obs["kind"] == "scan") & (obs["lesion"] > 0)].iloc[0]
    assert (first["time_days"], first["name"], first["organ"]) == (
        5208.0, "bone_scan", "vertebral_marrow")
    assert round(first["value"], 1) == 2.9
    assert course.first_detection_day == 5208.0 and course.death_day is None
    found = obs[(obs["kind"] == "scan") & (obs["lesion"] > 0)]
    assert found.groupby("organ")["lesion"].nunique().to_dict() == {
        "adrenal": 1, "lung": 7, "vertebral_marrow": 8}
    colonies = result.colonies
    assert (len(colonies), (colonies["organ"] == "vertebral_marrow").sum()) == (1033, 443)


def test_the_scenario_ctc_cutoff_is_the_clinic_cutoff():
    """``cancer_overrides.ctc_cutoff`` decides which draws are unfavourable."""
    base = {"cancer": "breast", "seed": 2, "horizon_years": 2,
            "clinic": {"draws": [{"every_weeks": 12, "start_day": 100}]}}
    default = Scenario.from_dict(base)
    three = Scenario.from_dict({**base, "cancer_overrides": {"ctc_cutoff": 3}})
    result = simulate(default)
    assert follow(result, default).cutoff == 5
    course = follow(result, three)
    assert course.cutoff == 3 and course.summary()["ctc_cutoff"] == 3


def test_ctc_counts_are_classified_per_7_5_ml_of_peripheral_blood():
    """A 30 mL count was compared with the cut-off as it was (a 30 mL draw was
    unfavourable far more often than a 7.5 mL one on the same days), and draws of the
    tumour's vein were flagged, where the cut-offs hold for 7.5 mL of peripheral blood."""
    scenario = Scenario.from_dict({
        "cancer": "breast", "seed": 5, "horizon_years": 3, "primary_diameter_mm": 30,
        "cancer_overrides": {"doubling_time": "80 d"},
        "clinic": {"draws": [{"every_weeks": 4}, {"every_weeks": 4, "volume_ml": 30.0},
                             {"every_weeks": 12, "site": "tumour_vein"}]}})
    course = follow(simulate(scenario), scenario)
    draws = course.draws()
    arm = draws[draws["site"] == "arm_vein"]
    assert arm["volume_ml"].tolist() == [7.5, 30.0] * (len(arm) // 2)
    np.testing.assert_array_equal(arm["per_7_5_ml"], arm["count"] * 7.5 / arm["volume_ml"])
    assert (arm["unfavourable"] == (arm["per_7_5_ml"] >= course.cutoff)).all()
    large = arm[arm["volume_ml"] == 30.0]
    assert ((large["count"] >= course.cutoff) & ~large["unfavourable"]).any()
    vein = draws[draws["site"] == "tumour_vein"]
    assert len(vein) and vein["unfavourable"].isna().all()
    assert (vein["count"] >= course.cutoff).all()  # (which were all "unfavourable")
    listed = course.summary()["ctc_draws"]
    assert [d["unfavourable"] for d in listed] == [
        None if site != "arm_vein" else bool(u)
        for site, u in zip(draws["site"], draws["unfavourable"], strict=True)]
    assert [d["volume_ml"] for d in listed] == draws["volume_ml"].tolist()


def test_follow_takes_plain_data_and_names_what_is_not():
    from metacascade.errors import ScenarioError

    data = {"cancer": "breast", "seed": 2, "horizon_years": 0.5,
            "clinic": {"scans": [{"modality": "ct", "every_weeks": 8}],
                       "draws": [{"every_weeks": 8}]}}
    scenario = Scenario.from_dict(data)
    result = simulate(scenario)
    expected = follow(result, scenario).observations
    pd.testing.assert_frame_equal(follow(result, data).observations, expected)
    pd.testing.assert_frame_equal(
        follow(result, {**data, "clinic": None}, clinic=data["clinic"]).observations,
        expected)
    with pytest.raises(ScenarioError, match=r"^scenario: expected a Scenario"):
        follow(result, None)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^clinic: expected a Clinic"):
        follow(result, scenario, clinic=[])  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^clinic\.scans\.0\.modality: unknown"):
        follow(result, scenario, clinic={"scans": [{"modality": "xray", "every_weeks": 8}]})
    with pytest.raises(TypeError, match=r"^result: expected a Result"):
        follow(None, scenario)  # type: ignore[arg-type]


def test_follow_refuses_the_scenario_of_another_patient():
    """Another cancer's scenario used its own CTC cut-off silently (without draws)."""
    import metacascade
    from metacascade.errors import ScenarioError

    result = metacascade.simulate({"cancer": "breast", "horizon_years": 0.2, "seed": 3})
    with pytest.raises(ScenarioError, match=r"^scenario: cancer 'colon' is not the "
                       r"simulated patient's \('breast'\)"):
        follow(result, {"cancer": "colon", "horizon_years": 0.2})
    with pytest.raises(ScenarioError, match=r"^scenario: body 'adult_male' is not the "
                       r"simulated patient's \('adult_female'\)"):
        follow(metacascade.simulate({"cancer": "breast", "body": "adult_female",
                                     "horizon_years": 0.2}),
               {"cancer": "breast", "body": "adult_male", "horizon_years": 0.2})
    with pytest.raises(ScenarioError, match=r"^scenario: body 'adult_male' is not"):
        follow(result, {"cancer": "breast", "body": "adult_male", "horizon_years": 0.2})
    # What the natural history reads: its horizon was ignored, the others used unseen.
    for other, field in (({"horizon_years": 5}, "horizon_years"),
                         ({"step_days": 7}, "step_days"),
                         ({"primary_diameter_mm": 20}, "primary_diameter_mm"),
                         ({"cancer_overrides": {"doubling_time": "80 d"}}, "cancer_overrides"),
                         ({"clinic": {"surgery_day": 10}}, "clinic.surgery_day")):
        with pytest.raises(ScenarioError, match=rf"^scenario: {field} "):
            follow(result, {"cancer": "breast", "horizon_years": 0.2, **other})
    # The same natural history written another way: the compiled models decide.
    slow = metacascade.simulate({"cancer": "breast", "horizon_years": 0.2, "seed": 3,
                                 "cancer_overrides": {"doubling_time": "80 d"}})
    for same in (80, 80.0, {"value": 80, "unit": "d"}, "80 day", "80  d"):
        follow(slow, {"cancer": "breast", "horizon_years": 0.2,
                      "cancer_overrides": {"doubling_time": same}})
    follow(result, {"cancer": "breast", "horizon_years": 0.2,  # (the catalog's value)
                    "cancer_overrides": {"doubling_time": 157}})
    # A surgery day given through clinic= was ignored.
    with pytest.raises(ScenarioError, match=r"^clinic: surgery_day 50\.0 is not the "
                       r"simulated patient's \(None\)"):
        follow(result, {"cancer": "breast", "horizon_years": 0.2}, clinic={"surgery_day": 50})
    # Another clinic, a cut-off only the clinic reads, the default body named or another
    # seed (the result's is used) are what follow is for.
    follow(result, {"cancer": "breast", "horizon_years": 0.2, "body": "adult_female",
                    "seed": 9, "cancer_overrides": {"ctc_cutoff": 3}},
           clinic={"draws": [{"every_weeks": 4}]})
