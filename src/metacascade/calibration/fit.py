"""The diSibio calibration: two ABC-SMC stages, checks against the engine, and the report.

Stage 1, *flow*: blood flow alone decides the pattern. Fitted jointly over every primary:
the shared physiology (single-cell arrest, extravasation per vessel-wall kind, dormancy)
and one soil level per primary (its overall efficiency).
Stage 2, *flow + soil*: per primary, one soil per target organ, with the shared physiology
fixed at the stage-1 posterior medians. The primaries are fitted as independent tasks on
the cohort executors (local pool or Dask), each from its own seed.

Then: posterior predictive intervals (closed form, binomial over the row's autopsies),
Spearman correlation and variance explained per primary for both stages, the engine's own
autopsies at the fitted values (the closed form leaves out colonies founded by
metastases), synthetic recovery of known soils, and the seed-document facts.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from metacascade._checks import as_path, whole_number
from metacascade.calibrated import FORMAT, SOIL_RANGE
from metacascade.calibration.engine_check import engine_involvement
from metacascade.calibration.estimator import Calibration, require_pyabc
from metacascade.calibration.model import (
    SHARED,
    Autopsy,
    AutopsyModel,
    arrest_bounds,
    parameter_names,
    slug,
)
from metacascade.calibration.targets import CalibrationError, Targets, load_targets
from metacascade.cancers.cascade import DEFAULT_CASCADE

FloatArray = NDArray[np.float64]

#: Prior bounds (uniform on these scales) of every parameter kind.
SOIL_PRIOR = (math.log10(SOIL_RANGE[0]), math.log10(SOIL_RANGE[1]))


def shared_prior() -> dict[str, tuple[float, float]]:
    """Uniform priors of the shared parameters: the catalog's stated bounds."""
    prior: dict[str, tuple[float, float]] = {"arrest": arrest_bounds()}
    for name, value in DEFAULT_CASCADE.extravasation.items():
        if name != "lymph_node":
            prior[f"extravasation.{name}"] = (float(value.bounds[0]), float(value.bounds[1]))
    low, high = DEFAULT_CASCADE.dormant_after_extravasation.bounds
    prior["log10_dormant"] = (float(np.log10(low)), float(np.log10(high)))
    return prior


@dataclass(frozen=True)
class Settings:
    """How hard to fit: ABC sizes, engine patients, synthetic primaries."""

    population_size: int = 400
    generations: int = 10
    flow_population_size: int = 400
    flow_generations: int = 20
    engine_patients: int = 300
    synthetic: tuple[str, ...] = ("breast", "colon")
    predictive_draws: int = 400


@dataclass(frozen=True)
class FitTask:
    """One stage-2 fit (a primary), as an executor task."""

    population: dict[str, Any]
    seed: int
    index: int
    out: str


#: What the workers of a Dask cluster need to calibrate (said when they cannot).
_SHARED = ("the workers of a Dask cluster (--scheduler) must see the output directory at "
           "the same path as this process: a file system they share")


def run_fit_task(task: FitTask) -> int:
    """Fit one primary's organ soils; write its posterior to ``out/<name>.json``.

    Refused before fitting where ``out`` is no directory: a worker that does not share
    the run's file system (which created it) could not write the fit where it is read.
    """
    if not Path(task.out).is_dir():  # (created by the run's process)
        raise CalibrationError(f"out: {task.out!r} is not a directory on "
                               f"{platform.node()!r}, where the fit of "
                               f"{task.population['name']} ran; {_SHARED}")
    spec = task.population
    fitted = fit_primary(Targets.from_dict(spec["targets"]), spec["fixed"],
                         Autopsy(**spec["autopsy"]), spec["population_size"],
                         spec["generations"], tuple(spec["soil_prior"]), task.seed)
    path = Path(task.out) / f"{spec['name']}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(fitted), encoding="utf-8")
    tmp.replace(path)
    return task.index


