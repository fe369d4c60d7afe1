"""Osteosarcoma, a high-grade bone sarcoma of adolescents, arising in the long bones.

Venous drainage: the marrow sinusoids empty through nutrient and emissary veins into
the systemic veins of the limb and on into the vena cavae, so the lung is the first
capillary bed, and the commonest site of metastasis.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

_AUTOPSY = ("'bone' row of diSibio & French 2008 (35 autopsies of bone primaries, not "
            "osteosarcoma alone)")

CANCER = Cancer(
    name="osteosarcoma",
    label="Osteosarcoma",
    primary_organ="bone_marrow",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        30.0, "d",
        "no measured doubling time at hand; before chemotherapy, pulmonary metastases "
        "appeared within about a year of amputation in 80-90 % of patients, grown from "
        "micrometastases already present at diagnosis; 13 doublings (1e5 to 1e9 cells) "
        "in a year is about 28 d each",
        (7.0, 150.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=assumed(
        0.005, "1",
        "sarcomas rarely reach the lymph nodes; nodal spread is the exception in "
        "osteosarcoma",
        (0.0, 0.05),
    ),
    ctc_diameter=assumed(
        12.4, "um",
        "no sarcoma figure in Mendelaar 2020; osteosarcoma cells are large and "
        "pleomorphic, so the breast median (12.4 um), the largest measured type, is used",
        (7.0, 40.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy only: sarcoma cells lack EpCAM and cytokeratin, so the epithelial "
        "CellSearch assay misses them and the cut-off presumes a sarcoma-specific capture"),
    soil={
        "lung": common.scaled_soil(
            3.0, f"the lung is the main target of osteosarcoma, beyond first-bed delivery; "
            f"lung involved in 51 % of the {_AUTOPSY}"),
        "vertebral_marrow": common.scaled_soil(
            2.0, f"bone is the second site of osteosarcoma metastasis; bone involved in "
            f"43 % of the {_AUTOPSY}"),
        "bone_marrow": common.scaled_soil(
            2.0, f"bone is the second site of osteosarcoma metastasis; bone involved in "
            f"43 % of the {_AUTOPSY}"),
    },
    other_soil=common.uncalibrated_level(),
    notes="Gompertz growth; doubling time an assumption. The primary sits in the "
          "'bone_marrow' bed (long bones and the rest of the skeleton outside the spine).",
)
