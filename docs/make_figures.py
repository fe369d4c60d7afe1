"""Draw the pictures of docs/figures.md into docs/figures/ (run from the repository root).

    .venv/bin/python docs/make_figures.py

Every picture comes from a seeded run, so the same versions give the same files: the
``make demo`` patient (breast, seed 1), the breast example on chemotherapy
(examples/breast_metastatic_ctc.yaml, seed 1), the README's 1,000-patient virtual trial
(examples/virtual_trial_breast.yaml, cohort seed 1) for the survival curves, and 1,000
patients of the default breast population (examples/breast_population.yaml, cohort seed
1) for the organs at death. Small sizes and 80 dpi keep the PNG files small. The
snippets in docs/figures.md draw the same figures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

import metacascade
from metacascade.analysis import involvement, read_cohort
from metacascade.clinic.course import follow
from metacascade.cohort import LocalExecutor, load_population, simulate_cohort
from metacascade.outputs import body_lesions, say_no_draws
from metacascade.plots import (
    plot_body,
    plot_ctc,
    plot_fates,
    plot_fates_by_organ,
    plot_fates_figure,
    plot_seeding_tree,
)
from metacascade.plots.cohort import plot_organs, plot_survival
from metacascade.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
DPI = 80
#: Patients of each cohort picture (tests draw them from fewer).
PATIENTS = 1000


def save(fig: Figure, name: str) -> None:
    """Write ``fig`` as docs/figures/NAME.png, without a timestamp or software tag."""
    path = FIGURES / f"{name}.png"
    fig.savefig(path, dpi=DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def patient_figures(prefix: str, scenario: Scenario) -> metacascade.Result:
    """The funnel, CTC, body map and seeding tree of one simulated patient."""
    result = metacascade.simulate(scenario)
    course = follow(result, scenario)
    body, cancer = scenario.resolve()

    save(plot_fates_figure(result), f"{prefix}_fates")

    fig = Figure(figsize=(7, 3.6), layout="constrained")
    if scenario.clinic is None or not scenario.clinic.draws:
        say_no_draws(fig.subplots(), scenario)  # (as ctc.png says it)
    else:
        plot_ctc(course.draws(), cutoff=course.cutoff, therapy=course.therapy_spans(),
                 ax=fig.subplots())
    save(fig, f"{prefix}_ctc")

    fig = Figure(figsize=(5, 6.6), layout="constrained")
    plot_body(body_lesions(result, course), primary_organ=cancer.primary_organ,
              sex="female" if body.sex == "female" else "male", ax=fig.subplots())
    save(fig, f"{prefix}_body")

    fig = Figure(figsize=(8, 4.2), layout="constrained")
    plot_seeding_tree(result.colonies, ax=fig.subplots(), primary_organ=cancer.primary_organ)
    save(fig, f"{prefix}_seeding_tree")
    return result


def single_panels(demo: metacascade.Result, example: metacascade.Result) -> None:
    """plot_fates and plot_fates_by_organ on their own Axes; a small seeding tree."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    plot_fates(demo, ax=fig.subplots())
    save(fig, "plot_fates")
    fig = Figure(figsize=(5, 4), layout="constrained")
    plot_fates_by_organ(demo, ax=fig.subplots())
    save(fig, "plot_fates_by_organ")
    # The first six metastases that seeded others, and up to three colonies each.
    colonies = example.colonies
    children = colonies[colonies["parent"] > 0].groupby("parent", sort=True).head(3)
    seeders = sorted(children["parent"].unique())[:6]
    small = colonies[colonies["id"].isin(seeders)
                     | (colonies["id"].isin(children["id"]) & colonies["parent"].isin(seeders))]
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    plot_seeding_tree(small, ax=fig.subplots(), primary_organ="breast",
                      title="six seeding metastases and their first colonies")
    save(fig, "plot_seeding_tree_small")


def cohort_figures() -> None:
    """Kaplan-Meier curves of the README's virtual trial, and organs at death.

    The organs come from the default breast population (where patients die), counting
    colonies of 1 mm or more.
    """
    with tempfile.TemporaryDirectory() as tmp:
        trial = _cohort("virtual_trial_breast", Path(tmp))
        population = _cohort("breast_population", Path(tmp))
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_survival(trial.patients, "os", ax=left)
    plot_survival(trial.patients, "pfs", ax=right)
    save(fig, "plot_survival")
    table = involvement(population.patients, population.colonies, min_diameter_mm=1.0)
    fig = Figure(figsize=(5.5, 6), layout="constrained")
    n = int(table["n_patients"].iloc[0])
    plot_organs(table[table["cancer"] == "breast"], ax=fig.subplots(),
                title=f"breast: lesions >= 1 mm at death (n={n})")
    save(fig, "plot_organs")


def _cohort(example: str, tmp: Path) -> Any:
    """:data:`PATIENTS` patients of an example population, cohort seed 1, read back."""
    out = tmp / example
    simulate_cohort(load_population(ROOT / "examples" / f"{example}.yaml"), PATIENTS,
                    seed=1, out=out, executor=LocalExecutor(), progress=False)
    return read_cohort(out)


def main() -> None:
    """Draw every picture."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    demo = patient_figures("demo", Scenario.from_dict({"cancer": "breast", "seed": 1}))
    example = patient_figures("example",
                              load_scenario(ROOT / "examples" / "breast_metastatic_ctc.yaml"))
    single_panels(demo, example)
    cohort_figures()


if __name__ == "__main__":
    main()
