"""The command line: output formats, and one-line errors with exit status 2."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metacascade import __version__
from metacascade.cli import app, main

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_route_json_is_exactly_one_object():
    result = _run("route", "--cancer", "breast", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"cancer", "body", "embolus", "vertebral_plexus", "arrest",
                         "died_in_blood", "mean_time_in_blood_s"}
    assert data["vertebral_plexus"] is True
    assert data["cancer"] == "breast" and data["body"] == "adult_female"
    assert data["embolus"] == "single"
    assert abs(sum(data["arrest"].values()) + data["died_in_blood"] - 1) < 1e-9
    assert max(data["arrest"], key=data["arrest"].get) == "lung"


def test_route_text_lists_organs_and_time():
    result = _run("route", "--cancer", "colon", "--embolus", "cluster")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("colon primary, body adult_male, cluster emboli")
    assert lines[2].startswith("liver")
    assert "mean time in blood" in result.stdout


def test_no_vertebral_plexus_switch():
    on = json.loads(_run("route", "--cancer", "prostate", "--json").stdout)
    off = json.loads(_run("route", "--cancer", "prostate", "--no-vertebral-plexus",
                          "--json").stdout)
    assert on["arrest"]["vertebral_marrow"] >= 5 * off["arrest"]["vertebral_marrow"]
    # The JSON says which it was (make demo's two prostate files differed only by name).
    assert on["vertebral_plexus"] is True and off["vertebral_plexus"] is False


def test_route_from_scenario_file():
    result = _run("route", "--scenario", str(EXAMPLES / "prostate_plexus.yaml"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cancer"] == "prostate"


def test_route_options_override_the_scenario_file(tmp_path):
    path = tmp_path / "closed.yaml"
    path.write_text("cancer: prostate\nembolus: cluster\nvertebral_plexus: false\n")

    def routed(*options: str) -> dict:
        result = _run("route", "--scenario", str(path), "--json", *options)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def by_name(*options: str) -> dict:
        return json.loads(_run("route", "--cancer", "prostate", "--json", *options).stdout)

    as_file = routed()
    assert as_file == by_name("--embolus", "cluster", "--no-vertebral-plexus")
    given = routed("--embolus", "single", "--vertebral-plexus")
    assert given == by_name() != by_name("--no-vertebral-plexus")
    result = _run("route", "--scenario", str(path), "--embolus", "bubble")
    assert result.exit_code == 2 and "'cluster'" in result.stderr
    assert result.stderr.startswith("metacascade: error: --embolus: ")


@pytest.mark.parametrize(("args", "needle"), [
    (("route", "--cancer", "leukaemia"), "unknown cancer 'leukaemia'; known cancers: breast"),
    (("route", "--cancer", "breast", "--body", "adult_child"),
     "unknown body 'adult_child'; known bodies: adult_male, adult_female"),
    (("route", "--cancer", "prostate", "--body", "adult_female"), "arises in 'prostate'"),
    (("route", "--cancer", "breast", "--embolus", "bubble"),
     "unknown embolus 'bubble'; known: single, cluster, platelet"),
    (("route",), "give --cancer NAME or --scenario FILE"),
    # an empty name is a name (an unset shell variable), not "the default body"
    (("route", "--cancer", "breast", "--body", ""),
     "unknown body ''; known bodies: adult_male, adult_female"),
])
def test_bad_names_exit_2_with_one_line(args, needle):
    result = _run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [
    ("simulate", "--cancer", "breast", "--out", ""),
    ("simulate", "--scenario", "", "--out", "x"),
    ("route", "--scenario", ""),
    ("cohort", "--scenario", "", "--patients", "2", "--out", "x"),
    ("cohort", "--scenario", "s.yaml", "--patients", "2", "--out", ""),
    ("analyze", ""),
    ("report", ""),
    ("report", ".", "--out", ""),
    ("calibrate", "--out", ""),
])
def test_an_empty_path_is_refused_not_read_as_here(tmp_path, monkeypatch, capsys, args):
    # An unset shell variable ("--out $DIR") would otherwise mean the current directory.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.count("\n") == 1 and "an empty path" in err, err
    assert not any(tmp_path.iterdir())  # nothing written here


@pytest.mark.parametrize(("content", "field"), [
    ("cancer: breast\ncolour: red\n", "colour: unknown field"),
    ("cancer: breast\ncancer_overrides: {shedding_rate: -1}\n",
     "cancer_overrides.shedding_rate"),
    ("cancer: breast\nbody: ''\n", "body: unknown body ''"),
    # YAML's true is not the number 1
    ("cancer: breast\nhorizon_years: true\n", "horizon_years: true is not a number"),
    ("cancer: breast\ncancer_overrides: {cluster_share: true}\n",
     "cancer_overrides.cluster_share: true is not a number"),
    ("cancer: breast\ncancer_overrides: {soil: {lung: true}}\n",
     "cancer_overrides.soil.lung"),
    ("cancer: breast\nclinic: {scans: [{modality: ct, every_weeks: true}]}\n",
     "clinic.scans.0.every_weeks: true is not a number"),
    ("cancer: breast\ncancer_overrides: {cluster_share: 1.5}\n",
     "cancer_overrides.cluster_share"),
    ("cancer: breast\nbody_overrides: {arterial_share: {brain: 0.3}}\n",
     "body_overrides.arterial_share"),
])
def test_bad_scenario_files_exit_2_naming_the_field(tmp_path, content, field):
    path = tmp_path / "scenario.yaml"
    path.write_text(content)
    result = _run("route", "--scenario", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("metacascade: error: ")
    assert field in result.stderr and result.stderr.count("\n") == 1


def test_catalog_json_carries_units_and_sources():
    result = _run("catalog", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data["bodies"]) == {"adult_male", "adult_female"}
    assert len(data["cancers"]) == 12
    co = data["bodies"]["adult_male"]["cardiac_output"]
    assert co["value"] == 6.5 and co["unit"] == "L/min" and co["source"]["key"] == "icrp89"
    for cancer in data["cancers"].values():
        for param in cancer["parameters"].values():
            assert param["unit"] and param["source"]["kind"] in (
                "citation", "assumption", "calibrated")
    # The cascade every cancer shares (cascade_overrides), each value with its source.
    from metacascade.cancers.cascade import DEFAULT_CASCADE

    assert set(data["cascade"]) == set(DEFAULT_CASCADE.parameters())
    reference = data["cascade"]["doubling_reference_cells"]
    assert reference["value"] == 1e5 and reference["unit"] == "cell"
    assert data["cascade"]["extravasation.blood_brain"]["source"]["kind"] == "calibrated"
    assert "doubling_reference_cells" in _run("catalog").stdout


def test_catalog_text_and_cite():
    plain = _run("catalog").stdout
    cited = _run("catalog", "--cite").stdout
    assert "cardiac_output" in plain and "L/min" in plain and "source:" not in plain
    assert "source: ICRP 2002" in cited and "source: assumed:" in cited
    assert "prostate" in plain and "vertebral_plexus" in plain


def test_version():
    result = _run("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_installed_script_prints_no_traceback():
    """The real entry point, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-c", "from metacascade.cli import main; main()", "route",
         "--cancer", "nope"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "unknown cancer 'nope'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["simulate", "--cancer", "breast", "--seed", "x", "--out", "unused"],
     "Invalid value for '--seed'"),
    (["simulat"], "No such command 'simulat'"),
    (["route", "--bogus"], "No such option: --bogus"),
    (["cohort", "--patients", "3"], "Missing option '--scenario'"),
])
def test_click_errors_are_one_line_too(args, says, tmp_path):
    """Errors that click finds (types, unknown names) come as the library's do."""
    proc = subprocess.run(
        [sys.executable, "-c", "from metacascade.cli import main; main()", *args],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("metacascade: error: ")
    assert says in proc.stderr and "--help" in proc.stderr
    assert proc.stdout == "" and not any(tmp_path.iterdir())


def test_main_without_arguments_prints_the_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert "Commands" in out and err == ""  # (not a blank line on stderr)


def test_main_exits_with_the_commands_status(capsys):
    for args, code in ((["--version"], 0), (["route", "--cancer", "nope"], 2)):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == code


@pytest.mark.parametrize("command", [(), ("catalog",), ("route",), ("simulate",),
                                     ("cohort",), ("analyze",), ("report",),
                                     ("calibrate",), ("dashboard",)])
def test_flags_show_no_value_in_the_help(command):
    """typer wrote "<bool>" after a flag, --help too, as if it took a value."""
    result = _run(*command, "--help")
    assert result.exit_code == 0
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_an_interrupt_resent_after_its_command_ended_is_not_sent(monkeypatch):
    """An interrupt Python dropped in a finalizer is sent again 10 ms later: after the
    command had ended it reached the caller of main() (or a status 0 with a traceback)."""
    import signal

    from metacascade import cli

    sent: list[int] = []
    monkeypatch.setattr(cli.os, "kill", lambda pid, number: sent.append(number))
    with cli._interrupts_all():
        (ended,) = cli._ACTIVE
    cli._send_if(signal.SIGINT, ended)
    assert sent == []
    with cli._interrupts_all():
        (running,) = cli._ACTIVE
        cli._send_if(signal.SIGINT, running)
    assert sent == [signal.SIGINT] and not cli._ACTIVE


def test_python_dash_m_metacascade_is_the_command():
    """`python -m metacascade` said "No module named metacascade.__main__"."""
    proc = subprocess.run([sys.executable, "-m", "metacascade", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"metacascade {__version__}"
    proc = subprocess.run([sys.executable, "-m", "metacascade", "route", "--cancer", "nope"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown cancer 'nope'" in proc.stderr


def _help_text(*command: str) -> str:
    """The help of ``command`` as one line of words (no box drawing, no wrapping)."""
    result = _run(*command, "--help")
    assert result.exit_code == 0, result.output
    return " ".join(re.sub("[│╭╮╰╯─]", " ", result.stdout).split())


def test_the_help_names_the_extra_each_command_or_option_needs():
    """The top-level help named the dashboard's extra only."""
    top = _help_text()
    for command, extra in (("cohort", "dask"), ("analyze", "analysis"),
                           ("report", "analysis"), ("calibrate", "calibration"),
                           ("dashboard", "dashboard")):
        line = top.split(f" {command} ", 1)[1]
        assert f"'{extra}' extra" in line.split(".", 1)[0], (command, line)
        assert f"'{extra}' extra" in _help_text(command)
    cohort_help = _help_text("cohort")
    for option in ("--dask-local", "--scheduler"):
        assert re.search(f"{option} <[a-z]+> [^.]*needs the 'dask' extra", cohort_help)
        assert re.search(f"{option} <[a-z]+> [^.]*needs the 'dask' extra",
                         _help_text("calibrate"))


def test_the_help_of_calibrate_gives_the_times_the_makefile_does():
    """It said two or three minutes for --quick (4 min 38 s measured) and "not a quarter
    of an hour" for the full fit, where the Makefile says about 11 min."""
    text = _help_text("calibrate")
    assert "a few minutes" in text and "about 11" in text and "quarter" not in text
    makefile = (EXAMPLES.parent / "Makefile").read_text()
    assert "about 11 min" in makefile


@pytest.mark.parametrize(("command", "argument"), [("analyze", "COHORT_DIR"),
                                                   ("report", "RUN_DIR")])
def test_the_usage_line_shows_the_argument_plain(command, argument):
    """Typer wrote it in braces: `metacascade analyze [OPTIONS] {COHORT_DIR}`."""
    usage = _help_text(command).split(" ", 5)
    assert usage[:5] == ["Usage:", "metacascade", command, "[OPTIONS]", argument]


def test_the_readme_says_what_analyze_prints():
    """It printed the headline of analysis.json on stdout, which the README did not say."""
    from metacascade.cli import HEADLINE_KEYS

    readme = " ".join((EXAMPLES.parent / "README.md").read_text().split())
    said = readme.split("and prints on stdout the headline of `analysis.json` as JSON (", 1)
    assert len(said) == 2
    assert said[1].split(")", 1)[0] == ", ".join(f"`{key}`" for key in HEADLINE_KEYS)
