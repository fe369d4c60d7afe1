"""Calibration: targets, the closed-form autopsy model against the engine, the estimator.

Statistical tests state their level; the fits are seeded, so each outcome is fixed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

import metacascade
from metacascade.analysis.autopsy import disibio_counts
from metacascade.calibration import (
    Autopsy,
    AutopsyModel,
    Calibration,
    CalibrationError,
    load_targets,
    parameter_names,
)
from metacascade.calibration.engine_check import engine_involvement, engine_model
from metacascade.calibration.forward import expected_colonies
from metacascade.cli import app
from metacascade.engine.kernel import run
from metacascade.random import spawn_seeds

pytest.importorskip("pyabc")

#: Significance level of the statistical tests here.
ALPHA = 0.001


def test_targets_are_the_hematogenous_disibio_counts() -> None:
    t = load_targets("disibio2008")
    table = disibio_counts()
    assert t.cancers == ("breast", "prostate", "colon", "rectum", "lung", "stomach",
                         "pancreas", "kidney", "melanoma")
    assert not {"LN(reg)", "pleura", "peritoneum", "omentum"} & set(t.organs)
    assert table.loc["breast", "lung"] == t.counts[0, t.organs.index("lung")]
    assert t.n_autopsies[t.cancers.index("melanoma")] == table.loc["skin body", "N_autopsies"]
    # The primary's own organ is not a metastasis: lung for lung, skin for melanoma.
    assert not t.mask[t.cancers.index("lung"), t.organs.index("lung")]
    assert not t.mask[t.cancers.index("melanoma"), t.organs.index("skin")]
    assert t.mask.sum() == 9 * 12 - 4  # lung, melanoma skin, kidney kidney, pancreas
    with pytest.raises(CalibrationError, match="unknown set 'nope'"):
        load_targets("nope")


def test_closed_form_matches_the_engine_at_one_year() -> None:
    """Mean colonies per organ over 300 engine patients vs the closed form (Poisson z)."""
    autopsy = Autopsy(years=1.0)
    values = {"soil.colon": -0.5, "log10_dormant": -4.0}
    model = engine_model("colon", values, autopsy, load_targets().beds)
    expected = expected_colonies(model, autopsy.day)
    n = 300
    counts = np.zeros(model.n_organs)
    for seed in spawn_seeds(5, n):
        organs = run(model, seed).colonies["organ"]
        counts += np.bincount([model.organs.index(o) for o in organs], minlength=model.n_organs)
    for organ in ("lung", "liver"):
        k = model.organs.index(organ)
        z = (counts[k] - n * expected[k]) / np.sqrt(n * expected[k])
        assert abs(z) < stats.norm.ppf(1 - ALPHA / 2), (organ, counts[k], n * expected[k])


def test_the_model_predicts_shares_from_soil() -> None:
    t = load_targets().subset(["breast"])
    model = AutopsyModel(t)
    low = model.shares({"soil.breast": -3.0})
    high = model.shares({"soil.breast": -1.0})
    assert np.all(high[t.mask] > low[t.mask])
    assert np.all((low[t.mask] >= 0) & (low[t.mask] <= 1))
    with pytest.raises(CalibrationError, match="unknown name"):
        model.shares({"soil.breast.elbow": 0.0})


def _fit(targets, name, seed):
    return Calibration(targets, [name], {name: (-6.0, 3.0)},
                       fixed={"log10_dormant": -6.0}, population_size=100, generations=4,
                       seed=seed).fit()


def test_recovers_a_known_soil_from_engine_autopsies() -> None:
    """Engine autopsies at soil 10^-2.5 for colon's liver: the 95 % interval covers it."""
    t = load_targets().subset(["colon"])
    name = "soil.colon.liver"
    truth = {"soil.colon": -3.0, name: -2.5, "log10_dormant": -6.0}
    counts = engine_involvement(t, "colon", truth, Autopsy(), 300, 11)
    synthetic = t.with_counts(counts[None, :], "synthetic").only("colon", "liver")
    synthetic = type(synthetic)(synthetic.name, synthetic.source, synthetic.cancers,
                                synthetic.rows, synthetic.organs, synthetic.beds,
                                np.array([300]), synthetic.counts)
    fit = Calibration(synthetic, [name], {name: (-6.0, 3.0)},
                      fixed={"soil.colon": -3.0, "log10_dormant": -6.0},
                      population_size=150, generations=5, seed=3).fit()
    s = fit.summary_.loc[name]
    assert s["q025"] <= -2.5 <= s["q975"], s
    assert s["q975"] - s["q025"] < 1.0  # the data inform the soil


