"""Shared construction of the ICRP 89 reference adults.

The two reference bodies differ in their numbers, not in their plan: this module lays
out the plan (which beds, where each drains, what each junction feeds) and the
assumptions common to both; ``adult_male`` and ``adult_female`` give the cited numbers.

Shares of cardiac output are ICRP 89 Table 2.40. Where the model needs a finer split
than the table (rectum out of large intestine, spine out of skeleton, breast out of
adipose, prostate or uterus out of "all other tissues") the split is an assumption with
bounds, and the parent figure is reduced so that the shares still sum to 1.

Transit times come from ICRP 89 Table 2.13 (blood volume by segment, male): heart
chambers 9 %, pulmonary 10.5 % (capillaries 2 %), systemic capillaries 5 %, small
veins 41.5 %, large veins 18 %, and so systemic arteries 80.5 - 5 - 41.5 - 18 = 16 %.
A segment's transit time is its volume over the flow through it (cardiac output).
"""

from __future__ import annotations

from dataclasses import dataclass

from metacascade.calibrated import calibrated
from metacascade.citations import Parameter, assumed, cited, share
from metacascade.physiology.model import Bed, Body, Junction
from metacascade.references import CHAMBERS_2002, ICRP89

T240 = "Table 2.40"

# Blood volume by segment, share of total (ICRP 89 Table 2.13, male; assumed for female).
SEG_HEART = 0.09
SEG_PULM_CAP = 0.02
SEG_PULM_OTHER = 0.105 - 0.02
SEG_SYS_CAP = 0.05
SEG_SMALL_VEINS = 0.415
SEG_LARGE_VEINS = 0.18
SEG_SYS_ARTERIES = 0.805 - 0.05 - 0.415 - 0.18


@dataclass(frozen=True)
class AdultFigures:
    """The numbers that differ between the reference male and female."""

    name: str
    label: str
    sex: str
    cardiac_output_l_min: float
    blood_volume_l: float
    body_mass_kg: float
    #: organ -> share of cardiac output, % (ICRP 89 Table 2.40 rows).
    icrp_percent: dict[str, float]
    #: pelvic organ bed: "prostate" (male) or "uterus" (female) and its share in %.
    pelvic_organ: str
    pelvic_percent: float
    breast_percent: float


def _flow(percent: float, row: str, note: str = "") -> Parameter:
    return cited(percent / 100.0, "1", ICRP89.at(T240, f"{row}{'; ' + note if note else ''}"),
                 (0.0, 1.0))


def _split(percent: float, reason: str, bounds_percent: tuple[float, float]) -> Parameter:
    return assumed(percent / 100.0, "1", reason,
                   (bounds_percent[0] / 100.0, bounds_percent[1] / 100.0))


def _seconds(volume_share: float, fig: AdultFigures, what: str) -> Parameter:
    seconds = volume_share * fig.blood_volume_l / fig.cardiac_output_l_min * 60.0
    note = (f"{what}: {volume_share:.3g} of {fig.blood_volume_l} L blood / "
            f"{fig.cardiac_output_l_min} L/min")
    return cited(round(seconds, 3), "s", ICRP89.at("Tables 2.13 and 2.39", note),
                 (0.0, 600.0))


_ARREST = calibrated(
    "arrest", "1", (0.7, 0.999),
    "per-pass arrest of a medium single cell in a capillary bed: most circulating cancer "
    "cells arrest in the first bed they meet (Chambers 2002); cells injected in the portal "
    "vein arrest almost only in liver, in the vena cava almost only in lung (Proctor "
    "1976), hence the prior 0.7-0.999; the rest pass (deformable cells, shunts)",
)
_ARREST_NODE = assumed(
    0.5, "1",
    "share of lymph-borne cells retained in the regional node on one pass",
    (0.05, 0.95),
)
_DEATH = assumed(
    0.05, "1",
    "share of single cells killed by deformation and shear on one capillary passage; "
    "over 80 % of cells entering the microcirculation survive to extravasate (Koop 1995), "
    "so the per-pass loss is small",
    (0.0, 0.5),
)

# Where each bed drains. Gut organs and spleen drain to the portal vein (hence liver).
_PORTAL_ORGANS = ("stomach", "small_intestine", "large_intestine", "spleen", "pancreas")

_BARRIER = {
    "lung": "continuous", "liver": "sinusoid", "brain": "blood_brain",
    "vertebral_marrow": "sinusoid", "bone_marrow": "sinusoid", "adrenal": "fenestrated",
    "kidney": "fenestrated", "spleen": "sinusoid", "heart": "continuous",
    "pancreas": "fenestrated", "stomach": "fenestrated", "small_intestine": "fenestrated",
    "large_intestine": "fenestrated", "rectum": "fenestrated", "skin": "continuous",
    "skeletal_muscle": "continuous", "adipose": "continuous", "thyroid": "fenestrated",
    "breast": "continuous", "prostate": "continuous", "uterus": "continuous",
    "lymph_node": "lymph_node", "rest": "continuous",
}

