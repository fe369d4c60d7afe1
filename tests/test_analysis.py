"""Tests of the cohort analysis (metacascade.analysis) on synthetic cohorts.

Survival checks draw a seeded cohort with exponential overall survival whose hazard is
``hazard_ratio`` times higher in the unfavourable baseline CTC group, censored at a
horizon. The log-rank checks test at ALPHA = 0.001: with a true ratio of 2 the p-value
must be below ALPHA, with a true ratio of 1 above it. The interval checks read the
intervals the package reports, at its ``survival.CONFIDENCE`` (95 %): that an interval
covers the truth (Cox's covers 2; each group's median interval covers its median) is a
test at INTERVAL_ALPHA = 0.05 each, not at ALPHA; three of them, family-wise at most
0.15. The seeds are fixed, so each check either always passes or always fails; the
levels say how often a correct analysis would fail one on a fresh seed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metacascade.analysis import (
    ANALYSIS_FILES,
    AUTOPSY_ORGANS,
    CohortError,
    analysis_data,
    analyze,
    cox_hazard_ratio,
    ctc_groups,
    disibio_counts,
    involvement,
    kaplan_meier,
    logrank,
    median_survival,
    time_to_first_metastasis,
)
from metacascade.analysis.survival import CONFIDENCE
from metacascade.errors import MetacascadeError, ParameterError

ALPHA = 0.001
#: Level of each interval check: the package's intervals are at CONFIDENCE (95 %).
INTERVAL_ALPHA = 1.0 - CONFIDENCE
HORIZON_DAYS = 1095.0
CUTOFF = 5


def synthetic_patients(seed: int, n: int = 2000, *, hazard_ratio: float = 2.0,
                       cancer: str = "breast") -> pd.DataFrame:
    """Exponential OS (median 1 year if favourable), PFS before it; 5% never enrolled."""
    rng = np.random.default_rng(seed)
    unfavourable = rng.random(n) < 0.5
    baseline = np.where(unfavourable, rng.integers(CUTOFF, 60, n), rng.integers(0, CUTOFF, n))
    enrolled = rng.random(n) >= 0.05
    rate = math.log(2) / 365.0 * np.where(unfavourable, hazard_ratio, 1.0)
    death = rng.exponential(1.0 / rate)
    progression = rng.exponential(0.5 / rate)
    censor = np.minimum(HORIZON_DAYS, rng.uniform(200.0, 3000.0, n))
    os_days = np.minimum(death, censor)
    pfs_days = np.minimum(np.minimum(progression, death), censor)
    died = death <= censor
    return pd.DataFrame({
        "patient": np.arange(1, n + 1, dtype=np.int64),
        "seed": np.arange(n, dtype=np.int64) + seed,
        "cancer": cancer,
        "primary_organ": "breast",
        "enrolled": enrolled,
        "origin_day": 0.0,
        "baseline_ctc": np.where(enrolled, baseline, np.nan).astype(float),
        "ctc_cutoff": np.full(n, CUTOFF, dtype=np.int64),
        "first_detection_day": np.nan,
        "os_days": os_days,
        "os_event": died,
        "pfs_days": pfs_days,
        "pfs_event": pfs_days < censor,
        "death_day": np.where(died, os_days, np.nan),
        "death_cause": np.where(died, "burden", ""),
        "horizon_days": HORIZON_DAYS,
        "param_doubling_time": rng.uniform(50.0, 150.0, n),
    })


def write_cohort(directory: Path, patients: pd.DataFrame, colonies: pd.DataFrame,
                 observations: pd.DataFrame, *,
                 scenario: dict[str, str] | None = None) -> Path:
    for name, table in (("patients", patients), ("colonies", colonies),
                        ("observations", observations)):
        (directory / name).mkdir(parents=True)
        shards = np.array_split(np.arange(len(table)), 2 if len(table) > 1 else 1)
        for i, rows in enumerate(shards):
            table.iloc[rows].to_parquet(directory / name / f"shard-{i:05d}.parquet",
                                        index=False)
    manifest = {"scenario": scenario or {"cancer": "breast"}, "n_patients": len(patients),
                "seed": 7}
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def colonies_table(rows: list[tuple[int, str, float, float]]) -> pd.DataFrame:
    """(patient, organ, founded_day, diameter_mm_end) rows as a colonies table."""
    patient, organ, founded, diameter = zip(*rows, strict=True)
    n = len(rows)
    return pd.DataFrame({
        "patient": np.array(patient, dtype=np.int64), "id": np.arange(1, n + 1),
        "organ": list(organ), "parent": np.zeros(n, dtype=np.int64),
        "founded_day": np.array(founded, dtype=float),
        "diameter_mm_end": np.array(diameter, dtype=float),
        "detected": np.zeros(n, dtype=bool), "first_detected_day": np.full(n, np.nan),
    })


def scans_table(rows: list[tuple[int, float, str, int]]) -> pd.DataFrame:
    """(patient, time_days, organ, lesion) scan rows as an observations table."""
    patient, time, organ, lesion = zip(*rows, strict=True)
    return pd.DataFrame({
        "patient": np.array(patient, dtype=np.int64), "time_days": np.array(time, float),
        "kind": "scan", "name": "ct", "organ": list(organ),
        "lesion": np.array(lesion, dtype=np.int64), "value": 10.0,
    })


# -- survival ------------------------------------------------------------------------------
def test_ctc_groups_leave_out_patients_not_enrolled_or_without_baseline():
    patients = synthetic_patients(1, 200)
    grouped = ctc_groups(patients)
    assert len(grouped) == patients["enrolled"].sum()
    assert set(grouped["baseline_ctc_group"]) == {"favourable", "unfavourable"}
    bad = grouped["baseline_ctc_group"] == "unfavourable"
    assert (grouped.loc[bad, "baseline_ctc"] >= CUTOFF).all()
    assert (grouped.loc[~bad, "baseline_ctc"] < CUTOFF).all()


def test_hazard_ratio_two_is_recovered():
    """Cox's interval covers 2 (at INTERVAL_ALPHA) and lies above 1; log-rank rejects
    equal hazards for OS and PFS at ALPHA."""
    patients = synthetic_patients(20261121, hazard_ratio=2.0)
    cox = cox_hazard_ratio(patients, "os")
    assert cox.ci_low is not None and cox.ci_high is not None
    assert cox.ci_low < 2.0 < cox.ci_high
    assert cox.ci_low > 1.0
    assert logrank(patients, "os").p_value < ALPHA  # type: ignore[operator]
    assert logrank(patients, "pfs").p_value < ALPHA  # type: ignore[operator]


def test_no_effect_is_not_significant():
    patients = synthetic_patients(20261122, hazard_ratio=1.0)
    assert logrank(patients, "os").p_value > ALPHA  # type: ignore[operator]


def test_median_survival_matches_the_exponential():
    """Each group's median interval covers its true median (two checks at INTERVAL_ALPHA)."""
    patients = synthetic_patients(5, hazard_ratio=2.0)
    medians = median_survival(patients, "os")
    assert list(medians) == ["favourable", "unfavourable"]
    good, bad = medians["favourable"], medians["unfavourable"]
    assert good.ci_low < 365.0 < good.ci_high  # type: ignore[operator]
    assert bad.ci_low < 182.5 < bad.ci_high  # type: ignore[operator]
    assert good.n + bad.n == len(ctc_groups(patients))


