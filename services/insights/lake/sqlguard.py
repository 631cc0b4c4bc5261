"""``POST /insights/sql``: one read-only SELECT over the declared views, or a refusal.

Two fences. The guard (`check`) reads the statement with DuckDB's own parser, never a
regular expression: exactly one statement (``extract_statements``, which knows comments
and string literals), of type SELECT (``WITH ... SELECT`` included), whose syntax tree
(``json_serialize_sql``) references only the declared views (or the query's own CTEs),
unqualified, through no table function (``read_csv``, ``read_parquet``, ``query``,
``glob``, ...), no quoted path or URL (``FROM '/etc/passwd'``, ``'s3://...'``) and no
function of `DENIED_FUNCTIONS`. Anything else is refused (422) before anything runs.

The runner (`run_sql`) then executes it on a fresh in-memory database whose only contents
are the views over the local copy of the curated files, with external access off (no file
but the lake copy's folder, no URL, no extension load), the configuration locked (no SET,
no PRAGMA that changes it), a memory limit, a row limit (``truncated`` says when rows were
left out) and a time limit (DuckDB's interrupt).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from services.insights.lake.compaction import CURATED_COLUMNS

VIEWS = ("events", "pageviews", "visits", "platform_events", "bad_rows")
MAX_SQL_CHARS = 20_000
# Table-reference kinds a SELECT may use; a table function, a SHOW or anything new is out.
TABLE_REFS = {"BASE_TABLE", "JOIN", "SUBQUERY", "EMPTY", "EXPRESSION_LIST"}
DENIED_FUNCTIONS = {
    "getenv", "current_setting", "glob", "query", "query_table", "sniff_csv",
    "read_text", "read_blob", "read_csv", "read_csv_auto", "read_json", "read_json_auto",
    "read_json_objects", "read_ndjson", "read_ndjson_objects", "read_parquet",
    "parquet_scan", "parquet_metadata", "parquet_schema", "parquet_file_metadata",
    "parquet_kv_metadata", "iceberg_scan", "delta_scan", "sqlite_scan", "postgres_scan",
    "mysql_scan", "read_xlsx", "load_aws_credentials", "set_variable", "getvariable",
    "duckdb_secrets", "which_secret", "make_timestamp_from_file",
}


class SqlRefusedError(ValueError):
    """The statement is not one read-only SELECT over the declared views (422)."""


def check(sql: str) -> str:
    """The single SELECT statement of ``sql``; SqlRefusedError says why not."""
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefusedError(f"a query has at most {MAX_SQL_CHARS} characters")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlRefusedError(f"not valid SQL: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SqlRefusedError("exactly one statement, please")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise SqlRefusedError(f"only SELECT is allowed, not {statement.type.name}")
    text = statement.query
    with duckdb.connect(config={"enable_external_access": False}) as con:
        row = con.execute("SELECT json_serialize_sql($sql)", {"sql": text}).fetchone()
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise SqlRefusedError(f"only a plain SELECT is allowed "
                              f"({tree.get('error_message', 'not serializable')})")
    _check_tree(tree["statements"][0]["node"])
    return text


def _check_tree(root: dict[str, Any]) -> None:
    ctes = {name.lower() for node in _nodes(root) for name in _cte_names(node)}
    allowed = set(VIEWS) | ctes
    for node in _nodes(root):
        kind = node.get("type")
        # Table references carry a sample clause; expressions a class; query nodes modifiers.
        is_table_ref = "sample" in node and "class" not in node and "modifiers" not in node
        if (is_table_ref or "table_name" in node) and kind not in TABLE_REFS:
            raise SqlRefusedError(f"only the views {', '.join(VIEWS)} may be read "
                                      f"(found a {str(kind).lower().replace('_', ' ')})")
        if kind == "BASE_TABLE":
            name = str(node.get("table_name", ""))
            if node.get("schema_name") or node.get("catalog_name"):
                raise SqlRefusedError(f"tables are named without schema or catalog: {name}")
            if name.lower() not in allowed:
                raise SqlRefusedError(f"unknown table {name!r}; the views are "
                                      f"{', '.join(VIEWS)}")
        if node.get("class") == "FUNCTION":
            name = str(node.get("function_name", "")).lower()
            if node.get("schema") or node.get("catalog"):
                raise SqlRefusedError(f"functions are named without schema: {name}")
            if name in DENIED_FUNCTIONS or name.startswith(("read_", "parquet_", "duckdb_")):
                raise SqlRefusedError(f"the function {name} is not allowed")


def _cte_names(node: dict[str, Any]) -> list[str]:
    cte_map = node.get("cte_map")
    if not isinstance(cte_map, dict):
        return []
    return [str(entry.get("key", "")) for entry in cte_map.get("map", [])]


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300]


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def _empty(table: str) -> str:
    columns = ", ".join(f'NULL::{kind} AS "{name}"'
                        for name, kind in CURATED_COLUMNS[table].items())
    return f"SELECT {columns} WHERE false"


def view_sql(files: Callable[[str], list[str]]) -> list[str]:
    """The statements that declare the views over the curated files ``files(table)``."""
    statements = []
    for table in ("events", "platform_events", "bad_rows"):
        paths = files(table)
        source = f"SELECT * FROM read_parquet({paths!r})" if paths else _empty(table)
        statements.append(f"CREATE VIEW {table} AS {source}")
    statements.append("CREATE VIEW pageviews AS SELECT * FROM events WHERE type = 'page'")
    statements.append("""CREATE VIEW visits AS
        WITH marked AS (
            SELECT *, CASE WHEN "timestamp" - lag("timestamp") OVER w <= INTERVAL 30 MINUTE
                           THEN 0 ELSE 1 END AS new
            FROM (SELECT *, "timestamp"::DATE AS day FROM events)
            WHERE visitor IS NOT NULL AND NOT bot
            WINDOW w AS (PARTITION BY day, visitor ORDER BY "timestamp", id)),
        numbered AS (
            SELECT *, sum(new) OVER (PARTITION BY day, visitor ORDER BY "timestamp", id
                                     ROWS UNBOUNDED PRECEDING) AS visit_no FROM marked)
        SELECT visitor, visit_no, min("timestamp") AS started, max("timestamp") AS ended,
               (epoch_ms(max("timestamp")) - epoch_ms(min("timestamp"))) / 1000.0
                   AS duration_seconds,
               count(*) AS events, count(*) FILTER (WHERE type = 'page') AS pageviews,
               count(*) = 1 AS bounce,
               arg_min(path, "timestamp") AS entry_page, arg_max(path, "timestamp") AS exit_page,
               any_value(country) AS country, any_value(continent) AS continent,
               any_value(device) AS device
        FROM numbered GROUP BY day, visitor, visit_no""")
    return statements


def run_sql(sql: str, *, root: Path, files: Callable[[str], list[str]], max_rows: int,
            timeout: float, memory_mb: int = 256, threads: int = 1) -> SqlResult:
    """Check ``sql`` and run it over the views (blocking; run it in a thread)."""
    statement = check(sql)
    con = duckdb.connect(config={
        "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        "memory_limit": f"{memory_mb}MB", "threads": threads})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET allowed_directories = [{str(root.resolve()) + '/'!r}]")
        con.execute("SET enable_external_access = false")
        for declaration in view_sql(files):
            con.execute(declaration)
        con.execute("SET lock_configuration = true")
        timer = threading.Timer(timeout, con.interrupt)
        timer.start()
        try:
            cursor = con.execute(statement)
            columns = [d[0] for d in cursor.description or []]
            fetched = cursor.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise SqlRefusedError(f"the query ran longer than {timeout:g} s") from None
        except duckdb.Error as exc:
            if not timer.is_alive():
                raise SqlRefusedError(f"the query ran longer than {timeout:g} s") from None
            raise SqlRefusedError(_first_line(exc)) from None
        finally:
            timer.cancel()
    finally:
        con.close()
    return SqlResult(columns, [[_json(v) for v in row] for row in fetched[:max_rows]],
                     len(fetched) > max_rows)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)
