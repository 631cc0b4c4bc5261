"""Settings of the stock-ingest service (API)."""

from pydantic import Field

from shared.settings import PlatformSettings


class StockIngestSettings(PlatformSettings):
    """Environment of the stock-ingest process; see PlatformSettings for the shared fields."""

    # Candle queries read one archive partition per hour: this caps a query's cost.
    candles_max_hours: int = 31 * 24
    # ... and this caps what it reads: a range whose archive objects (gzipped, as stored)
    # weigh more is refused with 422 before anything is fetched. Objects are streamed to a
    # temporary folder (so disk holds at most this much) and DuckDB reads one hour partition
    # at a time within candles_memory_mb, so memory follows the largest partition, not the
    # range. (DuckDB's JSON reader alone takes 32 MiB.)
    candles_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    candles_memory_mb: int = Field(default=128, ge=64)
    # Archive objects fetched at once by a candle query.
    candles_fetch_concurrency: int = 16
    # BatchWriteItem calls in flight for one request (500 ticks = 20 calls).
    write_concurrency: int = 4
