"""The engine's own autopsies: the simulator, not the closed form, at given parameters.

Used to make synthetic targets with known truth and to check a fit's closed-form model
against the engine (which also has colonies founded by metastases).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from metacascade.calibration.model import BARRIERS, Autopsy, slug
from metacascade.calibration.targets import Targets
from metacascade.citations import Parameter
from metacascade.engine.compile import CompiledModel, compile_model
from metacascade.engine.kernel import run
from metacascade.random import spawn_seeds
from metacascade.scenario import Scenario

FloatArray = NDArray[np.float64]


def engine_model(cancer: str, values: Mapping[str, float], autopsy: Autopsy,
                 organ_beds: Mapping[str, tuple[str, ...]]) -> CompiledModel:
    """Compile ``cancer``'s untreated natural history up to the autopsy at ``values``.

    ``organ_beds`` maps each target organ of the soil parameters to its beds.
    """
    data: dict[str, object] = {"cancer": cancer, "horizon_years": autopsy.years,
                               "primary_diameter_mm": autopsy.primary_diameter_mm}
    scenario = Scenario.model_validate(data)
    body, entry = scenario.resolve()
    if "arrest" in values:
        beds = [b for b in body.beds if b != "lymph_node"]
        data["body_overrides"] = {"arrest_per_pass": dict.fromkeys(beds, values["arrest"])}
    cascade: dict[str, object] = {}
    chosen = {b: values[f"extravasation.{b}"] for b in BARRIERS
              if f"extravasation.{b}" in values}
    if chosen:
        cascade["extravasation"] = chosen
    if "log10_dormant" in values:
        cascade["dormant_after_extravasation"] = 10.0 ** values["log10_dormant"]
    if cascade:
        data["cascade_overrides"] = cascade
    scenario = Scenario.model_validate(data)
    body, entry = scenario.resolve()
    soil = soil_by_bed(cancer, values, tuple(body.beds), organ_beds)
    params = {b: Parameter(v, "1", entry.soil_for(b).source, (0.0, 1000.0))
              for b, v in soil.items()}
    fitted = dataclasses.replace(entry, soil=params)
    return compile_model(body, fitted, scenario.cascade(), horizon_years=autopsy.years,
                         primary_diameter_mm=autopsy.primary_diameter_mm,
                         step_days=scenario.step_days, scenario=scenario.to_dict())


def soil_by_bed(cancer: str, values: Mapping[str, float], beds: tuple[str, ...],
                organ_beds: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    """Soil of every bed: the organ's fitted value, else the cancer's level, else 1."""
    level = 10.0 ** values.get(f"soil.{cancer}", 0.0)
    out = dict.fromkeys(beds, level)
    for organ, members in organ_beds.items():
        key = f"soil.{cancer}.{slug(organ)}"
        if key in values:
            for b in members:
                if b in out:
                    out[b] = 10.0 ** values[key]
    return out


def engine_involvement(targets: Targets, cancer: str, values: Mapping[str, float],
                       autopsy: Autopsy, n_patients: int, seed: int) -> NDArray[np.int64]:
    """Patients (of ``n_patients``) with each target organ involved at the autopsy."""
    model = engine_model(cancer, values, autopsy, targets.beds)
    index = {o: i for i, o in enumerate(model.organs)}
    counts = np.zeros(len(targets.organs), dtype=np.int64)
    for patient_seed in spawn_seeds(seed, n_patients):
        result = run(model, patient_seed)
        colonies = result.colonies
        if len(colonies) == 0:
            continue
        size = result.colony_diameter_mm_at(autopsy.day)
        seen = {index[o] for o, d in zip(colonies["organ"], size, strict=True)
                if d >= autopsy.min_diameter_mm}
        for j, organ in enumerate(targets.organs):
            if any(index[b] in seen for b in targets.beds[organ] if b in index):
                counts[j] += 1
    return counts
