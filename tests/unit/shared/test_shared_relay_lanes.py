"""How the relay splits a shard's page into lanes it publishes side by side, and how it
paces its polls."""

from __future__ import annotations

import pytest

from shared.outbox import OutboxMessage
from shared.relay import OutboxRelay, lanes


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


def test_the_relay_keeps_its_busy_pace_for_a_while_after_it_last_found_messages() -> None:
    relay = OutboxRelay(None, {}, "outbox", poll_seconds=0.1, idle_poll_seconds=0.5,
                        busy_seconds=2.0)
    assert relay.next_pause(0, 0.1, 100.0) == pytest.approx(0.15)  # never busy: slows down
    assert relay.next_pause(5, 0.15, 100.0, full=True) == 0.0  # a backlog: at once
    assert relay.next_pause(5, 0.0, 100.0) == 0.1  # the table emptied: the busy pace
    assert relay.next_pause(0, 0.0, 100.5, full=True) == 0.0
    assert relay.next_pause(0, 0.0, 100.5) == 0.1
    assert relay.next_pause(0, 0.1, 101.9) == 0.1
    pauses, pause = [], 0.1
    for now in (102.1, 102.3, 102.6, 103.0, 103.5, 104.0):
        pause = relay.next_pause(0, pause, now)
        pauses.append(pause)
    assert pauses == pytest.approx([0.15, 0.225, 0.3375, 0.5, 0.5, 0.5])
