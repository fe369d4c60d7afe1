"""Defaults shared by cancer types where no type-specific figure is at hand.

Each is a :class:`~metacascade.citations.Parameter` a catalog module may use as it is
or replace with a type-specific value; the reason says how far the figure carries.
"""

from __future__ import annotations

import functools
import math

from metacascade.calibrated import SOIL_RANGE, calibrated, calibration_run
from metacascade.citations import Parameter, assumed, cited
from metacascade.errors import CatalogError
from metacascade.references import (
    BUTLER_GULLINO_1975,
    COHEN_2008,
    COUMANS_2013,
    CRISTOFANILLI_2004,
    DEBONO_2008,
    FINLAY_1988,
    MENDELAAR_2020,
)

# The abstract as PubMed prints it reads "3.2 x 10-6 ... cells per 24 hr per g": the
# exponent's sign is an artefact of the lost superscript. Its own conclusion needs
# millions: "a 2-g MTW9 carcinoma pours enough cells into the host circulation to
# transplant the tumor every 24 hr" (PMID 1090362, seen 2026-11-22).
SHEDDING_RATE = cited(
    3.2e6, "cell/g/d",
    BUTLER_GULLINO_1975.at("abstract", "growing rat mammary carcinoma, 3.2e6 (growing) to "
                           "4.1e6 (regressing) cells per gram per day; carried over to "
                           "human tumours of every type as an assumption"),
    (1e3, 1e8),
)

CLUSTER_SHARE = assumed(
    0.03, "1",
    "share of emboli that are clusters: clusters are rare among CTC events (Aceto 2014, "
    "abstract, gives no share); 3 % assumed",
    (0.0, 0.2),
)

PLATELET_SHARE = assumed(
    0.1, "1", "share of single CTCs cloaked by platelets on leaving the tumour", (0.0, 0.9)
)

LYMPHATIC_SHARE = assumed(
    0.05, "1",
    "share of shed cells entering the lymphatics first, for carcinomas that spread to "
    "regional nodes", (0.0, 0.5),
)

CARRYING_CAPACITY = cited(
    1e12, "cell",
    COUMANS_2013.at("supplement", "lethal burden of about 1e12 cells (1 kg) used as the "
                    "Gompertz plateau"),
    (1e10, 1e13),
)

CTC_CUTOFF_5 = cited(
    5.0, "cell/7.5 mL",
    CRISTOFANILLI_2004.at("abstract", ">= 5 CTC per 7.5 mL unfavourable in metastatic breast "
                          "cancer"),
    (1.0, 100.0),
)

CTC_CUTOFF_5_PROSTATE = cited(
    5.0, "cell/7.5 mL",
    DEBONO_2008.at("abstract", ">= 5 CTC per 7.5 mL unfavourable in castration-resistant prostate "
                   "cancer"),
    (1.0, 100.0),
)

CTC_CUTOFF_3_COLORECTAL = cited(
    3.0, "cell/7.5 mL",
    COHEN_2008.at("abstract", ">= 3 CTC per 7.5 mL unfavourable in metastatic colorectal cancer"),
    (1.0, 100.0),
)

# Colon and rectum share these two figures (colorectal series).
DOUBLING_TIME_COLORECTAL = cited(
    155.0, "d",
    FINLAY_1988.at("abstract", "doubling time of overt colorectal LIVER METASTASES "
                   "(155 +/- 34 d; occult ones 86 +/- 12 d), used for the primary by "
                   "analogy only; no primary-tumour figure is at hand"),
    (60.0, 600.0),
)

CTC_DIAMETER_COLORECTAL = cited(
    7.5, "um",
    MENDELAAR_2020.at("abstract", "median CTC diameter in colorectal cancer"),
    (5.0, 30.0),
)


def ctc_cutoff_assumed(by_analogy_with: str) -> Parameter:
    """The >= 5 cut-off carried over from breast and prostate to another type."""
    return assumed(
        5.0, "cell/7.5 mL",
        f"no validated CellSearch cut-off for this type; the >= 5 of breast and prostate "
        f"(Cristofanilli 2004, de Bono 2008) is used, {by_analogy_with}",
        (1.0, 100.0),
    )


def calibrated_soils(cancer: str) -> dict[str, Parameter]:
    """The soils the diSibio calibration fitted for ``cancer``, by bed.

    Every bed of a target organ (:mod:`metacascade.calibrated`); the other beds (the
    lymph node too, which the hematogenous fit does not see) take
    :func:`calibrated_other_soil`.
    """
    prefix = f"soil.{cancer}."
    run = calibration_run()
    out = {name.removeprefix(prefix): calibrated(
        name, "1", SOIL_RANGE,
        f"soil of {cancer} in {name.removeprefix(prefix)}")
        for name in run["parameters"] if name.startswith(prefix) and not name.endswith(".other")}
    if not out:
        raise CatalogError(f"the packaged calibration has no soils for {cancer!r}")
    return out


def calibrated_other_soil(cancer: str) -> Parameter:
    """The soil of ``cancer`` in beds without an autopsy target (its flow-alone level)."""
    return calibrated(f"soil.{cancer}.other", "1", SOIL_RANGE,
                      f"soil of {cancer} in organs without an autopsy target")


@functools.cache
def uncalibrated_level() -> Parameter:
    """Soil of every organ a cancer without autopsy targets does not name.

    The geometric mean of the calibrated primaries' blood-flow-alone levels
    (``soil.<cancer>.other``), bounded by their smallest and largest: such a cancer is
    taken to colonise as efficiently as a typical calibrated one.
    """
    run = calibration_run()
    levels = [entry["value"] for name, entry in run["parameters"].items()
              if name.endswith(".other")]
    value = math.exp(sum(math.log(v) for v in levels) / len(levels))
    return assumed(value, "1", f"no autopsy target for this cancer: the geometric mean of "
                   f"the {len(levels)} calibrated primaries' blood-flow-alone soil levels "
                   f"({run['calibration']})", (min(levels), max(levels)))


def scaled_soil(value: float, reason: str) -> Parameter:
    """A stated preference of an uncalibrated cancer, times :func:`uncalibrated_level`.

    ``value`` is relative to the cancer's other organs (3: three times as favourable).
    """
    level = uncalibrated_level().value
    return assumed(value * level, "1", f"{reason}; {value:g} times this cancer's soil in "
                   f"organs not named ({level:.3g}, the calibrated primaries' typical level)",
                   SOIL_RANGE)
