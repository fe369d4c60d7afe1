"""Hepatocellular carcinoma, arising in the liver.

Venous drainage: the hepatic veins empty into the inferior vena cava, so the lung is the
first capillary bed; spread inside the liver along portal-vein branches (tumour thrombus)
is not a route of the model's body.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed, cited
from metacascade.references import NATHANI_2021

CANCER = Cancer(
    name="liver",
    label="Hepatocellular carcinoma",
    primary_organ="liver",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=cited(
        140.0, "d",
        NATHANI_2021.at("abstract", "pooled tumour volume doubling time 4.6 months (95 % CI "
                        "3.9-5.3) over 20 studies and 1374 lesions, x 30.4 d per month; "
                        "35 % of lesions doubled in under 3 months and 37.6 % took over 9, "
                        "which the bounds span"),
        (30.0, 600.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=assumed(
        12.4, "um",
        "no hepatocellular figure in Mendelaar 2020; hepatocytes and their tumour cells "
        "are large polygonal cells, so the breast median (12.4 um), the largest measured "
        "type, is used",
        (7.0, 30.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy only: most hepatocellular carcinomas express little EpCAM, so the "
        "epithelial CellSearch assay undercounts them"),
    soil={
        "adrenal": common.scaled_soil(
            2.0, "adrenal involved in 19 % of 36 liver-cancer autopsies (diSibio & French "
            "2008), far above its 0.3 % of cardiac output"),
        "vertebral_marrow": common.scaled_soil(
            1.5, "bone metastases of hepatocellular carcinoma are common in clinical "
            "series, mostly the spine; bone involved in 8 % of 36 liver-cancer autopsies "
            "(diSibio & French 2008)"),
        "bone_marrow": common.scaled_soil(
            1.5, "bone involved in 8 % of 36 liver-cancer autopsies (diSibio & French "
            "2008), a small series"),
    },
    other_soil=common.uncalibrated_level(),
    notes="Gompertz growth with the meta-analytic doubling time (Nathani 2021). "
          "Intrahepatic metastasis, the commonest spread of this cancer, needs a "
          "portal-branch route the body does not have.",
)
