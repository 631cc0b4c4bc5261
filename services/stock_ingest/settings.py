"""Settings of the stock-ingest service (API)."""

from shared.settings import PlatformSettings


class StockIngestSettings(PlatformSettings):
    """Environment of the stock-ingest process; see PlatformSettings for the shared fields."""

    # Candle queries read one archive partition per hour: this caps a query's cost.
    candles_max_hours: int = 31 * 24
    # Archive objects fetched at once by a candle query.
    candles_fetch_concurrency: int = 16
    # BatchWriteItem calls in flight for one request (500 ticks = 20 calls).
    write_concurrency: int = 4
