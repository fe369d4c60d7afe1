"""Colon adenocarcinoma, arising in the large intestine above the rectum.

Venous drainage: the superior and inferior mesenteric veins join the splenic vein in the
portal vein, so the liver is the first capillary bed; cells passing the liver reach the
lung through the hepatic veins and the vena cava.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer

CANCER = Cancer(
    name="colon",
    label="Colon adenocarcinoma",
    primary_organ="large_intestine",
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
    soil=common.calibrated_soils("colon"),
    other_soil=common.calibrated_other_soil("colon"),
    notes="Gompertz growth; the doubling time is that of colorectal liver metastases "
          "(Finlay 1988), used for the primary by analogy.",
)
