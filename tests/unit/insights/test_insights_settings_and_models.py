"""The service's settings (the kit's fields still parse beside its own) and the counter's
request model."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.insights.models import HitIn
from services.insights.settings import InsightsSettings


def test_cors_origins_and_the_kits_lists_both_parse_from_comma_separated_text() -> None:
    settings = InsightsSettings(insights_cors_origins="https://about.example.com/, https://b.io",
                                cognito_machine_client_ids="one, two")
    assert settings.insights_cors_origins == ["https://about.example.com", "https://b.io"]
    assert settings.cognito_machine_client_ids == ["one", "two"]
    assert InsightsSettings().insights_cors_origins == []


@pytest.mark.parametrize("field", ["insights_commit_max_events", "insights_max_past_seconds",
                                   "insights_commit_max_in_flight"])
def test_bounds_are_checked(field: str) -> None:
    with pytest.raises(ValidationError):
        InsightsSettings(**{field: 0})


@pytest.mark.parametrize("path", ["/", "/about", "/a/b-c_d.html", "/" + "x" * 511])
def test_counter_paths(path: str) -> None:
    assert HitIn(path=path).path == path


@pytest.mark.parametrize("path", ["", "about", "/a b", "/a\x00", "/a\tb", "/" + "x" * 512])
def test_counter_paths_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        HitIn(path=path)
