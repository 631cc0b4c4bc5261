"""Settings every service shares, read from the environment and validated at start."""

from __future__ import annotations

import sys
from typing import Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    # When set, the process counts its AWS API calls by operation and writes them to this
    # JSON file when its clients close (benchmarks read it; see shared.aws.ApiCallCounter).
    aws_call_counts_path: str | None = None

    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    # The emulator signs tokens with the AWS issuer name but serves JWKS locally,
    # so issuer and JWKS URL are separate settings (both derived when unset).
    cognito_issuer: str = ""
    cognito_jwks_url: str = ""

    @model_validator(mode="after")
    def _derive_cognito_urls(self) -> Self:
        pool = self.cognito_user_pool_id
        if pool and not self.cognito_issuer:
            object.__setattr__(
                self, "cognito_issuer", f"https://cognito-idp.{self.aws_region}.amazonaws.com/{pool}"
            )
        if pool and not self.cognito_jwks_url:
            base = self.aws_endpoint_url or f"https://cognito-idp.{self.aws_region}.amazonaws.com"
            jwks = f"{base.rstrip('/')}/{pool}/.well-known/jwks.json"
            object.__setattr__(self, "cognito_jwks_url", jwks)
        return self

    def resource_name(self, logical: str) -> str:
        """Physical AWS name of a resource declared in the topology."""
        return f"{self.regatta_name_prefix}{logical}"

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

