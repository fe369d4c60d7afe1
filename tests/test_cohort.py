"""Virtual cohorts: populations, shards, executors, resume after SIGKILL, refusals."""

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cohort_helpers import assert_same, kill_after_shards
from metacascade.cli import app
from metacascade.cohort import (
    DaskExecutor,
    LocalExecutor,
    Population,
    load_population,
    patient_seed,
    simulate_cohort,
)
from metacascade.cohort.directory import DATASETS, Cohort
from metacascade.cohort.population import Distribution
from metacascade.errors import CohortError, OutputError, ParameterError, ScenarioError

POPULATION = {
    "cancer": "breast", "horizon_years": 4, "primary_diameter_mm": 20,
    "cancer_overrides": {"doubling_time": "90 d"},
    "clinic": {"scans": [{"modality": "ct", "every_weeks": 12, "start_day": 365}],
               "draws": [{"every_weeks": 6, "start_day": 365}],
               "therapy": {"start_at_m1": True,
                           "lines": [{"kind": "cytotoxic", "resistant_fraction": 0.05}]}},
    "population": {
        "cancer_overrides.doubling_time": {"lognormal": {"median": 90, "sigma": 0.2},
                                           "unit": "d"},
        "primary_diameter_mm": {"uniform": {"low": 15, "high": 30}},
        "clinic.therapy.lines.0.resistant_fraction": {
            "discrete": {"values": [0.01, 0.1], "weights": [1, 3]}},
    },
}
POPULATION_SCENARIO = {k: v for k, v in POPULATION.items() if k != "population"}


@pytest.fixture(scope="module")
def population() -> Population:
    return Population.from_dict(POPULATION)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, population) -> Path:
    out = tmp_path_factory.mktemp("cohort") / "ref"
    simulate_cohort(population, 6, seed=5, out=out, shard_size=6, executor=LocalExecutor(1),
                    progress=False, engine="patient")
    return out


def test_population_draws_per_patient_independently_of_everything_else(population):
    a, seed_a, values_a = population.patient(5, 3)
    b, seed_b, values_b = population.patient(5, 3)
    assert seed_a == seed_b == patient_seed(5, 3) and values_a == values_b
    assert a.to_dict() == b.to_dict()
    other = population.patient(5, 4)
    assert other[1] != seed_a
    draws = [population.patient(1, i)[2] for i in range(200)]
    diam = np.array([d["param_primary_diameter_mm"] for d in draws])
    assert diam.min() >= 15 and diam.max() <= 30
    rho = np.array([d["param_clinic__therapy__lines__0__resistant_fraction"] for d in draws])
    assert set(rho) == {0.01, 0.1} and 0.6 < np.mean(rho == 0.1) < 0.9
    # Drawing patients changes neither the population nor an earlier patient.
    assert population.scenario["clinic"]["therapy"]["lines"][0]["resistant_fraction"] == 0.05
    assert population.scenario["primary_diameter_mm"] == 20
    assert a.to_dict() == b.to_dict() == population.patient(5, 3)[0].to_dict()
    assert a.clinic.therapy.lines[0].resistant_fraction == values_a[
        "param_clinic__therapy__lines__0__resistant_fraction"]


def test_truncation_keeps_a_lognormal_inside_the_bounds():
    """Doubling times of median 50 d, sigma 0.5: about 1 in 3 fall below the 40 d bound.

    Without ``truncate`` such a patient is refused with the field named; with it the
    value is redrawn from the patient's stream, and a value already inside is the same
    as without truncation.
    """
    wide = {"lognormal": {"median": 50, "sigma": 0.5}, "unit": "d"}
    plain = Population.from_dict({**POPULATION, "population": {
        "cancer_overrides.doubling_time": wide}})
    cut = Population.from_dict({**POPULATION, "population": {
        "cancer_overrides.doubling_time": {**wide, "truncate": [40, 400]}}})
    name = "param_cancer_overrides__doubling_time"
    refused = 0
    for i in range(60):
        value = cut.patient(1, i)[2][name]
        assert 40 <= value <= 400
        try:
            same = plain.patient(1, i)[2][name]
        except ScenarioError as error:
            assert "cancer_overrides.doubling_time" in str(error)
            refused += 1
        else:
            assert same == value
    assert refused > 5
    # An interval the draws would miss: refused when the population is made (the
    # patient's draws give up after MAX_TRUNCATION_DRAWS, each naming the interval).
    narrow = {**wide, "truncate": [390, 400]}
    with pytest.raises(ScenarioError, match=r"population\.cancer_overrides\.doubling_time"
                                            r"\.truncate: \[390\.0, 400\.0\] keeps"):
        Population.from_dict({**POPULATION, "population": {
            "cancer_overrides.doubling_time": narrow}})
    with pytest.raises(ScenarioError, match=r"^truncate: no value in \[390\.0, 400\.0\] "
                                            r"after 1000 draws"):
        Distribution.model_validate(narrow).draw_number(np.random.default_rng(1))


@pytest.mark.parametrize("distributions, field", [
    ({"cancer_overrides.nonsense": {"uniform": {"low": 1, "high": 2}}},
     "population.cancer_overrides.nonsense"),
    ({"primary_diameter_mm": {"uniform": {"low": 3, "high": 1}}},
     "population.primary_diameter_mm"),
    ({"primary_diameter_mm": {"normal": {"mean": 3}}}, "population.primary_diameter_mm"),
    ({"clinic.therapy.lines.4.dose": {"uniform": {"low": 1, "high": 2}}},
     "population.clinic.therapy.lines.4.dose"),
    ({"primary_diameter_mm": {"uniform": {"low": 1, "high": 2}, "truncate": [3, 1]}},
     "population.primary_diameter_mm.truncate: "),
    ({"seed": {"uniform": {"low": 1, "high": 9}}}, "population.seed: each patient's seed"),
    # numpy cannot draw from these (an OverflowError), nor can a patient have them
    ({"primary_diameter_mm": {"uniform": {"low": -1e308, "high": 1e308}}},
     "population.primary_diameter_mm.uniform.high: the width high - low"),
    ({"primary_diameter_mm": {"lognormal": {"median": float("inf"), "sigma": 0.1}}},
     "population.primary_diameter_mm.lognormal.median: Input should be a finite number"),
    ({"primary_diameter_mm": {"lognormal": {"median": 10, "sigma": float("nan")}}},
     "population.primary_diameter_mm.lognormal.sigma: nan is not a number"),
    # YAML's true is not the number 1
    ({"primary_diameter_mm": {"uniform": {"low": True, "high": 20}}},
     "population.primary_diameter_mm.uniform.low: true is not a number"),
    # nor is NumPy's, nor a truth value among numbers
    ({"primary_diameter_mm": {"uniform": {"low": np.bool_(True), "high": 20}}},
     "population.primary_diameter_mm.uniform.low: true is not a number"),
    ({"primary_diameter_mm": {"discrete": {"values": [1, 2], "weights": [True, 1]}}},
     "population.primary_diameter_mm.discrete.weights.0: true is not a number"),
    ({"primary_diameter_mm": {"uniform": {"low": 1, "high": 2}, "truncate": [True, 3]}},
     "population.primary_diameter_mm.truncate.0: true is not a number"),
])
def test_bad_population_names_the_field(distributions, field):
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        Population.from_dict({**POPULATION, "population": distributions})