def test_degenerate_cohorts_give_none():
    patients = synthetic_patients(3, 100)
    one_group = patients.assign(baseline_ctc=np.where(patients["enrolled"], 0.0, np.nan))
    assert list(kaplan_meier(one_group, "os")) == ["favourable"]
    assert logrank(one_group, "os").p_value is None
    assert cox_hazard_ratio(one_group, "os").hazard_ratio is None
    no_events = patients.assign(os_event=False)
    assert logrank(no_events, "os").statistic is None
    assert cox_hazard_ratio(no_events, "os").ci_low is None
    assert median_survival(no_events, "os")["favourable"].median_days is None
    nobody = patients.assign(enrolled=False)
    assert kaplan_meier(nobody, "pfs") == {}
    assert cox_hazard_ratio(nobody, "pfs").p_value is None
    with pytest.raises(MetacascadeError, match="endpoint"):
        logrank(patients, "dfs")  # type: ignore[arg-type]


@pytest.mark.parametrize("call", [kaplan_meier, median_survival])
def test_every_grouping_leaves_out_patients_never_enrolled(call):
    """They have no time origin (their OS and PFS run from day 0): only the CTC groups
    left them out, so grouping by another column mixed the two time origins."""
    patients = synthetic_patients(4, 400).assign(cohort="all")
    never = ~patients["enrolled"]
    # never enrolled: a long untreated history, all of it dying, from day 0
    patients.loc[never, ["os_days", "os_event"]] = [5000.0, True]
    assert never.sum() > 5
    enrolled = patients.loc[~never]
    for by in ("cohort", "cancer", "enrolled"):
        fits = call(patients, "os", by=by)
        assert list(fits) == (["True"] if by == "enrolled" else
                              [str(enrolled[by].iloc[0])])
        alone = call(enrolled, "os", by=by)
        if call is kaplan_meier:
            (fit,), (expected,) = fits.values(), alone.values()
            assert fit.event_table["at_risk"].iloc[0] == len(enrolled)
            pd.testing.assert_frame_equal(fit.survival_function_,
                                          expected.survival_function_)
        else:
            assert fits == alone
            assert next(iter(fits.values())).n == len(enrolled)
    # without an enrolled column (a table of another kind) every row is used
    assert call(patients.drop(columns="enrolled"), "os", by="cohort")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"endpoint": ["os"]}, r"^endpoint: \['os'\] is not one of 'os', 'pfs'$"),
    ({"by": ["cancer"]}, r"^by: \['cancer'\] is neither 'baseline_ctc_group' nor a column"),
    ({"by": "stage"}, r"^by: 'stage' is neither 'baseline_ctc_group' nor a column"),
])
def test_kaplan_meier_names_an_endpoint_or_grouping_that_is_not_one(kwargs, message):
    """A list was "TypeError: unhashable type: 'list'"."""
    with pytest.raises(MetacascadeError, match=message):
        kaplan_meier(synthetic_patients(3, 50), **kwargs)


# -- autopsy -------------------------------------------------------------------------------
def small_patients() -> pd.DataFrame:
    """Breast 1-3 died, breast 4 alive; choriocarcinoma 5-6, nobody died."""
    return pd.DataFrame({
        "patient": np.arange(1, 7, dtype=np.int64),
        "cancer": ["breast"] * 4 + ["choriocarcinoma"] * 2,
        "primary_organ": ["breast"] * 4 + ["uterus"] * 2,
        "death_day": [400.0, 500.0, 600.0, np.nan, np.nan, np.nan],
    })


def test_involvement_by_hand():
    colonies = colonies_table([
        (1, "liver", 10.0, 6.0), (1, "liver", 20.0, 7.0),  # one patient, once
        (1, "lung", 5.0, 3.0),                               # below 5 mm
        (2, "vertebral_marrow", 30.0, 5.0),                  # at the threshold: counts
        (2, "bone_marrow", 40.0, 10.0),                      # bone again, same patient
        (3, "lymph_node", 50.0, 12.0),                       # not compared
        (3, "breast", 60.0, 8.0),                            # the primary's organ
        (4, "liver", 70.0, 20.0),                            # alive: not at autopsy
        (5, "lung", 80.0, 9.0),
    ])
    table = involvement(small_patients(), colonies).set_index(["cancer", "organ"])
    breast = table.loc["breast"]
    assert (breast["basis"] == "death").all() and (breast["n_patients"] == 3).all()
    assert breast.loc["liver", "n_involved"] == 1
    assert breast.loc["liver", "share"] == pytest.approx(1 / 3)
    assert breast.loc["bone", "share"] == pytest.approx(1 / 3)
    assert breast.loc["lung", "share"] == 0.0
    assert breast.loc["breast", "primary_site"] and not breast.loc["liver", "primary_site"]
    assert breast.loc["liver", "disibio_share"] == pytest.approx(218 / 432)
    assert breast.loc["bone", "disibio_count"] == 213
    assert "LN(reg)" not in breast.index and "lymph_node" not in breast.index
    chorio = table.loc["choriocarcinoma"]
    assert (chorio["basis"] == "end_of_follow_up").all()
    assert chorio.loc["lung", "share"] == pytest.approx(1 / 2)
    assert chorio["disibio_share"].isna().all() and chorio["disibio_row"].isna().all()