def test_fit_is_reproducible_and_follows_the_estimator_contract() -> None:
    t = load_targets().only("breast", "bone")
    name = "soil.breast.bone"
    c = Calibration(t, [name], {name: (-6.0, 3.0)}, seed=1)
    assert not hasattr(c, "posterior_")
    with pytest.raises(CalibrationError, match="not fitted"):
        c.predict(5)
    a = _fit(t, name, 7)
    b = _fit(t, name, 7)
    assert a.posterior_.equals(b.posterior_)
    assert not a.posterior_.equals(_fit(t, name, 8).posterior_)
    assert abs(a.posterior_["weight"].sum() - 1) < 1e-12
    draws = a.predict(20, seed=1)
    assert draws.shape == (20, *t.counts.shape)
    observed = t.shares[t.mask][0]
    assert abs(float(np.nanmedian(draws[:, 0, t.organs.index("bone")])) - observed) < 0.15


def test_bad_calibration_input_is_refused() -> None:
    t = load_targets().subset(["breast"])
    with pytest.raises(CalibrationError, match="prior: no bounds"):
        Calibration(t, ["soil.breast"], {}).fit()
    with pytest.raises(CalibrationError, match=r"prior.soil.breast: \(1.0, 0.0\)"):
        Calibration(t, ["soil.breast"], {"soil.breast": (1.0, 0.0)}).fit()
    with pytest.raises(CalibrationError, match="unknown name"):
        Calibration(t, ["soil.breast.elbow"], {"soil.breast.elbow": (0.0, 1.0)}).fit()
    assert parameter_names(t, soil="flow") == ["soil.breast"]
    for targets in (None, "disibio2008"):
        with pytest.raises(CalibrationError, match=r"^targets: a Targets \(load_targets"):
            Calibration(targets, ["soil.breast"], {"soil.breast": (0.0, 1.0)}).fit()
    with pytest.raises(CalibrationError, match=r"^autopsy: an Autopsy or None, not int"):
        Calibration(t, ["soil.breast"], {"soil.breast": (0.0, 1.0)}, autopsy=3).fit()
    for bad in (float("nan"), True, "1"):
        with pytest.raises(CalibrationError, match=r"^soil.breast: .* must be a finite number"):
            Calibration(t, ["soil.breast.bone"], {"soil.breast.bone": (0.0, 1.0)},
                        fixed={"soil.breast": bad}).fit()


