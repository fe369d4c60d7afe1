"""The clinic's criteria: when a patient dies, what counts as progression.

Shared by the per-patient clinic (:mod:`.course`) and the batch clinic (:mod:`.batch`);
:mod:`.course` also gives them, as before they had their own module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from metacascade.citations import Parameter, assumed, cited
from metacascade.references import COUMANS_2013

#: Resolution of the death time, days.
DEATH_GRID_DAYS = 7.0
#: Smallest diameter of a target lesion (RECIST 1.1: 10 mm on CT), mm.
TARGET_MIN_MM = 10.0
#: Growth of the target sum over its nadir that is progression (RECIST 1.1).
PROGRESSION_GROWTH = 0.20
PROGRESSION_MIN_MM = 5.0
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

