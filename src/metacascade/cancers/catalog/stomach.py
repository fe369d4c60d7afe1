"""Gastric adenocarcinoma, arising in the stomach.

Venous drainage: the left and right gastric, short gastric and gastro-epiploic veins
empty into the splenic, superior mesenteric and portal veins, so the liver is the first
capillary bed; cells passing the liver reach the lung through the hepatic veins.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

CANCER = Cancer(
    name="stomach",
    label="Gastric adenocarcinoma",
    primary_organ="stomach",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        190.0, "d",
        "gastric cancer volume doubling time was reported as 6.2 months for T4 and 11.8 "
        "months for T1 tumours in 101 untreated patients (Ann Surg Oncol 26:2905, 2019, "
        "abstract); an older radiographic series reported 69-305 d for advanced and "
        "577-3462 d for early gastric cancer (J Clin Gastroenterol 3:129, 1981, abstract); "
        "the T4 figure (about 190 d) is used because metastasising tumours are mostly "
        "advanced",
        (60.0, 1100.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=assumed(
        7.5, "um",
        "no gastric figure in Mendelaar 2020; a gastrointestinal adenocarcinoma, given the "
        "colorectal median (7.5 um), the nearest measured type",
        (5.0, 20.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy; the colorectal >= 3 would be the other candidate"),
    soil=common.calibrated_soils("stomach"),
    other_soil=common.calibrated_other_soil("stomach"),
    notes="Gompertz growth; doubling time an assumption resting on untreated-patient "
          "series. Peritoneal and ovarian (Krukenberg) spread is transcoelomic, outside "
          "the model.",
)
