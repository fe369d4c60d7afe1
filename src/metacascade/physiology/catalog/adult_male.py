"""ICRP 89 reference adult male (73 kg, cardiac output 6.5 L/min, blood 5.3 L)."""

from __future__ import annotations

from metacascade.physiology.catalog._adult import AdultFigures, build_adult
from metacascade.physiology.model import Body

#: Shares of cardiac output, % (ICRP 89 Table 2.40, male column).
ICRP_PERCENT = {
    "brain": 12.0, "kidneys": 19.0, "hepatic artery": 6.5, "stomach": 1.0,
    "small intestine": 10.0, "large intestine": 4.0, "spleen": 3.0, "pancreas": 1.0,
    "heart": 4.0, "bronchial": 2.5, "skeletal muscle": 17.0, "adipose": 5.0, "skin": 5.0,
    "skeleton": 5.0, "thyroid": 1.5, "lymph nodes": 1.7, "adrenals": 0.3, "gonads": 0.05,
    "urinary bladder": 0.06, "all other tissues": 1.39,
}

FIGURES = AdultFigures(
    name="adult_male", label="ICRP 89 reference adult male", sex="male",
    cardiac_output_l_min=6.5, blood_volume_l=5.3, body_mass_kg=73.0,
    icrp_percent=ICRP_PERCENT,
    pelvic_organ="prostate", pelvic_percent=0.1, breast_percent=0.05,
)


def build() -> Body:
    """The reference adult male."""
    return build_adult(FIGURES)
