"""The clinic: what doctors' tests see of a simulated patient.

:mod:`~metacascade.clinic.imaging` gives the chance that a scan (CT, MRI, PET, bone
scan, mammography) finds a lesion of a given organ and diameter;
:mod:`~metacascade.clinic.biopsy` the circulating tumour cells expected and counted in
a blood draw, from the compiled circulation, and the unfavourable cut-offs.
"""

from metacascade.clinic.biopsy import (
    FALSE_POSITIVE_MEAN,
    RECOVERY,
    Circulation,
    bed_flow_ml_per_s,
    bed_flows_ml_per_s,
    classify,
    ctc_concentration_per_ml,
    ctc_cutoff,
    draining_vein_ratio,
    draw_ctc,
    expected_ctc,
    is_unfavourable,
    per_7_5_ml,
)
from metacascade.clinic.imaging import (
    MODALITIES,
    REGIONS,
    DetectionCurve,
    Modality,
    detection_probability,
    get_modality,
    scan,
)

__all__ = [
    "FALSE_POSITIVE_MEAN",
    "MODALITIES",
    "RECOVERY",
    "REGIONS",
    "Circulation",
    "DetectionCurve",
    "Modality",
    "bed_flow_ml_per_s",
    "bed_flows_ml_per_s",
    "classify",
    "ctc_concentration_per_ml",
    "ctc_cutoff",
    "detection_probability",
    "draining_vein_ratio",
    "draw_ctc",
    "expected_ctc",
    "get_modality",
    "is_unfavourable",
    "per_7_5_ml",
    "scan",
]