def dead_patients(cancers: list[str], **columns: list[str]) -> pd.DataFrame:
    """Patients 1.. of these cancers, all dead (at their catalog's primary organ)."""
    from metacascade.cancers.catalog import get_cancer

    n = len(cancers)
    return pd.DataFrame({
        "patient": np.arange(1, n + 1, dtype=np.int64), "cancer": cancers,
        "primary_organ": [get_cancer(c).primary_organ for c in cancers],
        "death_day": np.full(n, 500.0), **columns,
    })


def test_involvement_leaves_out_organs_the_body_lacks():
    """A male body has no uterus, a female one no prostate: their rows read 0/n beside
    diSibio's share, as if the organ had been examined."""
    colonies = colonies_table([(1, "liver", 10.0, 8.0), (3, "liver", 10.0, 8.0)])
    patients = dead_patients(["colon", "colon", "breast", "breast"])
    table = involvement(patients, colonies).set_index(["cancer", "organ"])
    colon, breast = table.loc["colon"], table.loc["breast"]  # (default bodies)
    assert "uterus" not in colon.index and "prostate" in colon.index
    assert "prostate" not in breast.index and "uterus" in breast.index
    assert (colon["n_patients"] == 2).all() and colon.loc["liver", "share"] == 0.5
    assert len(colon) == len(breast) == len(AUTOPSY_ORGANS) - 1
    # the scenario's body (the manifest's), for every patient
    female = involvement(patients[:2], colonies, body="adult_female").set_index("organ")
    assert "uterus" in female.index and "prostate" not in female.index
    # a population that draws the body: each organ counts the patients who have it
    drawn = dead_patients(["colon"] * 5, param_body=["adult_male", "adult_female",
                                                     "adult_female", "adult_male",
                                                     "adult_female"])
    mixed = involvement(drawn, colonies_table([(2, "uterus", 10.0, 6.0),
                                               (1, "liver", 10.0, 6.0)]),
                        body="adult_male").set_index("organ")  # (the draw wins)
    assert mixed.loc["uterus", "n_patients"] == 3 and mixed.loc["uterus", "n_involved"] == 1
    assert mixed.loc["prostate", "n_patients"] == 2
    assert mixed.loc["liver", "n_patients"] == 5 and mixed.loc["liver", "share"] == 0.2
    # a colony in an organ the body lacks: the body assumed is not the cohort's
    with pytest.raises(MetacascadeError, match=r"patient 2 has a colony in the uterus, "
                                               r"which its body 'adult_male' lacks; give "
                                               r"body="):
        involvement(patients, colonies_table([(2, "uterus", 10.0, 0.5)]))
    # a cancer or body this process's catalogs do not know: every organ
    unknown = dead_patients(["colon"]).assign(cancer="my_cancer")
    assert len(involvement(unknown, colonies)) == len(AUTOPSY_ORGANS)
    assert len(involvement(patients, colonies, body="my_body")) == 2 * len(AUTOPSY_ORGANS)
    with pytest.raises(TypeError, match=r"^body: expected a body's name"):
        involvement(patients, colonies, body=["adult_male"])  # type: ignore[arg-type]


def test_involvement_marks_the_organs_the_calibration_did_not_fit():
    """The gut, breast, prostate and uterus are compared, but are no calibration targets
    (nor is the primary's organ, nor any organ of a cancer the calibration does not fit):
    the calibration's own lists say which are."""
    from metacascade.calibration.targets import disibio2008

    patients = dead_patients(["breast", "lung", "liver", "choriocarcinoma"])
    table = involvement(patients, colonies_table([(1, "liver", 10.0, 8.0)]))
    assert table["calibration_target"].dtype == bool
    fitted = table[table["calibration_target"]].groupby("cancer")["organ"].agg(set)
    assert fitted["breast"] == set(disibio2008.ORGANS)
    assert {"stomach", "small intestine", "large intestine", "uterus"}.isdisjoint(
        fitted["breast"])
    assert fitted["lung"] == set(disibio2008.ORGANS) - {"lung"}  # (its primary)
    assert set(fitted.index) == {"breast", "lung"}  # liver, choriocarcinoma: not fitted
    assert {"breast", "lung"} <= set(disibio2008.CANCERS)
    assert not {"liver", "choriocarcinoma"} & set(disibio2008.CANCERS)


@pytest.mark.parametrize("size", [True, np.bool_(True), float("nan"), -1.0, "5", None])
def test_involvement_names_a_size_that_is_no_size(size):
    """True was counted as 1 mm, NaN counted no colony, -1 every colony."""
    colonies = colonies_table([(1, "liver", 10.0, 6.0)])
    with pytest.raises(ParameterError, match=r"^min_diameter_mm: .* must be a finite"):
        involvement(small_patients(), colonies, min_diameter_mm=size)


def test_involvement_takes_numpy_sizes():
    colonies = colonies_table([(1, "liver", 10.0, 6.0)])
    table = involvement(small_patients(), colonies, min_diameter_mm=np.float64(5))
    pd.testing.assert_frame_equal(table, involvement(small_patients(), colonies))