def test_results_identical_whatever_the_shard_size_and_workers(tmp_path, population,
                                                               reference):
    out = tmp_path / "two"
    cohort = simulate_cohort(population, 6, seed=5, out=out, shard_size=2,
                             executor=LocalExecutor(2), progress=False,
                             engine="patient")
    assert cohort.manifest["complete"] and cohort.manifest["shards_done"] == [0, 1, 2]
    assert_same(reference, out)
    patients = cohort.table("patients")
    assert list(patients["patient"]) == list(range(6))
    assert patients["enrolled"].dtype == bool
    enrolled = patients[patients["enrolled"]]
    assert (enrolled["os_days"] >= enrolled["pfs_days"]).all()


def _no_shard_done(done: Path, out: Path) -> Cohort:
    """A copy of the cohort ``done`` at ``out`` whose manifest lists no shard done."""
    shutil.copytree(done, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(shards_done=[], complete=False)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return Cohort(out)


def test_a_cohort_with_no_shard_done_has_tables_with_columns(tmp_path, population, reference):
    """No shard done: each table has no rows but the columns a done shard would have, in
    their types (they were all of type object)."""
    cohort = _no_shard_done(reference, tmp_path / "none")
    done = Cohort(reference)
    for name in DATASETS:
        empty, whole = cohort.table(name), done.table(name)
        assert len(empty) == 0 and list(empty.columns) == list(whole.columns), name
        assert dict(empty.dtypes) == dict(whole.dtypes), name
    part = cohort.table("colonies", columns=["organ", "patient"])
    assert list(part.columns) == ["organ", "patient"]
    assert dict(part.dtypes) == dict(done.table("colonies", columns=["organ", "patient"]).dtypes)


def test_sampled_parameters_of_a_cohort_with_no_shard_done_have_their_types(tmp_path):
    """A string drawn is a string column, a truth value a number (as a shard writes them)."""
    data = {**POPULATION, "population": {
        **POPULATION["population"],
        "clinic.draws.0.site": {"discrete": {"values": ["arm_vein", "tumour_vein"]}},
        "vertebral_plexus": {"discrete": {"values": [True, False]}}}}
    done = simulate_cohort(data, 1, seed=2, out=tmp_path / "done", batch_size=1,
                           executor=LocalExecutor(1), progress=False).table("patients")
    empty = _no_shard_done(tmp_path / "done", tmp_path / "none").table("patients")
    assert len(empty) == 0 and dict(empty.dtypes) == dict(done.dtypes)
    assert done["param_clinic__draws__0__site"].iloc[0] in ("arm_vein", "tumour_vein")


def test_dask_local_cluster_gives_the_same_tables(tmp_path, population, reference):
    out = tmp_path / "dask"
    with DaskExecutor(n_workers=2) as executor:
        assert repr(executor) == "DaskExecutor(n_workers=2)"
        simulate_cohort(population, 6, seed=5, out=out, shard_size=3, executor=executor,
                        progress=False, engine="patient")
    assert_same(reference, out)


def test_a_directory_of_another_cohort_is_refused(tmp_path, population, reference):
    with pytest.raises(OutputError, match=r"another cohort \(not the same seed\)"):
        simulate_cohort(population, 6, seed=6, out=reference, shard_size=6, resume=True,
                        engine="patient")
    with pytest.raises(OutputError, match=r"not the same patients, shard size\)"):
        simulate_cohort(population, 5, seed=5, out=reference, shard_size=3, resume=True,
                        engine="patient")
    with pytest.raises(OutputError, match="already holds this cohort, complete; choose"):
        simulate_cohort(population, 6, seed=5, out=reference, shard_size=6, engine="patient")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "2",
                                   "--out", str(other)])
    assert run.exit_code == 2 and "holds no cohort" in run.output
    assert "Traceback" not in run.output
    assert sorted(p.name for p in other.iterdir()) == ["thesis.txt"]
    run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "0",
                                   "--out", str(tmp_path / "zero")])
    assert run.exit_code == 2 and "patients" in run.output


def test_resume_refuses_another_numpy_and_leaves_a_complete_manifest(tmp_path, population,
                                                                     reference):
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["versions"].update(numpy="1.0.0", metacascade="0.0.1")
    path.write_text(json.dumps(manifest))
    before = path.read_bytes()
    # Complete: nothing to run, and the manifest is left as the run that made it wrote it.
    simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                    engine="patient", progress=False)
    assert path.read_bytes() == before
    with pytest.raises(OutputError, match="already holds this cohort, complete"):
        simulate_cohort(population, 6, seed=5, out=out, shard_size=6, engine="patient")
    # Complete in its manifest, but a shard is missing: resuming runs it, so it is refused.
    moved = out / "patients" / "moved"
    shard = next((out / "patients").glob("*.parquet"))
    shard.rename(moved)
    with pytest.raises(OutputError, match=r"begun with NumPy 1\.0\.0"):
        simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                        engine="patient", progress=False)
    moved.rename(shard)
    manifest.update(shards_done=[], complete=False)
    path.write_text(json.dumps(manifest))
    with pytest.raises(OutputError, match=r"begun with NumPy 1\.0\.0, whose random draws "
                       r"this NumPy \(.*\) need not repeat; resume with NumPy 1\.0\.0"):
        simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                        engine="patient", progress=False)
    with pytest.raises(OutputError, match="already holds this cohort, unfinished; pass "
                       "--resume"):
        simulate_cohort(population, 6, seed=5, out=out, shard_size=6, engine="patient")
    manifest["versions"]["numpy"] = np.__version__  # (another metacascade: FORMAT decides)
    path.write_text(json.dumps(manifest))
    simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                    engine="patient", progress=False)
    assert_same(reference, out)


def test_a_cohort_being_written_is_told_from_an_interrupted_one(tmp_path):
    """analyze's note said '--resume finishes it' of a cohort a run was still writing."""
    from metacascade.cohort.directory import _claimed, being_written, incomplete_note

    out = tmp_path / "c"
    assert not being_written(out) and not being_written(tmp_path)  # (no lock file)
    with _claimed(out):
        assert being_written(out)
        assert incomplete_note(out) == "a run is writing it now"
    assert not being_written(out)
    assert incomplete_note(out) == ("if its run was interrupted, 'metacascade cohort ... "
                                    "--resume' finishes it (in Python: simulate_cohort(..., "
                                    "resume=True))")


def test_a_run_waits_out_an_instant_look_at_its_lock(tmp_path):
    """`being_written` holds a shared lock for an instant: a run starting then tries again
    (it was refused as "in use by another metacascade run")."""
    import fcntl
    import threading

    from metacascade.cohort.directory import LOCK, _claimed, being_written

    out = tmp_path / "c"
    out.mkdir()
    handle = open(out / LOCK, "a")  # noqa: SIM115 (closed below)
    fcntl.flock(handle, fcntl.LOCK_SH)
    release = threading.Timer(0.08, lambda: fcntl.flock(handle, fcntl.LOCK_UN))
    release.start()
    try:
        with _claimed(out):
            assert being_written(out)
    finally:
        release.join()
        handle.close()


