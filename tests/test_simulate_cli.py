"""`metacascade simulate`: the six outputs, reproducibility, and refusals that write nothing."""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import metacascade.outputs as outputs
from metacascade.cli import app
from metacascade.describe import scenario_text
from metacascade.engine.kernel import simulate
from metacascade.engine.result import COLONY_COLUMNS, EVENT_COLUMNS
from metacascade.errors import MetacascadeError, OutputError, ScenarioError
from metacascade.outputs import OUTPUT_FILES, write_simulation
from metacascade.scenario import Scenario, load_scenario

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PARQUET = ("colonies.parquet", "events.parquet")


def _run(*args: str):
    return runner.invoke(app, ["simulate", *args])


def _simulate(out: Path, *args: str):
    result = _run("--out", str(out), *args)
    assert result.exit_code == 0, result.output
    return result


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def breast_dirs(tmp_path_factory):
    """Two runs with seed 7 and one with seed 8 (3 years, to keep the tests fast)."""
    root = tmp_path_factory.mktemp("simulate")
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        _simulate(root / name, "--cancer", "breast", "--years", "3", "--seed", seed)
    return root


def test_writes_the_six_files(breast_dirs):
    out = breast_dirs / "a"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 7 and summary["cancer"] == "breast"
    assert summary["body"] == "adult_female" and summary["horizon_years"] == 3
    assert summary["ledger"]["shed"] > 0
    assert sum(summary["colonies_by_organ"].values()) == summary["ledger"]["colonies_founded"]
    assert summary["macrometastases"] == sum(summary["macrometastases_by_organ"].values())
    colonies = pd.read_parquet(out / "colonies.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert tuple(colonies.columns) == COLONY_COLUMNS and tuple(events.columns) == EVENT_COLUMNS
    assert len(colonies) == summary["ledger"]["colonies_founded"]
    resolved = yaml.safe_load((out / "scenario.yaml").read_text())
    assert resolved["seed"] == 7 and resolved["horizon_years"] == 3
    assert resolved["body"] == "adult_female"
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["seed"] == 7 and {"python", "numpy", "version"} <= set(provenance)
    assert (out / "fates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prints_a_summary_and_progress(tmp_path):
    result = _simulate(tmp_path / "out", "--cancer", "colon", "--years", "1", "--seed", "3")
    assert "simulating 1 year of a colon primary" in result.stderr
    assert "shed cells" in result.stdout and "macrometastases" in result.stdout
    assert str(tmp_path / "out") in result.stdout


def test_same_seed_same_files(breast_dirs):
    a, b = breast_dirs / "a", breast_dirs / "b"
    for name in ("summary.json", "scenario.yaml", *PARQUET):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in PARQUET:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))


def test_another_seed_another_result(breast_dirs):
    a, c = breast_dirs / "a", breast_dirs / "c"
    summary_a = json.loads((a / "summary.json").read_text())
    summary_c = json.loads((c / "summary.json").read_text())
    assert summary_a["ledger"] != summary_c["ledger"]
    assert (a / "colonies.parquet").read_bytes() != (c / "colonies.parquet").read_bytes()


def test_resolved_scenario_replays_the_run(breast_dirs, tmp_path):
    first = breast_dirs / "a"
    _simulate(tmp_path / "again", "--scenario", str(first / "scenario.yaml"))
    for name in ("summary.json", *PARQUET):
        assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes(), name


def test_parquet_matches_the_result(tmp_path):
    result = simulate({"cancer": "breast", "horizon_years": 2}, seed=5)
    _simulate(tmp_path / "out", "--cancer", "breast", "--years", "2", "--seed", "5")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "colonies.parquet"),
                                  result.colonies)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "events.parquet"),
                                  result.events)


def test_lesions_are_the_body_map_at_the_end_of_follow_up(tmp_path):
    from metacascade.clinic.course import follow

    scenario = load_scenario(EXAMPLES / "breast_metastatic_ctc.yaml")
    scenario = Scenario.from_dict({**scenario.to_dict(), "horizon_years": 6})
    result = simulate(scenario)
    write_simulation(result, scenario, tmp_path / "out")
    lesions = pd.read_parquet(tmp_path / "out" / "lesions.parquet")
    pd.testing.assert_frame_equal(lesions, outputs.body_lesions(result, follow(result, scenario)))
    assert lesions["detected"].any() and not lesions["detected"].all()
    assert len(lesions) < len(result.colonies)  # therapy prevented and shrank colonies


@pytest.mark.parametrize("example", [
    p for p in sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.toml"))
    if "population:" not in p.read_text()], ids=lambda p: p.name)
def test_example_scenarios_run(example, tmp_path):
    _simulate(tmp_path / "out", "--scenario", str(example), "--years", "1", "--seed", "2")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["cancer"] == load_scenario(example).cancer
    assert summary["horizon_years"] == 1