def fit_primary(targets: Targets, fixed: Mapping[str, float], autopsy: Autopsy,
                population_size: int, generations: int, prior: tuple[float, float],
                seed: int) -> dict[str, Any]:
    """Organ soils of one primary, one ABC-SMC fit per organ.

    With the shared physiology fixed, an organ's share depends on its own soil only and
    the autopsy counts are independent binomials, so the joint posterior is the product
    of the one-organ posteriors (under independent uniform priors): fitting them one by
    one is exact, and far better conditioned than one 12-dimensional ABC.
    """
    (cancer,) = targets.cancers
    seeds = np.random.SeedSequence(seed).generate_state(len(targets.organs))
    posterior: dict[str, Any] = {}
    summary, generation_rows, point, runtime = [], [], {}, 0.0
    reached: dict[str, bool | None] = {}
    for j, organ in enumerate(targets.organs):
        if not targets.mask[0, j]:
            continue
        name = f"soil.{cancer}.{slug(organ)}"
        fit = Calibration(targets.only(cancer, organ), [name], {name: prior}, fixed=fixed,
                          autopsy=autopsy, population_size=population_size,
                          generations=generations, seed=int(seeds[j])).fit()
        posterior[name] = {"value": fit.posterior_[name].tolist(),
                           "weight": fit.posterior_["weight"].tolist()}
        summary.append(fit.summary_.reset_index().to_dict(orient="records")[0])
        generation_rows += [{"parameter": name, **g}
                            for g in fit.generations_.to_dict(orient="records")]
        point[name] = fit.point_[name]
        reached[name] = fit.reached_posterior_
        runtime += fit.runtime_s_
    return {"posterior": posterior, "summary": summary, "generations": generation_rows,
            "point": point, "reached_posterior": reached, "seed": seed, "runtime_s": runtime}


def fit_to_dict(c: Calibration) -> dict[str, Any]:
    """A fitted calibration as plain data."""
    return {"posterior": c.posterior_.to_dict(orient="list"),
            "summary": c.summary_.reset_index().to_dict(orient="records"),
            "generations": c.generations_.to_dict(orient="records"),
            "point": c.point_, "reached_posterior": c.reached_posterior_, "seed": c.seed_,
            "runtime_s": c.runtime_s_}


def calibrate(targets_name: str = "disibio2008", *, out: str | os.PathLike[str], seed: int = 1,
              settings: Settings | None = None, executor: Any = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole calibration; write ``calibration.json`` and ``fit.png`` in ``out``."""
    from metacascade.cohort.executors import LocalExecutor

    seed = whole_number(seed, "seed", low=0, high=2**63 - 1, allowed="in [0, 2^63)",
                        error=CalibrationError)  # (NumPy's whole numbers too)
    out = as_path(out, "out", noun="a directory's path", error=CalibrationError)
    settings = settings or Settings()
    say = progress or (lambda _msg: None)
    targets = load_targets(targets_name)
    require_pyabc()  # (before anything is written)
    autopsy = Autopsy()
    seeds = np.random.SeedSequence(seed).generate_state(3 + len(targets.cancers))
    start = time.perf_counter()
    work = out / "fits"
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CalibrationError(f"out: cannot create {str(work)!r}: "
                               f"{error.strerror or error}") from None

    say("stage 1: blood flow alone (shared physiology + one soil level per primary)")
    flow_names = [*SHARED, *parameter_names(targets, soil="flow")]
    flow_prior = {**shared_prior(), **dict.fromkeys(parameter_names(targets, soil="flow"),
                                                    SOIL_PRIOR)}
    flow = Calibration(targets, flow_names, flow_prior, autopsy=autopsy,
                       population_size=settings.flow_population_size,
                       generations=settings.flow_generations, seed=int(seeds[0])).fit()
    shared = {k: flow.point_[k] for k in SHARED}
    if flow.reached_posterior_ is False:
        say(tempered_note("stage 1", flow.generations_.to_dict(orient="records"),
                          settings.flow_generations))

    say(f"stage 2: soil per organ, {len(targets.cancers)} primaries")
    tasks = [FitTask({"name": c, "targets": targets.subset([c]).to_dict(), "fixed": shared,
                      "soil_prior": list(SOIL_PRIOR), "autopsy": autopsy.__dict__,
                      "population_size": settings.population_size,
                      "generations": settings.generations},
                     int(seeds[3 + i]), i, str(work.absolute()))  # (as a worker sees it)
             for i, c in enumerate(targets.cancers)]
    executor = executor or LocalExecutor()
    for done, index in enumerate(executor.run(run_fit_task, tasks), start=1):
        say(f"  fitted {targets.cancers[index]} ({done}/{len(tasks)})")
    fits = {c: _read_fit(work / f"{c}.json") for c in targets.cancers}
    point = {**shared, **{k: v for f in fits.values() for k, v in f["point"].items()}}
    organ_fits = [r for f in fits.values() for r in f["reached_posterior"].values()]
    if not all(organ_fits):
        say(f"note: stage 2: {organ_fits.count(False)} of {len(organ_fits)} organ fits "
            "stopped before temperature 1 (fits/*.json: their generations)")
    report = _evaluate(targets, autopsy, flow, fits, point, settings, int(seeds[1]), say)
    report["held_out"] = held_out(targets, autopsy, point)
    say("synthetic recovery")
    report["synthetic_recovery"] = [
        recover(targets, c, shared, autopsy, settings, int(seeds[2]) + k)
        for k, c in enumerate(settings.synthetic)]
    report.update({
        "targets": {"name": targets.name, "source": targets.source,
                    "table": targets.table().to_dict(orient="records")},
        "beds": {organ: list(b) for organ, b in targets.beds.items()},
        "autopsy": autopsy.__dict__, "seed": seed, "settings": settings.__dict__,
        "stage1": {**fit_to_dict(flow), "posterior": None},
        "stage2": {c: {**f, "posterior": None} for c, f in fits.items()},
        "point": point, "runtime_s": time.perf_counter() - start,
        "reached_posterior": {"stage1": flow.reached_posterior_,
                              "stage2": {"fits": len(organ_fits),
                                         "reached": sum(bool(r) for r in organ_fits)}},
    })
    return report


def _read_fit(path: Path) -> dict[str, Any]:
    """A primary's fit, which its task wrote (refused, not a traceback, if it is not here)."""
    try:
        fitted: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"out: the fit of {path.stem} ran, but {str(path)!r} is not "
                               f"there; {_SHARED}") from None
    return fitted


