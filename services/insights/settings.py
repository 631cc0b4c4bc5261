"""Settings of the insights service (API and worker)."""

from pydantic import Field

from shared.settings import PlatformSettings


class InsightsSettings(PlatformSettings):
    """Environment of the insights processes; see PlatformSettings for the shared fields."""

    # lake (the insights-lake branch's block: compaction, the local lake cache, reports, /sql)
    # Seconds between compaction runs (the worker's timer; EventBridge's schedule in AWS).
    insights_compaction_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # Raw objects one run reads at most (the rest wait for the next run): bounds its memory.
    insights_compaction_max_objects: int = Field(default=20_000, ge=1)
    # A curated partition holding more run files than this is merged into one file.
    insights_compaction_merge_files: int = Field(default=24, ge=2)
    # The compaction lease: one runner at a time; a dead holder's lease expires after this.
    insights_compaction_lease_seconds: float = Field(default=300.0, ge=10)
    # Where a process keeps its copy of the curated Parquet objects (immutable, so a copy
    # never goes stale; files the lake no longer lists are dropped at the next sync).
    insights_lake_cache_dir: str = "/tmp/regatta-insights-lake"
    # Reports list the curated zone again when their copy is older than this.
    insights_lake_refresh_seconds: float = Field(default=10.0, ge=0, le=60)
    # DuckDB's memory for one query (spills beyond), and threads per query.
    insights_duckdb_memory_mb: int = Field(default=512, ge=64)
    insights_duckdb_threads: int = Field(default=2, ge=1, le=64)
    # POST /insights/sql: rows returned at most, and the time a query may run.
    insights_sql_max_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    insights_sql_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # end lake
