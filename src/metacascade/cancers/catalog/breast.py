"""Breast carcinoma (ductal and lobular), arising in the breast.

Venous drainage: internal thoracic, axillary and intercostal veins to the vena cavae,
so the lung is the first capillary bed; intercostal veins also reach the vertebral
venous plexus (Batson), a route to the spine that avoids the lung.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import cited
from metacascade.references import HART_1998, MENDELAAR_2020, PEER_1993

CANCER = Cancer(
    name="breast",
    label="Breast carcinoma",
    primary_organ="breast",
    sexes=("female", "male"),
    default_body="adult_female",
    growth_law="power",
    doubling_time=cited(
        157.0, "d",
        PEER_1993.at("abstract", "median volume doubling time, women aged 50-70 (80 d "
                     "under 50, 188 d over 70: the age groups' medians); the bounds, "
                     "40-400 d, are an assumption for the spread between patients"),
        (40.0, 400.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=cited(12.4, "um", MENDELAAR_2020.at("abstract", "median CTC diameter"),
                       (5.0, 30.0)),
    ctc_cutoff=common.CTC_CUTOFF_5,
    growth_exponent=cited(
        0.5, "1",
        HART_1998.at("abstract", "screening data fit dV/dt proportional to V^0.5"),
        (0.3, 1.0),
    ),
    soil=common.calibrated_soils("breast"),
    other_soil=common.calibrated_other_soil("breast"),
    notes="Power-law growth with exponent 0.5 (Hart 1998).",
)