_LABELS = {
    "lung": "Lung", "liver": "Liver", "brain": "Brain",
    "vertebral_marrow": "Vertebral marrow (spine)", "bone_marrow": "Other bone and marrow",
    "adrenal": "Adrenal glands", "kidney": "Kidneys", "spleen": "Spleen",
    "heart": "Heart (coronary)", "pancreas": "Pancreas",
    "stomach": "Stomach and oesophagus", "small_intestine": "Small intestine",
    "large_intestine": "Large intestine (colon)", "rectum": "Rectum", "skin": "Skin",
    "skeletal_muscle": "Skeletal muscle", "adipose": "Adipose tissue",
    "thyroid": "Thyroid", "breast": "Breast", "prostate": "Prostate",
    "uterus": "Uterus and ovaries", "lymph_node": "Lymph nodes",
    "rest": "Rest of the body",
}


def _arterial_shares(fig: AdultFigures) -> dict[str, Parameter]:
    p = fig.icrp_percent
    rectum = 0.2 * p["large intestine"]
    spine = 0.3 * p["skeleton"]
    # Testes join the rest of the body; ovaries are part of the uterus bed, whose share
    # is the gonads' plus what it takes from "all other tissues". Either way:
    other_tissue = p["all other tissues"] - fig.pelvic_percent + p["gonads"]
    shares = {
        "lung": _flow(p["bronchial"], "bronchial (lung tissue, systemic)"),
        "liver": _flow(p["hepatic artery"], "hepatic artery"),
        "brain": _flow(p["brain"], "brain"),
        "vertebral_marrow": _split(
            spine, "share of skeletal blood flow reaching vertebral marrow: 30 % of the "
            "skeleton row of ICRP 89 Table 2.40, after the share of red marrow held in the "
            "vertebrae (about 30 %, ICRP 70); to be checked", (0.2 * p["skeleton"],
                                                               0.45 * p["skeleton"])),
        "bone_marrow": _split(
            p["skeleton"] - spine, "rest of the skeleton row of ICRP 89 Table 2.40 after "
            "the vertebral share", (0.55 * p["skeleton"], 0.8 * p["skeleton"])),
        "adrenal": _flow(p["adrenals"], "adrenals"),
        "kidney": _flow(p["kidneys"], "kidneys"),
        "spleen": _flow(p["spleen"], "spleen"),
        "heart": _flow(p["heart"], "heart (coronary)"),
        "pancreas": _flow(p["pancreas"], "pancreas"),
        "stomach": _flow(p["stomach"], "stomach + oesophagus"),
        "small_intestine": _flow(p["small intestine"], "small intestine"),
        "large_intestine": _flow(p["large intestine"] - rectum, "large intestine",
                                 "less the rectum's 20 %"),
        "rectum": _split(rectum, "rectum takes 20 % of the large-intestine row of ICRP 89 "
                         "Table 2.40", (0.1 * p["large intestine"],
                                        0.35 * p["large intestine"])),
        "skin": _flow(p["skin"], "skin"),
        "skeletal_muscle": _flow(p["skeletal muscle"], "skeletal muscle"),
        "adipose": _flow(p["adipose"] - fig.breast_percent, "adipose",
                         "less the breast share"),
        "thyroid": _flow(p["thyroid"], "thyroid"),
        "breast": _split(fig.breast_percent, "breast blood flow taken out of the adipose row "
                         "of ICRP 89 Table 2.40 (no breast row there)",
                         (0.1 * fig.breast_percent, 3.0 * fig.breast_percent)),
        fig.pelvic_organ: _split(
            fig.pelvic_percent, f"{fig.pelvic_organ} blood flow taken out of 'all other "
            "tissues' of ICRP 89 Table 2.40 (no row of its own"
            + (", gonads included)" if fig.pelvic_organ == "uterus" else ")"),
            (0.2 * fig.pelvic_percent, 3.0 * fig.pelvic_percent)),
        "lymph_node": _flow(p["lymph nodes"], "lymph nodes"),
        "rest": _flow(other_tissue + p["urinary bladder"],
                      "all other tissues + urinary bladder"
                      + (" + gonads" if fig.pelvic_organ == "prostate" else ""),
                      f"less the {fig.pelvic_organ} share"),
    }
    return shares


