"""Figures read a Result and return what they drew on."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from metacascade.engine.kernel import simulate
from metacascade.plots import (
    FATE_STEPS,
    fate_counts,
    fate_counts_by_organ,
    plot_fates,
    plot_fates_by_organ,
    plot_fates_figure,
)


@pytest.fixture(scope="module")
def result():
    return simulate({"cancer": "breast", "horizon_years": 3}, seed=11)


def test_fate_counts_follow_the_ledger(result):
    counts = fate_counts(result)
    final = result.final
    assert list(counts) == list(FATE_STEPS)
    assert counts["shed"] >= counts["arrested"] >= counts["extravasated"]
    assert counts["extravasated"] >= counts["divided"] >= counts["colonies founded"]
    assert counts["colonies founded"] == len(result.colonies) == final["colonies_founded"]
    by_organ = fate_counts_by_organ(result)
    for step in by_organ.columns:
        assert by_organ[step].sum() == counts[step]


def test_plot_fates_returns_its_axes(result):
    fig, (ax, right) = plt.subplots(1, 2)
    assert plot_fates(result, ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == list(FATE_STEPS)
    assert ax.get_xscale() == "log"
    assert plot_fates_by_organ(result, ax=right) is right
    plt.close(fig)


def test_plot_fates_without_axes_uses_the_current_one(result):
    fig = plt.figure()
    ax = plot_fates(result)
    assert ax.figure is fig
    plt.close(fig)


def test_figure_has_two_panels(result):
    fig = plot_fates_figure(result)
    assert len(fig.axes) == 2


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"top": -1}, "top: -1 must be a whole number >= 0"),  # (it left the last organ out)
    ({"top": True}, "top: True must be a whole number >= 0"),
    ({"top": None}, "top: None must be a whole number >= 0"),
])
def test_bad_fates_by_organ_options_are_named(result, kwargs, needle):
    from metacascade.errors import MetacascadeError

    with pytest.raises(MetacascadeError, match=needle):
        plot_fates_by_organ(result, ax=plt.figure().subplots(), **kwargs)
    plt.close("all")


def test_fates_by_organ_names_unknown_steps_and_what_is_no_result():
    import pandas as pd

    from metacascade.errors import MetacascadeError

    ax = plt.figure().subplots()
    with pytest.raises(MetacascadeError, match="unknown step column"):
        plot_fates_by_organ(pd.DataFrame({"x": [1]}, index=["lung"]), ax=ax)
    with pytest.raises(TypeError, match=r"^result: expected a Result"):
        plot_fates_figure(None)
    plt.close("all")


def test_a_patient_who_shed_nothing_gets_no_empty_legend(tmp_path):
    """Surgery on day 0: no organ to name, so no legend (matplotlib warned "No artists
    with labels found to put in legend" from fates.png)."""
    import warnings

    from metacascade.outputs import write_simulation

    scenario = {"cancer": "breast", "horizon_years": 1, "seed": 1,
                "clinic": {"surgery_day": 0}}
    result = simulate(scenario)
    assert fate_counts(result)["shed"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = plot_fates_by_organ(result, ax=plt.figure().subplots())
        assert ax.get_legend() is None
        write_simulation(result, scenario, tmp_path / "run")
    assert (tmp_path / "run" / "fates.png").is_file()
    plt.close("all")
