"""Plain-data and text views of the catalogs, for ``metacascade catalog``.

Docs tables are generated from here, not written twice (STYLE.md item 4). A scenario
has views too, for ``metacascade report``: :func:`scenario_text` says it in words and
:func:`scenario_parameters` lists every parameter a run of it uses, with its source.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from metacascade.cancers import Cancer, get_cancer, list_cancers
from metacascade.cancers.cascade import DEFAULT_CASCADE
from metacascade.citations import Parameter
from metacascade.physiology import EMBOLI, SIZE_CLASSES, Body, get_body, list_bodies
from metacascade.units import quantity_text, unit_text, years_text

if TYPE_CHECKING:
    from metacascade.scenario import Scenario


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
        "other_soil": cancer.other_soil.to_dict(),
        "notes": cancer.notes,
    }


def catalog_dict() -> dict[str, Any]:
    """The whole catalog as plain data (``metacascade catalog --json``)."""
    return {
        "bodies": {name: body_dict(get_body(name)) for name in list_bodies()},
        "cancers": {name: cancer_dict(get_cancer(name)) for name in list_cancers()},
        "cascade": {name: p.to_dict() for name, p in DEFAULT_CASCADE.parameters().items()},
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
                "max_diameter_um": None if size.max_diameter is None
                else size.max_diameter.value,
                "max_diameter": None if size.max_diameter is None
                else size.max_diameter.to_dict(),
                "arrest_odds_factor": size.arrest_odds_factor.to_dict(),
            }
            for name, size in SIZE_CLASSES.items()
        },
        "clinic": {group: {name: p.to_dict() for name, p in parameters.items()}
                   for group, parameters in clinic_catalog().items()},
    }


def clinic_catalog() -> dict[str, dict[str, Parameter]]:
    """The clinic's default figures by group: deaths, RECIST, blood draws, imaging, therapy.

    A scenario's ``clinic`` may change the death thresholds, a draw's assay figures and a
    regimen's effects; the rest hold for every scenario.
    """
    from metacascade.clinic.biopsy import FALSE_POSITIVE_MEAN, RECOVERY
    from metacascade.clinic.criteria import LETHAL_BURDEN, RECIST, VITAL_ORGAN_LETHAL_CELLS
    from metacascade.clinic.imaging import MODALITIES
    from metacascade.clinic.therapy import REGIMEN_DEFAULTS

    out: dict[str, dict[str, Parameter]] = {
        "death": {"lethal_burden_cells": LETHAL_BURDEN,
                  **{f"vital_organ_lethal_cells.{organ}": p
                     for organ, p in VITAL_ORGAN_LETHAL_CELLS.items()}},
        "recist": dict(RECIST),
        "blood_draw": {"recovery": RECOVERY, "false_positive_mean": FALSE_POSITIVE_MEAN},
    }
    for name, modality in MODALITIES.items():
        out[f"imaging.{name}"] = modality.parameters()
    for kind, effects in REGIMEN_DEFAULTS.items():
        out[f"therapy.{kind}"] = dict(effects)
    return out


def value_text(p: Parameter) -> str:
    """A parameter's value with its unit, as ``metacascade catalog`` prints it."""
    return quantity_text(p.value, p.unit, ".4g")


_value = value_text


def _line(name: str, p: Parameter, cite: bool, indent: str = "    ") -> list[str]:
    lines = [f"{indent}{name:<28} {_value(p):<22} [{p.bounds[0]:g}, {p.bounds[1]:g}]"]
    if cite:
        lines.append(f"{indent}    source: {p.source.describe()}")
    return lines


