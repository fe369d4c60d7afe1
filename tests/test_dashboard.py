"""The dashboard's logic without a browser: inputs, runs, refusals, cancel, the CLI command."""

import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from metacascade import simulate
from metacascade.cli import app as cli
from metacascade.clinic.course import follow
from metacascade.dashboard import DashboardUnavailable, require_panel
from metacascade.dashboard import figures as dashboard_figures
from metacascade.dashboard.runs import (
    Inputs,
    RunCancelled,
    build_scenario,
    compatible_bodies,
    key_numbers,
    lesions_at,
    run_cohort,
    run_patient,
    scenario_data,
)
from metacascade.errors import MetacascadeError
from metacascade.scenario import Scenario

PNG = b"\x89PNG\r\n\x1a\n"


# -- runs (no Panel) ---------------------------------------------------------------------
def test_bodies_offered_are_the_compatible_ones_default_first():
    assert compatible_bodies("prostate") == ["adult_male"]
    assert compatible_bodies("breast")[0] == "adult_female"
    assert sorted(compatible_bodies("colon")) == ["adult_female", "adult_male"]


@pytest.mark.parametrize(("inputs", "message"), [
    (Inputs(cancer="prostate", body="adult_female"), r"^body: .*adult_female.*male body"),
    (Inputs(cancer="breast", horizon_years=0.0), r"^horizon_years: .*greater than 0"),
    (Inputs(cancer="breast", seed=-1), r"^seed: "),
    (Inputs(cancer="nope"), r"^cancer: unknown cancer 'nope'"),
    (Inputs(cancer="breast", therapy="surgery"), r"^therapy: unknown choice 'surgery'"),
    (Inputs(cancer="breast", mode="cohort", patients=0), r"^patients: 0 must be in 1\.\.500"),
])
def test_bad_inputs_are_refused_with_the_field_named(inputs, message):
    with pytest.raises(MetacascadeError, match=message):
        build_scenario(inputs)


def test_the_scenario_is_the_cli_s_with_the_dashboard_clinic():
    data = scenario_data(Inputs(cancer="colon", therapy="targeted", seed=9,
                                horizon_years=4.0))
    scenario = Scenario.from_dict(data)
    assert (scenario.cancer, scenario.seed, scenario.horizon_years) == ("colon", 9, 4.0)
    assert scenario.clinic is not None and scenario.clinic.therapy is not None
    assert scenario.clinic.therapy.start_at_m1
    assert [line.kind for line in scenario.clinic.therapy.lines] == ["targeted"]
    assert Scenario.from_dict(scenario_data(Inputs(cancer="colon"))).clinic.therapy is None


def test_a_patient_run_is_the_library_s_result_and_course():
    run = run_patient(Inputs(cancer="colon", seed=3, horizon_years=8.0))
    scenario = Scenario.from_dict(scenario_data(Inputs(cancer="colon", seed=3,
                                                       horizon_years=8.0)))
    result = simulate(scenario)
    course = follow(result, scenario)
    numbers = key_numbers(run)
    assert numbers["colonies"] == len(result.colonies) > 0
    assert numbers["m1_day"] == course.first_detection_day
    assert numbers["metastases_detected"] == len(course.detected - {0})
    draws = course.draws()
    assert numbers["last_ctc"] == int(draws[draws["site"] == "arm_vein"]["count"].iloc[-1])
    end = lesions_at(run, run.end_day)
    assert len(end) == int((result.model.diameter_mm(course.final_cells[1:]) >= 0.2).sum())
    assert len(lesions_at(run, 0.0)) == 0
    assert dashboard_figures.body_png(run, 1000.0).startswith(PNG)


def test_a_cohort_stops_between_patients_when_cancelled():
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append((done, total))
        if done == 2:
            cancel.set()

    with pytest.raises(RunCancelled, match="cancelled after 2 of 5 patients"):
        run_cohort(Inputs(cancer="breast", mode="cohort", patients=5, horizon_years=3.0),
                   cancel=cancel, progress=progress)
    assert seen == [(1, 5), (2, 5)]


# -- the page's logic (Panel, no server) ---------------------------------------------------
@pytest.fixture
def dashboard():
    pytest.importorskip("panel")
    from metacascade.dashboard.app import Dashboard

    page = Dashboard()
    yield page
    page.wait(30)


def _state(page):
    return page.status.object.split('data-state="')[1].split('"')[0]


def test_a_mismatched_body_shows_a_message_not_an_exception(dashboard):
    started = dashboard.start(Inputs(cancer="prostate", body="adult_female"))
    assert not started
    assert dashboard.alert.visible
    assert "adult_female" in dashboard.alert.object and "male body" in dashboard.alert.object
    assert _state(dashboard) == "error"
    assert not dashboard.run_button.disabled


