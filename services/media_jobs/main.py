"""The media-jobs API process: ``uvicorn services.media_jobs.main:app``."""

from __future__ import annotations

from fastapi import FastAPI

from services.media_jobs.api import outputs_router, router
from services.media_jobs.container import build_container
from services.media_jobs.settings import MediaJobsSettings
from shared.http import ServiceSpec, create_app, table_ready


def build_app(settings: MediaJobsSettings | None = None) -> FastAPI:
    return create_app(
        ServiceSpec(
            name="media-jobs",
            prefix="/media",
            routers=[router, outputs_router],
            container=build_container,
            ready_check=table_ready("media-jobs"),
            idempotency_table="media-idempotency",
            clients=("dynamodb", "s3"),
            description="Upload a video, get HLS and DASH renditions, thumbnails and a poster: "
                        "probe, never-upscale profile, one-decode encode, validated outputs.",
            tags=[{"name": "media", "description": "Uploads and jobs"},
                  {"name": "outputs", "description": "Encoded files (the CDN's stand-in)"}],
        ),
        settings or MediaJobsSettings.load(),
    )


app = build_app()
