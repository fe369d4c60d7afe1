"""Therapy: regimens, the survival factor, resistance, thinning of foundings, rules, CLI.

Statistical checks use a two-sided binomial test at ALPHA = 0.001; each was seen to fail
once against a deliberately broken model (resistance drawn with probability rho instead
of 1 - exp(-rho n); foundings kept with probability shedding_factor only).
"""

import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import binomtest
from typer.testing import CliRunner

from metacascade import simulate
from metacascade.cli import app
from metacascade.clinic import course as course_module
from metacascade.clinic.batch import follow_batch
from metacascade.clinic.course import follow
from metacascade.clinic.therapy import (
    REGIMEN_DEFAULTS,
    TherapyHistory,
    resolve_regimen,
)
from metacascade.errors import ParameterError
from metacascade.physiology import get_body
from metacascade.scenario import Regimen, Scenario

ALPHA = 0.001
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_regimen_defaults_by_kind_dose_and_overrides():
    for kind, defaults in REGIMEN_DEFAULTS.items():
        regimen = resolve_regimen(Regimen(kind=kind))
        assert regimen.kill_rate_per_day == defaults["kill_rate"].value
        assert regimen.name == kind
        for parameter in defaults.values():
            assert parameter.unit and parameter.source is not None
    half = resolve_regimen(Regimen(kind="cytotoxic", dose=0.5, kill_rate=0.04))
    assert half.kill_rate_per_day == pytest.approx(0.02)
    brain = half.kill_by_organ(["lung", "brain"])
    assert brain[0] == pytest.approx(0.02)
    exposure = REGIMEN_DEFAULTS["cytotoxic"]["brain_exposure"].value
    assert brain[1] == pytest.approx(0.02 * exposure)
    with pytest.raises(ParameterError, match=r"x\.dose"):
        resolve_regimen(Regimen.model_construct(kind="cytotoxic", dose=-1.0), where="x")


def test_survival_factor_is_the_closed_form_and_stops_with_the_line():
    rng = np.random.default_rng(0)
    organs = ["lung", "brain", "liver"]
    founded = np.array([0.0, 0.0, 50.0])
    history = TherapyHistory(organs, founded, rng)
    regimen = resolve_regimen(Regimen(kind="cytotoxic", kill_rate=0.05,
                                      resistant_fraction=1e-3))
    history.start(1, regimen, 20.0, np.array([1e9, 1e9, 0.0]))
    history.meet(np.array([2]), np.ones(1))  # founded during the line: one cell
    history.stop(120.0, "test")
    rho = history.periods[0].resistant
    assert rho[0] in (0.0, 1e-3) and rho[1] in (0.0, 1e-3)  # 1 - exp(-1e6): present
    assert rho[0] == 1e-3 and rho[1] == 1e-3
    kill = np.array([0.05, 0.05 * regimen.brain_exposure, 0.05])
    for t in (10.0, 70.0, 120.0, 400.0):
        exposed = np.clip(np.minimum(t, 120.0) - np.maximum(20.0, founded), 0.0, None)
        expected = (1 - rho) * np.exp(-kill * exposed) + rho
        assert np.allclose(history.survival(t), expected, rtol=1e-12)
    # After the line the factor is constant; behind the barrier the lesion keeps more.
    assert np.array_equal(history.survival(120.0), history.survival(999.0))
    assert history.survival(120.0)[1] > history.survival(120.0)[0]


def test_resistance_exists_with_poisson_probability():
    rng = np.random.default_rng(7)
    n_lesions = 20000
    cells = np.full(n_lesions, 200.0)
    history = TherapyHistory(["lung"] * n_lesions, np.zeros(n_lesions), rng)
    regimen = resolve_regimen(Regimen(kind="cytotoxic", resistant_fraction=2e-3))
    history.start(1, regimen, 0.0, cells)
    rho = history.periods[0].resistant
    p = 1.0 - math.exp(-2e-3 * 200.0)
    hits = int((rho > 0).sum())
    assert binomtest(hits, n_lesions, p).pvalue > ALPHA
    assert np.all(rho[rho > 0] == pytest.approx(1.0 / 200.0))  # max(rho, 1/n)


