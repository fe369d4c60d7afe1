"""One run's counts agree wherever they are shown: console, summary.json, report funnel.

A history the engine ended at the colony limit is the hard case: its ledger stops at the
last record before the end, so the colonies and macrometastases must be counted there
too (the console said 197,106 colonies founded where the ledger and the funnel said
33,660, and the funnel 586 % of vascularised).
"""

import json
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from metacascade.cli import app
from metacascade.engine import kernel
from metacascade.plots.fates import FATE_STEPS, fate_counts

runner = CliRunner()

#: Dies of its total burden on day 861; 7,533 colonies by the year-3 record (at the end
#: of the step holding day 1095.75: day 1106), 12,971 by the horizon (day 1461) without
#: a limit.
ENDED = {"cancer": "breast", "horizon_years": 4, "primary_diameter_mm": 30, "seed": 4,
         "cancer_overrides": {"doubling_time": "40 d"},
         "cascade_overrides": {"divide_after_extravasation": 1e-6}}
#: A colony limit that bites between the year-3 record and the horizon.
LIMIT = 9_000


@pytest.fixture(scope="module")
def ended(tmp_path_factory):
    """The scenario simulated with the colony limit at LIMIT: directory and console."""
    root = tmp_path_factory.mktemp("ended")
    path = root / "scenario.yaml"
    path.write_text(yaml.safe_dump(ENDED))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernel, "MAX_COLONIES", LIMIT)
        result = runner.invoke(app, ["simulate", "--scenario", str(path), "--out",
                                     str(root / "run")])
        assert result.exit_code == 0, result.output
        simulated = kernel.simulate(ENDED)
    assert runner.invoke(app, ["report", str(root / "run")]).exit_code == 0
    return root / "run", result.stdout, simulated


def _console_count(stdout: str, name: str) -> int:
    return int(re.search(rf"^{name} +([\d,]+)$", stdout, re.MULTILINE)[1].replace(",", ""))


def test_the_history_is_ended_after_a_ledger_record(ended):
    _, _, result = ended
    assert 1095 < result.history_end_day < result.model.horizon_days
    assert result.counted_to_day == 1106
    # colonies were founded between the record and the end, and are left out
    assert len(result.counted_colonies()) < len(result.colonies) <= LIMIT


def test_every_count_is_taken_on_the_same_day(ended):
    directory, _, result = ended
    summary = json.loads((directory / "summary.json").read_text())
    day = summary["counted_to_day"]
    assert day == 1106 and summary["history_end_day"] > day
    colonies = result.colonies
    counted = colonies[colonies["founded_day"] <= day]
    assert summary["ledger"]["colonies_founded"] == len(counted)
    assert sum(summary["colonies_by_organ"].values()) == len(counted)
    sizes = result.model.diameter_mm(result.colony_cells_at(day))[: len(counted)]
    macro = int((sizes >= result.model.macrometastasis_diameter_mm).sum())
    assert summary["macrometastases"] == macro == sum(
        summary["macrometastases_by_organ"].values())
    assert macro <= summary["ledger"]["colonies_vascularised"]


def test_the_dashboard_shows_the_summary_counts(ended):
    from metacascade.clinic.course import follow
    from metacascade.dashboard.runs import PatientRun, key_numbers
    from metacascade.scenario import Scenario

    directory, _, result = ended
    summary = json.loads((directory / "summary.json").read_text())
    scenario = Scenario.from_dict(ENDED)
    numbers = key_numbers(PatientRun(scenario, result, follow(result, scenario)))
    assert numbers["colonies"] == summary["ledger"]["colonies_founded"]
    assert numbers["macrometastases"] == summary["macrometastases"]


def test_the_console_shows_the_summary_counts_and_the_period(ended):
    directory, stdout, _ = ended
    summary = json.loads((directory / "summary.json").read_text())
    assert _console_count(stdout, "colonies founded") == summary["ledger"]["colonies_founded"]
    assert _console_count(stdout, "macrometastases") == summary["macrometastases"]
    assert _console_count(stdout, "shed cells") == summary["ledger"]["shed"]
    end = summary["history_end_day"]
    assert re.search(
        rf"was ended on day {end:,g} \(year {end / 365.25:.1f}\), where its colonies would "
        rf"have passed the engine's limit of [\d,]+; counted to its last ledger record, day "
        rf"{summary['counted_to_day']:,g}:\n", stdout)


def test_the_console_says_the_death_in_one_line(ended):
    directory, stdout, _ = ended
    clinical = json.loads((directory / "summary.json").read_text())["clinical"]
    assert clinical["death_day"] == 861 and clinical["death_cause"] == "total"
    lines = [line for line in stdout.splitlines() if "died" in line]
    assert lines == ["died on day 861 (year 2.4) of a lethal total tumour burden (the counts "
                     "below are the untreated natural history, which goes on past death)"]


def test_the_report_funnel_is_the_summary_and_no_share_passes_100_percent(ended):
    directory, _, result = ended
    text = (directory / "report.html").read_text()
    shown = {step: int(value) for step, value in
             re.findall(r'data-step="([^"]+)" data-value="(\d+)"', text)}
    assert shown == fate_counts(result)
    assert "Every count here (cells, colonies, macrometastases) is taken on day 1106" in text
    for percent in re.findall(r"([\d.e+-]+)% of ", text):
        assert float(percent) <= 100
    counted = len(result.counted_colonies())
    assert f"{counted:,} colonies were founded by day 1106" in text


def test_a_share_falls_back_to_a_step_that_holds_the_cells():
    """Macrometastases above the vascularised (a macrometastasis diameter below the
    avascular limit's) are a share of the colonies founded, never above 100 %."""
    from metacascade.plots.fates import funnel_shares

    counts = dict(zip(FATE_STEPS, (100, 90, 50, 5, 20, 10, 2, 6), strict=True))
    shares = funnel_shares(counts)
    assert shares["macrometastases"] == (0.6, "colonies founded")
    assert shares["vascularised"] == (0.2, "colonies founded")
    assert shares["shed"] is None and shares["dormant now"] is None
    assert all(s is None or s[0] <= 1 for s in shares.values())
    assert np.isclose(shares["divided"][0], 0.4)