def test_scenario_embolus_is_not_claimed_for_a_simulation(tmp_path):
    """The scenario's embolus is route's: a simulation sheds the cancer's mix."""
    runs = {}
    for kind in ("single", "cluster"):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(f"cancer: breast\nembolus: {kind}\nhorizon_years: 1\nseed: 4\n")
        result = _run("--scenario", str(path), "--out", str(tmp_path / kind))
        assert result.exit_code == 0, result.output
        runs[kind] = result.stderr
        assert "embolus" not in json.loads((tmp_path / kind / "summary.json").read_text())
        assert "1 year," in result.stdout
    assert "note: embolus" not in runs["single"]
    assert "note: embolus 'cluster' is the kind `metacascade route` follows" in runs["cluster"]
    for name in ("colonies.parquet", "observations.parquet"):
        assert ((tmp_path / "single" / name).read_bytes()
                == (tmp_path / "cluster" / name).read_bytes())
    text = " ".join(scenario_text(load_scenario(tmp_path / "cluster.yaml")))
    assert "Emboli:" not in text and "(The scenario's embolus, cluster, is the kind" in text


def test_write_simulation_takes_plain_data_and_names_bad_arguments(tmp_path):
    data = {"cancer": "breast", "horizon_years": 0.2}
    result = simulate(data, seed=1)
    written = write_simulation(result, data, os.fspath(tmp_path / "plain"))
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == sorted(OUTPUT_FILES)
    assert written["summary.json"].is_file()
    bad = [((None, data, tmp_path / "a"), TypeError, r"^result: expected a Result"),
           ((result, ["breast"], tmp_path / "a"), ScenarioError, r"^scenario: expected"),
           ((result, data, None), TypeError, r"^out_dir: expected a path"),
           ((result, data, 3), TypeError, r"^out_dir: expected a path"),
           ((result, data, ""), MetacascadeError, r"^out_dir: an empty path; give a path"),
           # Another scenario's files beside this patient's (summary.json said 5 years
           # beside horizon_days 73, and scenario.yaml re-ran another patient).
           ((result, {**data, "horizon_years": 5}, tmp_path / "a"), ScenarioError,
            r"^scenario: horizon_years 5\.0 is not the simulated patient's \(0\.2\)"),
           ((result, {**data, "cancer": "prostate"}, tmp_path / "a"), ScenarioError,
            r"^scenario: cancer 'prostate'")]
    for args, error, pattern in bad:
        with pytest.raises(error, match=pattern):
            write_simulation(*args)
    from metacascade.clinic.course import follow

    course = follow(result, data)
    with pytest.raises(ScenarioError, match=r"^scenario: horizon_years"):
        write_simulation(result, {**data, "horizon_years": 5}, tmp_path / "a", course=course)
    with pytest.raises(TypeError, match=r"^course: expected a ClinicalCourse"):
        write_simulation(result, data, tmp_path / "a", course=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^scenario_file: expected a path"):
        write_simulation(result, data, tmp_path / "a", scenario_file=3)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]  # nothing else written


def test_no_colonies_still_writes_typed_tables(tmp_path):
    _simulate(tmp_path / "out", "--cancer", "breast", "--years", "0.02", "--seed", "1")
    colonies = pd.read_parquet(tmp_path / "out" / "colonies.parquet")
    full = simulate({"cancer": "breast", "horizon_years": 3}, seed=1).colonies
    assert colonies.empty
    assert dict(colonies.dtypes) == dict(full.dtypes)


def test_a_horizon_of_a_billionth_of_a_year_runs(tmp_path):
    """Any horizon the scenario allows (> 0) runs: 1e-9 years made a traceback, exit 1."""
    _simulate(tmp_path / "out", "--cancer", "breast", "--years", "1e-9", "--seed", "1")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["horizon_years"] == 1e-9


BAD_ARGS = [
    (("--cancer", "leukaemia"), "unknown cancer 'leukaemia'"),
    (("--cancer", "prostate", "--body", "adult_female"), "arises in 'prostate'"),
    (("--cancer", "breast", "--years", "0"), "error: --years: "),
    (("--cancer", "breast", "--years", "-2"), "error: --years: "),
    (("--cancer", "breast", "--years", "101"), "error: --years: "),
    (("--cancer", "breast", "--years", "nan"), "error: --years: "),
    (("--cancer", "breast", "--seed", "-1"), "error: --seed: "),
    (("--scenario", "{h0}"), "error: horizon_years: "),  # (the file's field, not an option)
    (("--scenario", "{step}"), "error: step_days: 1e-06 makes 365,250,000 steps over "
                               "horizon_years 1; at most 100,000 are allowed"),
    (("--cancer", "breast", "--body", ""), "body: unknown body ''"),
    (("--years", "5"), "give --cancer NAME or --scenario FILE"),
    (("--cancer", "breast", "--scenario", str(EXAMPLES / "prostate_plexus.yaml")),
     "do not also give --cancer or --body"),
    (("--scenario", "no/such/file.yaml"), "no/such/file.yaml"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_ARGS)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "new" / "out"
    if "{h0}" in args:
        scenario = tmp_path / "h0.yaml"
        scenario.write_text("cancer: breast\nhorizon_years: 0\n")
        args = tuple(str(scenario) if a == "{h0}" else a for a in args)
    if "{step}" in args:  # (a step of 1e-6 day over a year: a MemoryError once)
        scenario = tmp_path / "step.yaml"
        scenario.write_text("cancer: breast\nhorizon_years: 1\nstep_days: 0.000001\n")
        args = tuple(str(scenario) if a == "{step}" else a for a in args)
    result = _run(*args, "--out", str(out))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("metacascade: error: ") and needle in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] in ([], ["h0.yaml"], ["step.yaml"])


