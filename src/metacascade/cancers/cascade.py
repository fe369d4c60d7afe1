"""Parameters of the cascade after arrest: extravasation, cell fates, colony growth.

These are shared by all cancer types unless a scenario overrides them; each is a
stated assumption (with the figure it rests on) or a citation. The calibration issue
fits the most uncertain of them against autopsy data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from metacascade.calibrated import calibrated
from metacascade.citations import Parameter, assumed, cited
from metacascade.references import DEL_MONTE_2009

#: Vessel-wall kinds of metacascade.physiology.model.BARRIERS, in that order.
BARRIER_ORDER = ("sinusoid", "fenestrated", "continuous", "blood_brain", "lymph_node")


def _extravasation() -> dict[str, Parameter]:
    return {
        "sinusoid": calibrated(
            "extravasation.sinusoid", "1", (0.5, 1.0),
            "crossing a sinusoid wall (liver, marrow, spleen); prior 0.5-1 from > 80 % of "
            "arrested B16F10 cells extravasating by 24 h (Koop 1995)"),
        "fenestrated": calibrated(
            "extravasation.fenestrated", "1", (0.2, 0.95),
            "crossing fenestrated capillaries (kidney, gut, endocrine); prior 0.2-0.95"),
        "continuous": calibrated(
            "extravasation.continuous", "1", (0.1, 0.95),
            "crossing continuous endothelium (lung, muscle, skin); prior 0.1-0.95"),
        "blood_brain": calibrated(
            "extravasation.blood_brain", "1", (0.01, 0.6),
            "crossing the blood-brain barrier; prior 0.01-0.6"),
        "lymph_node": assumed(0.8, "1", "cells retained in a node sinus are already in "
                              "tissue", (0.3, 1.0)),
    }


@dataclass(frozen=True, eq=False)
class Cascade:
    """Post-arrest parameters of the cascade (shared by cancer types by default).

    Attributes
    ----------
    extravasation
        Barrier kind -> probability that an arrested cell crosses the vessel wall.
    dormant_after_extravasation, divide_after_extravasation
        Fates of a cell that crossed: it becomes dormant, starts dividing (multiplied
        by the organ's soil), or dies (the rest).
    establishment
        Probability that a dividing cell's birth-death lineage escapes extinction,
        1 - d/b. With the net growth rate r = b - d = ln 2 / doubling time, b = r / q.
    wake_rate, dormant_death_rate
        Hazards of a dormant cell waking (to divide) or dying, per day.
    avascular_cells
        Size at which an avascular colony stops growing until its angiogenic switch.
    switch_rate
        Hazard of the angiogenic switch for a colony at its avascular limit, per day.
    metastasis_capacity
        Size toward which a vascularised metastasis grows (Gompertz), cells.
    doubling_reference_cells
        Size at which a vascularised metastasis doubles in its cancer's doubling time,
        cells: smaller colonies grow faster, larger ones slower (Gompertz). At or below
        ``avascular_cells``, colonies grow at the doubling time from their founding.
    cells_per_cm3
        Tumour cells per cm^3 (and per gram).
    macrometastasis_diameter
        Diameter from which a colony counts as a macrometastasis, mm.

    """

    extravasation: dict[str, Parameter] = field(default_factory=_extravasation)
    dormant_after_extravasation: Parameter = field(default_factory=lambda: calibrated(
        "dormant_after_extravasation", "1", (1e-9, 0.5),
        "share of extravasated cells that persist as solitary dormant cells; most die "
        "within days (Luzzi et al. 1998; Fidler 1970: about 1 % alive at 24 h, in mice); "
        "prior log-uniform 1e-9-0.5"))
    divide_after_extravasation: Parameter = field(default_factory=lambda: assumed(
        1e-7, "1", "share of extravasated cells that start dividing in a neutral soil; "
        "soil multiplies it. Chosen so that a 1 cm primary (about 1e9 cells shed a year) "
        "founds a few lasting colonies a year: patients' metastatic inefficiency is far "
        "beyond the 2 % of injected mouse cells that divide (Luzzi 1998); to be "
        "calibrated", (1e-12, 1e-2)))
    establishment: Parameter = field(default_factory=lambda: assumed(
        0.1, "1", "share of dividing cells whose birth-death lineage escapes extinction, "
        "1 - d/b; with net growth r = b - d set by the doubling time, b = r / 0.1",
        (1e-3, 0.99)))
    wake_rate: Parameter = field(default_factory=lambda: assumed(
        1e-5, "1/d", "dormant cells wake over years to decades: late recurrence of ER+ "
        "breast cancer goes on at a steady rate for 5-20 years (Pan 2017); with the death "
        "hazard below, about 1 % of dormant cells ever wake", (1e-7, 1e-1)))
    dormant_death_rate: Parameter = field(default_factory=lambda: assumed(
        1e-3, "1/d", "dormant cells are slowly lost over years: the pool halves in about "
        "1.9 years, so after the primary is removed its cells wake at a falling rate, not "
        "at the steady rate of years 5-20 of late recurrence (Pan 2017), which needs 1e-5/d "
        "or less", (1e-6, 1e-1)))
    avascular_cells: Parameter = field(default_factory=lambda: assumed(
        1e6, "cell", "avascular colonies stall at about 0.2-2 mm, 1e5-1e6 cells (Folkman)",
        (1e5, 1e7)))
    switch_rate: Parameter = field(default_factory=lambda: assumed(
        1.0 / 180.0, "1/d", "a colony waits months at its avascular limit before the "
        "angiogenic switch", (1e-4, 1.0)))
    metastasis_capacity: Parameter = field(default_factory=lambda: assumed(
        1e11, "cell", "plateau of one metastasis: a tenth of the lethal burden of about "
        "1e12 cells used in models (Coumans 2013, supplement)", (1e9, 1e12)))
    doubling_reference_cells: Parameter = field(default_factory=lambda: assumed(
        1e5, "cell", "at or below the avascular limit (the default, the lowest avascular "
        "limit allowed), colonies grow at the cancer's doubling time from their founding, "
        "then slow (the model the diSibio calibration and the documented figures use). "
        "Clinical doubling times are measured on tumours seen on imaging, about 1 cm "
        "across, about 1e9 cells at 1e9 cells/cm^3 (Peer 1993, mammograms; Finlay 1988, "
        "liver metastases on CT: overt 155 d, occult 86 d, the smaller growing faster); "
        "1e9 makes small colonies grow 2-2.5 times faster", (1e5, 1e11)))
    cells_per_cm3: Parameter = field(default_factory=lambda: cited(
        1e9, "cell/cm^3", DEL_MONTE_2009.at("abstract", "1e9 cells per cm^3 by convention; "
                                            "about 1e8 for epithelial tumours; also used as "
                                            "cells per gram (density 1 g/cm^3)"), (1e8, 1e9)))
    cells_per_cluster: Parameter = field(default_factory=lambda: assumed(
        5.0, "cell", "CTC clusters hold from 2 to tens of cells, most a few (Aceto 2014)",
        (2.0, 50.0)))
    surface_share: Parameter = field(default_factory=lambda: assumed(
        0.7, "1", "metastases lie mostly near the organ surface", (0.3, 0.95)))
    necrosis_diameter: Parameter = field(default_factory=lambda: assumed(
        10.0, "mm", "a nodule outgrows its supply and its centre necroses from about 1 cm",
        (2.0, 40.0)))
    macrometastasis_diameter: Parameter = field(default_factory=lambda: assumed(
        2.0, "mm", "clinical convention: micrometastases are under 2 mm", (0.2, 10.0)))

    #: Scalar parameter names (overridable in scenarios).
    @classmethod
    def scalar_names(cls) -> tuple[str, ...]:
        """Names of the scalar parameters."""
        return tuple(f.name for f in fields(cls) if f.name != "extravasation")

    def parameters(self) -> dict[str, Parameter]:
        """Every parameter by name (extravasation as ``extravasation.<barrier>``)."""
        out = {name: getattr(self, name) for name in self.scalar_names()}
        out.update({f"extravasation.{k}": v for k, v in self.extravasation.items()})
        return out


DEFAULT_CASCADE = Cascade()