def catalog_text(*, cite: bool = False) -> str:
    """Human-readable catalog: bodies, organs, cancers and the cascade, each value with its unit.

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
        out += _line("soil (organs not named)", cancer.other_soil, cite)
    out.append("")
    out.append("cascade (after arrest; every cancer, cascade_overrides in a scenario)")
    for pname, p in DEFAULT_CASCADE.parameters().items():
        out += _line(pname, p, cite, indent="  ")
    out.append("")
    out.append("emboli")
    for ename, kind in EMBOLI.items():
        out.append(f"  {ename}: {kind.label}")
        out += _line("arrest_odds_factor", kind.arrest_odds_factor, cite)
        out += _line("death_factor", kind.death_factor, cite)
        out += _line("killing_rate", kind.killing_rate, cite)
    out.append("CTC size classes")
    below = 0.0
    for sname, size in SIZE_CLASSES.items():
        span = (f"<= {size.max_diameter_um:g} um" if size.max_diameter is not None
                else f"> {below:g} um")
        below = size.max_diameter_um
        out += _line(f"{sname} ({span})", size.arrest_odds_factor, cite, indent="  ")
        if size.max_diameter is not None:
            out += _line("max_diameter", size.max_diameter, cite)
    out.append("")
    out.append("clinic (defaults; a scenario's clinic may change deaths, draws and regimens)")
    for group, parameters in clinic_catalog().items():
        out.append(f"  {group}")
        for pname, p in parameters.items():
            out += _line(pname, p, cite)
    return "\n".join(out)


# -- one scenario: the parameters it uses, and the scenario in words ------------------------
#: Groups of :func:`scenario_parameters`, in order.
PARAMETER_GROUPS = ("body", "cancer", "cascade", "clinic")


def scenario_parameters(scenario: Scenario) -> list[tuple[str, str, Parameter]]:
    """Every parameter a run of ``scenario`` uses: ``(group, name, parameter)``.

    The body, cancer and cascade parameters are those the engine compiles (their
    source keys are the run's ``provenance.json`` citations), with the scenario's
    overrides applied; the clinic group holds the death thresholds, and the assay,
    imaging and therapy parameters of the scans, draws and lines the scenario schedules.
    A value the scenario sets carries the source "set in the scenario".
    """
    body, cancer = scenario.resolve()
    out = [("body", name, p) for name, p in _body_parameters(body)]
    out += [("cancer", name, p) for name, p in cancer.parameters().items()]
    out += [("cancer", f"soil.{organ}", p) for organ, p in cancer.soil.items()]
    out += [("cancer", "soil (organs not named)", cancer.other_soil)]
    out += [("cascade", name, p) for name, p in scenario.cascade().parameters().items()]
    out += [("clinic", name, p) for name, p in _clinic_parameters(scenario)]
    return out


def _body_parameters(body: Body) -> list[tuple[str, Parameter]]:
    out = [("cardiac_output", body.cardiac_output), ("blood_volume", body.blood_volume),
           ("body_mass", body.body_mass)]
    for organ, bed in body.beds.items():
        out += [(f"{organ}.arrest_per_pass", bed.arrest_per_pass),
                (f"{organ}.death_per_pass", bed.death_per_pass),
                (f"{organ}.capillary_transit", bed.capillary_transit)]
        out += [(f"{organ}.drains_to.{target}", p) for target, p in bed.drains_to.items()]
    for name, junction in body.junctions.items():
        out.append((f"{name}.transit", junction.transit))
        out += [(f"{name}.feeds.{target}", p) for target, p in junction.feeds.items()]
    return out


def _clinic_parameters(scenario: Scenario) -> list[tuple[str, Parameter]]:
    from metacascade.clinic.biopsy import FALSE_POSITIVE_MEAN, RECOVERY
    from metacascade.clinic.course import LETHAL_BURDEN, VITAL_ORGAN_LETHAL_CELLS
    from metacascade.clinic.imaging import get_modality
    from metacascade.clinic.therapy import REGIMEN_DEFAULTS
    from metacascade.scenario import SCENARIO_SOURCE, Clinic

    clinic = scenario.clinic or Clinic()
    out = [("lethal_burden_cells", _as_set(LETHAL_BURDEN, clinic.lethal_burden_cells))]
    if clinic.vital_organ_lethal_cells is None:
        out += [(f"vital_organ_lethal_cells.{o}", p)
                for o, p in VITAL_ORGAN_LETHAL_CELLS.items()]
    else:
        out += [(f"vital_organ_lethal_cells.{o}", Parameter(v, "cell", SCENARIO_SOURCE))
                for o, v in clinic.vital_organ_lethal_cells.items()]
    for i, draw in enumerate(clinic.draws):
        out += [(f"draws.{i}.recovery", _as_set(RECOVERY, draw.recovery)),
                (f"draws.{i}.false_positive_mean",
                 _as_set(FALSE_POSITIVE_MEAN, draw.false_positive_mean))]
    for modality in dict.fromkeys(scan.modality for scan in clinic.scans):
        out += [(f"{modality}.{name}", p)
                for name, p in get_modality(modality).parameters().items()]
    lines = clinic.therapy.lines if clinic.therapy is not None else []
    for i, regimen in enumerate(lines):
        for name, default in REGIMEN_DEFAULTS[regimen.kind].items():
            out.append((f"therapy.lines.{i}.{name}", _as_set(default, getattr(regimen, name))))
    return out


def _as_set(default: Parameter, given: float | None) -> Parameter:
    """The default, or the value a scenario gave (source: set in the scenario)."""
    from metacascade.scenario import SCENARIO_SOURCE

    if given is None or given == default.value:
        return default
    return Parameter(float(given), default.unit, SCENARIO_SOURCE, default.bounds)


#: After a value a population draws per patient, in :func:`scenario_text`.
DRAWN_MARK = " (the base value: drawn per patient)"


def scenario_text(scenario: Scenario, drawn: Collection[str] = ()) -> list[str]:
    """The scenario in words.

    One paragraph each for the tumour, the run, the changes from the catalog and the
    clinic. ``drawn``: the dotted paths a population draws per patient; the values of
    ``scenario`` they replace are marked (:data:`DRAWN_MARK`), and the clinic paragraph
    names the drawn paths into the clinic.
    """
    def mark(path: str) -> str:
        return DRAWN_MARK if path in drawn else ""

    def cancer_mark(name: str) -> str:
        return mark(f"cancer_overrides.{name}")

    body, cancer = scenario.resolve()
    law = f"{cancer.growth_law} law"
    if cancer.growth_exponent is not None:
        law += f" (exponent {cancer.growth_exponent.value:g})"
    tumour = (
        f"A {cancer.label.lower()} (catalog entry '{cancer.name}') arising in the "
        f"{_words(cancer.primary_organ)} of the {body.label} ('{body.name}'). The primary "
        f"is {scenario.primary_diameter_mm:g} mm across at day 0{mark('primary_diameter_mm')} "
        f"and grows by a {law}, doubling in {_value(cancer.doubling_time)}"
        f"{cancer_mark('doubling_time')}, toward {_value(cancer.carrying_capacity)}"
        f"{cancer_mark('carrying_capacity')}; it sheds {_value(cancer.shedding_rate)}"
        f"{cancer_mark('shedding_rate')}, {_percent(cancer.cluster_share.value)} of emboli "
        f"as clusters{cancer_mark('cluster_share')}, "
        f"{_percent(cancer.platelet_share.value)} of single cells cloaked by platelets"
        f"{cancer_mark('platelet_share')} and {_percent(cancer.lymphatic_share.value)} of "
        f"cells first into the lymphatics{cancer_mark('lymphatic_share')}.")
    plexus = "open" if scenario.vertebral_plexus else "closed"
    seed = "" if scenario.seed is None else f", with seed {scenario.seed}"
    run = (f"The vertebral venous plexus is {plexus}{mark('vertebral_plexus')}. The run "
           f"covers {years_text(scenario.horizon_years)}{mark('horizon_years')} in steps of "
           f"{scenario.step_days:g} days{mark('step_days')}{seed}.")
    if scenario.embolus != "single":
        run += (f" (The scenario's embolus, {scenario.embolus}, is the kind the route "
                "command follows; a simulation sheds the mix above.)")
    changes = [f"{k} = {v}{mark(f'{part}.{k}')}"
               for part in ("cancer_overrides", "body_overrides", "cascade_overrides")
               for k, v in _flat(getattr(scenario, part).model_dump(exclude_none=True))]
    changed = ("Changed from the catalog: " + "; ".join(changes) + "." if changes
               else "Every parameter is the catalog's.")
    clinic = _clinic_text(scenario)
    in_clinic = [path for path in drawn if path == "clinic" or path.startswith("clinic.")]
    if in_clinic:
        clinic += (" Drawn per patient, in place of the base values: "
                   + ", ".join(in_clinic) + ".")
    return [tumour, run, changed, clinic]


def _clinic_text(scenario: Scenario) -> str:
    clinic = scenario.clinic
    if clinic is None:
        return ("No clinic: no scans, blood draws or therapy. The patient is followed to "
                "a lethal tumour burden (1e+12 cells in total, or a vital organ's "
                "threshold) or the horizon.")
    parts = []
    for scan in clinic.scans:
        where = f" ({', '.join(scan.regions)})" if scan.regions else ""
        parts.append(f"{_MODALITY_NAMES.get(scan.modality, _words(scan.modality))}{where} "
                     f"every {scan.every_weeks:g} "
                     f"weeks from day {scan.start_day:g}{_until(scan.stop_day)}")
    for draw in clinic.draws:
        parts.append(f"a {draw.volume_ml:g} mL blood draw from the {_words(draw.site)} every "
                     f"{draw.every_weeks:g} weeks from day {draw.start_day:g}"
                     f"{_until(draw.stop_day)}, CTCs counted")
    text = ("Follow-up: " + "; ".join(parts) + "." if parts
            else "Follow-up: no scans or blood draws.")
    if clinic.surgery_day is not None:
        text += f" The primary is removed on day {clinic.surgery_day:g}."
    therapy = clinic.therapy
    if therapy is not None:
        start = ("when a scan first finds a distant metastasis (M1)" if therapy.start_at_m1
                 else f"on day {therapy.start_day:g}")
        lines = ", then ".join(f"{r.name or r.kind} ({r.kind})" for r in therapy.lines)
        text += f" Systemic therapy starts {start}: {lines}"
        if therapy.switch_on:
            text += f"; a line is switched at {_events(therapy.switch_on)}"
        if therapy.stop_on:
            text += f"; therapy stops at {_events(therapy.stop_on)}"
        if therapy.stop_day is not None:
            text += f"; all therapy ends on day {therapy.stop_day:g}"
        text += "."
    return (f"{text} The patient is followed to a lethal tumour burden "
            f"({clinic.lethal_burden_cells:.3g} cells in total, or a vital organ's "
            "threshold) or the horizon.")


def population_text(population: Mapping[str, Any]) -> list[str]:
    """A cohort's ``population`` section in words: what each patient draws."""
    out = []
    for path, spec in population.items():
        unit = spec.get("unit") or ""
        if "lognormal" in spec:
            d = spec["lognormal"]
            how = (f"lognormal, median {d['median']:g}{unit_text(d['median'], unit)}, "
                   f"sigma {d['sigma']:g}")
        elif "uniform" in spec:
            d = spec["uniform"]
            how = (f"uniform between {d['low']:g} and {d['high']:g}"
                   f"{unit_text(d['high'], unit)}")
        else:
            d = spec["discrete"]
            weights = d.get("weights")
            how = "one of " + ", ".join(
                f"{v}{unit_text(v, unit) if isinstance(v, int | float) else ''}"
                for v in d["values"])
            if weights:
                how += " (weights " + ", ".join(f"{w:g}" for w in weights) + ")"
        out.append(f"{path}: {how}")
    return out


def _flat(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and not {"value", "unit"} >= set(value):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


_MODALITY_NAMES = {"ct": "CT", "mri": "MRI", "pet": "PET"}
_EVENT_NAMES = {"progression": "progression", "ctc_unfavourable": "an unfavourable CTC count"}


def _events(events: list[str]) -> str:
    return " or ".join(_EVENT_NAMES.get(e, _words(e)) for e in events)


def _words(name: str) -> str:
    return name.replace("_", " ")


def _percent(share: float) -> str:
    return f"{100 * share:.3g}%"


def _until(stop: float | None) -> str:
    return "" if stop is None else f" to day {stop:g}"
