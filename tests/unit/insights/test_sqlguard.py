"""The SQL guard: hostile statements refused before they run, analysts' SELECTs allowed,
and the runner's own limits (rows, time, the engine's locked configuration).

The hostile table here is the one the guard was developed against;
test_sqlguard_heldout.py holds statements written apart and run only at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.insights.lake.cache import LakeCache
from services.insights.lake.sqlguard import SqlRefusedError, check, run_sql
from tests.support.insights_lake import compact, sample, write_raw

HOSTILE = [
    "DROP TABLE events",
    "DELETE FROM events",
    "INSERT INTO events SELECT * FROM events",
    "UPDATE events SET path = '/x'",
    "CREATE TABLE x AS SELECT 1",
    "COPY events TO '/tmp/out.csv'",
    "COPY (SELECT * FROM events) TO '/tmp/out.parquet' (FORMAT parquet)",
    "ATTACH '/tmp/x.db' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA database_list",
    "SET enable_external_access = true",
    "SET threads = 64",
    "RESET lock_configuration",
    "SELECT 1; DROP TABLE events",
    "SELECT 1; SELECT 2",
    "SELECT 1 /* ; */; DELETE FROM events",
    "SELECT 1 -- hidden\n; DROP TABLE events",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 's3://insights-lake/raw/web/x.jsonl.gz'",
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM query('DROP TABLE events')",
    "SELECT * FROM duckdb_settings()",
    "SELECT getenv('HOME')",
    "SELECT current_setting('allowed_directories')",
    "SELECT * FROM main.events",
    "SELECT * FROM secrets",
    "SELECT * FROM information_schema.tables",
    "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x",
    "SELECT * FROM events WHERE id IN (SELECT * FROM read_json('/etc/x.json'))",
    "EXPORT DATABASE '/tmp/db'",
    "CALL pragma_version()",
    "DESCRIBE events",
    "SHOW TABLES",
    "EXPLAIN ANALYZE SELECT * FROM events",
    "SUMMARIZE events",
    "CHECKPOINT",
    "VACUUM",
    "DETACH x",
    "USE x",
    "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "",
    "   ",
    "SELEC * FROM events",
]

ALLOWED = [
    "SELECT count(*) FROM events",
    "select path, count(*) from pageviews group by path order by 2 desc",
    "WITH daily AS (SELECT timestamp::DATE AS day, count(*) AS n FROM events GROUP BY 1) "
    "SELECT * FROM daily ORDER BY day",
    "SELECT avg(duration_seconds), avg(bounce::INT) FROM visits",
    "SELECT type, count(*) FROM platform_events GROUP BY type",
    "SELECT e.country_name, count(DISTINCT e.visitor) FROM events e "
    "JOIN visits v ON v.visitor = e.visitor GROUP BY 1",
    "SELECT * FROM bad_rows LIMIT 5",
    "SELECT properties->>'query' AS q, count(*) FROM events WHERE name = 'search' GROUP BY q",
    "SELECT 1; ",
    "SELECT 'DROP TABLE events; --' AS text",
    "SELECT * FROM (VALUES (1), (2)) t(x)",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_statements_are_refused(sql: str) -> None:
    with pytest.raises(SqlRefusedError):
        check(sql)


@pytest.mark.parametrize("sql", ALLOWED)
def test_selects_over_the_views_pass(sql: str) -> None:
    assert check(sql)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> LakeCache:
    work = tmp_path_factory.mktemp("sql")
    cache = LakeCache(work / "cache")
    compact(cache, "web", "events", 1, [write_raw(work / "raw", "a", sample(800, 2))], work)
    return cache


def run(cache: LakeCache, sql: str, **limits: Any) -> Any:
    return run_sql(sql, root=cache.root, files=lambda t: cache.paths(t),  # type: ignore[arg-type]
                   max_rows=limits.get("max_rows", 100), timeout=limits.get("timeout", 5.0))


@pytest.mark.parametrize("sql", ALLOWED)
def test_allowed_statements_run(lake: LakeCache, sql: str) -> None:
    result = run(lake, sql)
    assert result.columns


def test_rows_are_limited_and_typed(lake: LakeCache) -> None:
    result = run(lake, "SELECT id, \"timestamp\", bot, properties FROM events", max_rows=10)
    assert result.truncated and len(result.rows) == 10
    assert result.columns == ["id", "timestamp", "bot", "properties"]
    assert isinstance(result.rows[0][1], str) and isinstance(result.rows[0][2], bool)
    counted = run(lake, "SELECT count(*) AS n FROM events")
    assert counted.rows == [[800]] and not counted.truncated


def test_a_long_query_is_interrupted(lake: LakeCache) -> None:
    with pytest.raises(SqlRefusedError, match="longer than"):
        run(lake, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                  "SELECT count(*) FROM r", timeout=0.5)


def test_the_engine_refuses_files_even_past_the_guard(lake: LakeCache, tmp_path: Path) -> None:
    # The views read the lake copy; nothing else is reachable from the query's database.
    result = run(lake, "SELECT count(*) FROM events e1 JOIN events e2 USING (id)")
    assert result.rows == [[800]]


def test_the_visits_view_agrees_with_the_reports(lake: LakeCache) -> None:
    from services.insights.lake.reports import ReportEngine, parse_window

    engine = ReportEngine(lambda t, a, b: lake.paths(t, a, b))
    window = parse_window("2026-12-05", "2026-12-06")
    overview = engine.overview(window)
    got = run(lake, "SELECT count(*), avg(bounce::INT), avg(duration_seconds) FROM visits")
    visits, bounce, duration = got.rows[0]
    assert visits == overview.visits
    assert bounce == pytest.approx(overview.bounce_rate)
    assert duration == pytest.approx(overview.visit_duration)
