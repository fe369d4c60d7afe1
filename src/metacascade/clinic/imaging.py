r"""Imaging: the chance that a scan finds a lesion, by modality, organ and diameter.

A scan finds each lesion independently, with a probability that rises with the lesion's
diameter :math:`d` along a logistic curve

.. math:: p(d) = \frac{1}{1 + \exp(-(d - d_{50}) / w)}, \qquad p(d) = 0 \text{ for } d \le 0,

where :math:`d_{50}` is the diameter found half the time and :math:`w` sets how sharply
detection rises (from 27 % to 73 % over :math:`d_{50} \pm w`). Each modality has a
default curve and organ overrides (CT sees lung nodules sooner than liver ones, FDG-PET
loses brain lesions against the grey matter's own uptake), and sees only some organs
(a bone scan sees bone). A scan may be restricted to body regions (:data:`REGIONS`).

Cited figures: liver imaging finds virtually all metastases of 2 cm or more and about
half of those under 1 cm (Robinson 2000); clinical PET resolves 4-5 mm (Wang 2018);
screening mammography finds 26 % of breast cancers at 5 mm and 91 % at 10 mm
(Weedon-Fekjaer 2008). Every other number is a stated assumption with bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from metacascade.citations import Parameter, assumed, cited
from metacascade.errors import ParameterError
from metacascade.physiology.catalog import get_body, list_bodies
from metacascade.references import ROBINSON_2000, WANG_2018_PET, WEEDON_FEKJAER_2008

FloatArray = NDArray[np.float64]

#: The beds that lie in every region of the trunk: the spine, the rest of the red marrow
#: and the lymph nodes are one bed each in the model, but a scan of the chest, the
#: abdomen or the pelvis images the vertebrae, ribs, sternum or pelvis and the nodes
#: within it (the thoracic and lumbar spine, ribs, sternum and pelvis hold most of an
#: adult's red marrow). Each trunk region holds them whole: a scan of one trunk region
#: sees all of the bed, which overstates one region's view; a staging CT of chest,
#: abdomen and pelvis sees most of it. (Without them such a CT never found a bone or
#: nodal metastasis.)
TRUNK_BEDS = ("vertebral_marrow", "bone_marrow", "lymph_node")

#: Body regions a scan can be restricted to; together they hold every catalog organ, each
#: once but for :data:`TRUNK_BEDS`, which every trunk region holds.
REGIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "head": ("brain",),
    "neck": ("thyroid",),
    "chest": ("lung", "heart", "breast", *TRUNK_BEDS),
    "abdomen": ("liver", "adrenal", "kidney", "spleen", "pancreas", "stomach",
                "small_intestine", "large_intestine", *TRUNK_BEDS),
    "pelvis": ("rectum", "prostate", "uterus", *TRUNK_BEDS),
    "skeleton": ("vertebral_marrow", "bone_marrow"),
    "soft_tissue": ("skin", "skeletal_muscle", "adipose", "lymph_node", "rest"),
})

BONE_ORGANS = REGIONS["skeleton"]


def catalog_organs() -> tuple[str, ...]:
    """Every organ (capillary bed) of every registered body, in catalog order."""
    seen: dict[str, None] = {}
    for body in list_bodies():
        seen.update(dict.fromkeys(get_body(body).organs))
    return tuple(seen)


@dataclass(frozen=True)
class DetectionCurve:
    """A logistic detection curve in lesion diameter.

    Parameters
    ----------
    d50_mm
        Diameter detected with probability 1/2, mm.
    width_mm
        Logistic scale, mm: detection goes from 27 % to 73 % over ``d50 +/- width``.

    """

    d50_mm: Parameter
    width_mm: Parameter

    def probability(self, diameter_mm: ArrayLike) -> FloatArray:
        """Detection probability of lesions of the given diameters (0 if <= 0 mm)."""
        d = np.asarray(diameter_mm, dtype=np.float64)
        p = expit((d - self.d50_mm.value) / self.width_mm.value)
        return np.asarray(np.where(d > 0.0, p, 0.0), dtype=np.float64)


_FLOOR = assumed(2.0, "mm", "lesions under about 2 mm are below the slice thickness and "
                 "in-plane resolution of clinical CT/MRI and are not reported",
                 bounds=(1.0, 4.0))


@dataclass(frozen=True, eq=False)
class Modality:
    """An imaging test: which organs it sees and how its detection rises with size.

    Parameters
    ----------
    name, label
        Identifier (``"ct"``) and description.
    organs
        The organs the test can see; a lesion elsewhere is never found.
    default
        Detection curve for organs without an override.
    overrides
        Organ -> detection curve, where the organ differs from the default.
    floor_mm
        Lesions at or below this diameter are never found (the curve's tail would
        otherwise give microscopic lesions a few per cent each, and a patient has
        thousands of them).
    measures
        Whether the test measures a lesion's diameter for RECIST: CT and MRI do; a bone
        scan, PET and plain films are not adequate to measure lesions (Eisenhauer 2009,
        RECIST 1.1). A lesion this test finds may be new disease all the same.

    """

    name: str
    label: str
    organs: tuple[str, ...]
    default: DetectionCurve
    overrides: Mapping[str, DetectionCurve] = field(default_factory=dict)
    floor_mm: Parameter = field(default_factory=lambda: _FLOOR)
    measures: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        stray = sorted(set(self.overrides) - set(self.organs))
        if stray:
            raise ParameterError(f"modality {self.name!r}: overrides for organs it does not "
                                 f"see: {', '.join(stray)}")

    def sees(self, organ: str) -> bool:
        """Whether a lesion in ``organ`` can be found by this test."""
        return organ in self.organs

    def curve(self, organ: str) -> DetectionCurve:
        """The detection curve for ``organ`` (the default unless overridden)."""
        return self.overrides.get(organ, self.default)

    def restricted(self, regions: Iterable[str]) -> Modality:
        """The same test limited to the organs of the named :data:`REGIONS` (at least one)."""
        regions = list(regions)
        if not regions:
            raise ParameterError("regions: give at least one region, or none at all (None) "
                                 "for every organ the test sees")
        allowed: set[str] = set()
        for region in regions:
            if region not in REGIONS:
                raise ParameterError(f"regions: unknown region {region!r}; allowed: "
                                     f"{', '.join(REGIONS)}")
            allowed.update(REGIONS[region])
        organs = tuple(o for o in self.organs if o in allowed)
        overrides = {o: c for o, c in self.overrides.items() if o in allowed}
        return replace(self, organs=organs, overrides=overrides)

    def parameters(self) -> dict[str, Parameter]:
        """Every parameter by name (``default.d50_mm``, ``liver.width_mm``, ...)."""
        out = {"default.d50_mm": self.default.d50_mm, "default.width_mm": self.default.width_mm,
               "floor_mm": self.floor_mm}
        for organ, c in self.overrides.items():
            out[f"{organ}.d50_mm"] = c.d50_mm
            out[f"{organ}.width_mm"] = c.width_mm
        return out


def _curve(d50: Parameter, width: Parameter) -> DetectionCurve:
    return DetectionCurve(d50_mm=d50, width_mm=width)


def _mm(value: float, reason: str, bounds: tuple[float, float]) -> Parameter:
    return assumed(value, "mm", reason, bounds)


# --- cited anchors ---------------------------------------------------------------------
#: Liver (CT): d50 at 1 cm reads "about one-half of nodules smaller than 1 cm" found as 50 %
#: at the 1 cm boundary (an upper reading: the sub-cm nodules are on average smaller);
#: width 2.5 mm then gives p(20 mm) = 0.98, "virtually all >= 2 cm".
LIVER_CT = _curve(
    cited(10.0, "mm", ROBINSON_2000.at(
        "abstract", "about one-half of liver metastases < 1 cm detected, read as p = 0.5 at "
        "10 mm; virtually all >= 2 cm, most of 1-2 cm"), (5.0, 15.0)),
    cited(2.5, "mm", ROBINSON_2000.at(
        "abstract", "chosen so that p(20 mm) = 0.98 ('virtually all >= 2 cm') given d50"),
        (1.0, 3.5)),
)

#: Clinical PET resolution (FWHM).
PET_RESOLUTION_MM = cited(4.5, "mm", WANG_2018_PET.at(
    "abstract", "contemporary clinical PET scanners resolve 4-5 mm; midpoint"), (4.0, 5.0))

#: Screening mammography sensitivity at two diameters.
MAMMOGRAPHY_AT_5MM = cited(0.26, "1", WEEDON_FEKJAER_2008.at(
    "abstract", "screen test sensitivity 26 % at 5 mm"), (0.0, 1.0))
MAMMOGRAPHY_AT_10MM = cited(0.91, "1", WEEDON_FEKJAER_2008.at(
    "abstract", "screen test sensitivity 91 % at 10 mm"), (0.0, 1.0))


def _through_two_points() -> DetectionCurve:
    """The logistic curve through (5 mm, 26 %) and (10 mm, 91 %): logit p is linear in d."""
    lo, hi = logit(MAMMOGRAPHY_AT_5MM.value), logit(MAMMOGRAPHY_AT_10MM.value)
    width = 5.0 / (hi - lo)
    d50 = 5.0 - lo * width
    note = ("logistic curve through 26 % at 5 mm and 91 % at 10 mm: width = 5 mm / "
            "(logit 0.91 - logit 0.26), d50 = 5 mm - logit(0.26) x width")
    source = WEEDON_FEKJAER_2008.at("abstract", note)
    return _curve(cited(float(d50), "mm", source, (3.0, 12.0)),
                  cited(float(width), "mm", source, (0.5, 5.0)))


def _ct() -> Modality:
    organs = catalog_organs()
    return Modality(
        "ct", "Contrast-enhanced CT (every region, the head too, unless the scan's regions "
        "limit it: a staging CT is of the chest, abdomen and pelvis)", organs,
        measures=True,
        default=_curve(
            _mm(10.0, "soft-tissue lesions elsewhere taken as visible as liver metastases "
                "on CT (Robinson 2000, liver)", (5.0, 20.0)),
            _mm(2.5, "as for liver", (1.0, 5.0))),
        overrides={
            "liver": LIVER_CT,
            "lung": _curve(
                _mm(5.0, "air around a lung nodule gives high contrast: thin-section CT "
                    "shows nodules of a few mm", (2.0, 8.0)),
                _mm(1.5, "sharp rise in the lung", (0.5, 3.0))),
            "brain": _curve(
                _mm(15.0, "contrast CT of the head misses many small brain metastases that "
                    "MRI shows", (8.0, 30.0)),
                _mm(4.0, "slow rise in the brain on CT", (1.0, 8.0))),
            "vertebral_marrow": _curve(
                _mm(12.0, "a marrow deposit shows on CT only once it destroys or thickens "
                    "bone", (5.0, 30.0)),
                _mm(4.0, "slow rise in bone on CT", (1.0, 8.0))),
            "bone_marrow": _curve(
                _mm(12.0, "as for the spine", (5.0, 30.0)),
                _mm(4.0, "as for the spine", (1.0, 8.0))),
            "lymph_node": _curve(
                _mm(10.0, "nodes are called abnormal on CT from about 10 mm short axis",
                    (5.0, 15.0)),
                _mm(2.0, "size criterion, sharp", (0.5, 5.0))),
        },
    )


def _mri() -> Modality:
    return Modality(
        "mri", "Contrast-enhanced MRI (best for brain, liver, spine and pelvis)",
        catalog_organs(), measures=True,
        default=_curve(
            _mm(8.0, "soft-tissue contrast of MRI a little better than CT", (4.0, 20.0)),
            _mm(2.0, "as for CT, a little sharper", (1.0, 5.0))),
        overrides={
            "brain": _curve(
                _mm(4.0, "contrast MRI is the reference test for brain metastases and shows "
                    "lesions of a few mm", (2.0, 10.0)),
                _mm(1.0, "sharp rise in the brain", (0.5, 3.0))),
            "liver": _curve(
                _mm(7.0, "liver MRI (hepatobiliary or SPIO contrast, diffusion) finds more "
                    "sub-cm metastases than CT", (3.0, 12.0)),
                _mm(2.0, "as for CT, a little sharper", (1.0, 3.5))),
            "vertebral_marrow": _curve(
                _mm(6.0, "MRI is the most sensitive test for marrow infiltration",
                    (3.0, 12.0)),
                _mm(2.0, "sharp rise in marrow", (0.5, 4.0))),
            "bone_marrow": _curve(
                _mm(6.0, "as for the spine", (3.0, 12.0)),
                _mm(2.0, "as for the spine", (0.5, 4.0))),
            "lung": _curve(
                _mm(12.0, "MRI shows lung nodules poorly (little signal from aerated lung, "
                    "motion)", (5.0, 25.0)),
                _mm(3.0, "slow rise in the lung on MRI", (1.0, 6.0))),
        },
    )


def _pet() -> Modality:
    res = PET_RESOLUTION_MM.value
    return Modality(
        "pet", "FDG-PET/CT", catalog_organs(),
        floor_mm=cited(res, "mm", WANG_2018_PET, bounds=(3.0, 7.0)),
        default=_curve(
            _mm(2.0 * res, f"partial-volume effect: a lesion below about twice the "
                f"resolution ({res:g} mm FWHM, Wang 2018) loses most of its contrast, so "
                "d50 = 2 x FWHM", (6.0, 15.0)),
            _mm(2.5, "spread of uptake between tumours", (1.0, 5.0))),
        overrides={
            "brain": _curve(
                _mm(20.0, "normal grey matter takes up FDG avidly: brain metastases stand "
                    "out only when large", (10.0, 40.0)),
                _mm(5.0, "slow rise against a high background", (2.0, 10.0))),
            "kidney": _curve(
                _mm(15.0, "FDG excreted in urine hides renal lesions", (8.0, 30.0)),
                _mm(4.0, "slow rise against a high background", (2.0, 8.0))),
        },
    )


def _bone_scan() -> Modality:
    return Modality(
        "bone_scan", "Bone scintigraphy (99mTc diphosphonate)", BONE_ORGANS,
        default=_curve(
            _mm(10.0, "the scan shows the osteoblastic reaction around a deposit, not the "
                "tumour: small or purely lytic marrow deposits are missed", (5.0, 25.0)),
            _mm(3.0, "spread of bone reaction between deposits", (1.0, 6.0))),
    )


def _mammography() -> Modality:
    return Modality("mammography", "Screening mammography (breast primary)", ("breast",),
                    default=_through_two_points())


MODALITIES: Mapping[str, Modality] = MappingProxyType({
    m.name: m for m in (_ct(), _mri(), _pet(), _bone_scan(), _mammography())
})


def get_modality(name: str | Modality) -> Modality:
    """The modality called ``name`` (a :class:`Modality` is returned as it is)."""
    if isinstance(name, Modality):
        return name
    if name not in MODALITIES:
        raise ParameterError(f"modality: unknown modality {name!r}; allowed: "
                             f"{', '.join(MODALITIES)}")
    return MODALITIES[name]


def _organ_index(organs: NDArray[np.str_], known: Sequence[str]) -> NDArray[np.intp]:
    """Index of each organ name in ``known``; an unknown name is refused."""
    unique, inverse = np.unique(organs, return_inverse=True)
    position = {o: i for i, o in enumerate(known)}
    missing = [str(u) for u in unique if u not in position]
    if missing:
        raise ParameterError(f"organs: unknown organ {missing[0]!r}; allowed: "
                             f"{', '.join(known)}")
    lookup = np.array([position[str(u)] for u in unique], dtype=np.intp)
    return np.asarray(lookup[inverse].reshape(organs.shape), dtype=np.intp)


def detection_probability(modality: str | Modality, organs: ArrayLike, diameter_mm: ArrayLike,
                          *, regions: Sequence[str] | None = None) -> FloatArray:
    """Probability that one scan finds each lesion.

    Parameters
    ----------
    modality
        A name of :data:`MODALITIES` or a :class:`Modality`.
    organs, diameter_mm
        Organ and diameter (mm) of each lesion; broadcast against each other.
    regions
        Restrict the scan to these :data:`REGIONS` (at least one); None (the default):
        every organ the test sees, the head too.

    Returns
    -------
    One probability per lesion: 0 where the test (or the restricted scan) does not see
    the organ and for diameters <= 0 mm.

    """
    known = catalog_organs()
    detector = Detector(modality, known, regions=regions)
    organ_arr, d = np.broadcast_arrays(np.asarray(organs, dtype=np.str_),
                                       np.asarray(diameter_mm, dtype=np.float64))
    _check_finite(d)
    return detector.probability(_organ_index(organ_arr, known), d)


class Detector:
    """:func:`detection_probability` for lesions in a fixed list of organs, prepared once.

    A patient's lesions sit in the organs of one body: their curves are looked up once
    per scan schedule, not by organ name at every scan (the same values, so the same
    probabilities).

    Parameters
    ----------
    modality, regions
        As for :func:`detection_probability`.
    organs
        The organs the lesions' organ indices refer to (a body's organs).

    """

    def __init__(self, modality: str | Modality, organs: Sequence[str], *,
                 regions: Sequence[str] | None = None) -> None:
        mod = get_modality(modality)
        if regions is not None:
            mod = mod.restricted(regions)
        known = set(catalog_organs())
        #: Organs that are in no catalog body: refused when a lesion there is scanned.
        self._unknown = [o for o in organs if o not in known]
        self._organs = tuple(organs)
        self._d50 = np.array([mod.curve(o).d50_mm.value for o in organs])
        self._width = np.array([mod.curve(o).width_mm.value for o in organs])
        self._seen = np.array([mod.sees(o) for o in organs], dtype=bool)
        self._floor = max(0.0, mod.floor_mm.value)
        #: Whether the test measures diameters (:attr:`Modality.measures`).
        self.measures = mod.measures
        #: (organs,) whether the scan images each organ (in its regions).
        self.covers = self._seen.copy()
        self.covers.setflags(write=False)

    def probability(self, organ_index: NDArray[np.intp], diameter_mm: FloatArray,
                    ) -> FloatArray:
        """Detection probability of lesions in ``organs[organ_index]`` of these diameters."""
        d = np.asarray(diameter_mm, dtype=np.float64)
        _check_finite(d)
        if self._unknown:
            present = {self._organs[i] for i in np.unique(organ_index).tolist()}
            missing = [o for o in self._unknown if o in present]
            if missing:
                raise ParameterError(f"organs: unknown organ {missing[0]!r}; allowed: "
                                     f"{', '.join(catalog_organs())}")
        p = expit((d - self._d50[organ_index]) / self._width[organ_index])
        visible = self._seen[organ_index] & (d > self._floor)
        return np.asarray(np.where(visible, p, 0.0), dtype=np.float64)


def _check_finite(d: FloatArray) -> None:
    if not np.isfinite(d).all():
        raise ParameterError("diameter_mm: every diameter must be a finite number of mm")


def scan(modality: str | Modality, organs: ArrayLike, diameter_mm: ArrayLike,
         rng: np.random.Generator, *,
         regions: Sequence[str] | None = None) -> NDArray[np.bool_]:
    """Whether one scan finds each lesion: one Bernoulli draw per lesion.

    Arguments as for :func:`detection_probability`; ``rng`` supplies the draws.
    """
    p = detection_probability(modality, organs, diameter_mm, regions=regions)
    return np.asarray(rng.random(p.shape) < p, dtype=np.bool_)
