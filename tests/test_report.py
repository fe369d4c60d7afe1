"""`metacascade report`: one self-contained HTML page per run or cohort directory."""

import json
import re
import shutil

import matplotlib

matplotlib.use("Agg")

import pytest
from typer.testing import CliRunner

import metacascade.report.build as build
from metacascade.analysis import analyze
from metacascade.cli import app
from metacascade.cohort import LocalExecutor, Population, simulate_cohort
from metacascade.describe import scenario_parameters, scenario_text
from metacascade.engine.kernel import simulate
from metacascade.errors import OutputError
from metacascade.outputs import write_simulation
from metacascade.plots import fate_counts
from metacascade.report import (
    COHORT_SECTIONS,
    REPORT_FILE,
    RUN_SECTIONS,
    RUN_SECTIONS_WITHOUT_CLINIC,
    ReportError,
    write_report,
)
from metacascade.scenario import Scenario
from test_analysis import colonies_table, scans_table, synthetic_patients, write_cohort

runner = CliRunner()

#: Breast cancer: CT finds a distant metastasis on day 1457 and chemotherapy starts, so every
#: section has data (scans, CTC draws, stage, therapy).
SCENARIO = {
    "cancer": "breast", "horizon_years": 4, "seed": 3, "primary_diameter_mm": 25,
    "cancer_overrides": {"doubling_time": "70 d"},
    "clinic": {
        "scans": [{"modality": "ct", "every_weeks": 12, "start_day": 365}],
        "draws": [{"every_weeks": 6, "start_day": 365}],
        "therapy": {"start_at_m1": True, "lines": [{"name": "paclitaxel",
                                                     "kind": "cytotoxic"}]},
    },
}


