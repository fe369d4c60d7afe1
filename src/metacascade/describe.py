"""Plain-data and text views of the catalogs, for ``metacascade catalog``.

Docs tables are generated from here, not written twice (STYLE.md item 4).
"""

from __future__ import annotations

from typing import Any

from metacascade.cancers import Cancer, get_cancer, list_cancers
from metacascade.citations import Parameter
from metacascade.physiology import EMBOLI, SIZE_CLASSES, Body, get_body, list_bodies


def body_dict(body: Body) -> dict[str, Any]:
    """Every figure of a body with unit, bounds and source."""
    return {
        "label": body.label,
        "sex": body.sex,
        "cardiac_output": body.cardiac_output.to_dict(),
        "blood_volume": body.blood_volume.to_dict(),
        "body_mass": body.body_mass.to_dict(),
        "organs": {
            name: {
                "label": bed.label,
                "barrier": bed.barrier,
                "arterial_share": _share_or_none(body, name),
                "drains_to": {t: p.to_dict() for t, p in bed.drains_to.items()},
                "arrest_per_pass": bed.arrest_per_pass.to_dict(),
                "death_per_pass": bed.death_per_pass.to_dict(),
                "capillary_transit": bed.capillary_transit.to_dict(),
            }
            for name, bed in body.beds.items()
        },
        "junctions": {
            name: {
                "label": j.label,
                "feeds": {t: p.to_dict() for t, p in j.feeds.items()},
                "transit": j.transit.to_dict(),
            }
            for name, j in body.junctions.items()
        },
    }


def _share_or_none(body: Body, organ: str) -> dict[str, Any] | None:
    feeds = body.junctions["arterial"].feeds
    return feeds[organ].to_dict() if organ in feeds else None


def cancer_dict(cancer: Cancer) -> dict[str, Any]:
    """Every parameter of a cancer type with unit, bounds and source."""
    return {
        "label": cancer.label,
        "primary_organ": cancer.primary_organ,
        "sexes": list(cancer.sexes),
        "default_body": cancer.default_body,
        "growth_law": cancer.growth_law,
        "ctc_size_class": cancer.size_class.name,
        "parameters": {k: p.to_dict() for k, p in cancer.parameters().items()},
        "soil": {k: p.to_dict() for k, p in cancer.soil.items()},
        "notes": cancer.notes,
    }


def catalog_dict() -> dict[str, Any]:
    """The whole catalog as plain data (``metacascade catalog --json``)."""
    return {
        "bodies": {name: body_dict(get_body(name)) for name in list_bodies()},
        "cancers": {name: cancer_dict(get_cancer(name)) for name in list_cancers()},
        "emboli": {
            name: {
                "label": kind.label,
                "arrest_odds_factor": kind.arrest_odds_factor.to_dict(),
                "death_factor": kind.death_factor.to_dict(),
                "killing_rate": kind.killing_rate.to_dict(),
            }
            for name, kind in EMBOLI.items()
        },
        "size_classes": {
            name: {
                "max_diameter_um": size.max_diameter_um
                if size.max_diameter_um != float("inf") else None,
                "arrest_odds_factor": size.arrest_odds_factor.to_dict(),
            }
            for name, size in SIZE_CLASSES.items()
        },
    }


def _value(p: Parameter) -> str:
    unit = "" if p.unit == "1" else f" {p.unit}"
    return f"{p.value:.4g}{unit}"


def _line(name: str, p: Parameter, cite: bool, indent: str = "    ") -> list[str]:
    lines = [f"{indent}{name:<28} {_value(p):<22} [{p.bounds[0]:g}, {p.bounds[1]:g}]"]
    if cite:
        lines.append(f"{indent}    source: {p.source.describe()}")
    return lines


def catalog_text(*, cite: bool = False) -> str:
    """Human-readable catalog: bodies, organs and cancers, each value with its unit.

    With ``cite``, every value's source follows it.
    """
    out: list[str] = []
    for name in list_bodies():
        body = get_body(name)
        out.append(f"body {name}: {body.label} ({body.sex})")
        out += _line("cardiac_output", body.cardiac_output, cite)
        out += _line("blood_volume", body.blood_volume, cite)
        out += _line("body_mass", body.body_mass, cite)
        out.append("  organs (capillary beds): arterial share of cardiac output, drainage")
        for organ, bed in body.beds.items():
            drains = ", ".join(f"{t} {p.value:.3g}" for t, p in bed.drains_to.items())
            out.append(f"    {organ:<18} {bed.label:<28} -> {drains}")
            feeds = body.junctions["arterial"].feeds
            if organ in feeds:
                out += _line("arterial_share", feeds[organ], cite, indent="        ")
            if cite:
                for target, p in bed.drains_to.items():
                    out += _line(f"drains_to.{target}", p, cite, indent="        ")
            out += _line("arrest_per_pass", bed.arrest_per_pass, cite, indent="        ")
            out += _line("death_per_pass", bed.death_per_pass, cite, indent="        ")
            out += _line("capillary_transit", bed.capillary_transit, cite, indent="        ")
        out.append("  junctions")
        for jname, junction in body.junctions.items():
            if jname == "arterial":
                out.append(f"    {jname:<18} {junction.label} -> every organ by arterial share")
            else:
                feeds_text = ", ".join(f"{t} {p.value:.3g}" for t, p in junction.feeds.items())
                out.append(f"    {jname:<18} {junction.label} -> {feeds_text}")
                if cite:
                    for target, p in junction.feeds.items():
                        out += _line(f"feeds.{target}", p, cite, indent="        ")
            out += _line("transit", junction.transit, cite, indent="        ")
        out.append("")
    out.append("cancers")
    for name in list_cancers():
        cancer = get_cancer(name)
        out.append(f"  {name}: {cancer.label}; arises in {cancer.primary_organ} "
                   f"(default body {cancer.default_body}); growth {cancer.growth_law}; "
                   f"CTC size class {cancer.size_class.name}")
        for pname, p in cancer.parameters().items():
            out += _line(pname, p, cite)
        for organ, p in cancer.soil.items():
            out += _line(f"soil.{organ}", p, cite)
        out.append("    (organs not named: neutral soil 1)")
    out.append("")
    out.append("emboli")
    for ename, kind in EMBOLI.items():
        out.append(f"  {ename}: {kind.label}")
        out += _line("arrest_odds_factor", kind.arrest_odds_factor, cite)
        out += _line("death_factor", kind.death_factor, cite)
        out += _line("killing_rate", kind.killing_rate, cite)
    out.append("CTC size classes")
    for sname, size in SIZE_CLASSES.items():
        out += _line(f"{sname} (<= {size.max_diameter_um:g} um)", size.arrest_odds_factor, cite,
                     indent="  ")
    return "\n".join(out)