@pytest.mark.parametrize("call", [
    lambda: ctc_groups(None),
    lambda: kaplan_meier({"os_days": [1.0]}),
    lambda: logrank([1, 2]),
    lambda: cox_hazard_ratio(None),
    lambda: median_survival(None),
    lambda: involvement(None, colonies_table([(1, "liver", 10.0, 6.0)])),
    lambda: time_to_first_metastasis(colonies_table([(1, "liver", 10.0, 6.0)]), None),
])
def test_a_table_that_is_no_dataframe_is_named(call):
    with pytest.raises(TypeError, match=r"^(patients|colonies|observations): expected a "
                                        r"pandas DataFrame"):
        call()


@pytest.mark.parametrize("call", [kaplan_meier, median_survival, logrank, cox_hazard_ratio])
def test_survival_names_a_negative_duration_or_an_event_that_is_no_truth_value(call):
    patients = synthetic_patients(3, 200)
    bad = patients.copy()
    bad.loc[7, "os_days"] = -1.0
    with pytest.raises(MetacascadeError,
                       match=r"os_days must not be negative \(row 7 has -1\)"):
        call(bad, "os")
    bad = patients.astype({"os_event": object})
    bad.loc[9, "os_event"] = math.nan
    with pytest.raises(MetacascadeError,
                       match=r"os_event must be true or false \(row 9 has nan\)"):
        call(bad, "os")
    call(patients.astype({"os_event": int}), "os")  # 0 and 1 are events too


def test_disibio_table_is_package_data():
    counts = disibio_counts()
    assert counts["N_autopsies"].sum() == 3827
    assert counts.loc["skin body", "N_autopsies"] == 67


def test_time_to_first_metastasis_by_hand():
    colonies = colonies_table([
        (1, "liver", 100.0, 6.0), (1, "liver", 50.0, 2.0), (2, "liver", 300.0, 1.0),
        (3, "liver", 200.0, 4.0), (1, "lung", 10.0, 1.5),
    ])
    scans = scans_table([
        (1, 400.0, "liver", 2), (1, 300.0, "liver", 1), (2, 500.0, "liver", 3),
        (3, 350.0, "", -1), (3, 360.0, "breast", 0),  # no colony found; the primary
    ])
    timing = time_to_first_metastasis(colonies, scans)
    assert timing.loc["liver", "n_founded"] == 3
    assert timing.loc["liver", "median_first_founded_day"] == 200.0  # of 50, 300, 200
    assert timing.loc["liver", "n_detected"] == 2
    assert timing.loc["liver", "median_first_detected_day"] == 400.0  # of 300, 500
    assert timing.loc["lung", "n_detected"] == 0
    assert np.isnan(timing.loc["lung", "median_first_detected_day"])


# -- analyze -------------------------------------------------------------------------------
def test_analyze_writes_the_three_files(tmp_path):
    patients = synthetic_patients(11, 300)
    colonies = colonies_table([(int(p), organ, 100.0, 8.0)
                               for p in patients["patient"][:150]
                               for organ in ("liver", "vertebral_marrow")])
    scans = scans_table([(1, 200.0, "liver", 1), (2, 250.0, "vertebral_marrow", 2)])
    cohort = write_cohort(tmp_path / "cohort", patients, colonies, scans)
    out = tmp_path / "out" / "analysis"
    said: list[str] = []
    data = analyze(cohort, out, progress=said.append)
    assert said == [f"reading {str(cohort)!r}",
                    "organs at death, time to first metastasis and survival of 300 patients",
                    "drawing survival.png and organs.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(ANALYSIS_FILES)
    written = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert written == data
    assert data["n_patients"] == 300
    assert data["n_enrolled"] == int(patients["enrolled"].sum())
    for key in ("share_baseline_unfavourable", "groups", "logrank", "cox", "autopsy",
                "time_to_first_metastasis"):
        assert key in data
    assert set(data["groups"]["favourable"]) >= {"n", "median_os_days", "median_pfs_days"}
    died = int(patients["death_day"].notna().sum())
    assert data["deaths"] == {"n": died, "by_cause": {"burden": died}}  # (the helper's word)
    assert set(data["cox"]["os"]) == {"hazard_ratio", "ci_low", "ci_high", "p_value"}
    assert set(data["logrank"]["pfs"]) == {"statistic", "p_value"}
    if data["cox"]["os"]["hazard_ratio"] is not None and all(
            data["groups"][g][f"median_{e}_days"] is not None
            for g in ("favourable", "unfavourable") for e in ("os", "pfs")):
        assert data["not_estimated"] == []
    liver = data["autopsy"]["by_cancer"]["breast"]["organs"]["liver"]
    assert 0.0 < liver["share"] <= 1.0
    assert data["time_to_first_metastasis"]["organs"]["liver"]["n_detected"] == 1
    assert data["time_to_first_metastasis"]["counts"].startswith(
        "founding: the colonies a cohort keeps (at least 1 mm at the end of follow-up, or "
        "detected), not every colony founded")
    for name in ("survival.png", "organs.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_defaults_to_the_cohort_directory(tmp_path):
    patients = synthetic_patients(12, 60)
    cohort = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 6.0)]),
                          scans_table([(1, 9.0, "", -1)]))
    analyze(cohort)
    assert all((tmp_path / name).is_file() for name in ANALYSIS_FILES)


def test_bad_directories_raise_clear_errors(tmp_path):
    with pytest.raises(CohortError, match="does not exist"):
        analyze(tmp_path / "missing")
    with pytest.raises(CohortError, match=r"no manifest\.json"):
        analyze(tmp_path)
    (tmp_path / "manifest.json").write_text('{"n_patients": 0, "seed": 1}', encoding="utf-8")
    with pytest.raises(CohortError, match="no patients/ dataset"):
        analyze(tmp_path)
    (tmp_path / "patients").mkdir()
    pd.DataFrame({"patient": [1]}).to_parquet(tmp_path / "patients" / "shard-00000.parquet")
    with pytest.raises(CohortError, match="lacks column"):
        analyze(tmp_path)
    assert not any(tmp_path.glob("*.json.*")) and not (tmp_path / "analysis.json").exists()
    assert issubclass(CohortError, MetacascadeError)


