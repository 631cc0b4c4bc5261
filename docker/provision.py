"""Compose's one-shot provisioner: converge the emulator, then hand the services their ids.

    python /app/docker/provision.py /run/regatta/cognito.env

Creates (or converges) every topology resource and the Cognito pool, app client, admins group
and demo users at AWS_ENDPOINT_URL, like `regatta up` does for `make run`, then writes
COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and COGNITO_MACHINE_CLIENT_IDS to the file that the
services' entrypoint loads (REGATTA_ENV_FILE). The file appears whole or not at all. In AWS,
Terraform owns all of this: the script refuses to run without an emulator endpoint.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from devkit.cognito import ensure_user_pool
from devkit.provision import provision
from shared.aws import AwsClients
from shared.http import wait_for_aws
from shared.logging import configure_logging, get_logger
from shared.settings import PlatformSettings

log = get_logger("docker.provision")


async def converge(settings: PlatformSettings, target: Path) -> None:
    """Provision the topology and Cognito, then write the Cognito ids to ``target``."""
    async with AwsClients(settings) as aws:
        await wait_for_aws(aws)
        await provision(aws)
        ids = await ensure_user_pool(aws)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(f"COGNITO_USER_POOL_ID={ids.user_pool_id}\n"
                       f"COGNITO_CLIENT_ID={ids.client_id}\n"
                       f"COGNITO_MACHINE_CLIENT_IDS={ids.machine_client_id}\n")
    partial.replace(target)
    log.info("provisioner.done", env_file=str(target), user_pool_id=ids.user_pool_id)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: provision.py ENV_FILE", file=sys.stderr)  # noqa: T201
        return 2
    settings = PlatformSettings.load()
    configure_logging(settings.log_level, settings.log_format, service="provisioner")
    if not settings.aws_endpoint_url:
        print("error: AWS_ENDPOINT_URL is unset: the provisioner only converges an emulator; "  # noqa: T201
              "in AWS, Terraform owns the resources", file=sys.stderr)
        return 2
    asyncio.run(converge(settings, Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
