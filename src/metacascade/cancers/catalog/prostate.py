"""Prostate adenocarcinoma, arising in the prostate (men only).

Venous drainage: the prostatic venous plexus empties into the internal iliac veins and
the inferior vena cava, so the lung is the first capillary bed; a large share also
enters the valveless vertebral venous plexus (Batson), which carries cells to the
vertebral marrow without passing the lung.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed, cited
from metacascade.references import MENDELAAR_2020

CANCER = Cancer(
    name="prostate",
    label="Prostate adenocarcinoma",
    primary_organ="prostate",
    sexes=("male",),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        600.0, "d",
        "prostate cancer grows very slowly: serial PSA in 43 untreated patients was "
        "reported to rise log-linearly, doubling in more than 24 months in 79 % of them "
        "and in more than 48 months in most organ-confined cancers (Cancer 71:2031, 1993, "
        "abstract); higher stage and grade double faster, and 600 d leans toward the "
        "cancers that metastasise; PSA tracks tumour volume only approximately",
        (90.0, 3000.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=cited(10.3, "um", MENDELAAR_2020.at("abstract", "median CTC diameter in "
                                                      "prostate cancer"), (5.0, 30.0)),
    ctc_cutoff=common.CTC_CUTOFF_5_PROSTATE,
    soil=common.calibrated_soils("prostate"),
    other_soil=common.calibrated_other_soil("prostate"),
    notes="Gompertz growth with the common plateau; the doubling time is an assumption "
          "resting on serial PSA in untreated disease. Bone preference is put in the soil "
          "on top of the vertebral-plexus route of the body.",
)