def test_only_the_shards_the_manifest_lists_are_read(tmp_path):
    """As Cohort.table: a shard a killed run renamed into place before its manifest said
    so is left out; one the manifest lists but is gone is named; no list: every shard."""
    from metacascade.analysis import read_cohort

    patients = synthetic_patients(3, n=40)
    write_cohort(tmp_path, patients,
                 colonies_table([(0, "lung", 10.0, 5.0), (30, "liver", 20.0, 6.0)]),
                 scans_table([(0, 100.0, "lung", 1), (30, 200.0, "liver", 1)]))
    assert len(read_cohort(tmp_path).patients) == 40  # (no list of shards done)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "shards_done": [1]}))
    listed = read_cohort(tmp_path).patients
    pd.testing.assert_frame_equal(listed, patients.iloc[20:].reset_index(drop=True))
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "shards_done": [0, 2]}))
    with pytest.raises(CohortError, match=r"the patients/ dataset of .* lacks "
                                          r"shard-00002\.parquet, which the manifest"):
        read_cohort(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "shards_done": "all"}))
    with pytest.raises(CohortError, match="shards_done is not a list of shard numbers"):
        read_cohort(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "shards_done": []}))
    with pytest.raises(CohortError, match="has no patients: patients/ holds no Parquet "
                                          "shards listed as done"):
        read_cohort(tmp_path)


def test_analysis_data_names_a_table_that_is_not_its_input(tmp_path):
    """The autopsy and timing tables are involvement's and time_to_first_metastasis's:
    one without their columns is named (an empty frame raised KeyError 'cancer')."""
    from metacascade.analysis import analysis_data, read_cohort

    patients = synthetic_patients(5, n=40)
    colonies = colonies_table([(0, "lung", 10.0, 5.0), (30, "liver", 20.0, 6.0)])
    scans = scans_table([(0, 100.0, "lung", 1)])
    cohort = read_cohort(write_cohort(tmp_path, patients, colonies, scans))
    autopsy = involvement(cohort.patients, cohort.colonies)
    timing = time_to_first_metastasis(cohort.colonies, cohort.observations)
    data = analysis_data(cohort, autopsy, timing, min_diameter_mm=5.0)
    assert data["n_patients"] == 40
    with pytest.raises(MetacascadeError, match=r"^autopsy table lacks column\(s\) cancer, "):
        analysis_data(cohort, pd.DataFrame(), timing, min_diameter_mm=5.0)
    with pytest.raises(MetacascadeError, match=r"^timing table lacks column\(s\) n_founded"):
        analysis_data(cohort, autopsy, pd.DataFrame(), min_diameter_mm=5.0)
    with pytest.raises(TypeError, match=r"^timing: expected a pandas DataFrame"):
        analysis_data(cohort, autopsy, None, min_diameter_mm=5.0)  # type: ignore[arg-type]


def test_paths_of_the_wrong_type_are_named(tmp_path):
    from metacascade.analysis import read_cohort

    with pytest.raises(TypeError, match=r"^cohort_dir: expected a directory's path"):
        read_cohort(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^cohort_dir: expected a directory's path"):
        analyze(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^out_dir: expected a directory's path"):
        analyze(tmp_path, 3)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_progress_is_a_truth_value_or_a_function(tmp_path, capsys):
    """``progress=True`` (as simulate_cohort takes) prints to stderr; it was called."""
    patients = synthetic_patients(14, 60)
    cohort = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 6.0)]),
                          scans_table([(1, 9.0, "", -1)]))
    analyze(cohort, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"reading {str(cohort)!r}",
        "organs at death, time to first metastasis and survival of 60 patients",
        "drawing survival.png and organs.png"]
    analyze(cohort, progress=np.False_)
    assert capsys.readouterr() == ("", "")
    for bad in ("yes", 1):
        with pytest.raises(TypeError, match=r"^progress: expected True, False, None or a "
                                            r"function taking a line, not (str|int)$"):
            analyze(cohort, tmp_path / "never", progress=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


def test_progress_names_the_directory_of_a_cohort(tmp_path):
    """simulate_cohort's Cohort is said as its directory, not as its repr."""
    from metacascade.cohort import Cohort

    patients = synthetic_patients(15, 60)
    directory = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 6.0)]),
                             scans_table([(1, 9.0, "", -1)]))
    said: list[str] = []
    analyze(Cohort(directory), progress=said.append)
    assert said[0] == f"reading {str(directory)!r}"


def test_analyze_a_degenerate_cohort_gives_nulls(tmp_path):
    patients = synthetic_patients(13, 40).assign(enrolled=False, death_day=np.nan)
    cohort = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 1.0)]),
                          scans_table([(1, 9.0, "", -1)]))
    for shard in (tmp_path / "colonies").iterdir():
        shard.unlink()  # a cohort without colonies: a dataset with no shards
    data = analyze(cohort)
    assert data["n_enrolled"] == 0 and data["share_baseline_unfavourable"] is None
    assert data["cox"]["os"]["hazard_ratio"] is None
    assert data["logrank"]["pfs"]["p_value"] is None
    assert data["groups"]["unfavourable"] == {
        "n": 0, "os_events": 0, "median_os_days": None, "median_os_days_ci": [None, None],
        "median_os_at_risk": None, "pfs_events": 0, "median_pfs_days": None,
        "median_pfs_days_ci": [None, None], "median_pfs_at_risk": None}
    assert data["few_at_risk"] == []
    assert data["not_estimated"] == [  # why each null is null
        "median OS, favourable group: the group is empty",
        "median OS, unfavourable group: the group is empty",
        "OS hazard ratio: the favourable and unfavourable groups are empty",
        "median PFS, favourable group: the group is empty",
        "median PFS, unfavourable group: the group is empty",
        "PFS hazard ratio: the favourable and unfavourable groups are empty"]
    breast = data["autopsy"]["by_cancer"]["breast"]
    assert breast["basis"] == "end_of_follow_up" and breast["organs"]["lung"]["share"] == 0.0
    assert data["time_to_first_metastasis"]["organs"] == {}


