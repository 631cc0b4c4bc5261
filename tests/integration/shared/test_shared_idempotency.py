"""``IdempotencyStore`` claims on a real DynamoDB table: the states a consumer goes through."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devkit.testing import eventually
from shared.errors import IdempotencyInProgressError
from shared.idempotency import Claim, IdempotencyStore

pytestmark = pytest.mark.integration


@pytest.fixture
def key() -> str:
    return f"/contract-tests#{uuid.uuid4()}"


def store_like(store: IdempotencyStore, **options: Any) -> IdempotencyStore:
    """Another consumer process on the same table, with its own options."""
    return IdempotencyStore(store.dynamodb, store.table, **options)


async def stored(store: IdempotencyStore, key: str) -> dict[str, Any]:
    response = await store.dynamodb.get_item(TableName=store.table, Key={"id": {"S": key}},
                                             ConsistentRead=True)
    return dict(response.get("Item") or {})


async def test_first_claim_is_new_and_recorded_in_progress(store, key) -> None:
    """The first begin() wins and leaves an INPROGRESS record with both expiries."""
    assert await store.begin(key) is Claim.NEW

    item = await stored(store, key)
    assert item["status"] == {"S": "INPROGRESS"}
    assert int(item["in_progress_expiry"]["N"]) < int(item["expires_at"]["N"])


async def test_in_progress_claim_blocks_a_second_claim(store, key) -> None:
    """While one execution holds the claim, another (even another process) is refused."""
    await store.begin(key)

    with pytest.raises(IdempotencyInProgressError):
        await store.begin(key)
    with pytest.raises(IdempotencyInProgressError):
        await store_like(store).begin(key)


async def test_expired_in_progress_claim_can_be_taken_over(store, key) -> None:
    """A claim whose holder died (in-progress expiry passed) is claimable again."""
    short = store_like(store, in_progress_timeout=1)
    await short.begin(key)
    with pytest.raises(IdempotencyInProgressError):
        await store.begin(key)

    async def claimed() -> bool:
        try:
            return await store.begin(key) is Claim.NEW
        except IdempotencyInProgressError:
            return False

    assert await eventually(claimed, timeout=5, interval=0.25)


async def test_release_allows_a_rerun(store, key) -> None:
    """A failed execution releases its claim; the next delivery may run again."""
    await store.begin(key)

    await store.release(key)

    assert await stored(store, key) == {}
    assert await store.begin(key) is Claim.NEW


async def test_completed_key_is_already_processed(store, key) -> None:
    """After complete(), every later begin() (any process) says ALREADY_PROCESSED."""
    await store.begin(key)

    await store.complete(key)

    assert (await stored(store, key))["status"] == {"S": "COMPLETED"}
    assert await store.begin(key) is Claim.ALREADY_PROCESSED
    assert await store_like(store, in_progress_timeout=0).begin(key) is Claim.ALREADY_PROCESSED


async def test_completed_record_past_its_expiry_is_not_a_duplicate(store, key) -> None:
    """Expiry is checked in code (DynamoDB TTL deletes lazily, the emulator never does)."""
    short_lived = store_like(store, expires_after=1)
    await short_lived.begin(key)
    await short_lived.complete(key)
    assert await store.begin(key) is Claim.ALREADY_PROCESSED

    async def new_again() -> bool:
        return await store.begin(key) is Claim.NEW

    assert await eventually(new_again, timeout=5, interval=0.25)


async def test_keys_are_independent(store, key) -> None:
    """Claims on one event never affect another event."""
    other = f"{key}-other"
    await store.begin(key)
    await store.complete(key)

    assert await store.begin(other) is Claim.NEW
