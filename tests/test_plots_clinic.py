"""Clinic figures: CTC counts over time and the lesions on a schematic body."""

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend

from metacascade.physiology.catalog import list_bodies
from metacascade.physiology.routing import compiled
from metacascade.plots import ORGAN_POSITIONS, plot_body, plot_ctc
from metacascade.plots.clinic import DAYS_PER_MONTH, REST_LABEL, marker_area_pt2


@pytest.fixture
def axes():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture
def draws():
    return pd.DataFrame({
        "time_days": [0.0, 30.0, 90.0, 180.0, 0.0, 90.0],
        "count": [12, 4, 0, 2500, 40, 3],
        "site": ["arm_vein", "arm_vein", "arm_vein", "arm_vein", "tumour_vein",
                 "tumour_vein"],
    })


def lesions(n, rng, organs=("liver", "lung", "vertebral_marrow", "brain")):
    return pd.DataFrame({
        "organ": rng.choice(organs, size=n),
        "diameter_mm": rng.lognormal(1.0, 1.0, size=n),
        "detected": rng.random(n) < 0.3,
        "umbilicated": rng.random(n) < 0.1,
        "depth": rng.choice(["surface", "deep"], size=n),
    })


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_ctc_draws_one_line_per_site_in_months(axes, draws):
    assert plot_ctc(draws, cutoff=5, ax=axes) is axes
    labels = [line.get_label() for line in axes.get_legend().get_lines()]
    assert labels[:2] == ["arm_vein", "tumour_vein"]
    assert "unfavourable >= 5" in [t.get_text() for t in axes.get_legend().get_texts()]
    arm = next(line for line in axes.lines if line.get_label() == "arm_vein")
    np.testing.assert_allclose(arm.get_xdata(), np.array([0, 30, 90, 180]) / DAYS_PER_MONTH)
    assert axes.get_yscale() == "symlog"
    assert axes.get_ylim()[0] < 0 < axes.get_ylim()[1]


def _marked(axes):
    high = [line for line in axes.lines if line.get_marker() == "D"]
    return sorted(float(y) for line in high for y in line.get_ydata())


def test_ctc_marks_peripheral_counts_at_or_above_the_cutoff(axes, draws):
    """The cut-off applies to arm-vein blood: the tumour vein's 40 was marked too."""
    plot_ctc(draws, cutoff=40, ax=axes)
    assert _marked(axes) == [2500.0]
    axes.clear()
    plot_ctc(draws[["time_days", "count"]], cutoff=40, ax=axes)  # no site: all peripheral
    assert _marked(axes) == [40.0, 2500.0]


def test_ctc_scales_counts_to_7_5_ml(axes, draws):
    """A count of 12 in 30 mL is 3 per 7.5 mL: drawn at 3, below a cut-off of 5."""
    plot_ctc(draws.assign(volume_ml=[30.0, 7.5, 7.5, 30.0, 7.5, 7.5]), cutoff=5, ax=axes)
    arm = next(line for line in axes.lines if line.get_label() == "arm_vein")
    np.testing.assert_allclose(arm.get_ydata(), [3.0, 4.0, 0.0, 625.0])
    assert _marked(axes) == [625.0]
    with pytest.raises(ValueError, match="volume_ml"):
        plot_ctc(draws.assign(volume_ml=0.0), cutoff=5, ax=axes)


def test_ctc_without_site_column_and_without_axes(draws):
    fig = plt.figure()
    ax = plot_ctc(draws[["time_days", "count"]], cutoff=5)
    assert ax.figure is fig
    assert len([line for line in ax.lines if line.get_marker() == "o"]) == 1
    plt.close(fig)


def test_ctc_therapy_spans_one_legend_entry_per_label(axes, draws):
    therapy = [(10, 60, "paclitaxel"), (100, 150, "paclitaxel"),
               (160, float("inf"), "capecitabine")]
    plot_ctc(draws, cutoff=5, therapy=therapy, ax=axes)
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend.count("paclitaxel") == 1
    assert legend.count("capecitabine") == 1
    last = axes.patches[-1].get_bbox()
    assert last.x1 == pytest.approx(axes.get_xlim()[1])


def test_ctc_empty_draws_give_a_labelled_empty_plot(axes, tmp_path):
    empty = pd.DataFrame({"time_days": [], "count": [], "site": []})
    assert plot_ctc(empty, cutoff=5, therapy=[(0, float("inf"), "letrozole")],
                    ax=axes) is axes
    assert "no blood draws" in texts(axes)
    assert axes.get_xlabel() and axes.get_ylabel() and axes.get_title()
    axes.figure.savefig(tmp_path / "ctc.png")
    plot_ctc(pd.DataFrame(), cutoff=3, ax=axes)