def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path, population):
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    args = ["cohort", "--scenario", str(path), "--patients", "10", "--seed", "9",
            "--shard-size", "1", "--workers", "1", "--engine", "patient"]
    whole = tmp_path / "whole"
    simulate_cohort(population, 10, seed=9, out=whole, shard_size=1,
                    executor=LocalExecutor(1), progress=False, engine="patient")
    out = tmp_path / "killed"
    done = kill_after_shards(args, out, 3)
    assert 3 <= len(done) < 10, "the run finished before it could be killed"
    # Whatever is on disk is readable: no partial shard file is visible.
    for name in DATASETS:
        pd.read_parquet(out / name)
    run = CliRunner().invoke(app, [*args, "--out", str(out), "--resume"])
    assert run.exit_code == 0, run.output
    assert json.loads((out / "manifest.json").read_text())["complete"]
    assert_same(whole, out)


def test_virtual_trial_example_runs_and_is_analysed(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "virtual_trial_breast.yaml"
    out = tmp_path / "trial"
    run = CliRunner().invoke(app, ["cohort", "--scenario", str(example), "--patients", "6",
                                   "--seed", "1", "--workers", "1", "--shard-size", "3",
                                   "--engine", "patient",
                                   "--out", str(out)])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(app, ["analyze", str(out)])
    assert run.exit_code == 0, run.output
    report = json.loads((out / "analysis.json").read_text())
    # stdout is the headline's JSON alone (`analyze DIR | jq`); what was written, on stderr
    assert json.loads(run.stdout)["n_patients"] == 6
    assert run.stderr.startswith("wrote analysis.json"), run.stderr
    assert report["n_patients"] == 6
    assert 0 <= report["n_enrolled"] <= 6
    for name in ("survival.png", "organs.png"):
        assert (out / name).stat().st_size > 0
    # A parameter drawn with a unit (the doubling time, in d) is a number in the table.
    patients = pd.read_parquet(out / "patients")
    column = patients["param_cancer_overrides__doubling_time"]
    assert column.dtype == np.float64 and (column > 0).all()


def test_a_cohort_of_another_format_is_refused_as_such(tmp_path, population, reference):
    """A directory begun by another version: the message says so, and nothing changes."""
    old = tmp_path / "old"
    shutil.copytree(reference, old)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format"] = "metacascade-cohort/0"
    (old / "manifest.json").write_text(json.dumps(manifest))
    before = {p: p.read_bytes() for p in old.rglob("*") if p.is_file()}
    with pytest.raises(OutputError, match=r"format 'metacascade-cohort/0', begun by "
                                          r"another version of metacascade"):
        simulate_cohort(population, 6, seed=5, out=old, shard_size=6, resume=True,
                        engine="patient")
    assert {p: p.read_bytes() for p in old.rglob("*") if p.is_file()} == before
    # Nor is it analysed under this version's definitions (it was, silently).
    from metacascade.analysis.analyze import CohortError, read_cohort

    with pytest.raises(CohortError, match=r"holds a cohort of format 'metacascade-cohort/0', "
                       r"written by another version of metacascade .*; simulate it again$"):
        read_cohort(old)


@pytest.mark.parametrize("address", ["bogus", "tcp://127.0.0.1:1"])
def test_an_unreachable_scheduler_is_one_line(tmp_path, monkeypatch, address):
    """--scheduler at no scheduler: one line naming the address, status 2, no directory."""
    from metacascade.cohort import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1.0)
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "2",
                                   "--out", str(out), "--scheduler", address])
    assert run.exit_code == 2, run.output
    assert f"scheduler: cannot connect to '{address}'" in run.output
    assert "Traceback" not in run.output and run.output.count("\n") == 1
    assert not out.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="runs are guarded with flock")
def test_a_directory_another_run_holds_is_refused_and_left_alone(tmp_path, population,
                                                                 reference):
    import fcntl

    from metacascade.cohort.directory import LOCK

    busy = tmp_path / "busy"
    shutil.copytree(reference, busy)
    manifest = json.loads((busy / "manifest.json").read_text())
    manifest["shards_done"], manifest["complete"] = [], False
    (busy / "manifest.json").write_text(json.dumps(manifest))  # a run half done
    before = {p: p.read_bytes() for p in busy.rglob("*") if p.is_file()}
    with open(busy / LOCK, "a") as held:  # as the other run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputError, match="is in use by another metacascade run"):
            simulate_cohort(population, 6, seed=5, out=busy, shard_size=6, resume=True,
                            engine="patient", progress=False, executor=LocalExecutor(1))
        assert {p: p.read_bytes() for p in busy.rglob("*") if p.is_file()} == before
        path = tmp_path / "pop.yaml"
        path.write_text(yaml.safe_dump(POPULATION))
        run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "6",
                                       "--seed", "5", "--shard-size", "6", "--engine",
                                       "patient", "--workers", "1", "--out", str(busy),
                                       "--resume"])
        assert run.exit_code == 2 and run.stderr.count("\n") == 1, run.output
        assert "in use by another metacascade run" in run.stderr
        # Without --resume it is said to be in use too (it said "pass --resume", which
        # was then refused as in use).
        with pytest.raises(OutputError, match="is in use by another metacascade run"):
            simulate_cohort(population, 6, seed=5, out=busy, shard_size=6,
                            engine="patient", progress=False, executor=LocalExecutor(1))
    # Once the other run has ended, the same call finishes the cohort.
    simulate_cohort(population, 6, seed=5, out=busy, shard_size=6, resume=True,
                    engine="patient", progress=False, executor=LocalExecutor(1))
    assert_same(reference, busy)


def _cohort_cli(tmp_path, population, *args):
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(population))
    return CliRunner().invoke(app, ["cohort", "--scenario", str(path), *args])