@pytest.mark.parametrize(("args", "needle"), BAD_ARGS[:3])
def test_bad_input_leaves_an_existing_directory_alone(tmp_path, args, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sentinel.txt").write_text("keep me")
    (out / "summary.json").write_text("an earlier run")
    before = _snapshot(out)
    result = _run(*args, "--out", str(out))
    assert result.exit_code == 2 and needle in result.stderr
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_scenario_file_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("cancer: breast\ncancer_overrides: {shedding_rate: -1}\n")
    result = _run("--scenario", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "cancer_overrides.shedding_rate" in result.stderr
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a directory")
    result = _run("--cancer", "breast", "--years", "1", "--out", str(out))
    assert result.exit_code == 2
    assert "exists and is not a directory" in result.stderr
    assert result.stderr.count("\n") == 1
    assert out.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_rerun_replaces_outputs_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "summary.json").write_text("stale")
    result = _simulate(out, "--cancer", "breast", "--years", "1", "--seed", "4")
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "summary.json").read_text())["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert "removed" not in result.stderr


def test_rerun_removes_the_replaced_runs_report(tmp_path):
    """A report of the run replaced stayed beside the new run's outputs."""
    from metacascade.report import REPORT_FILE

    assert outputs.STALE_FILES == (REPORT_FILE,)
    out = tmp_path / "out"
    _simulate(out, "--cancer", "colon", "--years", "1", "--seed", "2")
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert (out / REPORT_FILE).is_file()
    result = _simulate(out, "--cancer", "breast", "--years", "1", "--seed", "5")
    assert not (out / REPORT_FILE).exists()
    assert (f"note: removed report.html, the report of the run replaced (metacascade report "
            f"{out} writes this run's)") in result.stderr
    # A report.html in a directory that held no run is the user's: left alone.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / REPORT_FILE).write_text("my own page")
    result = _simulate(mine, "--cancer", "breast", "--years", "1", "--seed", "5")
    assert (mine / REPORT_FILE).read_text() == "my own page"
    assert "removed" not in result.stderr


@pytest.fixture(scope="module")
def small_run():
    scenario = Scenario.from_dict({"cancer": "breast", "horizon_years": 1, "seed": 9})
    return simulate(scenario), scenario


def test_failure_while_writing_leaves_nothing(tmp_path, small_run, monkeypatch):
    def broken(result, path):
        raise RuntimeError("plotting broke")

    monkeypatch.setattr(outputs, "_write_figure", broken)
    with pytest.raises(RuntimeError, match="plotting broke"):
        write_simulation(*small_run, tmp_path / "deep" / "out")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_moving_restores_the_earlier_outputs(tmp_path, small_run, monkeypatch):
    out = tmp_path / "out"
    write_simulation(*small_run, out)
    (out / "sentinel").write_text("untouched")
    (out / "events.parquet").unlink()  # an output that did not exist before the second run
    before = _snapshot(out)
    calls = []
    real_replace = os.replace

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", flaky_replace)
    scenario = Scenario.from_dict({"cancer": "breast", "horizon_years": 1, "seed": 10})
    with pytest.raises(OutputError, match="No space left on device"):
        write_simulation(simulate(scenario), scenario, out)
    assert calls[4].name == outputs.OUTPUT_FILES[4]  # the failed move; the rest put back
    assert _snapshot(out) == before
    # The replaced run's report is put back too when the last move fails.
    (out / "report.html").write_text("the report of seed 9")
    before = _snapshot(out)
    calls.clear()
    monkeypatch.setattr(outputs, "STALE_FILES", ("report.html", "missing.html"))
    real_is_file = Path.is_file

    def failing_check(path):
        if path.name == "missing.html":
            raise OSError(5, "Input/output error")
        return real_is_file(path)

    monkeypatch.setattr(outputs.os, "replace", real_replace)
    monkeypatch.setattr(Path, "is_file", failing_check)
    with pytest.raises(OutputError, match="Input/output error"):
        write_simulation(simulate(scenario), scenario, out)
    monkeypatch.undo()
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_simulation_refuses_a_directory_in_place_of_an_output(tmp_path, small_run):
    (tmp_path / "out" / "summary.json").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"'summary\.json' in it is a directory"):
        write_simulation(*small_run, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "summary.json"]


def test_a_death_on_day_0_is_written_and_reported(tmp_path):
    """A 150 mm primary passes the lethal burden at once: the CTC figure's follow-up is
    0 days (it was refused, and nothing was written)."""
    path = tmp_path / "big.yaml"
    path.write_text("cancer: breast\nhorizon_years: 1\nprimary_diameter_mm: 150\n")
    _simulate(tmp_path / "out", "--scenario", str(path))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["clinical"]["death_day"] == 0
    assert runner.invoke(app, ["report", str(tmp_path / "out")]).exit_code == 0