def test_ctc_time_axis_spans_the_follow_up_when_given(axes, draws):
    """With no draws the axis ran 0-12 months whatever the follow-up (10 years)."""
    empty = pd.DataFrame({"time_days": [], "count": [], "site": []})
    plot_ctc(empty, cutoff=5, ax=axes, follow_up_days=3652.5)
    low, high = axes.get_xlim()
    assert low < 0 < 3652.5 / DAYS_PER_MONTH < high < 1.1 * 3652.5 / DAYS_PER_MONTH
    axes.clear()
    plot_ctc(draws, cutoff=5, ax=axes, follow_up_days=60)  # draws beyond it are shown
    assert axes.get_xlim()[1] > 180 / DAYS_PER_MONTH
    axes.clear()
    plot_ctc(empty, cutoff=5, ax=axes, follow_up_days=0)  # (a death on day 0)
    assert axes.get_xlim()[0] < 0 < axes.get_xlim()[1]
    axes.clear()
    plot_ctc(draws, cutoff=5, ax=axes)  # by default: the draws' span, day 0 to 180
    assert axes.get_xlim()[1] < 1.1 * 180 / DAYS_PER_MONTH


def test_ctc_saves_to_png(axes, draws, tmp_path):
    plot_ctc(draws, cutoff=5, therapy=[(0, 120, "FOLFOX")], ax=axes, title="patient 7")
    axes.figure.savefig(tmp_path / "ctc.png")
    assert (tmp_path / "ctc.png").stat().st_size > 0
    assert axes.get_title() == "patient 7"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.drop(columns="count"), "count"),
    (lambda d: d.drop(columns="time_days"), "time_days"),
    (lambda d: d.assign(count=-1), "count"),
    (lambda d: d.assign(time_days=np.nan), "time_days"),
])
def test_ctc_bad_draws_name_the_column(axes, draws, change, message):
    with pytest.raises(ValueError, match=message):
        plot_ctc(change(draws), cutoff=5, ax=axes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cutoff": 0}, "cutoff"),
    ({"cutoff": 5, "therapy": [(100, 50, "surgery")]}, "surgery"),
    ({"cutoff": 5, "therapy": [(float("nan"), 50, "surgery")]}, "surgery"),
    # a truth value is no cut-off (True drew one at 1); None and text are named too
    ({"cutoff": True}, "cutoff must be a positive number of CTCs, not True"),
    ({"cutoff": np.bool_(True)}, "cutoff must be a positive number"),
    ({"cutoff": None}, "cutoff must be a positive number"),
    ({"cutoff": "5"}, "cutoff must be a positive number"),
    ({"cutoff": 5, "therapy": [(0, "soon", "surgery")]},
     "therapy 'surgery': start_day and end_day must be numbers"),
    ({"cutoff": 5, "therapy": (0, 10, "surgery")}, r"therapy entries are \(start_day"),
    ({"cutoff": 5, "therapy": None}, "therapy: a list of"),
    *(({"cutoff": 5, "follow_up_days": bad}, r"^follow_up_days must be a number of days >= 0")
      for bad in (-1.0, float("inf"), float("nan"), True, "3652")),
])
def test_ctc_bad_options(axes, draws, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_ctc(draws, ax=axes, **kwargs)


@pytest.mark.parametrize("body", sorted({"adult_male", "adult_female", *list_bodies()}))
def test_every_catalog_organ_has_a_position(body):
    missing = set(compiled(body).states) - set(ORGAN_POSITIONS)
    assert not missing


def test_body_draws_into_given_axes_and_saves(axes, rng, tmp_path):
    table = lesions(50, rng)
    assert plot_body(table, primary_organ="breast", ax=axes) is axes
    legends = [a for a in axes.get_children() if isinstance(a, Legend)]
    entries = [t.get_text() for legend in legends for t in legend.get_texts()]
    assert {"umbilicated (cancer navel)", "detected (filled)", "occult (hollow)",
            "primary (breast)", "2 mm", "10 mm", "30 mm"} <= set(entries)
    axes.figure.savefig(tmp_path / "body.png")
    assert (tmp_path / "body.png").stat().st_size > 0


def test_body_counts_organs_with_more_than_one_lesion(axes):
    table = pd.DataFrame({
        "organ": ["liver"] * 12 + ["brain"],
        "diameter_mm": np.linspace(1, 30, 13),
        "detected": [True] * 13,
        "umbilicated": [False] * 13,
        "depth": ["deep"] * 13,
    })
    plot_body(table, ax=axes, sex="male")
    assert "x12" in texts(axes)
    assert "x1" not in texts(axes)
    assert "brain" in texts(axes)


def test_the_rest_of_the_body_circle_is_labelled_once(axes):
    """The dashed circle beside the legs (organ ``rest``) was drawn without a label."""
    empty = pd.DataFrame(columns=["organ", "diameter_mm", "detected", "umbilicated", "depth"])
    plot_body(empty, ax=axes)
    assert texts(axes).count(REST_LABEL) == 1
    ax = plt.subplots()[1]
    plot_body(pd.DataFrame({"organ": ["rest"] * 3, "diameter_mm": [1.0, 2.0, 3.0],
                            "detected": [False] * 3, "umbilicated": [False] * 3,
                            "depth": ["deep"] * 3}), ax=ax)
    assert texts(ax).count(REST_LABEL) == 1 and "x3" in texts(ax)
    assert not any("rest" in t for t in texts(ax) if t != REST_LABEL)
    plt.close(ax.figure)


def test_body_lesions_are_scattered_deterministically(rng):
    table = lesions(200, rng)
    positions = []
    for _ in range(2):
        fig, ax = plt.subplots()
        plot_body(table, ax=ax)
        positions.append(np.vstack([c.get_offsets() for c in ax.collections]))
        plt.close(fig)
    np.testing.assert_array_equal(positions[0], positions[1])
    lesion_points = positions[0][:200]
    assert len(np.unique(lesion_points, axis=0)) == 200


def test_body_marker_area_scales_with_diameter():
    np.testing.assert_allclose(marker_area_pt2(np.array([10.0, 30.0])) / marker_area_pt2(10.0),
                               [1.0, 3.0])
    assert marker_area_pt2(0.0) > 0


def test_body_without_lesions_shows_the_body(axes):
    empty = pd.DataFrame(columns=["organ", "diameter_mm", "detected", "umbilicated", "depth"])
    assert plot_body(empty, primary_organ="lung", ax=axes) is axes
    assert "no metastases" in texts(axes)
    assert len(axes.patches) > 5


def test_body_without_axes_uses_the_current_one(rng):
    fig = plt.figure()
    ax = plot_body(lesions(5, rng))
    assert ax.figure is fig
    plt.close(fig)


def test_body_ten_thousand_lesions_is_fast(axes, rng, tmp_path):
    table = lesions(10_000, rng, organs=tuple(ORGAN_POSITIONS))
    start = time.perf_counter()
    plot_body(table, primary_organ="liver", ax=axes)
    axes.figure.savefig(tmp_path / "many.png")
    assert time.perf_counter() - start < 5.0
    assert len(axes.collections) <= 6


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.drop(columns="depth"), "depth"),
    (lambda d: d.drop(columns="diameter_mm"), "diameter_mm"),
    (lambda d: d.assign(organ="spleen_of_mars"), "spleen_of_mars"),
    (lambda d: d.assign(depth="middle"), "depth"),
    (lambda d: d.assign(detected="yes"), "detected"),
    (lambda d: d.assign(diameter_mm=-1.0), "diameter_mm"),
])
def test_body_bad_lesions_name_the_problem(axes, rng, change, message):
    with pytest.raises(ValueError, match=message):
        plot_body(change(lesions(5, rng)), ax=axes)


