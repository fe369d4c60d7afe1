"""The seeding tree, and the funnel redrawn from a summary instead of a Result."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from metacascade.engine.kernel import simulate
from metacascade.errors import MetacascadeError
from metacascade.plots import (
    fate_counts,
    fate_counts_by_organ,
    funnel_counts,
    funnel_counts_by_organ,
    plot_fates,
    plot_seeding_tree,
)
from metacascade.plots.seeding import OTHER_ORGANS


@pytest.fixture(scope="module")
def result():
    return simulate({"cancer": "breast", "horizon_years": 10}, seed=11)


def _axes():
    return Figure().subplots()


def test_funnel_from_the_summary_equals_the_result(result):
    summary = result.summary()
    assert funnel_counts(summary["ledger"], summary["macrometastases"]) == fate_counts(result)
    table = pd.DataFrame.from_dict(summary["ledger_by_organ"], orient="index")
    by_organ = funnel_counts_by_organ(table, summary["macrometastases_by_organ"])
    expected = fate_counts_by_organ(result)
    pd.testing.assert_frame_equal(by_organ.loc[expected.index], expected, check_names=False)


def test_plot_fates_takes_counts(result):
    a, b = _axes(), _axes()
    plot_fates(result, ax=a)
    plot_fates(fate_counts(result), ax=b)
    assert [t.get_text() for t in a.texts] == [t.get_text() for t in b.texts]


TREE = pd.DataFrame({
    "id": [1, 2, 3, 4, 5],
    "organ": ["lung", "lung", "liver", "brain", "lung"],
    "parent": [0, 0, 1, 1, 3],
    "generation": [1, 1, 2, 2, 3],
})


def test_small_tree_has_a_node_per_colony_and_an_edge_per_seeding():
    ax = plot_seeding_tree(TREE, ax=_axes(), primary_organ="breast")
    assert len(ax.lines) == 5  # one edge per colony
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "primary", "generation 1", "generation 2", "generation 3"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"lung", "liver", "brain"}
    assert "2 metastases seeded others" in ax.get_title()


def test_large_tree_groups_by_generation_and_organ():
    ax = plot_seeding_tree(TREE, ax=_axes(), max_colonies=2, top_organs=1)
    labels = {t.get_text() for t in ax.texts}
    # generation 2 has liver and brain once each: liver (first seen) kept, brain pooled
    assert {"lung\n×2", "liver\n×1", f"{OTHER_ORGANS}\n×1", "lung\n×1"} <= labels
    assert len(ax.lines) == 4  # primary-lung, lung-liver, lung-other, liver-lung


def test_grouped_tree_of_a_simulated_patient(result):
    ax = plot_seeding_tree(result.colonies, ax=_axes(), max_colonies=10)
    shown = sum(int(t.get_text().split("×")[1].replace(",", "")) for t in ax.texts
                if "×" in t.get_text())
    assert shown == len(result.colonies)


def test_empty_and_bad_tables():
    ax = plot_seeding_tree(TREE.iloc[:0], ax=_axes())
    assert "no colonies" in [t.get_text() for t in ax.texts]
    with pytest.raises(MetacascadeError, match="'generation'"):
        plot_seeding_tree(TREE.drop(columns="generation"), ax=_axes())
    with pytest.raises(MetacascadeError, match="whole numbers"):
        plot_seeding_tree(TREE.assign(parent=[0, 0, 1.5, 1, 3]), ax=_axes())


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"max_colonies": True}, "max_colonies: True must be a whole number >= 0"),
    ({"max_colonies": float("nan")}, "max_colonies: nan must be a whole number >= 0"),
    ({"max_colonies": None}, "max_colonies: None must be a whole number >= 0"),
    ({"top_organs": 2.5}, "top_organs: 2.5 must be a whole number >= 1"),
    ({"top_organs": 0}, "top_organs: 0 must be a whole number >= 1"),
])
def test_bad_tree_options_are_named(kwargs, needle):
    with pytest.raises(MetacascadeError, match=needle):
        plot_seeding_tree(TREE, ax=_axes(), **kwargs)
    with pytest.raises(TypeError, match=r"^colonies: expected a pandas DataFrame"):
        plot_seeding_tree(None, ax=_axes())


def test_tree_takes_numpy_whole_numbers():
    def drawn(ax):
        return [t.get_text() for t in ax.texts], len(ax.lines), len(ax.collections)

    numpy = plot_seeding_tree(TREE, ax=_axes(), max_colonies=np.int64(2),
                              top_organs=np.int64(1))
    plain = plot_seeding_tree(TREE, ax=_axes(), max_colonies=2, top_organs=1)
    assert drawn(numpy) == drawn(plain) and drawn(plain)[0]


def test_counts_that_lack_a_step_are_named(result):
    with pytest.raises(MetacascadeError, match="counts per step lacks 'arrested'"):
        plot_fates({"shed": 1}, ax=_axes())
    with pytest.raises(MetacascadeError, match="ledger lacks 'failed_extravasation'"):
        funnel_counts({"shed": 1, "arrested": 1}, 0)
    with pytest.raises(MetacascadeError, match="macrometastases: True is not a count"):
        funnel_counts(result.summary()["ledger"], True)
    with pytest.raises(MetacascadeError, match="ledger_by_organ lacks 'arrested'"):
        funnel_counts_by_organ(pd.DataFrame(), {})
    with pytest.raises(TypeError, match=r"^result: expected a Result \(from "
                                        r"metacascade\.simulate\) or its counts per step"):
        plot_fates(None, ax=_axes())