def tempered_note(stage: str, generations: Sequence[Mapping[str, Any]], most: int) -> str:
    """Say that a fit stopped before temperature 1, where and why."""
    last = generations[-1]
    why = (f"its acceptance rate fell to {last['acceptance_rate']:.3g}"
           if len(generations) < most else f"it ran its {most} generations")
    ess = (f"; its {last['particles']} particles weigh as {last['ess']:.3g}"
           if "ess" in last else "")
    return (f"note: {stage} stopped at temperature {last['epsilon']:.4g}, not 1, after "
            f"generation {last['generation']} ({why}): its values are those of a tempered "
            f"posterior, broader than the posterior{ess}")


def _evaluate(targets: Targets, autopsy: Autopsy, flow: Calibration,
              fits: Mapping[str, Any], point: Mapping[str, float], settings: Settings,
              seed: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Per primary: observed, both models, intervals, Spearman, R^2, the engine's shares."""
    model = AutopsyModel(targets, autopsy)
    soil_fit = model.shares(point)
    flow_fit = flow.expected_shares()
    predictive = _predictive(targets, autopsy, fits, point, settings, seed)
    observed = targets.shares
    per_primary = []
    engine = np.full(observed.shape, np.nan)
    for i, cancer in enumerate(targets.cancers):
        say(f"  engine autopsies: {cancer}")
        keep = targets.mask[i]
        n = settings.engine_patients
        engine[i] = engine_involvement(targets, cancer, point, autopsy, n, seed + i) / n
        engine[i, ~keep] = np.nan
        per_primary.append({
            "cancer": cancer, "row": targets.rows[i],
            "spearman_soil": _spearman(soil_fit[i, keep], observed[i, keep]),
            "spearman_flow": _spearman(flow_fit[i, keep], observed[i, keep]),
            "spearman_engine": _spearman(engine[i, keep], observed[i, keep]),
            "r2_soil": _r2(soil_fit[i, keep], observed[i, keep]),
            "r2_flow": _r2(flow_fit[i, keep], observed[i, keep]),
        })
    organs = []
    for i, cancer in enumerate(targets.cancers):
        for j, organ in enumerate(targets.organs):
            if targets.mask[i, j]:
                lo, hi = np.nanquantile(predictive[:, i, j], [0.05, 0.95])
                organs.append({"cancer": cancer, "organ": organ,
                               "observed": observed[i, j], "flow": flow_fit[i, j],
                               "soil": soil_fit[i, j], "soil_q05": lo, "soil_q95": hi,
                               "engine": engine[i, j],
                               "covered": bool(lo <= observed[i, j] <= hi)})
    mask = targets.mask
    pooled = {"r2_soil": _r2(soil_fit[mask], observed[mask]),
              "r2_flow": _r2(flow_fit[mask], observed[mask]),
              "spearman_soil": _spearman(soil_fit[mask], observed[mask]),
              "spearman_flow": _spearman(flow_fit[mask], observed[mask]),
              "spearman_engine": _spearman(engine[mask], observed[mask]),
              "predictive_coverage_90": float(np.mean([o["covered"] for o in organs])),
              "engine_minus_closed_form_max": float(np.nanmax(np.abs(engine - soil_fit)))}
    return {"per_primary": per_primary, "organs": organs, "pooled": pooled,
            "facts": facts(targets, soil_fit)}


def _predictive(targets: Targets, autopsy: Autopsy, fits: Mapping[str, Any],
                point: Mapping[str, float], settings: Settings, seed: int) -> FloatArray:
    """(draws, cancers, organs) posterior predictive shares of the stage-2 fits."""
    rng = np.random.default_rng(seed)
    model = AutopsyModel(targets, autopsy)
    draws = settings.predictive_draws
    out = np.empty((draws, *targets.counts.shape))
    picks = {}
    for f in fits.values():
        for name, post in f["posterior"].items():
            w = np.asarray(post["weight"], dtype=float)
            picks[name] = np.asarray(post["value"])[rng.choice(len(w), draws, p=w / w.sum())]
    for k in range(draws):
        values = dict(point)
        values.update({name: float(v[k]) for name, v in picks.items()})
        out[k] = model.sample(values, rng)
    return out


def facts(targets: Targets, shares: FloatArray) -> dict[str, Any]:
    """The seed document's organ facts, read off fitted shares."""
    organs = list(targets.organs)

    def share(cancer: str, organ: str) -> float:
        if cancer not in targets.cancers:
            return float("nan")
        return float(shares[targets.cancers.index(cancer), organs.index(organ)])

    weights = targets.n_autopsies[:, None] * targets.mask
    overall = np.nansum(np.nan_to_num(shares) * weights, axis=0) / weights.sum(axis=0)
    first = {c: organs[int(np.nanargmax(shares[i]))] for i, c in enumerate(targets.cancers)}
    rank = {c: [organs[k] for k in np.argsort(-np.nan_to_num(shares[i], nan=-1))]
            for i, c in enumerate(targets.cancers)}
    return {
        "overall_share": dict(zip(organs, overall.round(4).tolist(), strict=True)),
        "lung_most_involved_overall": organs[int(np.argmax(overall))] == "lung",
        "first_organ": first,
        "liver_first_stomach_colon_pancreas": all(
            first.get(c) == "liver" for c in ("stomach", "colon", "pancreas")),
        "bone_rank_breast_prostate": {c: rank[c].index("bone") + 1
                                      for c in ("breast", "prostate") if c in rank},
        "bone_prominent_breast_prostate": all(
            rank[c].index("bone") < 3 for c in ("breast", "prostate") if c in rank),
        "brain_share_lung_breast": {c: share(c, "brain") for c in ("lung", "breast")},
        "brain_reached_lung_breast": all(share(c, "brain") >= 0.05 for c in ("lung", "breast")),
    }


def held_out(targets: Targets, autopsy: Autopsy,
             point: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each primary's organ pattern predicted from the other primaries' fitted soils.

    The fitted soil model has one soil per primary and organ, so it cannot be checked on
    organs it did not see. What can be: whether the soils share an organ component (the
    "soil" of Paget, independent of the seed). Each primary's log10 soils are split into
    its mean over its target organs and an organ profile; the profile of organ *o* is
    predicted as the mean profile of *o* in the other primaries (leave one primary out),
    added to the primary's own mean (the one number taken from its row), and turned into
    autopsy shares with the shared physiology. Spearman against the observed shares says
    how much of the pattern transfers; flow alone is the baseline.
    """
    mask = targets.mask
    logs = np.full(targets.counts.shape, np.nan)
    for i, cancer in enumerate(targets.cancers):
        for j, organ in enumerate(targets.organs):
            if mask[i, j]:
                logs[i, j] = point[f"soil.{cancer}.{slug(organ)}"]
    means = np.nanmean(logs, axis=1)
    profile = logs - means[:, None]
    model = AutopsyModel(targets, autopsy)
    shared = {k: point[k] for k in SHARED if k in point}
    predicted = np.full(targets.counts.shape, np.nan)
    rows = []
    for i, cancer in enumerate(targets.cancers):
        others = np.delete(profile, i, axis=0)
        organ_effect = np.nanmean(others, axis=0)  # every organ is a target of >= 2 rows
        values = dict(shared)
        for j, organ in enumerate(targets.organs):
            if mask[i, j]:
                values[f"soil.{cancer}.{slug(organ)}"] = float(means[i] + organ_effect[j])
        predicted[i] = model.shares(values)[i]
        keep = mask[i]
        rows.append({"cancer": cancer,
                     "spearman": _spearman(predicted[i, keep], targets.shares[i, keep]),
                     "r2": _r2(predicted[i, keep], targets.shares[i, keep])})
    return rows


def recover(targets: Targets, cancer: str, shared: Mapping[str, float], autopsy: Autopsy,
            settings: Settings, seed: int) -> dict[str, Any]:
    """Synthetic recovery: fit engine-made autopsies at known soils; is the truth covered.

    The truth is the observed pattern's own soil fit rounded to a tenth (log10), so it is
    a plausible point; the targets are counts of the *engine's* autopsies of as many
    patients as the real row has.
    """
    sub = targets.subset([cancer])
    names = parameter_names(sub, soil="organ")
    rng = np.random.default_rng(seed)
    truth = {n: float(np.round(rng.uniform(-3.0, 1.0), 1)) for n in names}
    counts = engine_involvement(sub, cancer, {**shared, **truth}, autopsy,
                                int(sub.n_autopsies[0]), seed)
    synthetic = sub.with_counts(counts[None, :], f"synthetic-{cancer}-{seed}")
    fit = fit_primary(synthetic, shared, autopsy, settings.population_size,
                      settings.generations, SOIL_PRIOR, seed)
    rows = []
    for s in fit["summary"]:
        n = s["parameter"]
        rows.append({"parameter": n, "truth": truth[n], "q025": float(s["q025"]),
                     "median": float(s["median"]), "q975": float(s["q975"]),
                     "covered": bool(s["q025"] <= truth[n] <= s["q975"])})
    return {"cancer": cancer, "n_patients": int(sub.n_autopsies[0]), "parameters": rows,
            "covered": int(sum(r["covered"] for r in rows)), "of": len(rows)}


def _spearman(a: FloatArray, b: FloatArray) -> float:
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def _r2(predicted: FloatArray, observed: FloatArray) -> float:
    """Share of the variance of ``observed`` explained by ``predicted`` (1 - SSres/SStot)."""
    total = float(np.sum((observed - observed.mean()) ** 2))
    if total == 0:
        return float("nan")
    return 1.0 - float(np.sum((observed - predicted) ** 2)) / total


#: Settings of ``metacascade calibrate --quick``: a smoke run (about a minute).
QUICK = Settings(population_size=60, generations=4, flow_population_size=100,
                 flow_generations=4, engine_patients=40, synthetic=("colon",),
                 predictive_draws=50)


def catalog_values(report: Mapping[str, Any], command: str) -> dict[str, Any]:
    """What the catalogs take from a calibration (:mod:`metacascade.calibrated`).

    Shared physiology: the stage-1 posterior (arrest, extravasation per wall kind,
    dormancy). Soils: per primary, the stage-2 posterior of each target organ for the
    organ's beds, and the primary's stage-1 soil level (``soil.<cancer>.other``) for the
    beds no autopsy target covers (the lymph node too). Values are posterior medians on
    natural scales with 95 % intervals; ``shares`` are the closed-form autopsy shares at
    those values, which the catalog defaults must reproduce.
    """
    from metacascade._version import __version__

    targets = report["targets"]
    beds = {organ: list(b) for organ, b in report["beds"].items()}
    stage1 = {row["parameter"]: row for row in report["stage1"]["summary"]}
    parameters: dict[str, Any] = {}

    def put(name: str, row: Mapping[str, Any], basis: str, log10: bool = False) -> None:
        convert = (lambda v: 10.0 ** float(v)) if log10 else float
        parameters[name] = {"value": convert(row["median"]), "q025": convert(row["q025"]),
                            "q975": convert(row["q975"]), "basis": basis}

    put("arrest", stage1["arrest"], "stage 1 (blood flow alone), shared by every primary")
    for barrier in ("sinusoid", "fenestrated", "continuous", "blood_brain"):
        name = f"extravasation.{barrier}"
        put(name, stage1[name], "stage 1 (blood flow alone), shared by every primary")
    put("dormant_after_extravasation", stage1["log10_dormant"],
        "stage 1 (blood flow alone), shared by every primary", log10=True)
    for cancer, fit in report["stage2"].items():
        put(f"soil.{cancer}.other", stage1[f"soil.{cancer}"],
            "the primary's stage-1 soil level (blood flow alone): no autopsy target covers "
            "this bed", log10=True)
        for row in fit["summary"]:
            organ_slug = row["parameter"].split(".", 2)[2]
            organ = next(o for o in beds if slug(o) == organ_slug)
            for bed in beds[organ]:
                put(f"soil.{cancer}.{bed}", row,
                    f"stage 2 (flow + soil): {organ} at autopsy, given the shared "
                    "physiology", log10=True)
    shares: dict[str, dict[str, float]] = {}
    for row in report["organs"]:
        shares.setdefault(row["cancer"], {})[row["organ"]] = float(row["soil"])
    return {"format": FORMAT, "calibration": run_name(report),
            "command": command, "version": __version__, "data": targets["source"],
            "autopsy": report["autopsy"],
            "parameters": parameters, "shares": shares}


def run_name(report: Mapping[str, Any]) -> str:
    """The calibration's name: its targets and seed (``disibio2008-seed1``).

    ``-quick`` or ``-custom`` is added for a run not made with the default
    :class:`Settings`, so that it is not taken for the real one.
    """
    settings = {k: tuple(v) if isinstance(v, list) else v
                for k, v in dict(report.get("settings") or {}).items()}
    kind = ("" if settings == Settings().__dict__ else "-quick"
            if settings == QUICK.__dict__ else "-custom")
    return f"{report['targets']['name']}-seed{report['seed']}{kind}"


def write_calibration(report: dict[str, Any], out: Path, command: str = "") -> None:
    """Write ``calibration.json``, ``catalog_values.json`` and ``fit.png`` into ``out``.

    Each file is written atomically. ``command`` (how the run was made) goes into
    ``catalog_values.json``, the file ``make calibration`` copies into the package.
    """
    from metacascade.outputs import plain_json
    from metacascade.plots.calibration import fit_figure

    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(plain_json(report), indent=1, allow_nan=True)
    values = json.dumps(plain_json(catalog_values(
        report, command or f"metacascade calibrate --targets {report['targets']['name']} "
        f"--seed {report['seed']} --out DIR")), indent=1)
    for name, write in (
            ("calibration.json", lambda p: p.write_text(text + "\n", encoding="utf-8")),
            ("catalog_values.json", lambda p: p.write_text(values + "\n", encoding="utf-8")),
            ("fit.png", lambda p: fit_figure(report).savefig(p, dpi=100, format="png"))):
        tmp = out / f".{name}.tmp"
        write(tmp)
        tmp.replace(out / name)


def check_out(out: Path) -> None:
    """Refuse an output path that is a file, or a directory holding other files."""
    if out.exists() and not out.is_dir():
        raise CalibrationError(f"out: {str(out)!r} exists and is not a directory")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise CalibrationError(f"out: {str(out)!r}: {str(parent)!r} is a file, not a "
                                   "directory")
    if out.is_dir():
        ours = {"calibration.json", "catalog_values.json", "fit.png", "fits"}
        other = sorted(p.name for p in out.iterdir()
                       if p.name not in ours and not p.name.startswith("."))
        if other:
            raise CalibrationError(f"out: {str(out)!r} holds other files "
                                   f"({', '.join(other[:3])}); give an empty or new directory")
