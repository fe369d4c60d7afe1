"""Lung carcinoma (non-small-cell and small-cell), arising in the lung.

Venous drainage: the pulmonary veins carry the tumour's outflow to the left heart and
aorta, so cells enter the arterial circulation without passing a capillary filter and
are spread over every systemic organ by its share of cardiac output (brain, bone,
adrenal, kidney).
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed, cited
from metacascade.references import LUNG_METS_DOUBLING_2003

CANCER = Cancer(
    name="lung",
    label="Lung carcinoma",
    primary_organ="lung",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=cited(
        118.0, "d",
        LUNG_METS_DOUBLING_2003.at("abstract", "mean doubling time of LUNG METASTASES on "
                                   "serial CT (118 +/- 134 d, range 22-930 d, which sets "
                                   "the bounds), used for primary lung cancer by analogy"),
        (22.0, 930.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=assumed(
        10.3, "um",
        "no lung figure in Mendelaar 2020; the measured carcinomas span 7.5-12.4 um and "
        "the prostate median (10.3 um) is taken as the middle; non-small-cell CTCs are "
        "reported larger and small-cell CTCs smaller, which the bounds span",
        (6.0, 25.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy with the other epithelial carcinomas"),
    soil=common.calibrated_soils("lung"),
    other_soil=common.calibrated_other_soil("lung"),
    notes="Gompertz growth; the doubling time is that of lung metastases, used for the "
          "primary by analogy (CT-screening series of primary lung cancers report medians "
          "of about 100-400 d, solid tumours faster, subsolid ones slower).",
)