def test_the_cohort_seed_defaults_to_the_files(tmp_path):
    """--seed, else the file's seed, else 0 (the file's seed was ignored)."""
    def patients(data, *args):
        out = tmp_path / f"c{len(list(tmp_path.iterdir()))}"
        result = _cohort_cli(tmp_path, data, "--patients", "1", "--out", str(out),
                             "--engine", "patient", "--workers", "1", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("1 patient in 1 shard written to ")
        return json.loads((out / "manifest.json").read_text())["seed"]

    assert patients(POPULATION) == 0
    assert patients({**POPULATION, "seed": 7}) == 7
    assert patients({**POPULATION, "seed": 7}, "--seed", "3") == 3
    result = _cohort_cli(tmp_path, POPULATION, "--patients", "1", "--out",
                         str(tmp_path / "x"), "--engine", "patient", "--batch-size", "8")
    assert result.exit_code == 2 and not (tmp_path / "x").exists()
    assert result.stderr == ("metacascade: error: --batch-size: the batch engine's; "
                             "--engine patient runs patients one at a time (give one or "
                             "the other)\n")


#: Refusals only a patient shows: (refused data, its message, corrected data, patients).
# (a median the scenario takes, so the population is; patient 0 of seed 3 draws more than
# 300 mm, which the scenario refuses)
_BAD_DIAMETERS = {**POPULATION, "horizon_years": 0.5, "population": {
    "primary_diameter_mm": {"lognormal": {"median": 250, "sigma": 1.0}}}}
# (nobody dies: a patient past the colony limit is refused only if alive then)
_EXPLOSIVE = {"cancer": "lung", "horizon_years": 5, "primary_diameter_mm": 30,
              "cascade_overrides": {"divide_after_extravasation": 1e-2},
              "clinic": {"lethal_burden_cells": 1e30, "vital_organ_lethal_cells": {}}}
REFUSED_BY_A_PATIENT = {
    # a diameter drawn above 300 mm: the scenario refuses the patient
    "scenario": (_BAD_DIAMETERS, "primary_diameter_mm",
                 {**_BAD_DIAMETERS, "population": {
                     "primary_diameter_mm": {"uniform": {"low": 10, "high": 20}}}}, 4),
    # colonisation past the engine's colony limit in the first shard
    "engine": (_EXPLOSIVE, "more than 200000 colonies founded",
               {**_EXPLOSIVE, "horizon_years": 0.25}, 2),
}


@pytest.mark.parametrize("existing", ["missing", "empty"])
@pytest.mark.parametrize(("refusal", "engine"), [
    *((r, "batch") for r in sorted(REFUSED_BY_A_PATIENT)), ("engine", "patient")])
def test_a_patient_refused_leaves_no_directory_behind(tmp_path, refusal, engine, existing):
    """Exit 2, one error line naming the patient, and the directory as it was (what the
    run wrote with no shard done is taken back), so the corrected command can use it."""
    bad, message, good, patients = REFUSED_BY_A_PATIENT[refusal]
    out = tmp_path / "c"
    if existing == "empty":
        out.mkdir()
    args = ("--patients", str(patients), "--out", str(out), "--workers", "1",
            *(("--seed", "3") if refusal == "scenario" else ()),
            *(("--batch-size", "2") if engine == "batch" else ("--engine", "patient")))
    result = _cohort_cli(tmp_path, bad, *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith(f"metacascade: error: patient 0: "
                                                     f"{message}")
    assert "Traceback" not in result.stderr
    assert (list(out.iterdir()) == []) if existing == "empty" else not out.exists()
    result = _cohort_cli(tmp_path, good, *args)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("args", "needle"), [
    (("--out", "{file}/c"), "is a file, not a directory"),
    (("--out", "/proc/metacascade-cohort"), "out: cannot create '/proc/metacascade-cohort'"),
    (("--patients", "100000001"), "--patients: 100000001 must be a whole number in "
                                  "[1, 100000000]"),
    (("--batch-size", "16385"), "--batch-size: 16385 must be a whole number in [1, 16384]"),
])
def test_unwritable_out_and_huge_sizes_are_one_line(tmp_path, args, needle):
    """Not mkdir's traceback, nor a MemoryError or a killed process; nothing written."""
    file = tmp_path / "file"
    file.write_text("keep")
    args = tuple(a.replace("{file}", str(file)) for a in args)
    defaults = {"--out": str(tmp_path / "c"), "--patients": "4"}
    extra = [x for k, v in defaults.items() if k not in args for x in (k, v)]
    result = _cohort_cli(tmp_path, POPULATION, *args, *extra)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and needle in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "pop.yaml"]
    assert file.read_text() == "keep"


def test_the_python_entry_point_takes_a_population_its_data_or_its_file(tmp_path,
                                                                        population):
    """``metacascade.simulate_cohort`` (the issue's name), with a Population, plain data
    or a path, NumPy whole numbers, and ``out`` left out (a new temporary directory):
    the same patients each time."""
    import metacascade

    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    common = {"executor": LocalExecutor(1), "progress": False, "batch_size": 2}
    runs = [metacascade.simulate_cohort(population, 2, seed=5, out=tmp_path / "a", **common),
            metacascade.simulate_cohort(POPULATION, np.int64(2), seed=np.uint32(5),
                                        out=tmp_path / "b", **common),
            metacascade.simulate_cohort(str(path), 2, seed=5, **common)]
    try:
        assert runs[2].path.name.startswith("metacascade-cohort-")
        first = runs[0].table("patients")
        for run in runs[1:]:
            pd.testing.assert_frame_equal(run.table("patients"), first)
        # A Cohort is path-like: analyze takes it as its directory.
        from metacascade.analysis import analyze

        assert analyze(runs[2])["n_patients"] == 2
        assert (runs[2].path / "analysis.json").exists()
    finally:
        shutil.rmtree(runs[2].path)


@pytest.mark.parametrize(("kwargs", "error", "needle"), [
    ({"population": 3}, ScenarioError, "population: int is not a population"),
    ({"executor": "dask"}, TypeError, "executor: 'dask' is not an executor"),
    # (the class passed for an instance failed in its run, leaving a directory that the
    # corrected call was refused)
    ({"executor": LocalExecutor}, TypeError,
     r"executor: LocalExecutor is a class, not an executor; give an instance, such as "
     r"LocalExecutor\(\)"),
    ({"seed": True}, ParameterError, r"seed: True must be a whole number in \[0, 2\^63\)"),
    ({"n_patients": 2.5}, ParameterError, "^n_patients: 2.5 must be a whole number"),
    ({"out": None, "resume": True}, ParameterError, "out: give the directory"),
    # (a non-empty string counted as true, and resumed)
    ({"resume": "no"}, ParameterError, r"^resume: 'no' is not true or false$"),
    ({"resume": None}, ParameterError, r"^resume: None is not true or false$"),
    # (pathlib's "expected str, bytes or os.PathLike object, not int", naming nothing)
    ({"out": 5}, OutputError,
     r"^out: expected a directory's path \(str or os.PathLike\), not int$"),
    # ("" was the current directory)
    ({"out": ""}, OutputError, r"^out: an empty path; give a directory's path$"),
])
def test_bad_python_arguments_are_named_and_nothing_is_written(tmp_path, population,
                                                               kwargs, error, needle):
    args = {"population": population, "n_patients": 2, "seed": 5, "out": tmp_path / "c",
            **kwargs}
    with pytest.raises(error, match=needle):
        simulate_cohort(args.pop("population"), args.pop("n_patients"), **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("make", "needle"), [
    (lambda: Population(None), "scenario: a population's scenario is a Scenario or a mapping"),
    (lambda: Population(POPULATION_SCENARIO, [1]),
     "population: a mapping of dotted paths to distributions, not list"),
    (lambda: Population(POPULATION_SCENARIO, {3: {"uniform": {"low": 1, "high": 2}}}),
     "population: 3 is not a dotted path"),
    (lambda: Population.from_dict({**POPULATION_SCENARIO, "population": 0}),
     "population: a mapping of dotted paths to distributions, not int"),
])
def test_a_population_of_the_wrong_types_is_named(make, needle):
    with pytest.raises(ScenarioError, match=needle):
        make()


def test_a_population_takes_any_mapping_or_a_scenario():
    from types import MappingProxyType

    from metacascade.scenario import Scenario

    expected = Population.from_dict(POPULATION).to_dict()
    assert Population.from_dict(MappingProxyType(POPULATION)).to_dict() == expected
    scenario = Scenario.from_dict(POPULATION_SCENARIO)
    assert Population(scenario, POPULATION["population"]).to_dict() == expected


@pytest.mark.parametrize(("make", "needle"), [
    (lambda: LocalExecutor(0), "workers: 0 must be a whole number >= 1"),
    (lambda: LocalExecutor(True), "workers: True must be a whole number >= 1"),
    (lambda: LocalExecutor(2.5), "workers: 2.5 must be a whole number >= 1"),
    (lambda: LocalExecutor("2"), "workers: '2' must be a whole number >= 1"),
    # (0 workers gave a cluster of 2, -1 a cluster with no worker, where a run waits)
    (lambda: DaskExecutor(n_workers=0), "n_workers: 0 must be a whole number >= 1"),
    (lambda: DaskExecutor(n_workers=-1), "n_workers: -1 must be a whole number >= 1"),
    (lambda: DaskExecutor(n_workers=True), "n_workers: True must be a whole number >= 1"),
    (lambda: DaskExecutor(address=3), "scheduler: the address is a string"),
])
def test_bad_executor_arguments_are_named_before_anything_starts(make, needle):
    with pytest.raises(TypeError if "address" in needle else ParameterError, match=needle):
        make()


