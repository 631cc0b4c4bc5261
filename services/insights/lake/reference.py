"""The geographic reference table: ISO 3166-1 alpha-2 code -> country name, continent.

The data file ``countries.csv`` beside this module (header ``code,name,continent``) holds
every officially assigned ISO 3166-1 country (249), with short English names and one of
seven continents (Africa, Antarctica, Asia, Europe, North America, Oceania, South America).
It was generated once from pycountry's ISO data and pycountry-convert's continent map (with
the eight codes that map lacks placed by hand); no runtime package is needed for it.

The same bytes go to ``reference/geo/countries.csv`` in the lake, the seed's reference
zone: `write_geo_reference` (for a provisioning step), and compaction's first run when the
key is missing (`read_geo_reference`). Compaction joins the lake's copy (`geo_from_csv`),
so an analyst's edit there is what the next run joins.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from services.insights.lake.layout import GEO_KEY

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

DATA_FILE = Path(__file__).with_name("countries.csv")
HEADER = ("code", "name", "continent")
CONTINENTS = ("Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania",
              "South America")


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    continent: str


def geo_csv() -> bytes:
    """The packaged reference table, as written to the lake."""
    return DATA_FILE.read_bytes()


def geo_from_csv(data: bytes) -> dict[str, Country]:
    """Code -> Country from a reference CSV; ValueError if its header or a row is wrong."""
    reader = csv.reader(io.StringIO(data.decode("utf-8")))
    if tuple(next(reader, ())) != HEADER:
        raise ValueError(f"the geo reference's header must be {','.join(HEADER)}")
    table: dict[str, Country] = {}
    for number, row in enumerate(reader, start=2):
        if len(row) != 3 or len(row[0]) != 2 or not row[0].isupper() or not row[1]:
            raise ValueError(f"geo reference line {number}: {row!r}")
        table[row[0]] = Country(*row)
    return table


@cache
def countries() -> dict[str, Country]:
    """The packaged table, parsed once per process."""
    return geo_from_csv(geo_csv())


async def write_geo_reference(s3: S3Client, bucket: str) -> str:
    """Put the packaged table at ``reference/geo/countries.csv`` (idempotent); its key."""
    await s3.put_object(Bucket=bucket, Key=GEO_KEY, Body=geo_csv(), ContentType="text/csv")
    return GEO_KEY


async def read_geo_reference(s3: S3Client, bucket: str) -> bytes:
    """The lake's reference table. When the lake has none yet, the packaged one is written
    there first (compaction thereby provisions the reference zone on its first run, in AWS
    as locally)."""
    try:
        response = await s3.get_object(Bucket=bucket, Key=GEO_KEY)
    except s3.exceptions.NoSuchKey:
        await write_geo_reference(s3, bucket)
        return geo_csv()
    async with response["Body"] as body:
        return await body.read()
