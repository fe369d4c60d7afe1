"""ICRP 89 reference adult female (60 kg, cardiac output 5.9 L/min, blood 3.9 L)."""

from __future__ import annotations

from metacascade.physiology.catalog._adult import AdultFigures, build_adult
from metacascade.physiology.model import Body

#: Shares of cardiac output, % (ICRP 89 Table 2.40, female column).
ICRP_PERCENT = {
    "brain": 12.0, "kidneys": 17.0, "hepatic artery": 6.5, "stomach": 1.0,
    "small intestine": 11.0, "large intestine": 5.0, "spleen": 3.0, "pancreas": 1.0,
    "heart": 5.0, "bronchial": 2.5, "skeletal muscle": 12.0, "adipose": 8.5, "skin": 5.0,
    "skeleton": 5.0, "thyroid": 1.5, "lymph nodes": 1.7, "adrenals": 0.3, "gonads": 0.02,
    "urinary bladder": 0.06, "all other tissues": 1.92,
}

FIGURES = AdultFigures(
    name="adult_female", label="ICRP 89 reference adult female", sex="female",
    cardiac_output_l_min=5.9, blood_volume_l=3.9, body_mass_kg=60.0,
    icrp_percent=ICRP_PERCENT,
    pelvic_organ="uterus", pelvic_percent=0.3, breast_percent=0.4,
)


def build() -> Body:
    """The reference adult female."""
    return build_adult(FIGURES)