def test_executors_take_numpy_whole_numbers():
    executor = LocalExecutor(np.int64(2))
    assert executor.workers == 2 and type(executor.workers) is int


def test_executors_and_populations_say_what_they_are(monkeypatch, population):
    """Short reprs (they were ``<... object at 0x...>``)."""
    import distributed

    from metacascade.cohort import executors

    assert repr(LocalExecutor(2)) == "LocalExecutor(workers=2)"
    # By default one worker per core this process may use (its affinity), not per core.
    monkeypatch.setattr(executors.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert LocalExecutor().workers == 1
    monkeypatch.undo()

    class Client:  # (no scheduler needed to say which one it would be)
        def __init__(self, address: str, timeout: float) -> None:
            pass

    monkeypatch.setattr(distributed, "Client", Client)
    monkeypatch.setattr(executors, "_check_scheduler", lambda address: None)
    assert (repr(DaskExecutor(address="tcp://10.0.0.1:8786"))
            == "DaskExecutor(address='tcp://10.0.0.1:8786')")
    assert repr(population) == (
        "Population(cancer='breast', parameters=['cancer_overrides.doubling_time', "
        "'clinic.therapy.lines.0.resistant_fraction', 'primary_diameter_mm'])")
    assert (repr(Population({"cancer": "lung", "body": "adult_male"}))
            == "Population(cancer='lung', body='adult_male', parameters=[])")


def test_a_cohort_object_names_what_its_directory_lacks(tmp_path):
    from metacascade.cohort import Cohort

    cohort = Cohort(str(tmp_path))  # a str is a path too
    assert cohort.path == tmp_path
    with pytest.raises(CohortError, match=r"is not a cohort directory: no manifest\.json"):
        cohort.table("patients")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CohortError, match=r"cannot read .*manifest\.json"):
        cohort.manifest  # noqa: B018
    (tmp_path / "manifest.json").write_text('{"shards_done": [0]}')
    with pytest.raises(CohortError, match="a shard the manifest lists as done is missing"):
        cohort.table("patients")
    with pytest.raises(TypeError, match="path: expected a directory's path"):
        Cohort(None)  # type: ignore[arg-type]


