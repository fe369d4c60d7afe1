"""Description of a primary cancer type.

A :class:`Cancer` says where the primary arises (a capillary bed of the body, hence its
venous drainage), how it grows, how many cells it sheds and in what form, the blood-test
cut-off used to call a CellSearch count unfavourable, and a *soil* compatibility per
target organ: a dimensionless multiplier on the chance that a cell arrested there
founds a colony (Paget's "seed and soil"). Soil values start as stated assumptions; the
calibration issue fits them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from metacascade._frozen import reduce_by_fields
from metacascade.citations import Parameter, assumed
from metacascade.errors import CatalogError
from metacascade.physiology.emboli import SizeClass, size_class_for
from metacascade.physiology.model import Body

#: Growth laws the engine understands.
GROWTH_LAWS = ("exponential", "gompertz", "power")

#: Soil for an organ the catalog entry does not name.
NEUTRAL_SOIL = assumed(
    1.0, "1",
    "neutral soil: no organ preference beyond delivery by blood flow; to be calibrated "
    "against autopsy involvement (diSibio & French 2008)",
    (0.01, 100.0),
)

#: Bounds every soil value must respect.
SOIL_BOUNDS = (0.0, 1000.0)


@dataclass(frozen=True, eq=False)
class Cancer:
    """A primary cancer type.

    Parameters
    ----------
    name, label
        Identifier (``"breast"``) and human-readable name.
    primary_organ
        The bed the primary arises in; its drainage decides the first capillary bed.
    sexes
        Sexes whose bodies can carry this primary (``("female",)`` for uterine
        choriocarcinoma).
    default_body
        The body used when none is given.
    growth_law
        One of :data:`GROWTH_LAWS`.
    doubling_time
        Volume doubling time of the primary in its observed range, in d.
    carrying_capacity
        Size toward which Gompertz growth slows, in cells.
    shedding_rate
        Cells released into the venous drainage per gram of tumour per day (cell/g/d).
    cluster_share
        Share of emboli (CTC events) that are clusters.
    platelet_share
        Share of single-cell emboli cloaked by platelets.
    lymphatic_share
        Share of shed cells that enter the lymphatics first (reaching the blood through
        the thoracic duct).
    ctc_diameter
        Typical CTC diameter, in um; sets the size class that scales arrest odds.
    ctc_cutoff
        CellSearch count per 7.5 mL at or above which a draw is unfavourable.
    growth_exponent
        For the power law dV/dt = a V^b only: the exponent b (dimensionless).
    soil
        Target organ -> soil compatibility (dimensionless); organs not named get
        ``other_soil``.
    other_soil
        Soil of the organs ``soil`` does not name (default :data:`NEUTRAL_SOIL`; a
        calibrated primary's own blood-flow-alone level).

    """

    name: str
    label: str
    primary_organ: str
    sexes: tuple[str, ...]
    default_body: str
    growth_law: str
    doubling_time: Parameter
    carrying_capacity: Parameter
    shedding_rate: Parameter
    cluster_share: Parameter
    platelet_share: Parameter
    lymphatic_share: Parameter
    ctc_diameter: Parameter
    ctc_cutoff: Parameter
    growth_exponent: Parameter | None = None
    soil: Mapping[str, Parameter] = field(default_factory=dict)
    other_soil: Parameter = NEUTRAL_SOIL
    notes: str = ""

    #: Names of the scalar parameters, in display order (overridable in scenarios).
    PARAMETERS = (
        "doubling_time", "carrying_capacity", "shedding_rate", "cluster_share",
        "platelet_share", "lymphatic_share", "ctc_diameter", "ctc_cutoff",
    )

    __reduce__ = reduce_by_fields  # pickled as its arguments (_frozen.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "soil", MappingProxyType(dict(self.soil)))
        where = f"cancer {self.name!r}"
        if self.growth_law not in GROWTH_LAWS:
            raise CatalogError(f"{where}: growth_law {self.growth_law!r} is not one of "
                               f"{', '.join(GROWTH_LAWS)}")
        if (self.growth_law == "power") != (self.growth_exponent is not None):
            raise CatalogError(f"{where}: growth_exponent is given exactly when growth_law "
                               "is 'power'")
        if not set(self.sexes) <= {"male", "female"} or not self.sexes:
            raise CatalogError(f"{where}: sexes must be a non-empty subset of "
                               "('male', 'female')")
        if self.ctc_cutoff.value != int(self.ctc_cutoff.value) or self.ctc_cutoff.value < 1:
            raise CatalogError(f"{where}: ctc_cutoff must be a whole number >= 1")
        for organ, value in [*self.soil.items(), ("other organs", self.other_soil)]:
            if not SOIL_BOUNDS[0] <= value.value <= SOIL_BOUNDS[1]:
                raise CatalogError(f"{where}: soil for {organ!r} is outside {SOIL_BOUNDS}")

    @property
    def size_class(self) -> SizeClass:
        """CTC size class implied by :attr:`ctc_diameter`."""
        return size_class_for(self.ctc_diameter.value)

    def soil_for(self, organ: str) -> Parameter:
        """Soil compatibility for ``organ`` (``other_soil`` if the catalog does not name it)."""
        return self.soil.get(organ, self.other_soil)

    def parameters(self) -> dict[str, Parameter]:
        """The scalar parameters by name (``growth_exponent`` too, for the power law)."""
        out = {name: getattr(self, name) for name in self.PARAMETERS}
        if self.growth_exponent is not None:
            out["growth_exponent"] = self.growth_exponent
        return out

    def check_body(self, body: Body) -> None:
        """Refuse a body that lacks the primary organ or an organ named in the soil."""
        if self.primary_organ not in body.beds or body.sex not in self.sexes:
            raise CatalogError(
                f"cancer {self.name!r} arises in {self.primary_organ!r}, which body "
                f"{body.name!r} ({body.sex}) cannot carry; use a {' or '.join(self.sexes)} "
                f"body such as {self.default_body!r}"
            )
        unknown = sorted(set(self.soil) - set(body.beds))
        if unknown:
            raise CatalogError(
                f"cancer {self.name!r}: soil names organs {unknown} that body {body.name!r} "
                f"does not have; its organs: {', '.join(body.beds)}"
            )
