"""The packaged geographic reference table and the lake's key layout."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.insights.lake import layout
from services.insights.lake.reference import CONTINENTS, countries, geo_csv, geo_from_csv


def test_every_iso_country_has_a_name_and_continent() -> None:
    table = countries()
    assert len(table) == 249
    assert {c.continent for c in table.values()} == set(CONTINENTS)
    assert table["DE"].name == "Germany" and table["DE"].continent == "Europe"
    assert table["BR"].continent == "South America"
    assert table["US"].continent == "North America"
    assert table["AU"].continent == "Oceania"
    assert geo_csv().startswith(b"code,name,continent\n")


def test_a_reference_with_another_header_is_refused() -> None:
    with pytest.raises(ValueError, match="header"):
        geo_from_csv(b"iso,name,continent\nDE,Germany,Europe\n")
    with pytest.raises(ValueError, match="line 2"):
        geo_from_csv(b"code,name,continent\nde,Germany\n")


def test_raw_keys_follow_the_contract() -> None:
    at = datetime(2026, 12, 7, 10, 59, 59, tzinfo=UTC)
    key = layout.raw_key("web", at)
    assert key.startswith("raw/web/dt=2026-12-07/hour=10/") and key.endswith(".jsonl.gz")
    parsed = layout.parse_raw_key(key)
    assert parsed is not None and parsed.zone == "web"
    assert parsed.hour == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert layout.parse_raw_key("raw/web/dt=2026-12-07/hour=10/x.jsonl.gz") is None
    assert layout.parse_raw_key("raw/other/dt=2026-12-07/hour=10/" + "a" * 32
                                + ".jsonl.gz") is None


def test_merged_files_hide_the_runs_they_cover() -> None:
    day = date(2026, 12, 7)
    keys = [layout.run_file_key("events", day, n) for n in (1, 2, 3, 7)]
    keys.append(layout.merged_file_key("events", day, 1, 3))
    keys.append(layout.run_file_key("events", date(2026, 12, 8), 2))  # another day
    keys.append("curated/events/dt=2026-12-07/unrelated.txt")
    live = [k.key for k in layout.live_files(keys)]
    assert live == sorted([layout.merged_file_key("events", day, 1, 3),
                           layout.run_file_key("events", day, 7),
                           layout.run_file_key("events", date(2026, 12, 8), 2)])
    # A larger merge hides a smaller one.
    keys.append(layout.merged_file_key("events", day, 1, 7))
    assert [k.key for k in layout.live_files(keys) if k.day == day] == [
        layout.merged_file_key("events", day, 1, 7)]
