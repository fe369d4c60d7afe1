"""Renal cell carcinoma, arising in the kidney.

Venous drainage: the renal vein empties into the inferior vena cava (tumour thrombus may
grow along it), so the lung is the first capillary bed; the left renal vein also
communicates with lumbar veins and the vertebral venous plexus, not modelled here.
"""

from __future__ import annotations

from metacascade.cancers.catalog import _common as common
from metacascade.cancers.model import Cancer
from metacascade.citations import assumed

CANCER = Cancer(
    name="kidney",
    label="Renal cell carcinoma",
    primary_organ="kidney",
    sexes=("female", "male"),
    default_body="adult_male",
    growth_law="gompertz",
    doubling_time=assumed(
        365.0, "d",
        "small renal masses under active surveillance grow by a mean 0.33 cm in diameter "
        "per year (review, Chin Med J 128, 2015, abstract), a volume doubling time of "
        "about 2 years at 2.5 cm; those masses are selected for indolence, and the larger "
        "clear-cell cancers that metastasise grow faster, so 1 year is assumed",
        (60.0, 1500.0),
    ),
    carrying_capacity=common.CARRYING_CAPACITY,
    shedding_rate=common.SHEDDING_RATE,
    cluster_share=common.CLUSTER_SHARE,
    platelet_share=common.PLATELET_SHARE,
    lymphatic_share=common.LYMPHATIC_SHARE,
    ctc_diameter=assumed(
        12.4, "um",
        "no renal figure in Mendelaar 2020; clear-cell carcinoma cells are large (lipid- "
        "and glycogen-rich cytoplasm), so the breast median (12.4 um), the largest "
        "measured type, is used",
        (7.0, 30.0),
    ),
    ctc_cutoff=common.ctc_cutoff_assumed(
        "by analogy only: renal carcinoma cells often express little EpCAM, so the "
        "epithelial CellSearch assay undercounts them"),
    soil=common.calibrated_soils("kidney"),
    other_soil=common.calibrated_other_soil("kidney"),
    notes="Gompertz growth; doubling time an assumption resting on active-surveillance "
          "series of small renal masses.",
)
