"""Producer tick sources: seeded GBM mock, CSV replay, yfinance when (un)available."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import pytest

from services.stock_ingest.models import validate_ticks
from services.stock_ingest.producer import (
    CsvSourceError,
    SourceUnavailableError,
    csv_ticks,
    mock_ticks,
    open_source,
    yfinance_ticks,
)

START = datetime(2024, 1, 1, 23, 59, 58, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    """The mock is reproducible from (seed, start, parameters)."""
    first = list(mock_ticks(["AAPL", "MSFT"], count=200, seed=7, start=START))
    again = list(mock_ticks(["AAPL", "MSFT"], count=200, seed=7, start=START))
    other = list(mock_ticks(["AAPL", "MSFT"], count=200, seed=8, start=START))
    assert first == again
    assert [t["price"] for t in first] != [t["price"] for t in other]


def test_a_symbols_path_does_not_depend_on_the_others() -> None:
    """Adding symbols leaves AAPL's path unchanged."""
    alone = list(mock_ticks(["AAPL"], count=50, seed=3, start=START))
    crowd = [t for t in mock_ticks(["MSFT", "aapl", "IBM"], count=150, seed=3, start=START)]
    assert [t for t in crowd if t["symbol"] == "AAPL"] == alone


def test_mock_ticks_have_the_original_fields_and_pass_validation() -> None:
    """Fields as the original producer's (2dp change_percent, int volume, data_source mock)."""
    ticks = list(mock_ticks(["AAPL", "BRK.B"], count=400, seed=1, start=START, volatility=2.0))
    assert set(ticks[0]) == {
        "symbol",
        "open",
        "high",
        "low",
        "price",
        "previous_close",
        "change",
        "change_percent",
        "volume",
        "timestamp",
        "data_source",
    }
    for t in ticks:
        assert t["data_source"] == "mock" and isinstance(t["volume"], int)
        assert round(t["change_percent"], 2) == t["change_percent"]
        assert t["low"] <= t["price"] <= t["high"]
        assert t["change"] == round(t["price"] - t["previous_close"], 2)
    batch = validate_ticks({"ticks": ticks}, now=NOW)
    assert len(batch.ticks) == 400 and not batch.rejected and batch.duplicates == 0


def test_day_fields_roll_over_at_utc_midnight() -> None:
    """open/high/low restart at midnight and previous_close is the prior day's last price."""
    ticks = list(mock_ticks(["AAPL"], count=6, seed=2, start=START, rate=1.0))
    assert [t["timestamp"][:10] for t in ticks] == ["2024-01-01"] * 2 + ["2024-01-02"] * 4
    before, after = ticks[1], ticks[2]
    assert after["previous_close"] == before["price"]
    assert after["open"] == after["high"] == after["low"] == after["price"]
    assert all(t["open"] == after["open"] for t in ticks[2:])


def test_count_duration_and_rate() -> None:
    """count caps ticks in all; duration caps simulated seconds; rate spaces the steps."""
    assert len(list(mock_ticks(["A", "B", "C"], count=7, start=START))) == 7
    ticks = list(mock_ticks(["A", "B"], duration=10, rate=2, start=START))
    assert len(ticks) == 40
    assert ticks[-1]["timestamp"] == "2024-01-02T00:00:07.500000Z"
    assert list(mock_ticks(["A"], count=0, start=START)) == []
    with pytest.raises(ValueError):
        next(mock_ticks([], count=1))


def test_base_prices_and_volatility_zero_give_a_flat_path() -> None:
    """With zero volatility and drift the price stays at the given base."""
    ticks = list(
        mock_ticks(
            ["AAPL"], count=20, seed=1, start=START, base_prices={"AAPL": 150.0}, volatility=0.0
        )
    )
    assert {t["price"] for t in ticks} == {150.0}


def test_mock_without_start_is_unbounded_and_starts_now() -> None:
    """No count and no duration: an endless stream starting at the current second."""
    stream = mock_ticks(["AAPL"])
    first = next(stream)
    stamp = datetime.fromisoformat(first["timestamp"])
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert sum(1 for _ in zip(range(1000), stream, strict=False)) == 1000


