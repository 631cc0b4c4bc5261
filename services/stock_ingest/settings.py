"""Settings of the stock-ingest service (API)."""

from pydantic import AliasChoices, Field

from shared.settings import PlatformSettings

MiB = 1024 * 1024


class StockIngestSettings(PlatformSettings):
    """Environment of the stock-ingest process; see PlatformSettings for the shared fields.

    Each variable is also read by its name before it took the service's prefix
    (``CANDLES_MAX_HOURS``, ``CANDLES_MAX_BYTES``, ``CANDLES_MEMORY_MB``,
    ``CANDLES_FETCH_CONCURRENCY``, ``WRITE_CONCURRENCY``); the prefixed name wins.
    """

    # Candle queries read one archive partition per hour: this caps a query's cost.
    stock_candles_max_hours: int = Field(
        default=31 * 24, ge=1, le=366 * 24,
        validation_alias=AliasChoices("stock_candles_max_hours", "candles_max_hours"))
    # ... and this caps what it reads: a range whose archive objects (gzipped, as stored)
    # weigh more is refused with 422 before anything is fetched. Objects are streamed to a
    # temporary folder (so disk holds at most this much) and DuckDB reads one hour partition
    # at a time within stock_candles_memory_mb, so memory follows the largest partition, not
    # the range. (DuckDB's JSON reader alone takes 32 MiB.)
    stock_candles_max_bytes: int = Field(
        default=256 * MiB, ge=1, le=64 * 1024 * MiB,
        validation_alias=AliasChoices("stock_candles_max_bytes", "candles_max_bytes"))
    stock_candles_memory_mb: int = Field(
        default=128, ge=64, le=64 * 1024,
        validation_alias=AliasChoices("stock_candles_memory_mb", "candles_memory_mb"))
    # Archive objects fetched at once by a candle query.
    stock_candles_fetch_concurrency: int = Field(
        default=16, ge=1, le=64,
        validation_alias=AliasChoices("stock_candles_fetch_concurrency",
                                      "candles_fetch_concurrency"))
    # BatchWriteItem calls in flight for one request (500 ticks = 20 calls).
    stock_write_concurrency: int = Field(
        default=4, ge=1, le=32,
        validation_alias=AliasChoices("stock_write_concurrency", "write_concurrency"))
