"""The plot functions name a bad argument before drawing (a fresh user's mistakes)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from metacascade.errors import MetacascadeError
from metacascade.plots import (
    FATE_STEPS,
    fate_counts,
    fate_counts_by_organ,
    funnel_counts,
    plot_body,
    plot_ctc,
    plot_fates,
    plot_seeding_tree,
)
from metacascade.plots.calibration import plot_fit
from metacascade.plots.cohort import plot_organs, plot_survival
from metacascade.plots.fates import plot_fates_by_organ

DRAWS = pd.DataFrame({"time_days": [0.0, 30.0], "count": [1, 7]})
LESIONS = pd.DataFrame({"organ": ["liver"], "diameter_mm": [3.0], "detected": [True],
                        "umbilicated": [False], "depth": ["deep"]})
COLONIES = pd.DataFrame({"id": [1], "organ": ["liver"], "parent": [0], "generation": [1]})
COUNTS = dict.fromkeys(FATE_STEPS, 1)
BY_ORGAN = pd.DataFrame({s: [1, 2] for s in FATE_STEPS[1:]}, index=["liver", "lung"])
PATIENTS = pd.DataFrame({
    "enrolled": [True] * 6, "baseline_ctc": [0, 1, 2, 9, 10, 12], "ctc_cutoff": [5] * 6,
    "os_days": [100.0, 200, 300, 50, 80, 90], "os_event": [True, False, True] * 2,
    "pfs_days": [90.0, 150, 200, 40, 70, 60], "pfs_event": [True] * 6})
ORGANS = pd.DataFrame({
    "cancer": ["breast"], "organ": ["liver"], "basis": ["death"], "share": [0.5],
    "n_involved": [1], "n_patients": [2], "disibio_share": [0.4], "disibio_count": [4],
    "disibio_n": [10], "primary_site": [False]})
FIT = pd.DataFrame({"cancer": ["breast"] * 2, "organ": ["liver", "lung"],
                    "observed": [0.5, 0.2], "flow": [0.3, 0.3], "soil": [0.4, 0.2],
                    "soil_q05": [0.2, 0.1], "soil_q95": [0.6, 0.3]})

#: Every public plot function that takes ``ax``, called with a good table.
PLOTS = {
    "plot_ctc": lambda ax: plot_ctc(DRAWS, cutoff=5, ax=ax),
    "plot_body": lambda ax: plot_body(LESIONS, ax=ax),
    "plot_seeding_tree": lambda ax: plot_seeding_tree(COLONIES, ax=ax),
    "plot_fates": lambda ax: plot_fates(COUNTS, ax=ax),
    "plot_fates_by_organ": lambda ax: plot_fates_by_organ(BY_ORGAN, ax=ax),
    "plot_survival": lambda ax: plot_survival(PATIENTS, "pfs", ax=ax),
    "plot_organs": lambda ax: plot_organs(ORGANS, ax=ax),
    "plot_fit": lambda ax: plot_fit(FIT, "breast", ax=ax),
}


def _figure():
    return Figure()


def _array_of_axes():
    return Figure().subplots(1, 2)


def _figure_and_axes():
    figure = Figure()
    return figure, figure.subplots()


@pytest.mark.parametrize("name", sorted(PLOTS))
@pytest.mark.parametrize(("make", "message"), [
    (lambda: "x", r"not str$"),
    (_figure, r"not a Figure \(draw on one of its Axes: fig\.gca\(\)"),
    (_array_of_axes, r"not an array of 2 Axes \(pass one at a time, e\.g\. axes\.flat\[0\]\)"),
    (lambda: list(_array_of_axes()), r"not a list of 2 Axes \(pass one at a time, e\.g\. "),
    (_figure_and_axes, r"not a tuple holding a Figure \(plt\.subplots\(\) returns "),
])
def test_an_ax_that_is_no_axes_is_named(name, make, message):
    with pytest.raises(TypeError, match=r"^ax: expected a matplotlib Axes or None, " + message):
        PLOTS[name](make())


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_every_plot_draws_on_the_axes_given(name):
    ax = Figure().subplots()
    assert PLOTS[name](ax) is ax



@pytest.mark.parametrize(("call", "message"), [
    (lambda ax: plot_survival(PATIENTS, ["os"], ax=ax),  # type: ignore[arg-type]
     r"^endpoint: \['os'\] is not one of 'os', 'pfs'$"),
    (lambda ax: plot_survival(PATIENTS, "dfs", ax=ax),  # type: ignore[arg-type]
     r"^endpoint: 'dfs' is not one of 'os', 'pfs'$"),
    (lambda ax: plot_body(LESIONS, primary_organ=["breast"], ax=ax),  # type: ignore[arg-type]
     r"^primary_organ: unknown organ\(s\) \['breast'\]; known: adipose, .*breast, "),
    (lambda ax: plot_seeding_tree(COLONIES, ax, primary_organ=["breast"]),  # type: ignore[arg-type]
     r"^primary_organ: \['breast'\] is not an organ's name \(a str\) or None$"),
])
def test_a_list_where_one_name_goes_is_named(call, message):
    """A list was "TypeError: unhashable type: 'list'" (seeding: no attribute 'replace')."""
    with pytest.raises(MetacascadeError, match=message):
        call(Figure().subplots())


LEDGER = {"shed": 10, "arrested": 5, "failed_extravasation": 1, "dormant_now": 1,
          "colonies_founded": 1, "colonies_extinct": 1, "colonies_vascularised": 0}


@pytest.mark.parametrize("count", [fate_counts, fate_counts_by_organ])
def test_counts_of_what_is_no_result_are_named(count):
    """fate_counts(None) was "'NoneType' object has no attribute 'final'"."""
    with pytest.raises(TypeError, match=r"^result: expected a Result \(from "
                                        r"metacascade\.simulate\), not NoneType$"):
        count(None)


@pytest.mark.parametrize(("ledger", "macrometastases", "message"), [
    (LEDGER, "x", r"^macrometastases: 'x' is not a count \(a whole number >= 0\)$"),
    (LEDGER, -1, r"^macrometastases: -1 is not a count"),
    (LEDGER, 2.5, r"^macrometastases: 2\.5 is not a count"),
    ({**LEDGER, "shed": "many"}, 0, r"^ledger\['shed'\]: 'many' is not a count"),
])
def test_funnel_counts_name_a_value_that_is_no_count(ledger, macrometastases, message):
    """"x" was a bare ValueError of int(); -1 and 2.5 were taken (2.5 as 2)."""
    with pytest.raises(MetacascadeError, match=message):
        funnel_counts(ledger, macrometastases)


def test_funnel_counts_take_numpy_and_whole_float_counts():
    counts = funnel_counts(pd.Series(LEDGER, dtype=float), np.int64(2))
    assert counts == funnel_counts(LEDGER, 2.0)
    assert counts["extravasated"] == 4 and counts["macrometastases"] == 2
    with pytest.raises(TypeError, match=r"^ledger: expected a mapping of ledger entries"):
        funnel_counts(None, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "shown"), [(-5, "-5"), (float("nan"), "nan"),
                                              (float("inf"), "inf"), ("x", "'x'")])
def test_plot_fates_refuses_a_count_that_is_no_count(value, shown):
    """-5 was drawn without complaint; NaN was "Axis limits cannot be NaN or Inf"."""
    counts = {**COUNTS, "shed": value}
    with pytest.raises(MetacascadeError, match=rf"^result: counts per step must be numbers "
                                               rf">= 0; 'shed' is {shown}$"):
        plot_fates(counts, ax=Figure().subplots())


@pytest.mark.parametrize(("value", "shown"), [(-5, "-5"), (float("nan"), "nan"),
                                              (float("inf"), "inf"), ("x", "'x'")])
def test_plot_fates_by_organ_refuses_a_count_that_is_no_count(value, shown):
    """-5 and NaN were drawn as shares without complaint."""
    by_organ = BY_ORGAN.astype(object)
    by_organ.loc["lung", "arrested"] = value
    with pytest.raises(MetacascadeError, match=rf"^result: counts per organ must be numbers "
                                               rf">= 0; 'arrested' in 'lung' is {shown}$"):
        plot_fates_by_organ(by_organ, ax=Figure().subplots())
