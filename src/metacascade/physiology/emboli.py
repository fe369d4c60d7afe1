"""Embolus types and CTC size classes: how what travels changes arrest and survival.

An embolus is a single tumour cell, a cluster of cells, or a platelet-cloaked cell.
Each type scales a bed's per-pass arrest *odds* (arrest probability p has odds
p / (1 - p)), scales its per-pass death probability, and has its own killing hazard
in flowing blood (shear and natural-killer cells). A cancer's CTC size class scales
the arrest odds again: larger cells are held back by capillaries of 5-10 um more often.
"""

from __future__ import annotations

from dataclasses import dataclass

from metacascade.citations import Parameter, assumed


@dataclass(frozen=True)
class EmbolusType:
    """What travels in the blood, and how it fares there.

    Parameters
    ----------
    name, label
        Identifier (``single``, ``cluster``, ``platelet``) and description.
    arrest_odds_factor
        Multiplies each bed's per-pass arrest odds.
    death_factor
        Multiplies each bed's per-pass death probability.
    killing_rate
        Hazard of being killed while flowing between beds, per hour.

    """

    name: str
    label: str
    arrest_odds_factor: Parameter
    death_factor: Parameter
    killing_rate: Parameter


@dataclass(frozen=True)
class SizeClass:
    """A class of CTC diameters and its effect on arrest.

    ``max_diameter`` is the class's largest diameter (um); None for the largest class,
    which has no upper limit.
    """

    name: str
    max_diameter: Parameter | None
    arrest_odds_factor: Parameter

    @property
    def max_diameter_um(self) -> float:
        """The class's largest diameter, um (infinite for the largest class)."""
        return float("inf") if self.max_diameter is None else self.max_diameter.value


_SINGLE_KILLING = assumed(
    0.5, "1/h",
    "natural-killer and shear killing of free single cells in flowing blood: a mean "
    "survival of 2 h in flow, a half-life of 1.4 h, within the CTC half-life of 1-2.4 h "
    "after removal of the primary (Meng 2004), which also reflects arrest. (The routing's "
    "arrest in the first beds ends a cell's time in blood within a minute, so this rate "
    "kills few: see `route`'s mean time in blood)",
    (0.05, 10.0),
)

EMBOLI: dict[str, EmbolusType] = {
    "single": EmbolusType(
        "single", "single tumour cell",
        assumed(1.0, "1", "reference embolus: bed arrest odds apply as they are", (1.0, 1.0)),
        assumed(1.0, "1", "reference embolus: bed death probabilities apply as they are",
                (1.0, 1.0)),
        _SINGLE_KILLING,
    ),
    "cluster": EmbolusType(
        "cluster", "cluster of tumour cells (a few to tens of cells)",
        assumed(50.0, "1",
                "clusters are far wider than capillaries (5-10 um) and arrest almost surely "
                "in the first bed; odds x50 turn any per-pass arrest in the capillary beds' "
                "bounds (0.7-0.999) into more than 0.99",
                (5.0, 1000.0)),
        assumed(0.2, "1",
                "cells in clusters resist shear and anoikis; 23-50-fold higher metastatic "
                "potential than single CTCs (Aceto 2014) is read partly as better survival",
                (0.01, 1.0)),
        assumed(0.1, "1/h",
                "5-fold less killing in flow than single cells; the bounds span the "
                "23-50-fold higher metastatic potential of clusters (Aceto 2014) being all "
                "or none of it survival in flow", (0.01, 1.0)),
    ),
    "platelet": EmbolusType(
        "platelet", "platelet-cloaked single tumour cell",
        assumed(3.0, "1",
                "platelet cloaks add adhesion to the endothelium, raising arrest odds",
                (1.0, 20.0)),
        assumed(0.3, "1", "a platelet cloak shields from shear damage", (0.05, 1.0)),
        assumed(0.1, "1/h", "a platelet cloak shields from natural-killer cells",
                (0.01, 1.0)),
    ),
}

SIZE_CLASSES: dict[str, SizeClass] = {
    "small": SizeClass(
        "small",
        assumed(9.0, "um", "between the median CTC diameters of colorectal (7.5 um) and "
                "prostate cancer (10.3 um; Mendelaar 2020), at about a capillary's widest "
                "(5-10 um)", (7.5, 10.3)),
        assumed(0.5, "1",
                "arrest odds halved for CTCs about a capillary's width (5-10 um): the "
                "median CTC of colorectal cancer measures 7.5 um (Mendelaar 2020)",
                (0.1, 1.0)),
    ),
    "medium": SizeClass(
        "medium",
        assumed(11.5, "um", "between the median CTC diameters of prostate (10.3 um) and "
                "breast cancer (12.4 um; Mendelaar 2020)", (10.3, 12.4)),
        assumed(1.0, "1", "the reference class: bed arrest odds apply as they are "
                "(the median CTC of prostate cancer, 10.3 um, is in it; Mendelaar 2020)",
                (1.0, 1.0)),
    ),
    "large": SizeClass(
        "large", None,
        assumed(2.0, "1",
                "arrest odds doubled for CTCs wider than capillaries (5-10 um): the median "
                "CTC of breast cancer measures 12.4 um (Mendelaar 2020)", (1.0, 10.0)),
    ),
}


def size_class_for(diameter_um: float) -> SizeClass:
    """The size class of a CTC of the given diameter (um)."""
    for size in SIZE_CLASSES.values():
        if diameter_um <= size.max_diameter_um:
            return size
    return SIZE_CLASSES["large"]


__all__ = ["EMBOLI", "SIZE_CLASSES", "EmbolusType", "SizeClass", "size_class_for"]
