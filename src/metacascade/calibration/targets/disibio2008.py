"""DiSibio & French 2008 (Arch Pathol Lab Med 132:931, Figure 1) as calibration targets.

3,827 autopsies of 1914-1943, before chemotherapy and radiotherapy: untreated patients,
as the calibration's autopsy view assumes. The counts are read from the package's copy
of the figure (``data/disibio2008_fig1_counts.csv``, the table the cohort analysis
compares with); a count divided by the row's autopsies is the share of patients with the
organ involved (at most one count per organ and patient).

Organs: the hematogenous targets that have a bed in the body catalog. Left out: lymph
nodes, pleura, peritoneum, omentum, pericardium and diaphragm (lymphatic or
transcoelomic spread, not blood-borne), the gut, uterus, ovaries, breast and prostate
(reached mostly by direct or transcoelomic spread from neighbouring primaries; several
have no bed), and the organ that holds the primary (the table does not count the primary
as a metastasis).
"""

from __future__ import annotations

import numpy as np

from metacascade.analysis.autopsy import CANCER_TO_DISIBIO, ORGAN_TO_DISIBIO, disibio_counts
from metacascade.calibration.targets import Targets
from metacascade.cancers.catalog import get_cancer

#: Primaries fitted: the issue's list (melanoma is the "skin body" row).
CANCERS = ("breast", "prostate", "colon", "rectum", "lung", "stomach", "pancreas",
           "kidney", "melanoma")
#: Target organs (diSibio column names).
ORGANS = ("lung", "liver", "bone", "brain", "adrenal", "kidney", "spleen", "heart",
          "pancreas", "thyroid", "skin", "skeletal muscle")
SOURCE = ("diSibio G, French SW. Metastatic patterns of cancers: results from a large "
          "autopsy study. Arch Pathol Lab Med 2008;132:931-939, Figure 1")


def targets() -> Targets:
    """The diSibio & French 2008 targets for :data:`CANCERS` and :data:`ORGANS`."""
    table = disibio_counts()
    beds = {organ: tuple(b for b, o in ORGAN_TO_DISIBIO.items() if o == organ)
            for organ in ORGANS}
    rows = tuple(CANCER_TO_DISIBIO[c] for c in CANCERS)
    counts = table.loc[list(rows), list(ORGANS)].to_numpy(dtype=np.int64)
    for i, cancer in enumerate(CANCERS):
        primary = get_cancer(cancer).primary_organ
        for j, organ in enumerate(ORGANS):
            if primary in beds[organ]:
                counts[i, j] = -1
    n = table.loc[list(rows), "N_autopsies"].to_numpy(dtype=np.int64)
    return Targets("disibio2008", SOURCE, CANCERS, rows, ORGANS, beds, n, counts)
