"""Stock-ingest settings: STOCK_-prefixed names, the names they had before still read, bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.stock_ingest.settings import StockIngestSettings

# prefixed name: (the name before the prefix, a valid value, another valid value)
RENAMED = {
    "STOCK_CANDLES_MAX_HOURS": ("CANDLES_MAX_HOURS", 48, 24),
    "STOCK_CANDLES_MAX_BYTES": ("CANDLES_MAX_BYTES", 4096, 2048),
    "STOCK_CANDLES_MEMORY_MB": ("CANDLES_MEMORY_MB", 256, 512),
    "STOCK_CANDLES_FETCH_CONCURRENCY": ("CANDLES_FETCH_CONCURRENCY", 8, 4),
    "STOCK_WRITE_CONCURRENCY": ("WRITE_CONCURRENCY", 2, 8),
}


@pytest.mark.parametrize("name", RENAMED)
def test_a_setting_is_read_by_its_prefixed_name_and_by_its_old_one(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, value, other = RENAMED[name]
    monkeypatch.setenv(old, str(value))
    assert getattr(StockIngestSettings(), name.lower()) == value
    monkeypatch.setenv(name, str(other))  # the prefixed name wins
    assert getattr(StockIngestSettings(), name.lower()) == other


@pytest.mark.parametrize("name", RENAMED)
def test_out_of_bounds_values_stop_the_start(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValidationError):
        StockIngestSettings()
