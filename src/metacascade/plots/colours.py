"""One colour per organ, shared by every figure that colours organs.

The funnel's organ panel (:func:`~metacascade.plots.plot_fates_by_organ`) and the
seeding tree (:func:`~metacascade.plots.plot_seeding_tree`) drew each organ in the colour
of its rank in the figure, so lung was blue in one and green in the other. Here the
colour is fixed by the organ's place in the catalog bodies' organ order
(:data:`ORGAN_ORDER`), so an organ has the same colour in every figure of a run, a
report or a cohort, whichever organs the figure shows. Pooled organs ("other") are
light grey, :data:`OTHER_COLOUR`, which no organ has.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

#: The organs of the catalog bodies, in their order (``adult_female``'s; ``prostate``,
#: in ``adult_male``'s place of ``uterus``, comes last and has the colour of ``uterus``:
#: no body has both). The colour of an organ is its place here.
ORGAN_ORDER = (
    "lung", "liver", "brain", "vertebral_marrow", "bone_marrow", "adrenal", "kidney",
    "spleen", "heart", "pancreas", "stomach", "small_intestine", "large_intestine",
    "rectum", "skin", "skeletal_muscle", "adipose", "thyroid", "breast", "uterus",
    "lymph_node", "rest", "prostate",
)
#: One colour per organ of :data:`ORGAN_ORDER` (the organs most often seeded first,
#: with the most distinct colours); none is grey but ``rest`` (the rest of the body).
_PALETTE = (
    "#4c72b0", "#55a868", "#c44e52", "#dd8452", "#8172b3", "#937860", "#da8bc3",
    "#ccb974", "#64b5cd", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#7570b3", "#d95f02", "#17becf", "#bcbd22", "#fb9a99", "#b15928", "#1f3b73",
    "#6f6f6f", "#b15928",
)
#: Colour of pooled organs ("other", "other organs").
OTHER_COLOUR = "#bbbbbb"
#: Colours of organs outside the catalog bodies (a body registered by a user), picked
#: by a hash of the name, so they too are the same in every figure.
_EXTRA = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f00", "#1f77b4", "#ff7f0e",
          "#d62728")

#: Organ -> colour for the organs of :data:`ORGAN_ORDER`.
ORGAN_COLOURS: dict[str, str] = dict(zip(ORGAN_ORDER, _PALETTE, strict=True))


def organ_colour(organ: str) -> str:
    """The colour every figure gives ``organ`` (a hex string).

    An organ of :data:`ORGAN_ORDER` has its own colour; any other name one of a few
    extra colours, fixed by its name (CRC-32), never :data:`OTHER_COLOUR`.
    """
    colour = ORGAN_COLOURS.get(organ)
    if colour is None:
        colour = _EXTRA[zlib.crc32(str(organ).encode("utf-8")) % len(_EXTRA)]
    return colour


def organ_colours(organs: Iterable[str]) -> dict[str, str]:
    """``{organ: organ_colour(organ)}`` for ``organs``, in their order."""
    return {organ: organ_colour(organ) for organ in organs}
