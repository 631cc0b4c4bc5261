"""Settings of the insights service (API and worker)."""

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import PlatformSettings


class InsightsSettings(PlatformSettings):
    """Environment of the insights processes; see PlatformSettings for the shared fields."""

    # Origins whose scripts may call the visitor counter (/insights/hits) from a browser,
    # comma-separated (the static About page's origin); empty: no cross-origin caller.
    insights_cors_origins: Annotated[list[str], NoDecode] = []
    # The site every collected event and counted hit belongs to: part of the visitor hash.
    insights_site: str = Field(default="regatta", min_length=1, max_length=200)
    # Bounded clock skew of a client's event timestamp: at most this far in the future, and at
    # most this old (older or later events become bad rows).
    insights_max_future_seconds: int = Field(default=300, ge=0, le=86_400)
    insights_max_past_seconds: int = Field(default=7 * 86_400, ge=60, le=400 * 86_400)
    # Group commit of the collector: the events of requests arriving within the window are
    # written as one object (at most max_events of them); writes in flight at once.
    insights_commit_window_ms: float = Field(default=20.0, ge=0, le=1000)
    insights_commit_max_events: int = Field(default=20_000, ge=1, le=200_000)
    insights_commit_max_in_flight: int = Field(default=2, ge=1, le=16)
    # How long the day's visitor markers of the counter are kept after the day (TTL).
    insights_marker_keep_hours: int = Field(default=24, ge=1, le=24 * 7)

    # lake (the insights-lake branch's block: compaction, the local lake cache, reports, /sql)
    # Seconds between compaction runs (the worker's timer; EventBridge's schedule in AWS).
    insights_compaction_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # Whether the worker runs the compaction on its timer (what keeps reports within a
    # minute, locally and in AWS, where the schedule runs it too: the lease lets one run at
    # a time). False leaves it to the schedule alone (reports then lag by up to its period).
    insights_compaction_on_worker: bool = True
    # Raw objects one run reads at most (the rest wait for the next run): bounds its memory.
    insights_compaction_max_objects: int = Field(default=20_000, ge=1)
    # A curated partition holding more run files than this is merged into one file.
    insights_compaction_merge_files: int = Field(default=24, ge=2)
    # The compaction lease: one runner at a time; a dead holder's lease expires after this.
    insights_compaction_lease_seconds: float = Field(default=300.0, ge=10)
    # Where a process keeps its copy of the curated Parquet objects (immutable, so a copy
    # never goes stale; files the lake no longer lists are dropped at the next sync).
    insights_lake_cache_dir: str = "/tmp/regatta-insights-lake"
    # A process's copy (the API's, the compaction runner's) holds the days it reads, at most
    # this many MB between queries or runs: the least recently read days are dropped first
    # (and fetched again when asked for).
    insights_lake_copy_mb: int = Field(default=4096, ge=16, le=1_000_000)
    # Reports list the curated zone again when their copy is older than this.
    insights_lake_refresh_seconds: float = Field(default=10.0, ge=0, le=60)
    # DuckDB's memory for one query (spills beyond), and threads per query.
    insights_duckdb_memory_mb: int = Field(default=512, ge=64)
    insights_duckdb_threads: int = Field(default=2, ge=1, le=64)
    # POST /insights/sql: rows returned at most, and the time a query may run.
    insights_sql_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    insights_sql_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # end lake

    @field_validator("insights_cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value
