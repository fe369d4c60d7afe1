"""Rectal adenocarcinoma, arising in the rectum.

Venous drainage: the upper rectum drains by the superior rectal vein to the inferior
mesenteric and portal veins (liver first); the mid and lower rectum drain by the middle
and inferior rectal veins to the internal iliac veins and the vena cava (lung first,
bypassing the liver); pelvic veins also reach the vertebral venous plexus (Batson).
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import cited
from metacascade.references import FINLAY_1988, MENDELAAR_2020

CANCER = Cancer(
    name="rectum",
    label="Rectal adenocarcinoma",
    primary_organ="rectum",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=cited(
        155.0, "d",
        FINLAY_1988.at("abstract", "doubling time of overt colorectal LIVER METASTASES "
                       "(155 +/- 34 d; occult ones 86 +/- 12 d), used for the primary by "
                       "analogy only; no primary-tumour figure is at hand"),
        (60.0, 600.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=cited(7.5, "um", MENDELAAR_2020.at("abstract", "median CTC diameter in "
                                                     "colorectal cancer"), (5.0, 30.0)),
    ctc_cutoff=common.CTC_CUTOFF_3_COLORECTAL,
    soil=common.calibrated_soils("rectum"),
    other_soil=common.calibrated_other_soil("rectum"),
    notes="Gompertz growth; the doubling time is that of colorectal liver metastases "
          "(Finlay 1988), used for the primary by analogy. The caval and plexus shares "
          "of rectal drainage (lung 20 %, bone 6 % at autopsy against colon's 12 % and "
          "2 %) come from the body, not from the soil.",
)
