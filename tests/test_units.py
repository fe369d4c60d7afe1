"""Small helpers of :mod:`metacascade.units`."""

import pytest

from metacascade.units import years_text


@pytest.mark.parametrize(("value", "spec", "text"), [
    (1, "g", "1 year"), (1.0, "g", "1 year"), (2, "g", "2 years"), (0.5, "g", "0.5 years"),
    (1.0004, ".3g", "1 year"), (10, "g", "10 years")])
def test_years_text(value, spec, text):
    assert years_text(value, spec) == text