#: Neutral soil 1 in every bed (the catalog before its calibration, about 15 times the
#: calibrated breast lung soil): hundreds of colonies, so therapy has lesions to act on.
NEUTRAL_SOILS = dict.fromkeys(get_body("adult_female").beds, 1.0)
BREAST = {"cancer": "breast", "body": "adult_female", "seed": 3, "horizon_years": 6,
          "primary_diameter_mm": 20,
          "cancer_overrides": {"doubling_time": "80 d", "soil": NEUTRAL_SOILS}}


@cache
def _breast_result() -> object:
    return simulate(Scenario.from_dict(BREAST))


def _with_clinic(clinic: dict) -> Scenario:
    return Scenario.from_dict({**BREAST, "clinic": clinic})


def test_foundings_during_therapy_are_thinned_by_shedding_and_ctc_survival():
    # From day 700 (primary alone sheds: colonies still avascular) with no kill, the
    # kept share of the primary's foundings is shedding_factor * ctc_survival.
    regimen = {"kind": "targeted", "kill_rate": 0.0, "shedding_factor": 0.6,
               "ctc_survival": 0.5}
    scenario = _with_clinic({"therapy": {"start_day": 700, "lines": [regimen]}})
    result = _breast_result()
    course = follow(result, scenario)
    raw = result.raw
    during = (raw.founded > 700) & (raw.parent == 0)
    ids = np.nonzero(during)[0] + 1
    prevented = np.isin(ids, list(course.prevented))
    assert ids.size > 500
    kept = int((~prevented).sum())
    assert binomtest(kept, ids.size, 0.3).pvalue > ALPHA
    before = np.nonzero(raw.founded <= 700)[0] + 1
    assert not set(before.tolist()) & course.prevented
    # A colony whose parent is prevented is prevented too.
    children = np.nonzero(raw.parent > 0)[0] + 1
    for child in children.tolist():
        if int(raw.parent[child - 1]) in course.prevented:
            assert child in course.prevented


def test_therapy_shrinks_lesions_and_lowers_ctc_counts():
    clinic = {"draws": [{"every_weeks": 3, "start_day": 1095, "site": "tumour_vein"}],
              "therapy": {"start_day": 1500, "lines": [{"kind": "cytotoxic",
                                                         "resistant_fraction": 1e-3}]}}
    result = _breast_result()
    treated = follow(result, _with_clinic(clinic))
    untreated = follow(result, _with_clinic({"draws": clinic["draws"]}))
    assert treated.final_cells.sum() < 0.1 * untreated.final_cells.sum()
    draws = treated.draws()
    before = draws[(draws["time_days"] < 1500) & (draws["time_days"] >= 1300)]["count"]
    on = draws[(draws["time_days"] > 1600) & (draws["time_days"] < 1800)]["count"]
    assert on.mean() < 0.1 * before.mean()
    lines = treated.summary()["therapy"]
    assert lines == [{"line": 1, "regimen": "cytotoxic", "kind": "cytotoxic",
                      "start_day": 1500.0, "end_day": None, "end_reason": None}]
    obs = treated.observations
    assert obs[obs["kind"] == "therapy"]["name"].tolist() == ["start:cytotoxic"]


