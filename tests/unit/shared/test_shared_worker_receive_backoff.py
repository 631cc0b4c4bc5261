"""Pauses after failed receive calls (``shared.worker.receive_backoff_seconds``) and how the
worker's loop applies them: growing while receives fail, reset by the first that completes."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from shared.worker import PerRecord, SqsWorker, WorkerConfig, receive_backoff_seconds


@given(
    failures=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=60),
    cap=st.floats(min_value=0.001, max_value=3600),
    seed=st.integers(),
)
def test_receive_backoff_stays_within_equal_jitter_bounds(
    failures: int, base: float, cap: float, seed: int
) -> None:
    """The pause lies between half the ceiling and the ceiling, the ceiling being
    base * 2^(failures-1) capped; no failure count overflows it."""
    ceiling = cap if failures > 64 else min(cap, base * 2 ** (failures - 1))

    delay = receive_backoff_seconds(failures, base=base, cap=cap, rng=random.Random(seed))

    assert ceiling / 2 <= delay <= ceiling


def test_receive_backoff_doubles_until_the_cap() -> None:
    """With the defaults (1 s base, 30 s cap), the ceilings run 1, 2, 4, 8, 16, 30, 30 s."""
    config = WorkerConfig()
    rng = random.Random(7)
    highest = [max(receive_backoff_seconds(n, base=config.receive_backoff_base,
                                           cap=config.receive_backoff_cap, rng=rng)
                   for _ in range(2000)) for n in range(1, 8)]

    for delay, ceiling in zip(highest, [1, 2, 4, 8, 16, 30, 30], strict=True):
        assert ceiling * 0.95 < delay <= ceiling


class FlakySqs:
    """An SQS transport stand-in: receive_message raises the scripted errors, in order, and
    answers an empty receive when the script says None."""

    def __init__(self, script: list[Exception | None], worker: list[SqsWorker[Any]]) -> None:
        self.script = list(script)
        self.worker = worker

    async def receive_message(self, **_: Any) -> dict[str, Any]:
        step = self.script.pop(0)
        if not self.script:
            self.worker[0].stop()
        if step is not None:
            raise step
        return {"Messages": []}


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                       "ReceiveMessage")


async def test_worker_backs_off_more_each_failure_and_resets_after_a_receive() -> None:
    """GIVEN three failed receives, one that completes, then two more failures, THEN the logged
    pauses follow failures 1, 2, 3 and start again at 1 after the completed receive."""
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    holder: list[SqsWorker[Any]] = []
    sqs = FlakySqs([unreachable, throttled(), unreachable, None, unreachable, throttled(), None],
                   holder)
    worker: SqsWorker[Any] = SqsWorker(
        sqs, "http://127.0.0.1:9/q", PerRecord(lambda _: asyncio.sleep(0)),
        config=WorkerConfig(receive_backoff_base=0.02, receive_backoff_cap=0.06))
    holder.append(worker)

    with capture_logs() as logs:
        await asyncio.wait_for(worker.run(), timeout=10)

    failed = [e for e in logs if e["event"] == "worker.receive_failed"]
    assert [e["failures"] for e in failed] == [1, 2, 3, 1, 2]
    ceilings = [0.02, 0.04, 0.06, 0.02, 0.04]
    for entry, ceiling in zip(failed, ceilings, strict=True):
        assert ceiling / 2 <= entry["retry_in_s"] <= ceiling
    assert [e["failures"] for e in logs if e["event"] == "worker.receive_recovered"] == [3, 2]


async def test_a_stop_request_ends_the_pause_at_once() -> None:
    """A worker pausing for a minute after a failed receive returns as soon as it is stopped."""
    holder: list[SqsWorker[Any]] = []
    sqs = FlakySqs([throttled(), None, None], holder)
    worker: SqsWorker[Any] = SqsWorker(
        sqs, "http://127.0.0.1:9/q", PerRecord(lambda _: asyncio.sleep(0)),
        config=WorkerConfig(receive_backoff_base=120, receive_backoff_cap=120))
    holder.append(worker)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)

    worker.stop()

    await asyncio.wait_for(running, timeout=2)
