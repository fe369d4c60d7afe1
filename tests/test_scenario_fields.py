"""A scenario's fields say what they are, in which unit and within which bounds."""

import pydoc

import pytest
from annotated_types import Ge, Gt, Le, Lt

from metacascade.errors import ScenarioError
from metacascade.scenario import Scenario


def test_every_field_of_a_scenario_has_a_description():
    """cancer, vertebral_plexus, horizon_years, seed and the overrides had none."""
    missing = [name for name, info in Scenario.model_fields.items() if not info.description]
    assert missing == []


def test_the_descriptions_give_the_bounds_the_fields_enforce():
    """Bounds appeared only in the pydantic annotations."""
    checked = 0
    for name, info in Scenario.model_fields.items():
        low = next((m for m in info.metadata if isinstance(m, Gt | Ge)), None)
        high = next((m for m in info.metadata if isinstance(m, Le | Lt)), None)
        if low is None or high is None:
            continue
        left = "(" if isinstance(low, Gt) else "["
        right = "]" if isinstance(high, Le) else ")"
        low_value = low.gt if isinstance(low, Gt) else low.ge
        high_value = high.le if isinstance(high, Le) else high.lt
        high_text = "2^63" if high_value == 2**63 else f"{high_value:g}"
        assert f"{left}{low_value:g}, {high_text}{right}" in (info.description or ""), name
        checked += 1
    assert checked == 4  # horizon_years, seed, primary_diameter_mm, step_days


def test_help_shows_the_fields():
    text = pydoc.render_doc(Scenario, renderer=pydoc.plaintext)
    for name, info in Scenario.model_fields.items():
        assert name in text
        assert " ".join((info.description or "").split()[:4]) in " ".join(text.split())
    assert "diameter of the primary at day 0, mm, in (0, 300]" in " ".join(text.split())


@pytest.mark.parametrize(("data", "field"), [
    ({}, "cancer"), ({"cancer": "breast", "horizon_years": 0}, "horizon_years"),
    ({"cancer": "breast", "horizon_years": 100.5}, "horizon_years"),
    ({"cancer": "breast", "primary_diameter_mm": 301}, "primary_diameter_mm"),
    ({"cancer": "breast", "step_days": 92}, "step_days"),
    ({"cancer": "breast", "seed": -1}, "seed"),
    ({"cancer": "breast", "vertebral_plexus": "no"}, "vertebral_plexus"),
])
def test_the_bounds_are_still_enforced(data, field):
    with pytest.raises(ScenarioError, match=f"^{field}"):
        Scenario.from_dict(data)


def test_the_defaults_are_unchanged():
    scenario = Scenario.from_dict({"cancer": "breast"})
    assert (scenario.body, scenario.embolus, scenario.vertebral_plexus, scenario.horizon_years,
            scenario.seed, scenario.primary_diameter_mm, scenario.step_days,
            scenario.clinic) == (None, "single", True, 10.0, None, 10.0, 14.0, None)
