"""Request, response and row models of the insights service.

`EventIn` documents the collector's event in OpenAPI; the collector validates with the faster
hand-written rules of `services.insights.collect`, which follow it field for field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A page path: starts with /, at most 512 characters, no spaces or control characters.
Path = Annotated[str, StringConstraints(min_length=1, max_length=512,
                                        pattern=r"^/[^\s\x00-\x1f\x7f]*$")]
PropertyValue = str | int | float | bool | None


class EventIn(BaseModel):
    """One collector event, as a page or a client sends it (Segment's `page`/`track`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["page", "track"]
    name: str | None = Field(default=None, max_length=200,
                             description="The event's name: required for track, absent for page")
    path: str = Field(max_length=2048, description="The page's path, starting with /; its "
                      "query string and fragment are dropped")
    referrer: str | None = Field(default=None, max_length=2048,
                                 description="Absolute http(s) URL; stored without its query")
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=50,
                                                 description="A flat object")
    timestamp: str | None = Field(default=None, description="ISO-8601 event time (server time "
                                  "when absent; at most 5 minutes ahead, 7 days old)")
    id: str | None = Field(default=None, max_length=128,
                           description="Client message id; derived from the content if absent")


class EventBatch(BaseModel):
    """Up to 500 events (512 KiB)."""

    events: list[EventIn] = Field(min_length=1, max_length=500)


class FieldError(BaseModel):
    loc: str
    msg: str


class Rejection(BaseModel):
    index: int
    errors: list[FieldError]


class Collected(BaseModel):
    """What the collector did with a request's events; accepted ones are durable."""

    accepted: int
    duplicates: int
    rejected: list[Rejection]


class HitIn(BaseModel):
    """Body of POST /insights/hits."""

    model_config = ConfigDict(extra="forbid")

    path: Path


class HitCount(BaseModel):
    """A path's views (all time) and unique visitors today (UTC)."""

    path: str
    views: int
    visitors_today: int
