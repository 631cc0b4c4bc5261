"""The insights worker's runners: the platform-events consumer always, the compaction timer
only where INSIGHTS_COMPACTION_ON_WORKER is true (the default, locally and in AWS; false
leaves the compaction to the schedule). No AWS call: the consumer and the compaction runner are
stand-ins, and creating the clients sends nothing."""

from __future__ import annotations

from typing import Any

import pytest

from services.insights import worker
from services.insights.consumers import PLATFORM_EVENTS
from services.insights.settings import InsightsSettings
from shared.aws import AwsClients
from shared.topology import Resources


class StandIn:
    """A runner that records what it was built from."""

    def __init__(self, kind: str, **details: Any) -> None:
        self.kind = kind
        self.details = details

    async def run(self) -> None:  # pragma: no cover - never started here
        raise AssertionError("not run in this test")

    def stop(self) -> None:  # pragma: no cover
        raise AssertionError("not run in this test")


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    async def consumer(aws: AwsClients, resources: Resources, subscription: Any,
                       handler: Any) -> StandIn:
        return StandIn("consumer", queue=subscription.queue)

    async def compaction_runner(aws: AwsClients, *, bucket: str, state_table: str) -> StandIn:
        return StandIn("compaction", bucket=bucket, state_table=state_table)

    monkeypatch.setattr(worker, "consumer", consumer)
    monkeypatch.setattr(worker, "compaction_runner", compaction_runner)


async def runners(**settings: Any) -> list[StandIn]:
    values = InsightsSettings(aws_region="eu-west-1", regatta_name_prefix="regatta-test-",
                              **settings)
    async with AwsClients(values) as aws:
        built = await worker.build(aws, Resources(values, "123456789012"))
    assert all(isinstance(r, StandIn) for r in built)
    return [r for r in built if isinstance(r, StandIn)]


@pytest.mark.usefixtures("stand_ins")
async def test_the_worker_compacts_on_its_timer_by_default() -> None:
    built = await runners()
    assert [r.kind for r in built] == ["consumer", "compaction"]
    assert built[0].details == {"queue": PLATFORM_EVENTS.queue}
    assert built[1].details == {"bucket": "regatta-test-insights-lake",
                                "state_table": "regatta-test-insights-state"}


@pytest.mark.usefixtures("stand_ins")
async def test_the_worker_leaves_the_compaction_to_the_schedule_when_told(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [r.kind for r in await runners(insights_compaction_on_worker=False)] == ["consumer"]
    # As the task definition sets it: the environment variable, read as a boolean.
    monkeypatch.setenv("INSIGHTS_COMPACTION_ON_WORKER", "false")
    assert [r.kind for r in await runners()] == ["consumer"]
    monkeypatch.setenv("INSIGHTS_COMPACTION_ON_WORKER", "true")
    assert [r.kind for r in await runners()] == ["consumer", "compaction"]