def test_a_zero_horizon_from_the_widgets_shows_a_message(dashboard):
    dashboard.horizon.value = 0.0
    dashboard.run_button.clicks += 1  # what a click does
    assert dashboard.alert.visible
    assert "horizon_years" in dashboard.alert.object
    assert dashboard._thread is None


def test_an_unexpected_failure_is_a_message_too(dashboard, monkeypatch):
    from metacascade.dashboard import app as app_module

    def broken(inputs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app_module, "run_patient", broken)
    assert dashboard.start(Inputs(cancer="breast"))
    dashboard.wait(30)
    assert dashboard.alert.visible
    assert "unexpected error (RuntimeError): disk on fire" in dashboard.alert.object


def test_a_run_fills_the_numbers_and_the_slider_moves_the_body_map(dashboard):
    param = pytest.importorskip("param")
    dashboard.cancer.value = "colon"
    assert dashboard.body.options == compatible_bodies("colon")
    dashboard.seed.value = 3
    dashboard.horizon.value = 8.0
    assert dashboard.start(dashboard.inputs())
    dashboard.wait(60)
    assert _state(dashboard) == "done"
    assert not dashboard.alert.visible
    run = dashboard.run
    numbers = key_numbers(run)
    assert f'id="mc-num-colonies" data-value="{numbers["colonies"]}"' in dashboard.numbers.object
    assert dashboard.day.value == int(run.end_day)
    last = dashboard.body_map.object
    assert last.startswith(PNG)
    with param.edit_constant(dashboard.day):
        dashboard.day.value_throttled = 900  # what letting go of the slider does
    assert 'data-day="900"' in dashboard.day_caption.object
    assert f'data-lesions="{len(lesions_at(run, 900.0))}"' in dashboard.day_caption.object
    assert dashboard.body_map.object != last


def test_a_cohort_run_and_a_cancelled_one(dashboard):
    dashboard.cancer.value = "breast"
    dashboard.mode.value = "cohort"
    dashboard.patients.value = 3
    dashboard.horizon.value = 3.0
    assert dashboard.start(dashboard.inputs())
    dashboard.wait(120)
    assert _state(dashboard) == "done"
    assert 'id="mc-cohort-patients" data-value="3"' in dashboard.cohort_numbers.object
    assert 'id="mc-organ-table"' in dashboard.organs.object
    assert dashboard.survival.object.startswith(PNG)
    dashboard.patients.value = 200
    assert dashboard.start(dashboard.inputs())
    dashboard.cancel()
    dashboard.wait(60)
    assert _state(dashboard) == "cancelled"
    assert "cancelled after" in dashboard.status.object
    assert not dashboard.run_button.disabled


# -- without Panel, and the CLI -----------------------------------------------------------
def test_the_core_package_does_not_import_panel():
    code = ("import sys, metacascade.cli, metacascade.dashboard, metacascade.dashboard.runs, "
            "metacascade.dashboard.figures; assert 'panel' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_panel_a_clear_message_and_exit_status_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "panel", None)  # import panel now raises ImportError
    with pytest.raises(DashboardUnavailable, match=r"pip install 'metacascade\[dashboard\]' "
                       r"\(in a clone: \.venv/bin/pip install -e '\.\[dashboard\]'\)$"):
        require_panel()
    outcome = CliRunner().invoke(cli, ["dashboard", "--no-browser"])
    assert outcome.exit_code == 2
    lines = outcome.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'metacascade[dashboard]'" in lines[0]


def test_the_cli_refuses_a_bad_port():
    outcome = CliRunner().invoke(cli, ["dashboard", "--port", "70000", "--no-browser"])
    assert outcome.exit_code == 2
    assert "port: 70000" in outcome.output


@pytest.mark.parametrize(("host", "says"), [
    ("", "host: '' is empty; allowed: an address or host name"),
    ("no-such-host.invalid", "host: cannot listen on 'no-such-host.invalid'"),
])
def test_the_cli_refuses_a_bad_host_in_one_line(host, says):
    """Was bokeh's ValueError, or socket's gaierror with --port 0, as a traceback."""
    outcome = CliRunner().invoke(cli, ["dashboard", "--host", host, "--port", "0",
                                       "--no-browser"])
    assert outcome.exit_code == 2 and outcome.stdout == ""
    assert outcome.stderr.count("\n") == 1 and says in outcome.stderr


def test_a_port_in_use_is_refused_before_the_address_is_printed():
    """The address line came first, then the error: two lines, the first misleading."""
    pytest.importorskip("panel")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for host in ("127.0.0.1", "999.1.1.1"):
            outcome = CliRunner().invoke(cli, ["dashboard", "--host", host, "--port",
                                               str(port), "--no-browser"])
            assert outcome.exit_code == 2 and outcome.stdout == "", outcome.output
            assert outcome.stderr.count("\n") == 1
            assert outcome.stderr.startswith(f"metacascade: error: cannot serve on {host}:"
                                             f"{port}: ")
