"""The clinic's criteria: when a patient dies, what counts as progression.

Shared by the per-patient clinic (:mod:`.course`) and the batch clinic (:mod:`.batch`);
:mod:`.course` also gives them, as before they had their own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from metacascade.citations import Parameter, assumed, cited
from metacascade.references import COUMANS_2013, EISENHAUER_2009

#: Resolution of the death time, days.
DEATH_GRID_DAYS = 7.0

#: RECIST 1.1's numbers the clinic uses (simplified: see :mod:`.course`).
RECIST: Mapping[str, Parameter] = MappingProxyType({
    "target_min_diameter": cited(10.0, "mm", EISENHAUER_2009.at(
        "guideline", "a measurable lesion is at least 10 mm in longest diameter on CT"),
        bounds=(10.0, 10.0)),
    "max_targets": cited(5.0, "lesion", EISENHAUER_2009.at(
        "guideline", "at most 5 target lesions in all"), bounds=(5.0, 5.0)),
    "max_targets_per_organ": cited(2.0, "lesion", EISENHAUER_2009.at(
        "guideline", "at most 2 target lesions per organ"), bounds=(2.0, 2.0)),
    "progression_growth": cited(0.2, "1", EISENHAUER_2009.at(
        "guideline", "progression: the sum of the targets' diameters at least 20 % above "
        "its smallest value on study"), bounds=(0.2, 0.2)),
    "progression_min_increase": cited(5.0, "mm", EISENHAUER_2009.at(
        "guideline", "and at least 5 mm above it"), bounds=(5.0, 5.0)),
    "baseline_window": cited(28.0, "d", EISENHAUER_2009.at(
        "guideline", "baseline evaluations as close as possible to the start of treatment "
        "and never more than 4 weeks before it"), bounds=(28.0, 28.0)),
})
#: Smallest diameter of a target lesion, mm.
TARGET_MIN_MM = RECIST["target_min_diameter"].value
#: Growth of the target sum over its nadir that is progression, and its least increase, mm.
PROGRESSION_GROWTH = RECIST["progression_growth"].value
PROGRESSION_MIN_MM = RECIST["progression_min_increase"].value
#: The baseline of a line of therapy is a measuring scan at most this long before it, days.
BASELINE_WINDOW_DAYS = RECIST["baseline_window"].value
#: At most this many targets, and this many per organ.
MAX_TARGETS = int(RECIST["max_targets"].value)
MAX_TARGETS_PER_ORGAN = int(RECIST["max_targets_per_organ"].value)
#: Relative tolerance of RECIST's comparisons: a sum that is exactly 20 % and 5 mm above
#: its nadir in decimal (33.7 -> 40.44 mm) may fall an ulp short of it in binary.
RECIST_TOLERANCE = 1e-9


def progressed_by_growth(total: Any, nadir: Any) -> Any:
    """Whether a sum of target diameters ``total`` is progression over its ``nadir``.

    At least :data:`PROGRESSION_GROWTH` (20 %) and :data:`PROGRESSION_MIN_MM` (5 mm)
    above it, up to the rounding of the sums (:data:`RECIST_TOLERANCE`, relative to
    ``total``). Floats or arrays (element by element); a nadir of inf is never exceeded.
    """
    slack = RECIST_TOLERANCE * np.abs(total)
    return ((total + slack >= (1.0 + PROGRESSION_GROWTH) * nadir)
            & (total - nadir + slack >= PROGRESSION_MIN_MM))


#: Relative margin of the bounds that let the weekly grid be skipped: far above the
#: rounding of the values compared (a few ulp per term), far below anything the grid sees.
BOUND_MARGIN = 1e-9

#: Total tumour burden at death, about 1 kg (the scenario's default).
LETHAL_BURDEN = cited(1e12, "cell", COUMANS_2013, bounds=(1e11, 1e13))
#: Burden in a vital organ that kills, cells (1e9 cells per cm^3).
VITAL_ORGAN_LETHAL_CELLS: Mapping[str, Parameter] = MappingProxyType({
    "liver": assumed(5e11, "cell", "about a third of a 1.5 kg liver replaced by tumour",
                     bounds=(1e11, 1e12)),
    "lung": assumed(5e11, "cell", "about half of the lungs' parenchyma replaced",
                    bounds=(1e11, 1e12)),
    "brain": assumed(3e10, "cell", "about 30 mL of intracranial mass (midline shift)",
                     bounds=(1e10, 1e11)),
})