def test_the_size_that_counts_at_autopsy_is_a_choice(tmp_path):
    """``--min-diameter-mm``: 0 counts every colony the cohort kept, and says so.

    (Colonies of 0.5 mm here stand for detected ones: a cohort keeps those and the
    colonies of at least 1 mm.)
    """
    from typer.testing import CliRunner

    from metacascade.analysis import AUTOPSY_MIN_DIAMETER_MM
    from metacascade.cli import app

    patients = synthetic_patients(14, 40)
    dead = [int(p) for p in patients.loc[patients["death_day"].notna(), "patient"]]
    colonies = colonies_table([(p, "lung", 10.0, 0.5) for p in dead[:10]]
                              + [(p, "lung", 10.0, 7.0) for p in dead[10:12]])
    cohort = write_cohort(tmp_path, patients, colonies, scans_table([(1, 9.0, "", -1)]))
    runner = CliRunner()
    shares = {}
    for option in ([], ["--min-diameter-mm", "0"], ["--min-diameter-mm", "0.4"]):
        run = runner.invoke(app, ["analyze", str(cohort), *option])
        assert run.exit_code == 0, run.output
        data = json.loads((tmp_path / "analysis.json").read_text(encoding="utf-8"))
        lung = data["autopsy"]["by_cancer"]["breast"]["organs"]["lung"]
        shares[tuple(option)] = (data["autopsy"]["min_diameter_mm"], lung["n_involved"])
        counts = data["autopsy"]["counts"]
        assert ("the smallest a cohort keeps" in counts) == bool(option), counts
    assert shares == {(): (AUTOPSY_MIN_DIAMETER_MM, 2), ("--min-diameter-mm", "0"): (0.0, 12),
                      ("--min-diameter-mm", "0.4"): (0.4, 12)}
    help_text = runner.invoke(app, ["analyze", "--help"]).output
    words = " ".join(re.sub(r"[\u2500-\u257f]", " ", help_text).split())  # no box lines
    assert f"default {AUTOPSY_MIN_DIAMETER_MM:g}:" in words
    before = (tmp_path / "analysis.json").read_bytes()
    for bad in ("-1", "nan", "inf"):
        run = runner.invoke(app, ["analyze", str(cohort), "--min-diameter-mm", bad])
        assert run.exit_code == 2
        assert run.output.count("\n") == 1
        assert run.stderr.startswith("metacascade: error: --min-diameter-mm: ")
    assert (tmp_path / "analysis.json").read_bytes() == before
    with pytest.raises(MetacascadeError, match="min_diameter_mm"):
        analyze(cohort, min_diameter_mm=True)


def test_why_a_median_or_hazard_ratio_is_null_is_said():
    from metacascade.analysis.analyze import _not_estimated

    def group(n, os_events, os_median, pfs_events, pfs_median):
        return {"n": n, "os_events": os_events, "median_os_days": os_median,
                "pfs_events": pfs_events, "median_pfs_days": pfs_median}

    estimated = {"hazard_ratio": 1.5}
    groups = {"favourable": group(7, 0, None, 3, 200.0),
              "unfavourable": group(40, 12, None, 30, 100.0)}
    cox = {"os": {"hazard_ratio": None}, "pfs": estimated}
    assert _not_estimated(groups, cox) == [
        "median OS, favourable group: no event among its 7 patients during follow-up",
        "median OS, unfavourable group: not reached (12 events among 40 patients)",
        "OS hazard ratio: no event in the favourable group"]
    groups["favourable"] = group(7, 2, 300.0, 3, 200.0)
    assert _not_estimated(groups, cox) == [
        "median OS, unfavourable group: not reached (12 events among 40 patients)",
        "OS hazard ratio: the Cox fit did not converge"]
    assert _not_estimated(groups, {"os": estimated, "pfs": estimated}) == [
        "median OS, unfavourable group: not reached (12 events among 40 patients)"]


def test_a_median_resting_on_the_last_patients_followed_is_flagged(tmp_path):
    """One death, the last patient followed, makes a Kaplan-Meier median (S falls 1 to 0).

    lifelines' estimate is right, but it rests on one patient: the number at risk at the
    median is reported, and a median with fewer than FEW_AT_RISK at risk is named.
    """
    from metacascade.analysis import FEW_AT_RISK
    from metacascade.analysis.analyze import _few_at_risk

    patients = synthetic_patients(15, 200)
    good = patients["enrolled"] & (patients["baseline_ctc"] < patients["ctc_cutoff"])
    last = patients.loc[good, "os_days"].idxmax()
    patients.loc[good, "os_event"] = False
    patients.loc[last, ["os_days", "os_event"]] = [patients.loc[good, "os_days"].max() + 10,
                                                   True]
    medians = median_survival(patients, "os")
    lone = medians["favourable"]
    assert lone.events == 1 and lone.at_risk_at_median == 1
    assert lone.median_days == patients.loc[last, "os_days"]
    assert medians["unfavourable"].at_risk_at_median >= FEW_AT_RISK  # type: ignore[operator]
    many = median_survival(synthetic_patients(5, hazard_ratio=2.0), "os")["favourable"]
    assert many.at_risk_at_median >= FEW_AT_RISK  # type: ignore[operator]
    cohort = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 1.0)]),
                          scans_table([(1, 9.0, "", -1)]))
    data = analyze(cohort)
    assert data["groups"]["favourable"]["median_os_at_risk"] == 1
    assert data["few_at_risk"] == [
        f"median OS, favourable group: {lone.median_days:g} days, with 1 patient at risk "
        f"then (1 event among {lone.n} patients): fewer than {FEW_AT_RISK} and than 20% of "
        "the group, it rests on the last patients followed"]
    assert _few_at_risk({g: {"n": 30, "os_events": 9, "median_os_days": 300.0,
                             "median_os_at_risk": FEW_AT_RISK, "pfs_events": 0,
                             "median_pfs_days": None, "median_pfs_at_risk": None}
                         for g in ("favourable", "unfavourable")}) == []
    # A small group without censoring has about half at risk at its median: not fragile.
    assert _few_at_risk({g: {"n": 15, "os_events": 15, "median_os_days": 300.0,
                             "median_os_at_risk": 8, "pfs_events": 0,
                             "median_pfs_days": None, "median_pfs_at_risk": None}
                         for g in ("favourable", "unfavourable")}) == []