def test_body_bad_options(axes, rng):
    with pytest.raises(ValueError, match="appendix"):
        plot_body(lesions(5, rng), primary_organ="appendix", ax=axes)
    with pytest.raises(ValueError, match="sex"):
        plot_body(lesions(5, rng), sex="other", ax=axes)
    with pytest.raises(ValueError, match=r"^primary_removed: 'yes' is not true or false"):
        plot_body(lesions(5, rng), primary_removed="yes", ax=axes)


@pytest.mark.parametrize("removed", [False, True])
def test_a_removed_primary_is_a_hollow_star(rng, removed):
    """body.png drew the primary as present after its surgery."""
    from matplotlib.colors import to_rgba

    fig, ax = plt.subplots()
    plot_body(lesions(5, rng), primary_organ="large_intestine", primary_removed=removed,
              ax=ax)
    star = ax.collections[-1]  # (drawn after the lesions)
    assert star.get_facecolor().size == 0 if removed else (
        tuple(star.get_facecolor()[0]) == to_rgba("#f2c14e"))
    labels = [t.get_text() for legend in [*ax.artists, ax.get_legend()]
              if hasattr(legend, "get_texts") for t in legend.get_texts()]
    assert ("primary (large intestine), removed" in labels) is removed
    assert ("primary (large intestine)" in labels) is not removed
    plt.close(fig)


def test_the_scenario_says_when_the_primary_is_removed():
    from metacascade.scenario import Scenario

    plain = Scenario.from_dict({"cancer": "colon"})
    operated = Scenario.from_dict({"cancer": "colon", "clinic": {"surgery_day": 100}})
    assert not plain.primary_removed_by(1e9)
    assert not operated.primary_removed_by(99.9)
    assert operated.primary_removed_by(100) and operated.primary_removed_by(3652.5)


def test_tables_that_are_no_dataframes_are_named(axes):
    with pytest.raises(TypeError, match=r"^draws: expected a pandas DataFrame"):
        plot_ctc({"time_days": [1.0], "count": [1]}, cutoff=5, ax=axes)
    with pytest.raises(TypeError, match=r"^lesions: expected a pandas DataFrame"):
        plot_body(None, ax=axes)


def test_ctc_takes_numpy_numbers(axes, draws):
    plot_ctc(draws, cutoff=np.int64(5), ax=axes)
    assert any(line.get_ydata()[0] == 5 for line in axes.get_lines())
