"""Rectal adenocarcinoma, arising in the rectum.

Venous drainage: the upper rectum drains by the superior rectal vein to the inferior
mesenteric and portal veins (liver first); the mid and lower rectum drain by the middle
and inferior rectal veins to the internal iliac veins and the vena cava (lung first,
bypassing the liver); pelvic veins also reach the vertebral venous plexus (Batson).
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer

CANCER = Cancer(
    name="rectum",
    label="Rectal adenocarcinoma",
    primary_organ="rectum",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=common.DOUBLING_TIME_COLORECTAL,
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=common.CTC_DIAMETER_COLORECTAL,
    ctc_cutoff=common.CTC_CUTOFF_3_COLORECTAL,
    soil=common.calibrated_soils("rectum"),
    other_soil=common.calibrated_other_soil("rectum"),
    notes="Gompertz growth; the doubling time is that of colorectal liver metastases "
          "(Finlay 1988), used for the primary by analogy. The caval and plexus shares "
          "of rectal drainage (lung 20 %, bone 6 % at autopsy against colon's 12 % and "
          "2 %) come from the body, not from the soil.",
)
