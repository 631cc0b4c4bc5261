"""Fixtures of the developer kit's integration tests (the emulator, the provisioner, the
`regatta` command's dead-letter tools); the stack itself comes from devkit.testing."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from shared.aws import AwsClients


@pytest_asyncio.fixture
async def sqs(aws: AwsClients) -> Any:
    return await aws.client("sqs")