def test_rules_switch_on_unfavourable_ctc_and_stop_at_progression():
    # Tumour-vein counts are always unfavourable, but only arm-vein draws feed the rule.
    arm = {"every_weeks": 3, "start_day": 1400, "site": "arm_vein", "recovery": 1.0,
           "false_positive_mean": 20.0}  # always >= 5: unfavourable at every follow-up
    lines = [{"name": "first", "kind": "cytotoxic"}, {"name": "second", "kind": "targeted"},
             {"name": "third", "kind": "immunotherapy"}]
    scenario = _with_clinic({"draws": [arm], "therapy": {
        "start_day": 1400, "lines": lines, "switch_on": ["ctc_unfavourable"],
        "ctc_followup_weeks": 3}})
    course = follow(_breast_result(), scenario)
    starts = [(line.regimen, line.start_day, line.end_day, line.end_reason)
              for line in course.therapy]
    assert starts == [("first", 1400.0, 1421.0, "ctc_unfavourable"),
                      ("second", 1421.0, 1442.0, "ctc_unfavourable"),
                      ("third", 1442.0, 1463.0, "ctc_unfavourable")]
    spans = course.therapy_spans()
    assert [s[2] for s in spans] == ["first", "second", "third"]
    # With a large resistant share the line fails and stops at the next progression.
    first = {"name": "first", "kind": "cytotoxic", "resistant_fraction": 0.3}
    stop = _with_clinic({"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 700}],
                         "therapy": {"start_at_m1": True, "lines": [first],
                                     "switch_on": [], "stop_on": ["progression"]}})
    course = follow(_breast_result(), stop)
    (line,) = course.therapy
    assert line.start_day == course.first_detection_day
    progressions = [p["time_days"] for p in course.summary()["progressions"]]
    # The scan that found M1 started the line: its baseline, not a progression on it (the
    # observations keep that scan's row, a new lesion against the M0 scans before it).
    rows = course.observations.query("kind == 'progression'")["time_days"].tolist()
    assert rows[0] == line.start_day and progressions == rows[1:]
    assert course.progression_day == progressions[0]
    assert line.end_reason == "progression" and line.end_day == progressions[0]
    therapy_rows = course.observations.query("kind == 'therapy'")["name"].tolist()
    assert therapy_rows == ["start:first", "stop:first:progression"]


@pytest.mark.parametrize("batch", [False, True])
def test_the_ctc_rule_compares_the_count_per_7_5_ml_with_the_cutoff(batch):
    """A count of 5-19 in 30 mL is below 5 per 7.5 mL: it switched the line all the same."""
    arm = {"every_weeks": 3, "start_day": 1400, "volume_ml": 30.0, "recovery": 1.0,
           "false_positive_mean": 10.0}  # about 2.5 per 7.5 mL
    lines = [{"name": "first", "kind": "cytotoxic"}, {"name": "second", "kind": "targeted"}]
    scenario = _with_clinic({"draws": [arm], "therapy": {
        "start_day": 1400, "lines": lines, "switch_on": ["ctc_unfavourable"],
        "ctc_followup_weeks": 3}})
    course = (follow_batch([_breast_result()], [scenario], np.random.default_rng(1)).course(0)
              if batch else follow(_breast_result(), scenario))
    first = course.therapy[0]
    draws = course.draws()
    follow_ups = draws[draws["time_days"] >= first.start_day + 21]
    raw = follow_ups[follow_ups["count"] >= 5]["time_days"]
    scaled = follow_ups[follow_ups["count"] * 7.5 / 30.0 >= 5]["time_days"]
    assert len(raw) and (scaled.empty or raw.iloc[0] < scaled.iloc[0])
    assert first.end_day == (None if scaled.empty else scaled.iloc[0])
    assert first.end_reason == (None if scaled.empty else "ctc_unfavourable")


def test_progression_counts_from_the_start_of_therapy_and_pfs_ends_at_the_last_scan():
    """The scan that found M1 and started the line was summary.json's progression
    (progression_day = first_detection_day), where a cohort counts only progressions
    after the start of therapy; a PFS with no progression or death was censored at the
    horizon, not at the last tumour assessment."""
    ct = {"modality": "ct", "every_weeks": 12, "start_day": 700}
    failing = {"kind": "cytotoxic", "resistant_fraction": 0.3}
    course = follow(_breast_result(), _with_clinic(
        {"scans": [ct], "therapy": {"start_at_m1": True, "lines": [failing]}}))
    summary = course.summary()
    start = course.therapy[0].start_day
    assert start == course.first_detection_day == course.origin_day == summary["origin_day"]
    rows = course.observations.query("kind == 'progression'")
    assert rows["time_days"].iloc[0] == start  # (the new lesion against the M0 scans)
    assert course.progression_day == summary["progression_day"] > start
    assert course.progression_day == rows["time_days"][rows["time_days"] > start].iloc[0]
    assert summary["progressions"][0]["time_days"] == course.progression_day
    assert summary["progression_free_survival_days"] == course.progression_day
    assert not summary["progression_free_survival_censored"]
    # A line that works: no progression, no death; censored at the last scan.
    working = {"kind": "cytotoxic", "kill_rate": 0.2, "resistant_fraction": 0.0}
    course = follow(_breast_result(), _with_clinic(
        {"scans": [ct], "therapy": {"start_at_m1": True, "lines": [working]}}))
    summary = course.summary()
    scans = course.observations.query("kind == 'scan'")["time_days"]
    assert course.progression_day is None and course.death_day is None
    assert summary["progressions"] == [] and summary["progression_day"] is None
    assert scans.max() < course.horizon_days
    assert summary["progression_free_survival_days"] == scans.max() == course.last_scan_day()
    assert summary["progression_free_survival_censored"]
    assert summary["overall_survival_days"] == course.horizon_days
    # No scan on or after the origin: censored at the origin (PFS 0 days).
    course = follow(_breast_result(), _with_clinic(
        {"scans": [ct], "therapy": {"start_day": 2150, "lines": [working]}}))
    assert course.last_scan_day() is None and course.progression_day is None
    assert course.progression_free_survival() == (2150.0, True)


