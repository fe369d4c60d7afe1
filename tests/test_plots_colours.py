"""An organ has one colour in every figure (lung was blue in the funnel, green in the tree)."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from metacascade.physiology import get_body, list_bodies
from metacascade.plots import ORGAN_COLOURS, organ_colour, plot_fates_by_organ, plot_seeding_tree
from metacascade.plots.colours import ORGAN_ORDER, OTHER_COLOUR, organ_colours


def _axes():
    return Figure().subplots()


def _legend_colours(ax) -> dict[str, str]:
    legend = ax.get_legend()
    colours = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        colour = (handle.get_facecolor() if hasattr(handle, "get_facecolor")
                  else handle.get_markerfacecolor())
        colours[text.get_text().replace(" ", "_")] = to_hex(colour)
    return colours


def test_the_funnel_and_the_seeding_tree_give_an_organ_the_same_colour():
    # Lung holds most of every step in the funnel (its first colour, by rank) but comes
    # after liver by name in the tree (its second, by name): they used to differ.
    steps = ("arrested", "extravasated", "dormant now", "divided", "colonies founded",
             "vascularised", "macrometastases")
    by_organ = pd.DataFrame({step: [80, 15, 5] for step in steps},
                            index=["lung", "liver", "vertebral_marrow"])
    funnel = _legend_colours(plot_fates_by_organ(by_organ, ax=_axes()))
    colonies = pd.DataFrame({"id": [1, 2, 3, 4], "organ": ["liver", "lung", "lung",
                                                           "vertebral_marrow"],
                             "parent": [0, 0, 0, 0], "generation": [1, 1, 1, 1]})
    tree = _legend_colours(plot_seeding_tree(colonies, ax=_axes()))
    assert set(funnel) >= {"lung", "liver", "vertebral_marrow"} <= set(tree)
    for organ in ("lung", "liver", "vertebral_marrow"):
        assert funnel[organ] == tree[organ] == organ_colour(organ), organ


def test_every_catalog_organ_has_its_own_colour():
    for name in list_bodies():
        organs = list(get_body(name).beds)
        assert set(organs) <= set(ORGAN_ORDER), name
        colours = [organ_colour(o) for o in organs]
        assert len(set(colours)) == len(organs), name  # distinct within a body
        assert OTHER_COLOUR not in colours
    assert ORGAN_COLOURS["lung"] == organ_colour("lung")


def test_an_organ_outside_the_catalog_has_a_fixed_colour_too():
    first = organ_colour("appendix")
    assert first == organ_colour("appendix") != OTHER_COLOUR
    assert organ_colours(["lung", "appendix"]) == {"lung": ORGAN_COLOURS["lung"],
                                                   "appendix": first}
