"""Pancreatic ductal adenocarcinoma, arising in the pancreas.

Venous drainage: the pancreaticoduodenal veins and the pancreatic branches of the
splenic vein empty into the superior mesenteric, splenic and portal veins, so the liver
is the first capillary bed; cells passing the liver reach the lung.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

CANCER = Cancer(
    name="pancreas",
    label="Pancreatic ductal adenocarcinoma",
    primary_organ="pancreas",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        90.0, "d",
        "10 untreated locally advanced pancreatic adenocarcinomas measured on serial CT "
        "were reported with a reciprocal doubling time of median 4.26 per year (about "
        "86 d), range 2.42-10.74 per year (34-151 d) (Int J Radiat Oncol Biol Phys 81:452, "
        "2011, abstract); pre-diagnostic CT series report an even wider spread",
        (20.0, 500.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=assumed(
        7.5, "um",
        "no pancreatic figure in Mendelaar 2020; a gastrointestinal adenocarcinoma, given "
        "the colorectal median (7.5 um), the nearest measured type",
        (5.0, 20.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed("by analogy with the other carcinomas"),
    soil=common.calibrated_soils("pancreas"),
    other_soil=common.calibrated_other_soil("pancreas"),
    notes="Gompertz growth; doubling time an assumption resting on a small untreated "
          "series.",
)