def test_cli_refuses_bad_targets_and_outputs(tmp_path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["calibrate", "--targets", "nope", "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2
    assert "unknown set 'nope'" in bad.output and "Traceback" not in bad.output
    file = tmp_path / "f"
    file.write_text("keep", encoding="utf-8")
    bad = runner.invoke(app, ["calibrate", "--out", str(file)])
    assert bad.exit_code == 2 and "not a directory" in bad.output
    assert file.read_text(encoding="utf-8") == "keep"
    other = tmp_path / "o"
    other.mkdir()
    (other / "mine.txt").write_text("x", encoding="utf-8")
    bad = runner.invoke(app, ["calibrate", "--out", str(other), "--workers", "0"])
    assert bad.exit_code == 2 and "--workers" in bad.output


def _grid_posterior(targets, name, fixed, prior=(-6.0, 3.0), points=3001):
    """Exact posterior of one soil on a grid: uniform prior x binomial likelihood."""
    model = AutopsyModel(targets)
    grid = np.linspace(*prior, points)
    k = targets.counts[targets.mask]
    n = np.broadcast_to(targets.n_autopsies[:, None], targets.counts.shape)[targets.mask]
    loglik = np.array([stats.binom.logpmf(
        k, n, np.clip(model.shares({**fixed, name: x})[targets.mask], 1e-300, 1 - 1e-16)).sum()
        for x in grid])
    w = np.exp(loglik - loglik.max())
    return grid, w / w.sum()


@pytest.mark.parametrize("organ", ["lung", "adrenal"])
def test_binomial_kernel_samples_the_exact_posterior(organ) -> None:
    """The ABC posterior mean of one soil against the grid posterior (z test, ALPHA).

    The standard error uses the effective sample size of the weighted particles. Breast's
    lung is the case where tolerance ABC fails (most of the prior saturates the lung at
    100 %, its median tolerance stalls): the same test with ``kernel="distance"`` fails.
    """
    t = load_targets().only("breast", organ)
    name = f"soil.breast.{organ}"
    fixed = {"arrest": 0.8, "log10_dormant": -4.0}
    grid, p = _grid_posterior(t, name, fixed)
    mean = float(np.sum(grid * p))
    sd = float(np.sqrt(np.sum((grid - mean) ** 2 * p)))
    fit = Calibration(t, [name], {name: (-6.0, 3.0)}, fixed=fixed, population_size=300,
                      generations=10, seed=5).fit()
    assert fit.generations_["epsilon"].iloc[-1] == 1.0  # the last generation is exact
    assert fit.reached_posterior_ is True
    w = fit.posterior_["weight"].to_numpy()
    x = fit.posterior_[name].to_numpy()
    ess = 1.0 / float(np.sum(w ** 2))
    z = (float(np.sum(w * x)) - mean) / (sd / np.sqrt(ess))
    assert abs(z) < stats.norm.ppf(1 - ALPHA / 2), (organ, float(np.sum(w * x)), mean, sd, ess)


def test_catalog_defaults_reproduce_the_fit() -> None:
    """Default scenarios (catalog values, no overrides) give the calibration's shares.

    The packaged calibration's values are what the catalog compiles; its autopsy, run in
    closed form from the default scenario of each fitted primary, gives the shares the
    fit reported (within the arrest interpolation of the fit, 0.01), and those shares
    rank the organs as diSibio's autopsies do (Spearman >= 0.8 for every primary).
    """
    from metacascade.calibrated import calibration_run
    from metacascade.engine.compile import compile_scenario
    from metacascade.scenario import Scenario

    run_data = calibration_run()
    t = load_targets()
    autopsy = Autopsy(**run_data["autopsy"])
    for i, cancer in enumerate(t.cancers):
        model = compile_scenario(Scenario.model_validate({
            "cancer": cancer, "horizon_years": autopsy.years,
            "primary_diameter_mm": autopsy.primary_diameter_mm}))
        colonies = expected_colonies(model, autopsy.day, autopsy.min_diameter_mm)
        keep = t.mask[i]
        shares = np.array([
            -np.expm1(-sum(colonies[model.organs.index(b)] for b in t.beds[o]))
            for o in t.organs])
        fitted = np.array([run_data["shares"][cancer].get(o, np.nan) for o in t.organs])
        assert np.allclose(shares[keep], fitted[keep], atol=0.01), (cancer, shares, fitted)
        rho = stats.spearmanr(shares[keep], t.shares[i, keep]).statistic
        assert rho >= 0.8, (cancer, rho)


def test_held_out_prediction_is_exact_when_soils_share_an_organ_profile() -> None:
    """Soils = primary level + organ effect: leaving a primary out loses nothing."""
    from metacascade.calibration.fit import held_out
    from metacascade.calibration.model import slug

    t = load_targets()
    rng = np.random.default_rng(3)
    level = rng.uniform(-3, 0, len(t.cancers))
    organ = rng.uniform(-1, 1, len(t.organs))
    point = {"arrest": 0.8, "log10_dormant": -5.0}
    for i, c in enumerate(t.cancers):
        for j, o in enumerate(t.organs):
            if t.mask[i, j]:
                point[f"soil.{c}.{slug(o)}"] = float(level[i] + organ[j])
    shares = AutopsyModel(t).shares(point)
    for i, row in enumerate(held_out(t, Autopsy(), point)):
        keep = t.mask[i]
        expected = stats.spearmanr(shares[i, keep], t.shares[i, keep]).statistic
        assert row["spearman"] == pytest.approx(expected, abs=1e-12), row
    # A primary whose profile differs from the others' is not predicted as well.
    point[f"soil.breast.{slug('adrenal')}"] += 3.0
    broken = held_out(t, Autopsy(), point)[0]
    fitted = stats.spearmanr(AutopsyModel(t).shares(point)[0, t.mask[0]],
                             t.shares[0, t.mask[0]]).statistic
    assert broken["spearman"] != pytest.approx(fitted, abs=1e-6)


@pytest.mark.parametrize(("args", "needle"), [
    (["--seed", "-1"], "seed: -1 must be a whole number in [0, 2^63)"),
    (["--seed", str(2**63)], f"seed: {2**63} must be a whole number in [0, 2^63)"),
    (["--out", "{file}/sub"], "is a file, not a directory"),
])
def test_cli_refuses_a_bad_seed_and_an_out_under_a_file(tmp_path, args, needle) -> None:
    """One line and exit status 2, not numpy's or mkdir's traceback; nothing written."""
    file = tmp_path / "file"
    file.write_text("keep", encoding="utf-8")
    args = [a.replace("{file}", str(file)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "c")]
    bad = CliRunner().invoke(app, ["calibrate", "--quick", *args])
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and needle in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert file.read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"population_size": 10.5}, r"population_size: 10\.5 must be a whole number >= 10"),
    ({"population_size": True}, "population_size: True must be a whole number >= 10"),
    ({"generations": True}, "generations: True must be a whole number >= 1"),  # (ran 1)
    ({"generations": 1.5}, r"generations: 1\.5 must be a whole number >= 1"),
    ({"min_acceptance_rate": float("nan")}, r"min_acceptance_rate: nan must be a number"),
    ({"min_acceptance_rate": -1}, r"min_acceptance_rate: -1 must be a number in \[0, 1\]"),
    ({"seed": True}, "seed: True is not a whole number"),
    ({"prior": {"soil.breast": (True, 10.0)}}, r"prior\.soil\.breast: \(True, 10\.0\) must be"),
    ({"prior": {"soil.breast": ("a", 10.0)}}, r"prior\.soil\.breast: .* two numbers"),
    ({"parameters": "soil.breast"}, "parameters: a list of names, not the string"),
])
def test_calibration_arguments_are_checked_before_fitting(kwargs, needle) -> None:
    t = load_targets().subset(["breast"])
    args = {"parameters": ["soil.breast"], "prior": {"soil.breast": (0.1, 10.0)}, **kwargs}
    calibration = Calibration(t, args.pop("parameters"), args.pop("prior"), **args)
    with pytest.raises(CalibrationError, match=needle):
        calibration.fit()
    assert not hasattr(calibration, "posterior_")


