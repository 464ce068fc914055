"""budget.schedule: cumulative clicks per round (config validation and round_clicks)."""

import pytest

from alseg.config import BudgetConfig, ConfigError, parse_config, round_clicks


def test_round_clicks_hand_cases() -> None:
    scheduled = BudgetConfig(schedule=(606, 1514, 3028)).model_dump()
    assert BudgetConfig(schedule=(606, 1514, 3028)).rounds == 3  # the schedule sets rounds
    assert round_clicks(scheduled, 0, spent=0) == 606
    assert round_clicks(scheduled, 1, spent=600) == 914  # tops up to 1,514, not +908
    assert round_clicks(scheduled, 2, spent=3100) == 0  # already past the target
    fixed = BudgetConfig(initial_clicks=50, clicks_per_round=20).model_dump()
    assert [round_clicks(fixed, r, spent=999) for r in range(3)] == [50, 20, 20]


@pytest.mark.parametrize(
    ("budget", "match"),
    [({"schedule": [10, 10]}, "increase"), ({"rounds": 3, "schedule": [1, 2]}, "2 entries"),
     ({"schedule": [0, 5]}, "schedule.0': Input should be greater than 0")],
)  # fmt: skip
def test_bad_schedules_name_the_field(budget: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=f"run.yaml: field 'budget.*{match}"):
        parse_config({"budget": budget}, "run.yaml")
