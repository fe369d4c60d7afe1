"""DiSibio & French 2008 (Arch Pathol Lab Med 132:931, Figure 1) as calibration targets.

3,827 autopsies of 1914-1943, before chemotherapy and radiotherapy: untreated patients,
as the calibration's autopsy view assumes. The counts are read from the package's copy
of the figure (``data/disibio2008_fig1_counts.csv``, the table the cohort analysis
compares with); a count divided by the row's autopsies is the share of patients with the
organ involved (at most one count per organ and patient).

Organs (:data:`ORGANS`): the twelve organs of the table reached mostly by blood that
have a bed in the body catalog. Left out: lymph nodes, pleura, peritoneum, omentum,
pericardium and diaphragm (lymphatic or transcoelomic spread, not blood-borne); the
stomach, small and large intestine, breast, prostate and uterus, which have a bed but
whose metastases in the table come mostly by direct or transcoelomic spread from
neighbouring primaries, which the model does not have (the cohort analysis,
:func:`metacascade.analysis.autopsy.involvement`, still compares them, with
``calibration_target`` false: "(not fitted)" in its figures); the ovaries, bladder,
gallbladder, testes and vagina (no bed); and, per primary, the organ that holds it.
That last one is the model's choice, not the source's: the table does count metastases
in the primary's own organ where the organ is paired or diffuse (lung -> lung 48 of 163
autopsies, breast -> breast 54 of 432, skin body -> skin 16 of 67, kidney -> kidney 8 of
62; 0 for liver, pancreas and prostate), but the model does not count them as
metastases: a colony in the primary's organ is not told apart from the primary (the
clinic stages only lesions outside the primary's organ and the lymph nodes), so its
soil there is not fitted.
"""

from __future__ import annotations

import numpy as np

from metacascade.analysis.autopsy import CANCER_TO_DISIBIO, ORGAN_TO_DISIBIO, disibio_counts
from metacascade.calibration.targets import Targets
from metacascade.cancers.catalog import get_cancer

#: Primaries fitted: the issue's list (melanoma is the "skin body" row).
CANCERS = ("breast", "prostate", "colon", "rectum", "lung", "stomach", "pancreas",
           "kidney", "melanoma")
#: Target organs (diSibio column names): the cohort analysis reads this list too
#: (:func:`metacascade.analysis.autopsy.calibration_targets`).
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