def test_import_metacascade_loads_the_cohort_package_only_when_used():
    import subprocess

    code = ("import sys, metacascade; assert 'metacascade.cohort' not in sys.modules; "
            "assert 'simulate_cohort' in dir(metacascade); "
            "from metacascade import Population, load_population, simulate_cohort; "
            "assert simulate_cohort.__module__ == 'metacascade.cohort.run'; "
            "assert 'metacascade.cohort' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_refused_run_into_a_temporary_directory_leaves_none(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ScenarioError, match="patient 0: primary_diameter_mm"):
        simulate_cohort(_BAD_DIAMETERS, 2, seed=3, batch_size=2, executor=LocalExecutor(1),
                        progress=False)
    assert list(tmp_path.iterdir()) == []


class _BrokenExecutor:
    """Runs the first ``done`` shards (yielding them if ``listed``), then fails."""

    def __init__(self, done: int, listed: bool = True) -> None:
        self.done, self.listed = done, listed

    def run(self, fn, shards):
        for shard in shards[:self.done]:
            index = fn(shard)
            if self.listed:
                yield index
        raise RuntimeError("the executor broke")


@pytest.mark.parametrize("existing", ["missing", "empty", "temporary"])
def test_an_unexpected_failure_before_a_shard_leaves_the_directory_as_it_was(
        tmp_path, monkeypatch, population, existing):
    """Not only a refused patient: any failure with no shard done takes back what the run
    wrote (a manifest and a lock were left, and the corrected call was refused as
    "unfinished; pass --resume")."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = None if existing == "temporary" else tmp_path / "c"
    if existing == "empty":
        out.mkdir()
    common = {"seed": 5, "out": out, "batch_size": 1, "progress": False}
    with pytest.raises(RuntimeError, match="the executor broke"):
        simulate_cohort(population, 2, executor=_BrokenExecutor(0), **common)
    if existing == "empty":
        assert list(out.iterdir()) == []
    else:
        assert list(tmp_path.iterdir()) == []
    if out is not None:
        cohort = simulate_cohort(population, 2, executor=LocalExecutor(1), **common)
        assert cohort.manifest["complete"]


@pytest.mark.parametrize("listed", [True, False])
def test_an_unexpected_failure_after_a_shard_keeps_the_shard(tmp_path, population, listed):
    """A shard written is kept, listed in the manifest or not yet; resume finishes."""
    out = tmp_path / "c"
    common = {"seed": 5, "out": out, "batch_size": 1, "progress": False}
    with pytest.raises(RuntimeError, match="the executor broke"):
        simulate_cohort(population, 2, executor=_BrokenExecutor(1, listed), **common)
    assert (out / "patients" / "shard-00000.parquet").exists()
    assert Cohort(out).manifest["shards_done"] == ([0] if listed else [])
    cohort = simulate_cohort(population, 2, executor=LocalExecutor(1), resume=True, **common)
    assert cohort.manifest["complete"]


def test_an_item_of_a_list_the_scenario_lacks_is_refused_when_the_population_is_read():
    """Every patient was refused ("clinic.therapy.lines: Input should be a valid list")."""
    with pytest.raises(ScenarioError, match=r"population\.clinic\.therapy\.lines\.0\."
                       r"resistant_fraction: the scenario has no clinic\.therapy\.lines "
                       r"to take item 0 from"):
        Population.from_dict({"cancer": "breast", "population": {
            "clinic.therapy.lines.0.resistant_fraction": {
                "lognormal": {"median": 0.05, "sigma": 0.5}}}})


def test_the_readme_names_every_column_of_the_cohort_tables():
    """The README's table of the cohort's datasets names each column the code writes."""
    from metacascade.cohort.tables import COLONY_COLUMNS, PATIENT_COLUMNS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in readme.splitlines()
            if line.startswith("| `") and line.split("|")[1].strip(" `").endswith("/")}
    for dataset, columns in (("patients/", PATIENT_COLUMNS), ("colonies/", COLONY_COLUMNS)):
        missing = [c for c in columns if f"`{c}`" not in rows[dataset]]
        assert not missing, f"README's {dataset} row lacks {missing}"


def test_a_table_can_be_read_in_part(reference):
    """``columns`` and ``where`` read what the whole table holds, in part; what is not
    the dataset's is named."""
    cohort = Cohort(reference)
    whole = cohort.table("observations")
    draws = cohort.table("observations", columns=["patient", "time_days", "value"],
                         where=[("kind", "==", "draw"), ("value", ">", 0)])
    expected = whole[(whole["kind"] == "draw") & (whole["value"] > 0)]
    assert len(expected) > 0 and len(expected) < len(whole)
    pd.testing.assert_frame_equal(
        draws, expected[["patient", "time_days", "value"]].reset_index(drop=True))
    kinds = cohort.table("observations", columns=["kind"],
                         where=[("kind", "in", ["draw", "stage"])])
    assert set(kinds["kind"]) == {"draw", "stage"}
    # Any sequence of conditions, as columns takes any sequence of names (a tuple was
    # refused as "not a list").
    pd.testing.assert_frame_equal(
        cohort.table("observations", columns=("patient", "time_days", "value"),
                     where=(("kind", "==", "draw"), ["value", ">", 0])), draws)
    for arguments, needle in [
            ({"columns": "kind"}, r"^columns: 'kind' is not a list of column names"),
            ({"columns": ["kind", "size"]}, r"^columns: 'size' not in the observations "
                                            r"dataset; its columns: patient, time_days"),
            ({"where": [("size", ">", 1)]}, r"^where: 'size' not in the observations"),
            ({"where": [("lesion", "~", 1)]}, r"^where: '~' is not one of ==, !="),
            ({"where": ("kind", "==", "scan")},
             r"^where: \('kind', '==', 'scan'\) is not a list of \(column, op, value\) but "
             r"one; give \[\('kind', '==', 'scan'\)\]$"),
            ({"where": "kind == scan"}, r"^where: 'kind == scan' is not a list of"),
            ({"where": {("kind", "==", "scan")}}, r"^where: .* is not a list of"),
            ({"where": [("kind", "in", 3)]}, r"^where: 'in' takes a list of values"),
            ({"where": [("kind",)]}, r"^where: \('kind',\) is not a \(column, op, value\)"),
            # (it said "cannot read the observations dataset", naming no argument)
            ({"where": [("lesion", ">", "a")]},
             r"^where: \[\('lesion', '>', 'a'\)\] does not fit the observations dataset's "
             r"column types \(")]:
        with pytest.raises(ParameterError, match=needle):
            cohort.table("observations", **arguments)


@pytest.mark.parametrize("progress", ["yes", 1.5, []])
def test_progress_that_is_no_truth_value_is_refused(tmp_path, population, progress):
    with pytest.raises(ParameterError, match=r"^progress: .* is not true, false or None$"):
        simulate_cohort(population, 2, seed=1, out=tmp_path / "c", progress=progress)
    assert not (tmp_path / "c").exists()


# -- Dask: where shards are written, their keys, what --scheduler reaches, the noise -----
@pytest.fixture(scope="module")
def dask_scheduler():
    """The address of a LocalCluster of one worker, used as an existing cluster is."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}
                                  ) as cluster:
        yield cluster.scheduler_address


def _task(index: int) -> SimpleNamespace:
    """A task as executors take them (a shard's population, seed and index)."""
    return SimpleNamespace(population={"cancer": "breast"}, seed=7, index=index)


def test_a_relative_out_is_where_the_run_is_not_where_dask_workers_are(
        tmp_path, monkeypatch, population, reference, dask_scheduler):
    """The shards were written in the workers' working directory, the manifest said
    complete, and the cohort directory held no patients."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    with DaskExecutor(address=dask_scheduler) as executor:
        (before,) = executor.client.run(os.getcwd).values()
        executor.client.run(os.chdir, str(there))
        try:
            simulate_cohort(population, 6, seed=5, out="rel", shard_size=3,
                            executor=executor, progress=False, engine="patient")
        finally:
            executor.client.run(os.chdir, before)
    assert_same(reference, here / "rel")
    assert list(there.iterdir()) == []


class _ElsewhereExecutor:
    """Runs the shards as workers that see the cohort directory's path as ``elsewhere``
    (another machine, without the file system of the run's)."""

    def __init__(self, elsewhere: Path) -> None:
        self.elsewhere = elsewhere

    def run(self, fn, shards):
        for shard in shards:
            yield fn(dataclasses.replace(shard, out=str(self.elsewhere)))


@pytest.mark.parametrize(("elsewhere", "needle"), [
    ("missing", r"^out: '.*other' is not a directory on '.*', where shard 0 ran; "),
    ("another", r"^out: shard 0 ran, but its files are not in '.*c' \(after 0 s\); ")])
def test_shards_written_out_of_the_run_s_sight_are_refused(tmp_path, monkeypatch, population,
                                                           elsewhere, needle):
    """Workers that do not share the cohort directory: one line saying what they need,
    not a cohort said complete with nothing in it; nothing is left."""
    from metacascade.cohort import run

    monkeypatch.setattr(run, "SHARD_VISIBLE_S", 0.0)
    other = tmp_path / "other"
    if elsewhere == "another":
        other.mkdir()
    out = tmp_path / "c"
    with pytest.raises(OutputError, match=needle + re.escape(
            "the workers of a Dask cluster (--scheduler, DaskExecutor(address=...)) must see "
            "the cohort directory at the same path as this process: a file system they "
            "share") + "$"):
        simulate_cohort(population, 2, seed=5, out=out, batch_size=1, progress=False,
                        executor=_ElsewhereExecutor(other))
    assert not out.exists()


def test_dask_runs_at_once_on_one_cluster_do_not_share_results(dask_scheduler):
    """Shards of the same population, seed and index in two runs at once: each run gets
    its own (Dask gave the second the first's results: a cohort of 2000 patients run
    beside one of 3000 listed 24 shards, with 8 patients' files)."""
    tasks = [_task(i) for i in range(3)]
    with DaskExecutor(address=dask_scheduler) as executor:
        first = executor.run(lambda task: task.index, tasks)
        done = [next(first)]  # (the first run's shards are held meanwhile)
        second = sorted(executor.run(lambda task: 100 + task.index, tasks))
        done += list(first)
    assert sorted(done) == [0, 1, 2]
    assert second == [100, 101, 102]


@contextlib.contextmanager
def _not_a_scheduler(kind: str) -> Iterator[str]:
    """The address of a server that answers HTTP 400 or says nothing (``kind``).

    It closes a connection after 30 s, so that a client waiting on it fails, not hangs.
    """
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        held: list[tuple[socket.socket, float]] = []
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = server.accept()
                held.append((connection, time.monotonic()))
                if kind == "http-400":
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            for connection, since in [h for h in held if time.monotonic() - h[1] > 30]:
                connection.close()
                held.remove((connection, since))
        for connection, _ in held:
            connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.mark.parametrize(("kind", "needle"), [
    ("http-400", "answered, but not as a Dask scheduler does (MemoryError)"),
    ("silent", "took the connection but gave no Dask handshake in 2 s")])
def test_a_scheduler_address_of_another_server_is_one_line_soon(tmp_path, monkeypatch, kind,
                                                                needle):
    """An HTTP server: a 70-line traceback ending in a MemoryError (its answer read as
    the length of a frame), or a wait of minutes (the time-out covered the connection,
    not Dask's handshake)."""
    pytest.importorskip("distributed")
    from metacascade.cohort import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1.0)
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(POPULATION))
    out = tmp_path / "out"
    with _not_a_scheduler(kind) as address:
        start = time.monotonic()
        run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "2",
                                       "--out", str(out), "--scheduler", address])
        elapsed = time.monotonic() - start
    assert run.exit_code == 2, run.output
    assert run.stderr == (f"metacascade: error: --scheduler: '{address}' {needle}; is it a "
                          "Dask scheduler's address?\n")
    assert elapsed < 10
    assert not out.exists()


