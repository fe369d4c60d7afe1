"""Descriptions of a body: capillary beds, junctions and the routes between them.

A :class:`Body` is a directed graph. *Beds* are capillary beds (an organ's
microcirculation, where an embolus may arrest); *junctions* are where blood from
several beds mixes before it is handed on (the vena cavae and right heart, the aorta,
the portal vein, the vertebral venous plexus, the lymphatics). Each bed drains into
junctions or beds with fractions that sum to 1; each junction feeds beds or other
junctions with fractions that sum to 1. The ``arterial`` junction's fractions are the
organs' shares of cardiac output; the ``venous`` junction ("the heart": vena cavae and
right heart) feeds the lung.

These are descriptions only: :mod:`metacascade.physiology.routing` compiles them into
arrays. :meth:`Body.validate` refuses an inconsistent body with a message naming the
bed or junction at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from metacascade._frozen import reduce_by_fields
from metacascade.citations import Assumption, Parameter
from metacascade.errors import BodyError

#: Tolerance on sums of fractions (they are stored to a few decimals).
SUM_TOLERANCE = 1e-6

#: Kinds of vessel wall, which later set extravasation (issue: engine).
BARRIERS = ("sinusoid", "fenestrated", "continuous", "blood_brain", "lymph_node")

VENOUS = "venous"
ARTERIAL = "arterial"
VERTEBRAL_PLEXUS = "vertebral_plexus"


def _frozen(mapping: Mapping[str, Parameter]) -> Mapping[str, Parameter]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class Bed:
    """A capillary bed: where an embolus may arrest.

    Parameters
    ----------
    name
        Organ identifier, a short lower-case word (``"lung"``, ``"vertebral_marrow"``).
    label
        Human-readable name.
    drains_to
        Target (junction or bed name) -> fraction of this bed's outflow.
    arrest_per_pass
        Probability that a reference single tumour cell (medium size class) arrests
        on one pass through this bed.
    death_per_pass
        Probability that a reference single cell is killed (shear, deformation) on
        one pass through this bed.
    capillary_transit
        Mean transit time through the bed's capillaries, in s.
    barrier
        Vessel wall kind, one of :data:`BARRIERS`.

    """

    name: str
    label: str
    drains_to: Mapping[str, Parameter]
    arrest_per_pass: Parameter
    death_per_pass: Parameter
    capillary_transit: Parameter
    barrier: str

    __reduce__ = reduce_by_fields  # pickled as its arguments (_frozen.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drains_to", _frozen(self.drains_to))


@dataclass(frozen=True, eq=False)
class Junction:
    """A mixing point in the circulation (a vein, the heart, the aorta, lymph ducts).

    Parameters
    ----------
    name, label
        Identifier and human-readable name.
    feeds
        Target (bed or junction name) -> fraction of this junction's flow.
    transit
        Mean time from entering the junction to reaching the next bed, in s.

    """

    name: str
    label: str
    feeds: Mapping[str, Parameter]
    transit: Parameter

    __reduce__ = reduce_by_fields  # pickled as its arguments (_frozen.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "feeds", _frozen(self.feeds))


@dataclass(frozen=True, eq=False)
class Body:
    """A reference body: whole-body figures, capillary beds and junctions.

    Parameters
    ----------
    name, label
        Identifier (``"adult_male"``) and human-readable name.
    sex
        ``"male"`` or ``"female"``.
    cardiac_output
        L/min.
    blood_volume
        L.
    body_mass
        kg.
    beds, junctions
        Name -> description, in a stable order.

    """

    name: str
    label: str
    sex: str
    cardiac_output: Parameter
    blood_volume: Parameter
    body_mass: Parameter
    beds: Mapping[str, Bed]
    junctions: Mapping[str, Junction]
    notes: tuple[str, ...] = field(default=())

    __reduce__ = reduce_by_fields  # pickled as its arguments (_frozen.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "beds", MappingProxyType(dict(self.beds)))
        object.__setattr__(self, "junctions", MappingProxyType(dict(self.junctions)))

    # -- queries -------------------------------------------------------------------
    @property
    def organs(self) -> tuple[str, ...]:
        """Names of the capillary beds, in catalog order."""
        return tuple(self.beds)

    def arterial_share(self, organ: str) -> float:
        """Share of cardiac output delivered to ``organ`` by the arterial junction."""
        feeds = self.junctions[ARTERIAL].feeds
        return feeds[organ].value if organ in feeds else 0.0

    def circulation_time_s(self) -> float:
        """Blood volume / cardiac output, in s (ICRP 89: 49 s male, 40 s female)."""
        return 60.0 * self.blood_volume.value / self.cardiac_output.value

    def has_vertebral_plexus(self) -> bool:
        """Whether any bed drains into the vertebral venous plexus."""
        return VERTEBRAL_PLEXUS in self.junctions

    # -- variants ------------------------------------------------------------------
    def without_vertebral_plexus(self) -> Body:
        """The same body with the vertebral venous plexus closed.

        Every flow that went into the plexus goes to the vena cava instead (the
        ordinary caval route), so the routes out of pelvis and breast pass the lung.
        """
        if not self.has_vertebral_plexus():
            return self
        reason = Assumption("vertebral venous plexus switched off: its share joins the vena cava")
        beds = {}
        for name, bed in self.beds.items():
            beds[name] = replace(bed, drains_to=_redirect(bed.drains_to, reason))
        junctions = {
            name: replace(j, feeds=_redirect(j.feeds, reason))
            for name, j in self.junctions.items()
            if name != VERTEBRAL_PLEXUS
        }
        body = replace(self, beds=beds, junctions=junctions,
                       notes=(*self.notes, "vertebral venous plexus switched off"))
        return body.validate()

    # -- validation ----------------------------------------------------------------
    def validate(self) -> Body:
        """Check the body is a consistent circulation; return it, or raise BodyError.

        Checks: names are unique; arterial shares and every other junction's feeds
        sum to 1; every bed drains somewhere and its fractions sum to 1; every target
        exists; junctions form no loop among themselves, so that every route out of a
        junction ends in a capillary bed; the venous junction (the heart) feeds the
        lung.
        """
        where = f"body {self.name!r}"
        if self.sex not in ("male", "female"):
            raise BodyError(f"{where}: sex must be 'male' or 'female', not {self.sex!r}")
        clash = set(self.beds) & set(self.junctions)
        if clash:
            raise BodyError(f"{where}: {sorted(clash)} are both beds and junctions")
        for required in (VENOUS, ARTERIAL):
            if required not in self.junctions:
                raise BodyError(f"{where}: has no {required!r} junction")
        if "lung" not in self.beds:
            raise BodyError(f"{where}: has no 'lung' bed")
        nodes = set(self.beds) | set(self.junctions)
        for name, bed in self.beds.items():
            if bed.barrier not in BARRIERS:
                raise BodyError(
                    f"{where}: bed {name!r} has barrier {bed.barrier!r}; allowed: "
                    f"{', '.join(BARRIERS)}"
                )
            _check_fractions(f"{where}: bed {name!r} drainage fractions", bed.drains_to, nodes,
                             empty=f"{where}: bed {name!r} drains nowhere")
            if name in bed.drains_to:
                raise BodyError(f"{where}: bed {name!r} drains into itself")
        for name, junction in self.junctions.items():
            what = (f"{where}: arterial shares" if name == ARTERIAL
                    else f"{where}: junction {name!r} feeds")
            _check_fractions(what, junction.feeds, nodes,
                             empty=f"{where}: junction {name!r} feeds nothing")
        if set(self.junctions[VENOUS].feeds) != {"lung"}:
            raise BodyError(f"{where}: the venous junction (the heart) must feed only 'lung'")
        _check_no_junction_loop(where, self.junctions)
        return self


def _redirect(mapping: Mapping[str, Parameter], reason: Assumption) -> dict[str, Parameter]:
    """Move a fraction that goes into the vertebral plexus to the venous junction."""
    if VERTEBRAL_PLEXUS not in mapping:
        return dict(mapping)
    out = {k: v for k, v in mapping.items() if k != VERTEBRAL_PLEXUS}
    moved = mapping[VERTEBRAL_PLEXUS].value
    total = min(1.0, moved + (out[VENOUS].value if VENOUS in out else 0.0))
    out[VENOUS] = Parameter(total, "1", reason, (0.0, 1.0))
    return out


def _check_fractions(what: str, fractions: Mapping[str, Parameter], nodes: set[str],
                     *, empty: str) -> None:
    if not fractions:
        raise BodyError(empty)
    for target, frac in fractions.items():
        if target not in nodes:
            raise BodyError(
                f"{what}: target {target!r} is neither a bed nor a junction of this body"
            )
        if not 0.0 <= frac.value <= 1.0:
            raise BodyError(f"{what}: fraction to {target!r} is {frac.value:g}, not in [0, 1]")
    total = sum(f.value for f in fractions.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise BodyError(f"{what} sum to {total:.6g}; they must sum to 1")


def _check_no_junction_loop(where: str, junctions: Mapping[str, Junction]) -> None:
    """Depth-first search for a cycle among junction -> junction edges."""
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in junctions[name].feeds:
            if target not in junctions:
                continue
            if state.get(target) == 1:
                stack = [*path, name]
                loop = " -> ".join([*stack[stack.index(target):], target])
                raise BodyError(f"{where}: junctions form a loop ({loop}); a route must "
                                "end in a capillary bed")
            if target not in state:
                visit(target, [*path, name])
        state[name] = 2

    for name in junctions:
        if name not in state:
            visit(name, [])
