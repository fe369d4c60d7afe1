"""ClinicalCourse.cells_at: lesion sizes at any day, with therapy applied."""

from pathlib import Path

import numpy as np
import pytest

from metacascade import simulate
from metacascade.clinic.course import follow
from metacascade.engine.growth import primary_cells
from metacascade.errors import ParameterError
from metacascade.scenario import Scenario, load_scenario

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_without_therapy_it_is_the_untreated_natural_history():
    scenario = Scenario.from_dict({"cancer": "colon", "horizon_years": 8, "seed": 3})
    result = simulate(scenario)
    course = follow(result, scenario)
    for day in (0.0, 400.0, 1500.0, course.end_day):
        cells = course.cells_at(result, day)
        assert cells[0] == pytest.approx(float(primary_cells(result.model, day)))
        np.testing.assert_array_equal(cells[1:], result.colony_cells_at(day))
    np.testing.assert_allclose(course.cells_at(result, course.end_day), course.final_cells)


def test_with_therapy_it_ends_at_the_final_sizes_and_starts_untreated():
    scenario = load_scenario(EXAMPLES / "breast_metastatic_ctc.yaml")
    result = simulate(scenario)
    course = follow(result, scenario)
    assert course.therapy, "the example gives therapy"
    np.testing.assert_allclose(course.cells_at(result, course.end_day), course.final_cells,
                               rtol=1e-12)
    start = course.therapy[0].start_day
    before = course.cells_at(result, start - 1.0)
    untreated = result.colony_cells_at(start - 1.0)
    prevented = np.fromiter(course.prevented, dtype=np.int64)
    kept = np.setdiff1d(np.arange(1, len(before)), prevented) - 1
    np.testing.assert_array_equal(before[1:][kept], untreated[kept])
    assert (before[prevented] == 0).all()
    after = course.cells_at(result, course.end_day)
    gone = np.fromiter(course.eradicated, dtype=np.int64)
    assert (after[gone] == 0).all()


def test_a_foreign_result_is_refused():
    scenario = Scenario.from_dict({"cancer": "colon", "horizon_years": 8, "seed": 3})
    other = Scenario.from_dict({"cancer": "colon", "horizon_years": 8, "seed": 4})
    course = follow(simulate(scenario), scenario)
    stranger = simulate(other)
    assert len(stranger.colonies) != len(course.final_cells) - 1
    with pytest.raises(ParameterError, match="cells_at"):
        course.cells_at(stranger, 100.0)
