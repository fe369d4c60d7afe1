"""The package's dependencies point one way (docs/design.md, section 3).

Foundations <- catalogs (physiology, cancers) <- scenario <- engine <- clinic <- cohort,
calibration, analysis, outputs <- plots, report, dashboard <- cli. Every import of a
``metacascade`` module, lazy ones included, is read from the source; an import of a
higher layer fails unless it is one of :data:`ALLOWED`, each with its reason. The engine
and the catalogs import no plotting, command-line or file-format library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "metacascade"

#: Layer of each top-level module or package of metacascade (lower imports nothing higher).
LAYERS = {
    **dict.fromkeys(["random", "citations", "references", "units", "errors", "_checks", "_frozen",
                     "_memo", "_jit", "_version", "calibrated"], 0),
    **dict.fromkeys(["physiology", "cancers"], 1),
    **dict.fromkeys(["overrides", "scenario"], 2),
    "engine": 3,
    "clinic": 4,
    **dict.fromkeys(["cohort", "calibration", "analysis", "outputs", "describe"], 5),
    **dict.fromkeys(["plots", "report", "dashboard"], 6),
    **dict.fromkeys(["cli", "__main__"], 7),
}

#: Imports of a higher layer that are allowed: (importing file, imported module) -> why.
ALLOWED = {
    ("scenario.py", "metacascade.clinic.imaging"):
        "a scenario's scans are checked against the imaging modalities and regions",
    ("scenario.py", "metacascade.clinic.therapy"):
        "a scenario's therapy lines are resolved against the regimen defaults",
    ("scenario.py", "metacascade.engine.limits"):
        "a scenario's steps are counted against the engines' limit when it is read",
    ("analysis/analyze.py", "metacascade.plots.cohort"):
        "`metacascade analyze` writes survival.png and organs.png (a lazy import)",
    ("calibration/fit.py", "metacascade.plots.calibration"):
        "`metacascade calibrate` writes fit.png (a lazy import)",
    ("outputs.py", "metacascade.plots.fates"): "`simulate` writes fates.png (a lazy import)",
    ("outputs.py", "metacascade.plots.clinic"):
        "`simulate` writes ctc.png and body.png (a lazy import)",
}

#: Libraries the engine and the catalogs must not import.
FORBIDDEN_IN_CORE = {"matplotlib", "typer", "pyarrow", "yaml", "tomllib", "lifelines",
                     "dask", "distributed", "pyabc"}


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute names; relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["metacascade", *path.relative_to(PACKAGE).parent.parts]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                out.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.append(node.module)
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "metacascade" or len(parts) < 2:
        return None
    return LAYERS[parts[1]]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
                 or p.parent != PACKAGE)


def test_every_top_level_module_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py")
             or (p.is_dir() and (p / "__init__.py").exists())}
    assert names == set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    where = str(path.relative_to(PACKAGE))
    own = _layer("metacascade." + path.relative_to(PACKAGE).parts[0].removesuffix(".py"))
    assert own is not None
    upward = [m for m in _imports(path)
              if (layer := _layer(m)) is not None and layer > own
              and (where, m) not in ALLOWED]
    assert upward == [], f"{where} imports a higher layer: {upward}"


@pytest.mark.parametrize("package", ["engine", "physiology", "cancers"])
def test_the_core_imports_no_plotting_cli_or_file_format(package: str) -> None:
    found = {(str(p.relative_to(PACKAGE)), m) for p in (PACKAGE / package).rglob("*.py")
             for m in _imports(p) if m.split(".")[0] in FORBIDDEN_IN_CORE}
    assert found == set()


def test_every_allowed_exception_is_still_used() -> None:
    """An exception no longer needed is taken off the list."""
    used = {(str(p.relative_to(PACKAGE)), m) for p in SOURCES for m in _imports(p)}
    assert set(ALLOWED) <= used


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: the package is mypy-strict, and ``py.typed`` lets its users' mypy read it
    (the wheel takes every file of ``src/metacascade``, pyproject.toml)."""
    assert (PACKAGE / "py.typed").is_file()


def _design_layout() -> str:
    """The picture of the package in docs/design.md (its first code block under src/)."""
    text = (PACKAGE.parent.parent / "docs" / "design.md").read_text()
    return text.split("```\nsrc/metacascade/\n", 1)[1].split("```", 1)[0]


def test_the_design_notes_name_every_module_and_only_those() -> None:
    """The README pointed to a DESIGN.md the repository does not hold; docs/design.md
    is the users' own, and its picture of the package must stay true (cohort/run.py was
    split into run.py, shards.py and directory.py)."""
    import re

    picture = _design_layout()
    named = set(re.findall(r"(?<![\w*])([A-Za-z_]\w*\.py)\b", picture))  # (not _*_loops.py)
    modules = {p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    names = {p.name for p in modules}
    assert named - names == set(), "docs/design.md names modules that do not exist"
    # Each module by name, but for the catalogs' (one per body, cancer or target series).
    listed = {p.name for p in modules
              if not {"catalog", "targets"} & set(p.relative_to(PACKAGE).parts[:-1])
              and (p.name != "__init__.py" or p.parent == PACKAGE)}
    assert listed - named == set(), "docs/design.md leaves modules out"
    packages = {p.parent.relative_to(PACKAGE).parts[0] for p in modules
                if p.parent != PACKAGE}
    assert {f"{name}/" for name in packages} <= set(re.findall(r"\b\w+/", picture))
    readme = (PACKAGE.parent.parent / "README.md").read_text()
    assert "DESIGN.md" not in readme and "(docs/design.md)" in readme


def test_the_top_level_names_are_imported_when_first_used() -> None:
    """Scenario, load_scenario, follow and analyze are top-level names too (they were
    not); ``import metacascade`` still loads neither NumPy nor pandas."""
    import subprocess
    import sys

    code = ("import sys, metacascade; "
            "assert not {'numpy', 'pandas', 'pydantic'} & set(sys.modules), sorted(sys.modules); "
            "from metacascade.scenario import Scenario, load_scenario; "
            "from metacascade.clinic.course import follow; "
            "from metacascade.analysis.analyze import analyze; "
            "assert metacascade.Scenario is Scenario and metacascade.follow is follow; "
            "assert metacascade.analyze is analyze "
            "and metacascade.load_scenario is load_scenario; "
            "assert set(metacascade.__all__) <= set(dir(metacascade)); "
            "[getattr(metacascade, name) for name in metacascade.__all__]")
    subprocess.run([sys.executable, "-c", code], check=True)
