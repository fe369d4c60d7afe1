"""docs/make_figures.py draws every picture docs/figures.md shows (it had broken unseen).

The script runs end to end into a temporary directory, with cohorts of a few patients;
the pictures themselves are redrawn with ``.venv/bin/python docs/make_figures.py``.
"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_make_figures_draws_every_picture_of_the_page(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lifelines")
    spec = importlib.util.spec_from_file_location("make_figures",
                                                  ROOT / "docs" / "make_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "FIGURES", tmp_path)
    monkeypatch.setattr(module, "PATIENTS", 40)
    module.main()
    page = (ROOT / "docs" / "figures.md").read_text()
    shown = set(re.findall(r"\(figures/([\w.]+\.png)\)", page))
    drawn = {p.name for p in tmp_path.glob("*.png")}
    assert shown and shown <= drawn
    assert shown <= {p.name for p in (ROOT / "docs" / "figures").glob("*.png")}
