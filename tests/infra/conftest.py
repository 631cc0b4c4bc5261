"""Registers the infrastructure tests' fixtures (defined in infra_support.py)."""

from infra_support import (  # noqa: F401
    dockerfile_stages,
    root,
    service_code,
    services,
    terraform_bin,
    terraform_env,
    tf,
    topology,
)