def test_cohort_plots_name_a_table_that_is_not_theirs():
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_organs, plot_survival

    ax = Figure().subplots()
    with pytest.raises(MetacascadeError, match=r"patients table lacks column.*os_days"):
        plot_survival(pd.DataFrame(), ax=ax)  # (a KeyError before)
    with pytest.raises(TypeError, match=r"^patients: expected a pandas DataFrame"):
        plot_survival(None, ax=ax)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^table: expected a pandas DataFrame"):
        plot_organs(None, ax=ax)  # type: ignore[arg-type]
    plot_survival(synthetic_patients(1, 50), "pfs", ax=ax)  # (a table that is theirs)


@pytest.mark.parametrize(("body", "has", "lacks"), [(None, "uterus", "prostate"),
                                                     ("adult_male", "prostate", "uterus")])
def test_analyze_compares_the_organs_of_the_cohorts_body(tmp_path, body, has, lacks):
    """The body comes from the manifest's scenario (else the cancer's default body);
    each organ says whether the calibration fitted it, and how many patients have it."""
    from metacascade.calibration.targets import disibio2008

    patients = synthetic_patients(13, 60)
    colonies = colonies_table([(int(p), "liver", 100.0, 8.0) for p in patients["patient"][:9]])
    scenario = {"cancer": "breast", **({"body": body} if body else {})}
    cohort = write_cohort(tmp_path / "cohort", patients, colonies,
                          scans_table([(1, 9.0, "", -1)]), scenario=scenario)
    data = analyze(cohort)
    breast = data["autopsy"]["by_cancer"]["breast"]
    assert has in breast["organs"] and lacks not in breast["organs"]
    died = int(patients["death_day"].notna().sum())
    assert breast["n_patients"] == died
    for organ, entry in breast["organs"].items():
        assert entry["n_patients"] == died
        assert entry["calibration_target"] == (organ in disibio2008.ORGANS), organ
    assert not breast["organs"]["stomach"]["calibration_target"]
    assert breast["organs"]["liver"]["calibration_target"]


def test_organ_figures_mark_the_organs_not_fitted():
    from matplotlib.figure import Figure

    from metacascade.plots.cohort import plot_organs

    patients = dead_patients(["breast", "choriocarcinoma"])
    table = involvement(patients, colonies_table([(1, "liver", 10.0, 8.0)]))
    ax = Figure().subplots()
    plot_organs(table[table["cancer"] == "breast"], ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"liver", "lung", "stomach (not fitted)", "uterus (not fitted)",
            "breast (primary)"} <= set(labels)
    assert not any("prostate" in label for label in labels)
    ax = Figure().subplots()  # no diSibio row: nothing is compared, nothing is marked
    plot_organs(table[table["cancer"] == "choriocarcinoma"], ax=ax)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "lung" in labels and "uterus (primary)" in labels and "stomach" in labels


def test_reading_what_the_analysis_reads_gives_the_same_analysis(tmp_path):
    """``read="analysis"``: of the colonies and of the scans that found a lesion, one row
    per patient and organ (largest end diameter, earliest founding; earliest scan,
    smallest lesion id); the analysis is the same as from every row and column."""
    from metacascade.analysis import read_cohort
    from metacascade.analysis.analyze import REQUIRED_COLUMNS
    from metacascade.outputs import plain_json

    patients = synthetic_patients(5, 120)
    # Per patient and organ three colonies: the first founded is small, a later one is
    # the largest, so a reduction that took the first row's size would count no organ.
    # (81 and 61 patients: one patient's rows are in both shards of write_cohort.)
    colonies = colonies_table([(int(p), organ, founded + p, size + p % 9)
                               for p in patients["patient"][:81]
                               for organ in ("liver", "lung")
                               for founded, size in ((90.0, 2.0), (50.0, 1.5), (70.0, 4.5))])
    scans = scans_table([(int(p), time + p, "liver", lesion)
                         for p in patients["patient"][:61]
                         for time, lesion in ((300.0, 2), (100.0, 3), (200.0, 1))])
    draws = scans.assign(kind="draw", name="arm_vein", organ="", lesion=-1, value=3.0)
    empty_scans = scans.assign(lesion=-1, organ="", time_days=scans["time_days"] - 99)
    observations = pd.concat([draws, scans, empty_scans], ignore_index=True)
    cohort = write_cohort(tmp_path, patients, colonies, observations)
    full = read_cohort(cohort)
    lean = read_cohort(cohort, read="analysis")
    pd.testing.assert_frame_equal(lean.patients, full.patients)
    assert list(lean.colonies.columns) == list(REQUIRED_COLUMNS["colonies"])
    assert list(lean.observations.columns) == list(REQUIRED_COLUMNS["observations"])
    pairs = ["patient", "organ"]
    expected = full.colonies.groupby(pairs, as_index=False).agg(
        founded_day=("founded_day", "min"), diameter_mm_end=("diameter_mm_end", "max"))
    pd.testing.assert_frame_equal(lean.colonies, expected)
    assert len(lean.colonies) == 162 and lean.colonies["diameter_mm_end"].min() == 4.5
    found = full.observations[(full.observations["kind"] == "scan")
                              & (full.observations["lesion"] > 0)]
    expected = found.groupby(pairs, as_index=False).agg(
        time_days=("time_days", "min"), kind=("kind", "first"), lesion=("lesion", "min"))
    pd.testing.assert_frame_equal(lean.observations,
                                  expected[list(REQUIRED_COLUMNS["observations"])])
    assert len(lean.observations) == 61 and lean.observations["time_days"].min() == 101.0

    def data(tables):
        autopsy = involvement(tables.patients, tables.colonies, min_diameter_mm=5.0)
        timing = time_to_first_metastasis(tables.colonies, tables.observations)
        return json.dumps(plain_json(analysis_data(tables, autopsy, timing,
                                                   min_diameter_mm=5.0)), sort_keys=True)

    assert data(lean) == data(full)
    for shard in (cohort / "observations").iterdir():  # no scan found a lesion
        table = pd.read_parquet(shard)
        table[table["kind"] == "draw"].to_parquet(shard, index=False)
    empty = read_cohort(cohort, read="analysis").observations
    assert empty.empty and list(empty.columns) == list(REQUIRED_COLUMNS["observations"])
    assert empty["organ"].dtype == object and empty["kind"].dtype == object  # (text)
    with pytest.raises(ParameterError, match=r"^read: 'some' is not one of 'all', "):
        read_cohort(cohort, read="some")
    for shard in (cohort / "colonies").iterdir():
        pd.read_parquet(shard).drop(columns="organ").to_parquet(shard, index=False)
    with pytest.raises(CohortError, match=r"the colonies/ dataset of .* lacks column\(s\) "
                                          "organ"):
        read_cohort(cohort, read="analysis")


