"""Gestational choriocarcinoma, a trophoblastic tumour arising in the uterus after a pregnancy.

Venous drainage: the uterine veins empty into the internal iliac veins and the inferior
vena cava, so the lung is the first capillary bed; part of the pelvic venous blood
enters the vertebral venous plexus (Batson), and retrograde flow in the vaginal venous
plexus gives vaginal metastases (the vagina is not a bed of the body).
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

CANCER = Cancer(
    name="choriocarcinoma",
    label="Gestational choriocarcinoma",
    primary_organ="uterus",
    sexes=("female",),
    default_body="adult_female",
    growth_law="gompertz",
    doubling_time=assumed(
        7.0, "d",
        "choriocarcinoma is among the fastest-growing human tumours; no measured volume "
        "doubling time at hand; trophoblast mass, judged by hCG, doubles in about 3 d "
        "in early normal pregnancy (a 53-66 % rise in 48 h is the usual figure), and a "
        "tumour loses cells to necrosis and haemorrhage, so 7 d is assumed",
        (2.0, 40.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=assumed(
        1e7, "cell/g/d",
        "trophoblast invades and replaces vessel walls by nature (normal placenta sends "
        "trophoblast to the lungs), so about 3 times the rat mammary carcinoma figure of "
        "Butler & Gullino 1975 (3.2e6 cells per gram per day) is assumed",
        (1e5, 1e8),
    ),
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=assumed(
        0.005, "1",
        "choriocarcinoma spreads by blood almost only; nodal metastases are rare",
        (0.0, 0.05),
    ),
    ctc_diameter=assumed(
        12.4, "um",
        "no trophoblast figure in Mendelaar 2020; the tumour mixes cytotrophoblast with "
        "far larger multinucleated syncytiotrophoblast, so at least the breast median "
        "(12.4 um), the largest measured type, is used",
        (7.0, 60.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy only: no CellSearch experience in choriocarcinoma, which is followed "
        "by serum hCG instead"),
    soil={
        "lung": common.scaled_soil(
            4.0, "the lung is involved in most metastatic gestational trophoblastic "
            "neoplasia, beyond first-bed delivery"),
        "brain": common.scaled_soil(
            3.0, "brain metastases are a known feature of choriocarcinoma, reached through "
            "the arterial circulation after lung metastases"),
        "liver": common.scaled_soil(
            2.0, "liver metastases are a known feature of advanced choriocarcinoma"),
    },
    other_soil=common.uncalibrated_level(),
    notes="Gompertz growth with an assumed doubling time of days. No autopsy row for "
          "this tumour (the 'uterus' row of diSibio & French 2008 is mostly endometrial "
          "carcinoma), so organ preferences rest on clinical descriptions.",
)