def test_a_dask_local_cluster_is_quiet_and_a_stopped_run_ends_its_shards_at_once(tmp_path,
                                                                                recwarn):
    """Port 8787 taken: no warning (the scheduler's HTTP server took that port, dashboard
    or not). Its workers log errors only. A run stopped (Ctrl-C, or its caller stopping)
    ends the worker processes, so that no shard goes on writing (Dask cancels a task's
    future, not the task)."""
    pytest.importorskip("distributed")
    taken = socket.socket()
    with contextlib.suppress(OSError):  # (taken already: as well)
        taken.bind(("127.0.0.1", 8787))
        taken.listen()
    try:
        executor = DaskExecutor(n_workers=1)
    finally:
        taken.close()
    with executor:
        assert [str(w.message) for w in recwarn if "already in use" in str(w.message)] == []
        levels = executor.client.run(
            lambda: {h.level for h in logging.getLogger("distributed").handlers})
        assert list(levels.values()) == [{logging.ERROR}]
        started, finished = tmp_path / "started", tmp_path / "finished"

        def shard(task):
            if task.index:
                started.touch()
                time.sleep(3)
                finished.touch()
            return task.index

        runs = executor.run(shard, [_task(0), _task(1)])
        assert next(runs) == 0
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        runs.close()
        time.sleep(4)
        assert started.exists() and not finished.exists()


def test_a_shard_on_an_existing_dask_cluster_stops_once_its_run_has(tmp_path, dask_scheduler):
    """The workers of an existing cluster are not the run's to end: a shard asks between
    batches whether its task was cancelled (it ran to its end, and wrote its files and
    its progress after the run had stopped)."""
    seen = tmp_path / "seen"

    def shard(task):
        from metacascade.cohort.executors import task_cancelled

        if task.index:
            (tmp_path / "started").touch()
            deadline = time.monotonic() + 20
            while not task_cancelled() and time.monotonic() < deadline:
                time.sleep(0.05)
            seen.write_text(str(task_cancelled()))
        return task.index

    with DaskExecutor(address=dask_scheduler) as executor:
        runs = executor.run(shard, [_task(0), _task(1)])
        assert next(runs) == 0
        deadline = time.monotonic() + 30
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        runs.close()
        deadline = time.monotonic() + 10
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert seen.read_text() == "True"


def test_a_cancelled_shard_stops_between_batches_and_removes_its_progress(
        tmp_path, monkeypatch, population):
    from metacascade.cohort import shards

    asked = []
    monkeypatch.setattr(shards, "task_cancelled", lambda: asked.append(1) or len(asked) > 1)
    shard = shards.Shard(population.to_dict(), 5, 0, 0, 3, str(tmp_path), "patient",
                      progress=True)
    with pytest.raises(shards.ShardCancelled):
        shards.run_shard(shard)
    assert len(asked) == 2  # (the first patient counted, the second not)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_counts_the_shards_the_manifest_lists(tmp_path, population, monkeypatch):
    """A stop after a shard had arrived but before the manifest listed it said one shard
    more than --resume finds (seen once in CI: "3 of 40" beside a manifest of 2)."""
    from metacascade.cohort import CohortInterrupted, run

    writes = []
    real = run._write_manifest

    def write(out, manifest):  # the first write begins the run; the second lists shard 0
        writes.append(list(manifest["shards_done"]))
        if len(writes) == 2:
            raise KeyboardInterrupt
        real(out, manifest)

    monkeypatch.setattr(run, "_write_manifest", write)
    out = tmp_path / "c"
    with pytest.raises(CohortInterrupted, match=r"^interrupted: 0 of 3 shards done in "):
        simulate_cohort(population, 3, seed=5, out=out, batch_size=1, shard_size=1,
                        executor=LocalExecutor(1), progress=False)
    assert writes == [[], [0]]
    assert json.loads((out / "manifest.json").read_text())["shards_done"] == []


def test_simulate_cohort_documents_the_ranges_it_takes():
    """Its docstring said ``batch_size >= 1``, and 20,000 was refused (MAX_BATCH_SIZE)."""
    from metacascade.cohort.run import MAX_BATCH_SIZE, MAX_PATIENTS

    doc = " ".join((simulate_cohort.__doc__ or "").split())
    assert f"1 to :data:`MAX_BATCH_SIZE` ({MAX_BATCH_SIZE:,}" in doc
    assert f"1 to :data:`MAX_PATIENTS` ({MAX_PATIENTS:,})" in doc
    assert "else the file's ``seed``, else 0" in doc
    with pytest.raises(ParameterError, match=rf"batch_size: .* in \[1, {MAX_BATCH_SIZE}\]"):
        simulate_cohort(Path(__file__).resolve().parent.parent / "examples"
                        / "breast_population.yaml", 3, seed=1,
                        batch_size=MAX_BATCH_SIZE + 1)


def test_a_resume_that_adds_shards_removes_the_analysis_of_the_shards_done(
        tmp_path, population, reference, capsys):
    """analysis.json, its figures and report.html describe the shards done when written:
    a resume that adds shards removes them, with a note; a complete cohort keeps them."""
    from metacascade.analysis import ANALYSIS_FILES
    from metacascade.cohort.directory import DERIVED_FILES
    from metacascade.report import REPORT_FILE

    assert set(DERIVED_FILES) == {*ANALYSIS_FILES, REPORT_FILE}
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    for name in DERIVED_FILES:
        (out / name).write_text("of the shards done")
    simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                    engine="patient", progress=True)  # complete: nothing to add
    assert all((out / name).is_file() for name in DERIVED_FILES)
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(shards_done=[], complete=False)
    path.write_text(json.dumps(manifest))
    (out / "report.html").unlink()
    capsys.readouterr()
    simulate_cohort(population, 6, seed=5, out=out, shard_size=6, resume=True,
                    engine="patient", progress=True)
    assert not any((out / name).exists() for name in DERIVED_FILES)
    assert ("removed analysis.json, survival.png, organs.png, written for the shards done "
            "before this resume") in capsys.readouterr().err
    assert_same(reference, out)


def test_a_discrete_distribution_of_numbers_yaml_reads_as_text_draws_numbers(tmp_path):
    """``values: [1e9, 1e8]``: PyYAML reads both as text; the patients table held strings
    (the README: "the number drawn") and a unit would not have been appended."""
    text = yaml.safe_dump({k: v for k, v in POPULATION.items() if k != "population"})
    text += ("population:\n  cascade_overrides.doubling_reference_cells:\n"
             "    {discrete: {values: [1e9, 1e8]}}\n"
             "  cancer_overrides.doubling_time: {discrete: {values: [1.2e2, 9e1]}, unit: d}\n")
    path = tmp_path / "pop.yaml"
    path.write_text(text)
    population = load_population(path)
    scenario, _, values = population.patient(3, 0)
    assert values["param_cascade_overrides__doubling_reference_cells"] in (1e9, 1e8)
    assert values["param_cancer_overrides__doubling_time"] in (120.0, 90.0)
    assert scenario.to_dict()["cancer_overrides"]["doubling_time"] in ("120.0 d", "90.0 d")
    cohort = simulate_cohort(population, 2, seed=3, out=tmp_path / "c", shard_size=2,
                             executor=LocalExecutor(1), progress=False, engine="patient")
    patients = cohort.table("patients")
    drawn = [c for c in patients.columns if c.startswith("param_")]
    assert len(drawn) == 2
    assert all(pd.api.types.is_float_dtype(patients[c]) for c in drawn), patients.dtypes