def test_the_intervals_level_is_a_choice():
    """``confidence``: a wider level's intervals hold the narrower's, around the same point.

    Deterministic (a fixed seed); the point estimates do not depend on the level.
    """
    patients = synthetic_patients(20261122, hazard_ratio=2.0)
    narrow = cox_hazard_ratio(patients, "os", confidence=0.8)
    default = cox_hazard_ratio(patients, "os")
    wide = cox_hazard_ratio(patients, "os", confidence=0.99)
    assert narrow.hazard_ratio == default.hazard_ratio == wide.hazard_ratio
    assert default == cox_hazard_ratio(patients, "os", confidence=CONFIDENCE)
    assert wide.ci_low < default.ci_low < narrow.ci_low  # type: ignore[operator]
    assert narrow.ci_high < default.ci_high < wide.ci_high  # type: ignore[operator]
    # exp(beta +- z se): the log-width scales with the normal quantile
    from scipy.stats import norm

    def log_width(ratio):
        return math.log(ratio.ci_high) - math.log(ratio.ci_low)

    assert log_width(wide) / log_width(default) == pytest.approx(
        norm.ppf(0.995) / norm.ppf(0.975), rel=1e-9)
    medians = {c: median_survival(patients, "os", confidence=c)["favourable"]
               for c in (0.8, 0.99)}
    assert medians[0.8].median_days == medians[0.99].median_days
    assert medians[0.99].ci_low <= medians[0.8].ci_low  # type: ignore[operator]
    assert medians[0.8].ci_high <= medians[0.99].ci_high  # type: ignore[operator]
    assert medians[0.99].ci_high - medians[0.99].ci_low > (  # type: ignore[operator]
        medians[0.8].ci_high - medians[0.8].ci_low)  # type: ignore[operator]
    fits = kaplan_meier(patients, "os", confidence=0.9)
    assert all(f.alpha == pytest.approx(0.1) for f in fits.values())


@pytest.mark.parametrize("level", [0, 1, 95, -0.5, True, float("nan"), "0.9", None])
def test_a_level_that_is_no_level_is_named(level):
    patients = synthetic_patients(3, 100)
    for call in (lambda: kaplan_meier(patients, confidence=level),
                 lambda: median_survival(patients, confidence=level),
                 lambda: cox_hazard_ratio(patients, confidence=level)):
        with pytest.raises(ParameterError, match=r"^confidence: .* strictly between 0 and 1"):
            call()


def test_analyze_at_another_level(tmp_path):
    """``analyze --confidence``: recorded in analysis.json, the intervals at it; a bad
    level exits 2 in one line naming the option and writes nothing."""
    from typer.testing import CliRunner

    from metacascade.cli import app
    from metacascade.report import write_report

    patients = synthetic_patients(15, 400)
    cohort = write_cohort(tmp_path, patients, colonies_table([(1, "lung", 5.0, 6.0)]),
                          scans_table([(1, 9.0, "", -1)]))
    runner = CliRunner()
    for bad in ("95", "0", "nan"):
        run = runner.invoke(app, ["analyze", str(cohort), "--confidence", bad])
        assert run.exit_code == 2, run.output
        assert run.output.count("\n") == 1
        assert run.stderr.startswith("metacascade: error: --confidence: ")
        assert not (tmp_path / "analysis.json").exists()
    with pytest.raises(ParameterError, match=r"^confidence"):
        analyze(cohort, confidence=1.0)
    assert not (tmp_path / "analysis.json").exists()
    run = runner.invoke(app, ["analyze", str(cohort), "--confidence", "0.9"])
    assert run.exit_code == 0, run.output
    data = json.loads((tmp_path / "analysis.json").read_text(encoding="utf-8"))
    assert data["confidence"] == 0.9
    cox = cox_hazard_ratio(patients, "os", confidence=0.9)
    assert data["cox"]["os"]["ci_low"] == pytest.approx(cox.ci_low, rel=1e-11)
    assert data["cox"]["os"]["ci_high"] == pytest.approx(cox.ci_high, rel=1e-11)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "median OS (90% CI)" in page and "pointwise 90% bands" in page
    assert "95% CI" not in page
