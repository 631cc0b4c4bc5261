"""How the relay splits a shard's page into lanes it publishes side by side."""

from __future__ import annotations

from shared.outbox import OutboxMessage
from shared.relay import lanes


def page(aggregates: list[str | None]) -> list[OutboxMessage]:
    return [OutboxMessage(shard="0", seq=f"{n:020d}-{n}", topic="t", body="{}", committed_ms=n,
                          event_type="e", aggregate=aggregate)
            for n, aggregate in enumerate(aggregates)]


def test_a_page_of_ten_or_fewer_is_one_lane_as_read() -> None:
    messages = page([f"a{n % 3}" for n in range(10)])
    assert lanes(messages, 4) == [messages]


def test_each_aggregate_stays_in_one_lane_in_seq_order() -> None:
    messages = page([f"a{n % 7}" for n in range(45)])
    split = lanes(messages, 4)
    assert len(split) == 4
    assert sorted(m.seq for lane in split for m in lane) == [m.seq for m in messages]
    for lane in split:
        assert [m.seq for m in lane] == sorted(m.seq for m in lane)
    homes = {m.aggregate: {i for i, lane in enumerate(split) if m in lane} for m in messages}
    assert all(len(home) == 1 for home in homes.values())


def test_one_lane_per_ten_messages_up_to_the_limit() -> None:
    assert len(lanes(page([f"a{n}" for n in range(11)]), 4)) == 2
    assert len(lanes(page([f"a{n}" for n in range(100)]), 4)) == 4
    assert len(lanes(page([f"a{n}" for n in range(100)]), 1)) == 1


def test_a_page_with_a_message_naming_no_aggregate_is_one_lane() -> None:
    messages = page([*(f"a{n}" for n in range(20)), None])
    assert lanes(messages, 4) == [messages]