def test_breast_example_ctc_fall_on_therapy_and_rise_before_progression():
    scenario = Scenario.from_dict(yaml.safe_load((EXAMPLES / "breast_metastatic_ctc.yaml")
                                                 .read_text()))
    course = follow(simulate(scenario), scenario)
    assert len(course.therapy) >= 2
    first = course.therapy[0]
    draws = course.draws()
    arm = draws[draws["site"] == "arm_vein"]
    vein = draws[draws["site"] == "tumour_vein"].set_index("time_days")["count"]
    before = arm[arm["time_days"].between(first.start_day - 365, first.start_day)]["count"]
    during = arm[arm["time_days"].between(first.start_day + 60, first.end_day)]["count"]
    assert during.mean() < 0.5 * before.mean()
    # The tumour-vein count falls within weeks of the start, then rises towards the
    # progression that ends the line (the resistant share regrowing).
    on_line = vein[(vein.index > first.start_day) & (vein.index <= first.end_day)]
    assert on_line.iloc[0] < 0.2 * vein[vein.index <= first.start_day].iloc[-1]
    assert on_line.iloc[-1] > on_line.min()
    assert first.end_reason in ("progression", "ctc_unfavourable")


@pytest.mark.parametrize("therapy, field", [
    ({"start_day": 10, "lines": [{"kind": "cytotoxic", "dose": -1}]},
     "clinic.therapy.lines.0.dose"),
    ({"start_day": 10, "lines": [{"kind": "chemo"}]}, "clinic.therapy.lines.0.kind"),
    ({"start_day": -5, "lines": [{"kind": "cytotoxic"}]}, "clinic.therapy.start_day"),
    ({"lines": [{"kind": "cytotoxic"}]}, "clinic.therapy.start_day"),
    ({"start_day": 1, "lines": [{"kind": "cytotoxic"}], "switch_on": ["fever"]},
     "clinic.therapy.switch_on"),
    ({"start_day": 1, "lines": [{"kind": "cytotoxic", "resistant_fraction": 2}]},
     "clinic.therapy.lines.0.resistant_fraction"),
    ({"start_day": 1, "lines": []}, "clinic.therapy.lines"),
])
def test_bad_therapy_exits_2_names_the_field_and_writes_nothing(tmp_path, therapy, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"cancer": "breast", "clinic": {"therapy": therapy}}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    run = CliRunner().invoke(app, ["simulate", "--scenario", str(path), "--out", str(out)])
    assert run.exit_code == 2
    assert field in run.output and "Traceback" not in run.output
    assert len(run.output.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["summary.json"]
    assert (out / "summary.json").read_text() == "{}"


def test_observations_table_keeps_its_columns_with_therapy():
    scenario = _with_clinic({"therapy": {"start_day": 100, "lines": [{"kind": "cytotoxic"}]}})
    obs = follow(_breast_result(), scenario).observations
    assert tuple(obs.columns) == course_module.OBSERVATION_COLUMNS
    assert isinstance(obs, pd.DataFrame) and (obs["kind"] == "therapy").sum() == 1