def test_numpy_numbers_pass_the_checks_and_bad_autopsies_and_organs_are_named(tmp_path):
    from metacascade.calibration.fit import calibrate

    t = load_targets().subset("breast")  # a str is one primary (not its letters)
    assert t.cancers == ("breast",)
    Calibration(t, ["soil.breast"], {"soil.breast": (np.float64(0.1), np.int64(10))},
                population_size=np.int64(20), generations=np.int64(2))._check()
    for name, value in (("years", float("nan")), ("years", -1.0), ("years", True),
                        ("primary_diameter_mm", 0.0), ("min_diameter_mm", -1.0)):
        with pytest.raises(CalibrationError, match=rf"^autopsy\.{name}: "):
            Autopsy(**{name: value})
    with pytest.raises(CalibrationError, match="have no organ 'elbow'"):
        t.only("breast", "elbow")
    # a NumPy seed passes calibrate's check (it stops at the unknown targets, before
    # anything is written)
    with pytest.raises(CalibrationError, match="unknown set 'nope'"):
        calibrate("nope", out=str(tmp_path / "c"), seed=np.int64(3))
    assert list(tmp_path.iterdir()) == []


def test_a_fit_stopped_before_temperature_1_says_so() -> None:
    """A run stopped by its acceptance rate samples a tempered posterior:
    ``reached_posterior_`` and the note say so (nothing did). (pyABC's temperature
    schedule reaches 1 at the last of the generations allowed.)"""
    from metacascade.calibration.fit import tempered_note

    t = load_targets().only("breast", "lung")
    name = "soil.breast.lung"
    fit = Calibration(t, [name], {name: (-6.0, 3.0)}, fixed={"arrest": 0.8},
                      population_size=50, generations=5, min_acceptance_rate=0.5,
                      seed=2).fit()
    last = fit.generations_.iloc[-1]
    assert len(fit.generations_) < 5 and last["acceptance_rate"] < 0.5
    assert last["epsilon"] > 1 and fit.reached_posterior_ is False
    rows = fit.generations_.to_dict(orient="records")
    assert tempered_note("stage 1", rows, 5) == (
        f"note: stage 1 stopped at temperature {last['epsilon']:.4g}, not 1, after "
        f"generation {len(rows) - 1} (its acceptance rate fell to "
        f"{last['acceptance_rate']:.3g}): its values are those of a tempered posterior, "
        f"broader than the posterior; its 50 particles weigh as {last['ess']:.3g}")
    # Kish's effective sample size: the particles when their weights are equal (the
    # prior's generation), fewer when they are not.
    w = fit.posterior_["weight"].to_numpy()
    assert last["ess"] == pytest.approx(1 / np.sum(w ** 2))
    assert fit.generations_["ess"].iloc[0] == pytest.approx(50)
    assert "(it ran its 1 generations)" in tempered_note("stage 1", rows[:1], 1)
    distance = Calibration(t, [name], {name: (-6.0, 3.0)}, fixed={"arrest": 0.8},
                           population_size=50, generations=1, seed=2,
                           kernel="distance").fit()
    assert distance.reached_posterior_ is None