def test_the_command_s_resume_says_once_what_it_removed(tmp_path, population, reference):
    """metacascade cohort --resume: the note on stderr, once; nothing said or removed when
    the cohort is complete (analysis.json said 512 patients, cohort_complete false)."""
    derived = ("analysis.json", "survival.png", "organs.png", "report.html")
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    for name in derived:
        (out / name).write_text("of the shards done")
    args = ["--patients", "6", "--seed", "5", "--shard-size", "6", "--workers", "1",
            "--engine", "patient", "--out", str(out), "--resume"]
    result = _cohort_cli(tmp_path, POPULATION, *args)
    assert result.exit_code == 0, result.output
    assert "removed" not in result.stderr
    assert all((out / name).read_text() == "of the shards done" for name in derived)
    path = out / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "shards_done": [],
                                "complete": False}))
    result = _cohort_cli(tmp_path, POPULATION, *args)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "removed" in line]
    assert notes == ["note: removed analysis.json, survival.png, organs.png, report.html, "
                     "written for the shards done before this resume (metacascade analyze "
                     "and report write them again for the whole cohort)"], result.stderr
    assert not any((out / name).exists() for name in derived)
    assert_same(reference, out)


@pytest.mark.parametrize(("kwargs", "error", "needle"), [
    ({"n_patients": 0}, ParameterError, r"^n_patients: 0 must be a whole number in \[1, "),
    ({"seed": -1}, ParameterError, r"^seed: -1 must be a whole number in \[0, 2\^63\)$"),
    ({"seed": 1.5}, ParameterError, r"^seed: 1\.5 must be a whole number"),
    ({"batch_size": 0}, ParameterError, r"^batch_size: 0 must be a whole number in \[1, "),
    ({"engine": "foo"}, ParameterError, r"^engine: 'foo' is not one of batch, patient$"),
    ({"shard_size": 100}, ParameterError, r"^shard_size: 100 must be a multiple of the batch "
                                          r"size 512 with the batch engine$"),
    ({"shard_size": 0, "engine": "patient"}, ParameterError, r"^shard_size: 0 must be a "),
    ({"executor": 5}, TypeError, r"^executor: 5 is not an executor; give a LocalExecutor"),
    ({"progress": "yes"}, ParameterError, r"^progress: 'yes' is not true, false or None$"),
])
def test_bad_argument_values_are_parameter_errors_not_output_errors(tmp_path, population,
                                                                    kwargs, error, needle):
    """They were OutputError, "an output path cannot be written", naming the argument
    (``patients:`` for ``n_patients``); a ParameterError is still a MetacascadeError."""
    args = {"n_patients": 2, "seed": 5, "out": tmp_path / "c", **kwargs}
    with pytest.raises(error, match=needle) as caught:
        simulate_cohort(population, args.pop("n_patients"), **args)
    assert not isinstance(caught.value, OutputError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--patients", "0", "--patients: 0 must be a whole number in [1, 100000000]"),
    ("--seed", "-1", "--seed: -1 must be a whole number in [0, 2^63)"),
    ("--batch-size", "0", "--batch-size: 0 must be a whole number in [1, 16384]"),
    ("--engine", "foo", "--engine: 'foo' is not one of batch, patient"),
    ("--shard-size", "100", "--shard-size: 100 must be a multiple of the batch size 512"),
])
def test_bad_option_values_are_one_line_naming_the_option(tmp_path, option, value, needle):
    defaults = {"--out": str(tmp_path / "c"), "--patients": "4", "--workers": "1"}
    extra = [x for k, v in defaults.items() if k != option for x in (k, v)]
    result = _cohort_cli(tmp_path, POPULATION, option, value, *extra)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"metacascade: error: {needle}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "c").exists()


def test_a_directory_that_is_no_cohort_is_the_same_error_from_every_reader(tmp_path):
    """Cohort.manifest and Cohort.table raised OutputError where read_cohort and analyze
    raised CohortError, for the same directory; CohortError is in errors.py now, and
    still importable from metacascade.analysis."""
    import metacascade
    import metacascade.errors
    from metacascade.analysis import CohortError as from_analysis
    from metacascade.analysis import read_cohort
    from metacascade.analysis.analyze import CohortError as from_analyze

    assert from_analysis is from_analyze is CohortError is metacascade.errors.CohortError
    readers = {"manifest": lambda: Cohort(tmp_path).manifest,
               "table": lambda: Cohort(tmp_path).table("patients"),
               "read_cohort": lambda: read_cohort(tmp_path),
               "analyze": lambda: metacascade.analyze(tmp_path)}
    for name, read in readers.items():
        with pytest.raises(CohortError, match=r"is not a cohort directory: no manifest\.json"
                           ) as caught:
            read()
        assert not isinstance(caught.value, OutputError), name


def test_discrete_numbers_yaml_reads_as_text_are_numbers_in_the_patients_table(tmp_path):
    """``values: [1e9, 1.0e5]``: PyYAML reads both as strings, and the param_ column held
    "1e9" and "1.0e5" (the README: the number drawn). The patients simulated are the
    same: the scenario read the string as the number."""
    from metacascade import simulate
    from metacascade.cohort import load_population
    from metacascade.scenario import Scenario

    text = yaml.safe_dump(POPULATION_SCENARIO) + (
        "population:\n"
        "  cascade_overrides.doubling_reference_cells: {discrete: {values: [1e9, 1.0e5]}}\n"
        "  cancer_overrides.doubling_time: {discrete: {values: [9e1, 1.2e2]}, unit: d}\n")
    assert yaml.safe_load(text)["population"]["cancer_overrides.doubling_time"][
        "discrete"]["values"] == ["9e1", "1.2e2"]
    path = tmp_path / "pop.yaml"
    path.write_text(text)
    run = CliRunner().invoke(app, ["cohort", "--scenario", str(path), "--patients", "4",
                                   "--seed", "3", "--batch-size", "2", "--workers", "1",
                                   "--out", str(tmp_path / "c")])
    assert run.exit_code == 0, run.output
    patients = pd.read_parquet(tmp_path / "c" / "patients")
    cells = patients["param_cascade_overrides__doubling_reference_cells"]
    days = patients["param_cancer_overrides__doubling_time"]
    assert cells.dtype == days.dtype == np.float64
    assert set(cells) <= {1e9, 1e5} and set(days) <= {90.0, 120.0}
    # The same patients as from the strings the scenario was given before.
    population = load_population(path)
    for i in range(2):
        scenario, seed, values = population.patient(3, i)
        old = POPULATION_SCENARIO | {
            "cascade_overrides": {"doubling_reference_cells": {1e9: "1e9", 1e5: "1.0e5"}[
                values["param_cascade_overrides__doubling_reference_cells"]]},
            "cancer_overrides": {"doubling_time": {90.0: "9e1", 120.0: "1.2e2"}[
                values["param_cancer_overrides__doubling_time"]]}}
        before = Scenario.from_dict(old)
        assert repr(scenario.cascade()) == repr(before.cascade())
        assert repr(scenario.resolve()) == repr(before.resolve())
        pd.testing.assert_frame_equal(simulate(scenario, seed=seed).colonies,
                                      simulate(before, seed=seed).colonies)