def _sections(text: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', text)


def _assert_self_contained(text: str) -> None:
    sources = re.findall(r"""\bsrc\s*=\s*["']?([^"'\s>]*)""", text, flags=re.IGNORECASE)
    links = re.findall(r"""\bhref\s*=\s*["']?([^"'\s>]*)""", text, flags=re.IGNORECASE)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert links and all(h.startswith("#") for h in links)
    lowered = text.lower()
    for needle in ("<script", "<link", "<iframe", "<object", "@import", "url("):
        assert needle not in lowered, needle


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A simulated patient written by write_simulation, its Result, and its report."""
    scenario = Scenario.from_dict(SCENARIO)
    result = simulate(scenario)
    out = tmp_path_factory.mktemp("report") / "run"
    write_simulation(result, scenario, out)
    path = write_report(out)
    return out, result, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    """A synthetic cohort (the analysis tests' helpers): survival differs by CTC group."""
    directory = tmp_path_factory.mktemp("cohort") / "synthetic"
    patients = synthetic_patients(7, 80)
    colonies = colonies_table([(1, "lung", 10.0, 12.0), (2, "liver", 30.0, 8.0),
                               (3, "lung", 40.0, 2.0)])
    return write_cohort(directory, patients, colonies, scans_table([(1, 200.0, "lung", 1)]))


def test_single_run_report_has_every_section(run):
    out, _, text = run
    assert (out / REPORT_FILE).is_file()
    assert _sections(text) == list(RUN_SECTIONS)
    assert text.count("data:image/png;base64,") == 4  # funnel, body map, tree, CTC
    for needle in ("paclitaxel", "Changed from the catalog: doubling_time = 70 d",
                   "Works cited", "Cristofanilli M"):
        assert needle in text


def test_ctc_section_counts_per_7_5_ml_and_applies_the_cutoff_to_arm_vein_draws(tmp_path):
    """A 30 mL count was shown and compared with the cut-off as it was, and the tumour
    vein's draws were counted against the cut-off, which holds for peripheral blood."""
    data = json.loads(json.dumps(SCENARIO))
    data["clinic"]["draws"] = [{"every_weeks": 6, "start_day": 365, "volume_ml": 30.0},
                               {"every_weeks": 12, "start_day": 365, "site": "tumour_vein"}]
    scenario = Scenario.from_dict(data)
    write_simulation(simulate(scenario), scenario, tmp_path / "run")
    text = write_report(tmp_path / "run").read_text(encoding="utf-8")
    draws = json.loads((tmp_path / "run" / "summary.json").read_text())["clinical"][
        "ctc_draws"]
    arm = [d["count"] / 4.0 for d in draws if d["site"] == "arm_vein"]
    section = re.search(r'<section id="ctc">(.*?)</section>', text, re.S)[1]
    cells = dict(re.findall(r"<tr><td>(\w+)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", section))
    arm_cells = re.findall(r">([^<]*)</td>", cells["arm_vein"])
    vein_cells = re.findall(r">([^<]*)</td>", cells["tumour_vein"])
    assert float(arm_cells[2].replace(",", "")) == pytest.approx(max(arm), rel=0.01)  # (3 digits)
    assert int(arm_cells[3]) == sum(a >= 5 for a in arm) < len(arm)
    assert vein_cells[3:] == ["–", "–"]
    assert "censored at the last scan" in text


def test_funnel_numbers_are_the_library_fate_counts(run):
    _, result, text = run
    shown = {step: int(value) for step, value in
             re.findall(r'data-step="([^"]+)" data-value="(\d+)"', text)}
    assert shown == fate_counts(result)
    for value in shown.values():
        assert f">{value:,}</td>" in text


def test_report_is_self_contained(run, cohort_dir):
    _assert_self_contained(run[2])
    _assert_self_contained(write_report(cohort_dir).read_text(encoding="utf-8"))


def test_cohort_report_computes_the_analysis_when_missing(cohort_dir, tmp_path):
    assert not (cohort_dir / "analysis.json").exists()
    text = write_report(cohort_dir, out=tmp_path / "a" / "cohort.html").read_text()
    assert _sections(text) == list(COHORT_SECTIONS)
    assert "computed for this report" in text
    assert not (cohort_dir / "analysis.json").exists()  # the report writes nothing else
    assert text.count("data:image/png;base64,") == 2  # Kaplan-Meier, organs
    assert "diSibio G, French SW (2008)" in text
    # the organs of the patients' body only (breast: female), those not fitted marked
    cells = re.findall(r"<td>([^<]*)</td>", text.split('id="organs"', 1)[1])
    assert "uterus (not fitted)" in cells and "stomach (not fitted)" in cells
    assert "liver" in cells and "breast (primary)" in cells
    assert not [c for c in cells if c.startswith("prostate")]


def test_cohort_report_reads_analysis_json(cohort_dir, tmp_path):
    copy = shutil.copytree(cohort_dir, tmp_path / "cohort")
    data = analyze(copy)
    text = write_report(copy).read_text()
    assert "written by metacascade analyze" in text
    hazard = data["cox"]["os"]
    assert f"{hazard['hazard_ratio']:.2f} ({hazard['ci_low']:.2f}–{hazard['ci_high']:.2f})" in text


def test_cli_reports_a_simulated_cohort(tmp_path):
    population = Population.from_dict({
        "cancer": "colon", "horizon_years": 1,
        "population": {"primary_diameter_mm": {"uniform": {"low": 10, "high": 20}}}})
    simulate_cohort(population, 3, seed=1, out=tmp_path / "c", executor=LocalExecutor(1),
                    progress=False, engine="patient")
    result = runner.invoke(app, ["report", str(tmp_path / "c"), "--out",
                                 str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.html").read_text()
    assert _sections(text) == list(COHORT_SECTIONS)
    assert "primary_diameter_mm: uniform between 10 and 20" in text
    # The draws come first, and the base scenario's value they replace is marked as such.
    assert (text.index("primary_diameter_mm: uniform between 10 and 20")
            < text.index("The primary is 10 mm across at day 0 (the base value: drawn per "
                         "patient) and grows"))
    # Three untreated patients over a year: nothing to estimate, and the report says why.
    assert "Not estimated: median OS, favourable group: " in text


@pytest.mark.parametrize("make", ["missing", "empty", "file", "incomplete", "both"])
def test_bad_directory_exits_2_with_one_line(tmp_path, make):
    target = tmp_path / "dir"
    if make == "file":
        target.write_text("not a directory")
    elif make != "missing":
        target.mkdir()
    if make in ("incomplete", "both"):
        (target / "summary.json").write_text("{}")
    if make == "both":
        (target / "manifest.json").write_text("{}")
    result = runner.invoke(app, ["report", str(target)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(target) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (target / REPORT_FILE).exists()


def test_a_failed_write_keeps_the_earlier_report(run, tmp_path, monkeypatch):
    out = shutil.copytree(run[0], tmp_path / "run")
    (out / REPORT_FILE).write_text("earlier")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build.os, "replace", refuse)
    with pytest.raises(OutputError, match="No space left on device"):
        write_report(out)
    assert (out / REPORT_FILE).read_text() == "earlier"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    (out / "summary.json").write_text("{ not json")
    with pytest.raises(ReportError, match=r"summary\.json"):
        write_report(out)
    assert (out / REPORT_FILE).read_text() == "earlier"


def test_the_funnel_says_what_each_step_counts(run):
    """"dormant now ... branch" was unexplained, and nothing said the extinct colonies
    are not among the founded."""
    import html

    from metacascade.plots.fates import FATE_STEPS, STEP_NOTES

    text = html.unescape(run[2])
    assert "<th>what it counts</th>" in run[2]
    for step in FATE_STEPS:
        assert STEP_NOTES[step] in text, step
    assert "branch (no share)" in text
    assert "(colonies_extinct) are not counted here" in STEP_NOTES["colonies founded"]


def test_every_summary_ledger_field_is_said_in_a_sentence():
    import metacascade.engine.result as result
    import metacascade.outputs as outputs
    from metacascade.engine.result import TOTAL_FIELDS

    doc = result.__doc__ or ""
    for field in TOTAL_FIELDS:
        assert re.search(rf"^``[^\n]*\b{field}\b[^\n]*``\n    \S", doc, re.MULTILINE), field
    assert "they are *not* among\n    ``colonies_founded``" in doc
    assert "``colonies_extinct`` (cells that divided but whose lineage died out) are not " \
           "among\n    ``colonies_founded``" in (outputs.__doc__ or "")


@pytest.fixture(scope="module")
def no_clinic(tmp_path_factory):
    """A run without a clinic (as `metacascade simulate --cancer breast` makes) and its report."""
    scenario = Scenario.from_dict({"cancer": "breast", "horizon_years": 3, "seed": 2})
    out = tmp_path_factory.mktemp("no-clinic") / "run"
    write_simulation(simulate(scenario), scenario, out)
    return out, write_report(out).read_text(encoding="utf-8")


def test_a_run_without_a_clinic_says_so_once_and_draws_no_empty_figure(no_clinic):
    """The CTC and imaging sections said "no draws" and "no scans", the stage "never
    staged", and an empty CTC axis was drawn."""
    _, text = no_clinic
    assert _sections(text) == list(RUN_SECTIONS_WITHOUT_CLINIC)
    assert text.count("this run has no clinic".capitalize()) == 1
    assert "see examples/breast_metastatic_ctc.yaml" in text.lower()
    for needle in ("No blood draws were scheduled", "No scans were scheduled",
                   "never staged", "found by a scan", "prevented / eradicated"):
        assert needle not in text, needle
    assert text.count("data:image/png;base64,") == 3  # funnel, body map, tree: no CTC axis


def test_the_ctc_png_of_a_run_without_draws_is_a_sentence(tmp_path, monkeypatch):
    import metacascade.plots.clinic as clinic
    from metacascade.outputs import NO_DRAWS_TEXT

    def refuse(*args, **kwargs):
        raise AssertionError("an empty CTC axis was drawn")

    monkeypatch.setattr(clinic, "plot_ctc", refuse)
    drawn = []
    monkeypatch.setattr("matplotlib.axes.Axes.text",
                        lambda self, x, y, s, *a, **k: drawn.append(s))
    scenario = Scenario.from_dict({"cancer": "breast", "horizon_years": 1, "seed": 2})
    write_simulation(simulate(scenario), scenario, tmp_path / "run")
    assert NO_DRAWS_TEXT.format(why=": this run has no clinic") in drawn


def test_a_directory_without_lesions_gets_a_note(run, tmp_path):
    out = shutil.copytree(run[0], tmp_path / "old")
    (out / "lesions.parquet").unlink()
    text = write_report(out, out=tmp_path / "old.html").read_text()
    assert _sections(text) == list(RUN_SECTIONS)
    assert "has no lesions.parquet" in text


def test_a_history_ended_at_the_colony_limit_is_said(run, tmp_path):
    import json

    out = shutil.copytree(run[0], tmp_path / "ended")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["history_end_day"] is None
    assert "natural history was ended" not in run[2]
    (out / "summary.json").write_text(json.dumps({**summary, "history_end_day": 1820.0}))
    text = write_report(out, out=tmp_path / "ended.html").read_text()
    assert "The natural history was ended on day 1820 (year 5.0), where its colonies" in text
    # No colony came between the last ledger record and the end: nothing is said of them.
    assert "also holds" not in text
    founded = summary["ledger"]["colonies_founded"]
    for later, words in ((1, "the 1 colony founded"), (3, "the 3 colonies founded")):
        ledger = {**summary["ledger"], "colonies_founded": founded - later}
        (out / "summary.json").write_text(json.dumps(
            {**summary, "history_end_day": 1820.0, "ledger": ledger}))
        text = write_report(out, out=tmp_path / "ended.html").read_text()
        assert (f"colonies.parquet also holds {words} after that record, up to day 1820, "
                "where the engine ended the history") in text


def test_scenario_text_marks_the_values_a_population_draws():
    scenario = Scenario.from_dict({
        "cancer": "breast", "horizon_years": 6, "cancer_overrides": {"doubling_time": "80 d"},
        "cascade_overrides": {"doubling_reference_cells": 1e9},
        "clinic": {"scans": [{"modality": "ct", "every_weeks": 12}],
                   "therapy": {"start_at_m1": True, "lines": [{"kind": "cytotoxic"}]}}})
    plain = scenario_text(scenario)
    assert not any("drawn per patient" in text for text in plain)
    tumour, run, changed, clinic = scenario_text(scenario, drawn=[
        "cancer_overrides.doubling_time", "horizon_years",
        "clinic.therapy.lines.0.resistant_fraction"])
    assert "is 10 mm across at day 0 and grows" in tumour
    assert "doubling in 80 d (the base value: drawn per patient), toward" in tumour
    assert "covers 6 years (the base value: drawn per patient) in steps" in run
    assert ("doubling_time = 80 d (the base value: drawn per patient); "
            "doubling_reference_cells = 1000000000.0.") in changed
    assert clinic.endswith(" Drawn per patient, in place of the base values: "
                           "clinic.therapy.lines.0.resistant_fraction.")


def test_scenario_parameters_are_what_the_engine_cites(run):
    out, result, _ = run
    scenario = Scenario.from_dict(SCENARIO)
    named = scenario_parameters(scenario)
    engine = {p.source.key for group, _, p in named if group != "clinic"}
    assert engine == set(result.provenance["citations"])
    assert json.loads((out / "provenance.json").read_text())["citations"] == sorted(engine)
    clinic = {name for group, name, _ in named if group == "clinic"}
    assert {"lethal_burden_cells", "draws.0.recovery", "ct.lung.d50_mm",
            "therapy.lines.0.kill_rate"} <= clinic
    assert "No clinic" in scenario_text(Scenario.from_dict({"cancer": "breast"}))[-1]


def test_a_scenario_this_version_refuses_is_named(run, tmp_path):
    out = shutil.copytree(run[0], tmp_path / "run")
    (out / "scenario.yaml").write_text("cancer: leukaemia\n")
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "scenario.yaml" in result.stderr and "leukaemia" in result.stderr


@pytest.mark.parametrize("name", ["summary.json", "scenario.yaml", "notes"])
def test_an_existing_file_that_is_not_a_report_is_not_replaced(run, tmp_path, name):
    """`--out` naming one of the run's own files (or any other non-HTML file) is refused."""
    out = shutil.copytree(run[0], tmp_path / "run")
    (out / "notes").write_text("keep me")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = runner.invoke(app, ["report", str(out), "--out", str(out / name)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "exists and is not a report" in result.stderr
    assert "allowed: a new file, or an existing .html or .htm file" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "old.HTML").write_text("an earlier report")
    assert runner.invoke(app, ["report", str(out), "--out", str(out / "old.HTML")]
                         ).exit_code == 0
    assert "<html" in (out / "old.HTML").read_text()


def test_paths_of_the_wrong_type_are_named_and_a_str_is_a_path(run, tmp_path):
    from metacascade.report import report_html, run_kind

    out, _, _ = run
    assert run_kind(str(out)) == "simulation"  # (an AttributeError before)
    for call, name in ((lambda: write_report(None), "run_dir"),
                       (lambda: write_report(out, out=3), "out"),
                       (lambda: report_html(3), "run_dir"),
                       (lambda: run_kind(None), "path")):
        with pytest.raises(TypeError, match=rf"^{name}: expected a path"):
            call()