def test_a_quick_or_custom_run_is_named_so() -> None:
    """A quick run's catalog values carried the real run's name (disibio2008-seed1)."""
    from dataclasses import replace

    from metacascade.calibration.fit import QUICK, Settings, run_name

    def name(settings: Settings) -> str:
        return run_name({"targets": {"name": "disibio2008"}, "seed": 1,
                         "settings": settings.__dict__})

    assert name(Settings()) == "disibio2008-seed1"
    assert name(QUICK) == "disibio2008-seed1-quick"
    assert name(replace(Settings(), generations=12)) == "disibio2008-seed1-custom"
    # read back from calibration.json (tuples become lists): the same names
    assert run_name({"targets": {"name": "disibio2008"}, "seed": 1,
                     "settings": json.loads(json.dumps(QUICK.__dict__))}).endswith("-quick")
    packaged = json.loads((Path(metacascade.__file__).parent / "data"
                           / "calibrated_disibio2008.json").read_text())
    assert packaged["calibration"] == "disibio2008-seed1"


class _Stage1:
    """Stands for stage 1's Calibration: the shared physiology, without fitting it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        from metacascade.calibration import fit

        self.point_ = dict.fromkeys(fit.SHARED, 1.0)
        self.reached_posterior_ = True

    def fit(self) -> _Stage1:
        return self


def test_the_fits_are_given_an_absolute_directory(tmp_path, monkeypatch) -> None:
    """A relative ``out``: the primaries' fits are written where the run is, not in the
    working directory of a Dask worker (``--scheduler``)."""
    from metacascade.calibration import fit

    class Given(Exception):
        pass

    class Executor:
        def run(self, fn: object, tasks: list[fit.FitTask]) -> list[int]:
            raise Given({task.out for task in tasks})

    monkeypatch.setattr(fit, "Calibration", _Stage1)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Given) as given:
        fit.calibrate(out="rel", executor=Executor())
    assert given.value.args[0] == {str(tmp_path / "rel" / "fits")}


def test_fits_written_out_of_the_run_s_sight_are_refused(tmp_path, monkeypatch):
    """``calibrate --scheduler`` on workers that do not share the output directory: one
    line saying what they need (it was a FileNotFoundError traceback)."""
    from metacascade.calibration import fit
    from metacascade.calibration.targets import CalibrationError

    shared = ("the workers of a Dask cluster (--scheduler) must see the output directory "
              "at the same path as this process: a file system they share")

    class Elsewhere:  # workers that ran every fit and wrote it on their own file system
        def run(self, fn: object, tasks: list[fit.FitTask]) -> list[int]:
            return [task.index for task in tasks]

    monkeypatch.setattr(fit, "Calibration", _Stage1)
    with pytest.raises(CalibrationError, match=r"^out: the fit of \w+ ran, but '.*fits/\w+"
                       r"\.json' is not there; " + re.escape(shared) + "$"):
        fit.calibrate(out=tmp_path / "c", executor=Elsewhere())

    # A worker that does not see the directory is refused before it fits.
    task = fit.FitTask({"name": "breast"}, 1, 0, str(tmp_path / "not-here" / "fits"))
    with pytest.raises(CalibrationError, match=r"^out: '.*not-here/fits' is not a directory "
                       r"on '.*', where the fit of breast ran; " + re.escape(shared) + "$"):
        fit.run_fit_task(task)
    assert not (tmp_path / "not-here").exists()
