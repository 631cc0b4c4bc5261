"""Settings every service shares, read from the environment and validated at start."""

from __future__ import annotations

import sys
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError


class PlatformSettings(BaseSettings):
    """Base settings; each service subclasses it and adds its own fields.

    Locally ``AWS_ENDPOINT_URL`` points at the emulator; in AWS it is unset and botocore
    finds the real endpoints. Nothing else differs between the two.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # Prepended to every logical resource name in infra/topology.yaml.
    regatta_name_prefix: str = "regatta-"
    regatta_env: str = "dev"
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # AWS calls: per-attempt limits and attempts (shared.aws.client_config); the defaults keep
    # one call under 60 s in all, so API requests fail inside the edge's origin timeout.
    aws_connect_timeout: float = Field(default=2.0, gt=0, le=30)
    aws_read_timeout: float = Field(default=10.0, gt=0, le=120)
    aws_max_attempts: int = Field(default=3, ge=1, le=10)

    # Workers: long-poll wait, and the drain budget after SIGTERM (ECS kills at stopTimeout).
    worker_wait_time_seconds: int = 20
    worker_stop_timeout: float = 25.0
    # Pauses after failed receive calls: exponential from base, equal jitter, at most cap.
    worker_receive_backoff_base: float = Field(default=1.0, gt=0)
    worker_receive_backoff_cap: float = Field(default=30.0, gt=0)
    # Liveness (shared.health): a worker touches <dir>/<queue> on progress; its health check
    # fails when that file is older than the stall time (well above the 20 s long poll and a
    # visibility-heartbeat interval, which is a third of the queue's visibility timeout).
    worker_liveness_dir: str = "/tmp/regatta-liveness"
    worker_stall_seconds: float = Field(default=120.0, gt=0)

    # The outbox (shared.outbox): shards spread its writes over DynamoDB partitions (about
    # 1,000 writes/s each); the relay polls every `poll` seconds while messages keep coming,
    # slowing to `idle_poll` when there are none; with a stats path, the relay writes its
    # commit-to-publish lags there when it stops (benchmarks read it).
    outbox_shards: int = Field(default=1, ge=1, le=64)
    outbox_poll_seconds: float = Field(default=0.1, gt=0, le=5)
    outbox_idle_poll_seconds: float = Field(default=0.5, gt=0, le=30)
    outbox_stats_path: str | None = None

    # Idempotency-Key records (shared.idempotency_keys): how long a key replays its answer,
    # and how long a request may hold it in progress before a retry may run again.
    request_keys_keep_seconds: int = Field(default=24 * 3600, ge=60)
    request_keys_in_progress_seconds: int = Field(default=60, ge=1, le=900)

    # When set, the process counts its AWS API calls by operation and writes them to this
    # JSON file when its clients close (benchmarks read it; see shared.aws.ApiCallCounter).
    aws_call_counts_path: str | None = None

    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    # The emulator signs tokens with the AWS issuer name but serves JWKS locally,
    # so issuer and JWKS URL are separate settings (both derived when unset).
    cognito_issuer: str = ""
    cognito_jwks_url: str = ""
    # Machine app clients (OAuth 2.0 client credentials) whose tokens the services accept,
    # comma-separated; which routes a machine may call is its token's scope (shared.auth).
    cognito_machine_client_ids: Annotated[list[str], NoDecode] = []
    # The pool's OAuth 2.0 token endpoint, for machines: https://<domain>.auth.<region>
    # .amazoncognito.com/oauth2/token in AWS; <AWS_ENDPOINT_URL>/oauth2/token when unset and
    # an endpoint is set (the emulator serves it).
    cognito_token_url: str = ""

    @field_validator("cognito_machine_client_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Signing keys (shared.auth.JwksCache): the key set is fetched again once it is older than
    # the TTL (a key the pool removed stops verifying then) or when a token names an unknown
    # kid, but never more than once per refresh interval, whatever tokens arrive.
    cognito_jwks_ttl_seconds: float = Field(default=3600.0, gt=0)
    cognito_jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)

    # Per-process token buckets (shared.ratelimit): `anonymous` routes count by client
    # address, `user` routes by caller; a request takes a token, `burst` is the bucket's size
    # and `per_minute` its refill. Off only for benchmarks and test suites.
    rate_limits_enabled: bool = True
    rate_limit_anonymous_per_minute: float = Field(default=60.0, gt=0)
    rate_limit_anonymous_burst: int = Field(default=20, ge=1)
    rate_limit_user_per_minute: float = Field(default=300.0, gt=0)
    rate_limit_user_burst: int = Field(default=60, ge=1)
    # Buckets kept per limiter (least recently used dropped first): bounds the memory.
    rate_limit_max_clients: int = Field(default=50_000, ge=1)

    # The platform's public origin (https://<CloudFront or custom domain>, set by Terraform).
    # Links a service hands out start with it: behind CloudFront and the internal ALB a
    # request's own host and scheme name the ALB. Empty (local runs): derived from the request.
    public_base_url: str = ""

    @field_validator("public_base_url")
    @classmethod
    def _origin_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
                or parts.fragment:
            raise ValueError(f"{value!r} is not an http(s) base URL such as https://example.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derive_cognito_urls(self) -> Self:
        pool = self.cognito_user_pool_id
        if pool and not self.cognito_issuer:
            object.__setattr__(
                self, "cognito_issuer", f"https://cognito-idp.{self.aws_region}.amazonaws.com/{pool}"
            )
        if self.aws_endpoint_url and not self.cognito_token_url:
            token_url = f"{self.aws_endpoint_url.rstrip('/')}/oauth2/token"
            object.__setattr__(self, "cognito_token_url", token_url)
        if pool and not self.cognito_jwks_url:
            base = self.aws_endpoint_url or f"https://cognito-idp.{self.aws_region}.amazonaws.com"
            jwks = f"{base.rstrip('/')}/{pool}/.well-known/jwks.json"
            object.__setattr__(self, "cognito_jwks_url", jwks)
        return self

    def resource_name(self, logical: str) -> str:
        """Physical AWS name of a resource declared in the topology."""
        return f"{self.regatta_name_prefix}{logical}"

    @classmethod
    def of(cls, settings: PlatformSettings) -> Self:
        """``settings`` as this service's settings (a worker reads them from ``aws.settings``);
        TypeError if they were loaded as another class."""
        if not isinstance(settings, cls):
            raise TypeError(f"settings are a {type(settings).__name__}, not a {cls.__name__}")
        return settings

    @classmethod
    def load(cls) -> Self:
        """Read and validate settings; a bad setting stops the process with one line."""
        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            error = ConfigurationError(f"invalid settings for {cls.__name__}: {problems}")
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2)