def _drainage(fig: AdultFigures) -> dict[str, dict[str, Parameter]]:
    venous = share(1.0, ICRP89.at("Chapter 2", "systemic venous return to the vena cavae"))
    portal = share(1.0, ICRP89.at(T240, "portal vein drains stomach, intestines, spleen, "
                                  "pancreas"))
    drains: dict[str, dict[str, Parameter]] = {}
    for organ in _BARRIER:
        if organ in ("prostate", "uterus") and organ != fig.pelvic_organ:
            continue
        drains[organ] = {"venous": venous}
    drains["lung"] = {"arterial": share(1.0, ICRP89.at(
        "Chapter 2", "pulmonary veins to left heart and aorta; bronchial blood joins them"))}
    for organ in _PORTAL_ORGANS:
        drains[organ] = {"portal": portal}
    drains["rectum"] = {
        "portal": assumed(0.6, "1", "upper rectum: superior rectal vein to the portal "
                          "system; most rectal cancers lie in the mid and upper rectum",
                          (0.3, 0.8)),
        "venous": assumed(0.3, "1", "lower rectum: middle and inferior rectal veins to the "
                          "internal iliac veins and the vena cava, bypassing the liver",
                          (0.15, 0.6)),
        "vertebral_plexus": assumed(0.1, "1", "pelvic veins communicate with the valveless "
                                    "vertebral venous plexus (Batson)", (0.0, 0.3)),
    }
    plexus_share = {"prostate": (0.3, (0.05, 0.5)), "uterus": (0.15, (0.0, 0.4)),
                    "breast": (0.1, (0.0, 0.3))}
    for organ, (value, bounds) in plexus_share.items():
        if organ not in drains:
            continue
        drains[organ] = {
            "venous": assumed(1.0 - value, "1", f"{organ}: caval drainage, the rest of the "
                              "venous outflow after the plexus share",
                              (1.0 - bounds[1], 1.0 - bounds[0])),
            "vertebral_plexus": assumed(value, "1", f"{organ}: share of venous outflow "
                                        "entering the valveless vertebral venous plexus "
                                        "(Batson) rather than the vena cava", bounds),
        }
    return drains


def build_adult(fig: AdultFigures) -> Body:
    """Assemble and validate a reference adult from its figures."""
    drains = _drainage(fig)
    sys_cap = _seconds(SEG_SYS_CAP, fig, "systemic capillaries")
    pulm_cap = _seconds(SEG_PULM_CAP, fig, "pulmonary capillaries")
    beds = {}
    for organ, targets in drains.items():
        beds[organ] = Bed(
            name=organ, label=_LABELS[organ], drains_to=targets,
            arrest_per_pass=_ARREST_NODE if organ == "lymph_node" else _ARREST,
            death_per_pass=_DEATH,
            capillary_transit=pulm_cap if organ == "lung" else sys_cap,
            barrier=_BARRIER[organ],
        )
    junctions = {
        "venous": Junction(
            "venous", "Vena cavae and right heart (the heart)",
            {"lung": share(1.0, ICRP89.at("Chapter 2", "the lungs receive the whole "
                                          "cardiac output through the pulmonary artery"))},
            _seconds(SEG_SMALL_VEINS + SEG_LARGE_VEINS + SEG_HEART / 2 + SEG_PULM_OTHER / 2,
                     fig, "small and large veins, right heart, pulmonary arteries"),
        ),
        "arterial": Junction(
            "arterial", "Pulmonary veins, left heart and aorta (arterial side)",
            _arterial_shares(fig),
            _seconds(SEG_PULM_OTHER / 2 + SEG_HEART / 2 + SEG_SYS_ARTERIES, fig,
                     "pulmonary veins, left heart, systemic arteries"),
        ),
        "portal": Junction(
            "portal", "Portal vein",
            {"liver": share(1.0, ICRP89.at(T240, "portal vein supplies the liver"))},
            assumed(10.0, "s", "mesenteric venules and portal vein; part of the small-vein "
                    "volume of ICRP 89 Table 2.13 lies upstream of the liver", (3.0, 30.0)),
        ),
        "vertebral_plexus": Junction(
            "vertebral_plexus", "Vertebral venous plexus (Batson)",
            {
                "vertebral_marrow": assumed(0.85, "1", "plexus blood reaches the vertebral "
                                            "marrow sinusoids", (0.5, 0.95)),
                "brain": assumed(0.03, "1", "plexus communicates with the cranial venous "
                                 "sinuses: a route to the brain that avoids the lung",
                                 (0.0, 0.1)),
                "venous": assumed(0.12, "1", "the rest returns to the vena cavae through "
                                  "azygos and lumbar veins", (0.0, 0.5)),
            },
            assumed(10.0, "s", "slow flow in the valveless plexus", (2.0, 60.0)),
        ),
        "lymphatic": Junction(
            "lymphatic", "Afferent lymphatics to the regional node; efferent lymph joins "
                         "the blood through the thoracic duct at the left subclavian vein",
            {"lymph_node": share(1.0, CHAMBERS_2002.at("key points", "lymph-borne cells "
                                                       "meet the regional node first"))},
            assumed(0.0, "s", "time in lymph is not time in blood and is not counted",
                    (0.0, 0.0)),
        ),
    }
    body = Body(
        name=fig.name, label=fig.label, sex=fig.sex,
        cardiac_output=cited(fig.cardiac_output_l_min, "L/min", ICRP89.at("Table 2.39"),
                             (1.0, 40.0)),
        blood_volume=cited(fig.blood_volume_l, "L", ICRP89.at("Table 2.13"), (1.0, 10.0)),
        body_mass=cited(fig.body_mass_kg, "kg", ICRP89.at("Chapter 2"), (20.0, 300.0)),
        beds=beds, junctions=junctions,
    )
    return body.validate()
