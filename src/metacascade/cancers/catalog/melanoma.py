"""Cutaneous melanoma, arising in the skin.

Venous drainage: dermal venules empty into the superficial and deep veins of the limbs,
trunk or head and on into the vena cavae, so the lung is the first capillary bed;
melanoma also spreads early through the lymphatics to the regional nodes.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

_AUTOPSY = ("'skin body' row of diSibio & French 2008 (67 autopsies; skin primaries of "
            "the trunk and limbs, melanoma not separated)")

CANCER = Cancer(
    name="melanoma",
    label="Cutaneous melanoma",
    primary_organ="skin",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        60.0, "d",
        "no volume doubling time for primary melanoma at hand; nodular melanomas were "
        "reported to thicken by a median 0.49 mm per month and superficial spreading ones "
        "by 0.12 mm per month (Breslow thickness over time to development, 404 patients, "
        "Arch Dermatol 142:1551, 2006, abstract); 60 d is assumed for the vertically "
        "growing tumours that metastasise",
        (10.0, 400.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=assumed(
        0.1, "1",
        "melanoma reaches the regional nodes early and often (the basis of sentinel-node "
        "biopsy); twice the carcinoma default",
        (0.0, 0.5),
    ),
    ctc_diameter=assumed(
        12.4, "um",
        "no melanoma figure in Mendelaar 2020; melanoma cells are large and pleomorphic, "
        "so the breast median (12.4 um), the largest measured type, is used",
        (7.0, 30.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy only: melanoma cells lack EpCAM and cytokeratin, so the epithelial "
        "CellSearch assay misses them and the cut-off presumes a melanoma-specific capture"),
    soil=common.calibrated_soils("melanoma"),
    other_soil=common.calibrated_other_soil("melanoma"),
    notes="Gompertz growth; doubling time an assumption. Organ preferences (soils) are "
          f"calibrated to the {_AUTOPSY}.",
)
