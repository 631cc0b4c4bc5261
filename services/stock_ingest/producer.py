"""Tick sources for the producer: mock (seeded GBM), CSV replay, and yfinance if installed.

Each source yields tick dicts in the request format of ``POST /stocks/ticks`` (the original
producer's fields). Sources never send anything; the CLI paces and posts what they yield.

* ``mock``: geometric Brownian motion per symbol. The same seed, start and parameters give the
  same ticks, and a symbol's path does not depend on which other symbols are simulated.
* ``csv:PATH``: replays a CSV file whose header names tick fields.
* ``yfinance``: polls Yahoo Finance like the original producer (latest daily bar, 2d/5d/1wk
  history). yfinance is not a dependency: without it (or without network) the source raises
  `SourceUnavailableError` and the CLI falls back to ``mock``.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.stock_ingest.models import format_timestamp
from shared.errors import InvalidInputError, UpstreamError

TickDict = dict[str, Any]

_SECONDS_PER_YEAR = 365.25 * 24 * 3600  # the mock market never closes
_FLOAT_FIELDS = ("price", "open", "high", "low", "previous_close", "change", "change_percent")
_TEXT_FIELDS = ("symbol", "timestamp", "exchange", "data_source", "id")
_YFINANCE_PERIODS = ("2d", "5d", "1wk")


class SourceUnavailableError(UpstreamError):
    """A tick source cannot be used here (package missing, network down, no data)."""


class CsvSourceError(InvalidInputError):
    """A CSV row cannot be turned into a tick (the message names file and line)."""


def mock_ticks(
    symbols: Iterable[str],
    *,
    count: int | None = None,
    duration: float | None = None,
    rate: float = 1.0,
    seed: int = 0,
    start: datetime | None = None,
    base_prices: Mapping[str, float] | None = None,
    volatility: float = 0.4,
    drift: float = 0.0,
) -> Iterator[TickDict]:
    """Simulated ticks: every symbol ticks ``rate`` times per simulated second.

    Stops after ``count`` ticks in all or ``duration`` simulated seconds, whichever comes
    first (never if both are None). ``volatility`` and ``drift`` are annualised (GBM sigma
    and mu). Open/high/low/previous_close follow the UTC day; volume is per tick, in lots of
    100. ``start`` defaults to now (whole seconds), so pass it for reproducible timestamps.
    """
    names = [s.upper() for s in symbols]
    if not names:
        raise ValueError("mock_ticks needs at least one symbol")
    if rate <= 0 or not math.isfinite(rate):
        raise ValueError("rate must be a positive number of ticks per second")
    start = start or datetime.now(UTC).replace(microsecond=0)
    step = 1.0 / rate
    years = step / _SECONDS_PER_YEAR
    scale = volatility * math.sqrt(years)
    shift = (drift - volatility * volatility / 2) * years
    walks = {
        name: _MockWalk(name, seed, (base_prices or {}).get(name), shift, scale) for name in names
    }
    emitted = 0
    for k in itertools.count():
        offset = k * step
        if duration is not None and offset >= duration:
            return
        at = start + timedelta(seconds=offset)
        for name in names:
            if count is not None and emitted >= count:
                return
            yield walks[name].tick(at)
            emitted += 1


class _MockWalk:
    """One symbol's GBM path and its trading-day bookkeeping."""

    def __init__(
        self, symbol: str, seed: int, base: float | None, shift: float, scale: float
    ) -> None:
        # A string seed is hashed with SHA-512 by `random`: stable across runs and platforms.
        self.rng = random.Random(f"{seed}:{symbol}")
        self.symbol = symbol
        self.value = base if base is not None else round(self.rng.uniform(20.0, 500.0), 2)
        self.shift, self.scale = shift, scale
        self.day: date | None = None
        self.previous_close = round(self.value, 2)
        self.last = self.previous_close
        self.open = self.high = self.low = self.last

    def tick(self, at: datetime) -> TickDict:
        self.value *= math.exp(self.shift + self.scale * self.rng.gauss(0.0, 1.0))
        price = max(round(self.value, 2), 0.01)
        day = at.astimezone(UTC).date()
        if day != self.day:
            if self.day is not None:
                self.previous_close = self.last
            self.day = day
            self.open = self.high = self.low = price
        self.high, self.low, self.last = max(self.high, price), min(self.low, price), price
        change = round(price - self.previous_close, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
        return {
            "symbol": self.symbol,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "price": price,
            "previous_close": self.previous_close,
            "change": change,
            "change_percent": round(change / self.previous_close * 100, 2) + 0.0,
            "volume": self.rng.randrange(1, 100) * 100,
            "timestamp": format_timestamp(at),
            "data_source": "mock",
        }


def csv_ticks(path: str | Path) -> Iterator[TickDict]:
    """Replay a CSV file: one tick per row, columns named like tick fields.

    ``symbol``, ``timestamp`` and ``price`` are required columns; empty cells are left out;
    ``data_source`` defaults to ``csv``. Numbers are parsed here, so a bad one raises
    `CsvSourceError` with its line instead of reaching the API as a string.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        known = {*_FLOAT_FIELDS, *_TEXT_FIELDS, "volume"}
        if missing := {"symbol", "timestamp", "price"} - columns:
            raise CsvSourceError(f"{path}: missing columns {', '.join(sorted(missing))}")
        if unknown := columns - known:
            raise CsvSourceError(f"{path}: unknown columns {', '.join(sorted(unknown))}")
        for row in reader:
            yield _csv_tick(row, f"{path}:{reader.line_num}")


def _csv_tick(row: Mapping[str, str | None], where: str) -> TickDict:
    tick: TickDict = {}
    for name, cell in row.items():
        text = (cell or "").strip()
        if not text:
            continue
        try:
            if name in _FLOAT_FIELDS:
                tick[name] = float(text)
            elif name == "volume":
                number = float(text)
                if not number.is_integer():
                    raise ValueError(f"{text!r} is not a whole number")
                tick[name] = int(number)
            else:
                tick[name] = text
        except ValueError as exc:
            raise CsvSourceError(f"{where}: column {name}: {exc}") from exc
    tick.setdefault("data_source", "csv")
    return tick


def yfinance_ticks(
    symbols: Iterable[str],
    *,
    polls: int | None = None,
    interval: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[TickDict]:
    """Poll Yahoo Finance every ``interval`` seconds (``polls`` times, or for ever).

    Raises `SourceUnavailableError` at once if yfinance is not installed, and on the first poll
    that cannot fetch a symbol's data.
    """
    try:
        yf = importlib.import_module("yfinance")
    except ImportError as exc:
        raise SourceUnavailableError("yfinance is not installed (pip install yfinance)") from exc
    names = [s.upper() for s in symbols]

    def poll() -> Iterator[TickDict]:
        done = 0
        while polls is None or done < polls:
            if done:
                sleep(interval)
            at = clock()
            for name in names:
                yield _yfinance_tick(yf, name, at)
            done += 1

    return poll()


def _yfinance_tick(yf: Any, symbol: str, at: datetime) -> TickDict:
    try:
        ticker = yf.Ticker(symbol)
        history = None
        for period in _YFINANCE_PERIODS:
            history = ticker.history(period=period)
            if history is not None and len(history):
                break
    except Exception as exc:  # yfinance raises whatever its HTTP stack raises
        raise SourceUnavailableError(f"yfinance failed for {symbol}: {exc}") from exc
    if history is None or not len(history):
        raise SourceUnavailableError(f"yfinance returned no data for {symbol}")
    last = history.iloc[-1]
    price = round(float(last["Close"]), 2)
    previous = history.iloc[-2]["Close"] if len(history) > 1 else last["Open"]
    previous_close = round(float(previous), 2)
    change = round(price - previous_close, 2)
    return {
        "symbol": symbol,
        "open": round(float(last["Open"]), 2),
        "high": round(float(last["High"]), 2),
        "low": round(float(last["Low"]), 2),
        "price": price,
        "previous_close": previous_close,
        "change": change,
        "change_percent": round(change / previous_close * 100, 2) if previous_close else 0.0,
        "volume": int(last["Volume"]),
        "timestamp": format_timestamp(at.replace(microsecond=0)),
        "data_source": "yfinance",
    }


def open_source(spec: str, symbols: Iterable[str], **options: Any) -> Iterator[TickDict]:
    """The source named by ``spec``: ``mock``, ``csv:PATH`` or ``yfinance``.

    ``options`` go to `mock_ticks` or `yfinance_ticks`. `SourceUnavailableError` is raised here,
    before the first tick, when the source cannot work.
    """
    if spec == "mock":
        return mock_ticks(symbols, **options)
    if spec.startswith("csv:"):
        path = Path(spec.removeprefix("csv:"))
        if not path.is_file():
            raise SourceUnavailableError(f"no CSV file at {path}")
        return csv_ticks(path)
    if spec == "yfinance":
        return yfinance_ticks(symbols, **options)
    raise ValueError(f"unknown tick source {spec!r}: use mock, csv:PATH or yfinance")