def test_csv_rows_become_ticks(tmp_path) -> None:
    """Numbers are parsed, empty cells dropped, data_source defaults to csv."""
    path = tmp_path / "ticks.csv"
    path.write_text(
        "symbol,timestamp,price,volume,open,exchange\n"
        "aapl,2024-01-01T10:00:00Z,101.5,1200,,NASDAQ\n"
        "MSFT,2024-01-01T10:00:01Z,410,3000.0,409.5,\n",
        encoding="utf-8",
    )
    ticks = list(csv_ticks(path))
    assert ticks == [
        {
            "symbol": "aapl",
            "timestamp": "2024-01-01T10:00:00Z",
            "price": 101.5,
            "volume": 1200,
            "exchange": "NASDAQ",
            "data_source": "csv",
        },
        {
            "symbol": "MSFT",
            "timestamp": "2024-01-01T10:00:01Z",
            "price": 410.0,
            "volume": 3000,
            "open": 409.5,
            "data_source": "csv",
        },
    ]
    assert len(validate_ticks({"ticks": ticks}, now=NOW).ticks) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("symbol,price\nA,1\n", "missing columns timestamp"),
        ("symbol,timestamp,price,colour\nA,t,1,red\n", "unknown columns colour"),
        ("symbol,timestamp,price\nA,t,1\nB,t,cheap\n", "ticks.csv:3: column price"),
        ("symbol,timestamp,price,volume\nA,t,1,1.5\n", "not a whole number"),
    ],
)
def test_bad_csv_is_reported_with_its_line(tmp_path, content: str, message: str) -> None:
    """Missing or unknown columns and unparseable numbers raise CsvSourceError."""
    path = tmp_path / "ticks.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CsvSourceError, match=message):
        list(csv_ticks(path))


def test_yfinance_missing_is_source_unavailable(monkeypatch) -> None:
    """Without the yfinance package the source fails at once with SourceUnavailableError."""
    monkeypatch.setitem(sys.modules, "yfinance", None)
    with pytest.raises(SourceUnavailableError, match="not installed"):
        yfinance_ticks(["AAPL"])
    with pytest.raises(SourceUnavailableError):
        open_source("yfinance", ["AAPL"])


class _Row(dict):
    pass


class _History:
    """The little of a pandas DataFrame the source uses: len() and iloc[]."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.iloc = self

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


def fake_yfinance(histories: dict[str, list[dict]], fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("yfinance")

    class Ticker:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def history(self, period: str) -> _History:
            if fail:
                raise ConnectionError("no network")
            return _History(histories.get(self.symbol, []) if period == "5d" else [])

    module.Ticker = Ticker  # type: ignore[attr-defined]
    return module


def test_yfinance_bars_become_ticks(monkeypatch) -> None:
    """The latest bar gives the tick, the previous close the change; polls are paced."""
    bars = [
        {"Open": 180.0, "High": 182.0, "Low": 179.0, "Close": 181.0, "Volume": 5e7},
        {"Open": 181.5, "High": 185.257, "Low": 181.0, "Close": 184.6199, "Volume": 6.1e7},
    ]
    monkeypatch.setitem(sys.modules, "yfinance", fake_yfinance({"AAPL": bars}))
    sleeps: list[float] = []
    clock = iter([datetime(2024, 1, 2, 15, 0, 0, 123, tzinfo=UTC)] * 2)
    ticks = list(
        yfinance_ticks(
            ["aapl"], polls=2, interval=30, sleep=sleeps.append, clock=lambda: next(clock)
        )
    )
    assert sleeps == [30]
    assert ticks[0] == {
        "symbol": "AAPL",
        "open": 181.5,
        "high": 185.26,
        "low": 181.0,
        "price": 184.62,
        "previous_close": 181.0,
        "change": 3.62,
        "change_percent": 2.0,
        "volume": 61_000_000,
        "timestamp": "2024-01-02T15:00:00Z",
        "data_source": "yfinance",
    }
    assert validate_ticks(ticks[0], now=NOW).ticks


@pytest.mark.parametrize("histories, fail", [({}, False), ({"AAPL": []}, True)])
def test_yfinance_without_data_is_source_unavailable(monkeypatch, histories, fail) -> None:
    """No rows, or a network error, on a poll raises SourceUnavailableError."""
    monkeypatch.setitem(sys.modules, "yfinance", fake_yfinance(histories, fail))
    with pytest.raises(SourceUnavailableError, match="AAPL"):
        next(yfinance_ticks(["AAPL"], polls=1))


def test_open_source_dispatches_on_the_spec(tmp_path) -> None:
    """mock, csv:PATH and yfinance name the sources; anything else is an error."""
    assert next(open_source("mock", ["AAPL"], seed=1, start=START))["data_source"] == "mock"
    path = tmp_path / "t.csv"
    path.write_text("symbol,timestamp,price\nA,2024-01-01T00:00:00Z,1\n", encoding="utf-8")
    assert next(open_source(f"csv:{path}", []))["symbol"] == "A"
    with pytest.raises(SourceUnavailableError, match="no CSV file"):
        open_source(f"csv:{tmp_path / 'missing.csv'}", [])
    with pytest.raises(ValueError, match="unknown tick source"):
        open_source("kinesis", ["AAPL"])
