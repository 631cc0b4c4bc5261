"""Declared subscriptions (``shared.worker.QueueSubscription``) against the topology: the one
check `consumer` runs before it builds a worker, and every service's declarations."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import services
from shared.errors import TopologyError
from shared.topology import load_topology
from shared.worker import PerBatch, QueueSubscription

RECIPE_TYPES = {f"dev.regatta.recipes.recipe.{what}.v1" for what in
                ("created", "updated", "deleted")}


def declared_subscriptions() -> list[QueueSubscription]:
    """Every QueueSubscription the services' consumers modules declare."""
    found = []
    for module in pkgutil.iter_modules(services.__path__):
        try:
            consumers = importlib.import_module(f"services.{module.name}.consumers")
        except ModuleNotFoundError:
            continue  # a service that consumes no queue
        found += [v for v in vars(consumers).values() if isinstance(v, QueueSubscription)]
    return found


def test_a_queue_the_topology_does_not_declare_is_refused() -> None:
    """The unknown-queue check holds for either strategy, and for a DLQ named as a queue."""
    for subscription in (QueueSubscription("no-such-queue"),
                         QueueSubscription("no-such-queue.fifo", strategy=PerBatch),
                         QueueSubscription("recipes-search-index-dlq", dead_letters=True)):
        with pytest.raises(TopologyError, match="not declared under queues"):
            subscription.check(load_topology())


def test_event_types_must_be_exactly_those_the_topology_routes() -> None:
    """A type missing from the declaration would be dropped unnoticed, an extra one can never
    arrive: either way the check names both sides."""
    check = QueueSubscription("recipes-search-index", event_types=RECIPE_TYPES).check
    assert check(load_topology()).visibility_timeout == 30

    for wrong in (RECIPE_TYPES - {"dev.regatta.recipes.recipe.deleted.v1"},
                  RECIPE_TYPES | {"dev.regatta.recipes.recipe.liked.v1"}):
        with pytest.raises(TopologyError, match="the topology routes"):
            QueueSubscription("recipes-search-index", event_types=wrong).check(load_topology())


def test_a_batch_subscription_keeps_no_idempotency_table() -> None:
    """A PerBatch handler records its own event ids; a claim table next to it is a mistake."""
    with pytest.raises(ValueError, match="PerBatch"):
        QueueSubscription("trend-ticks.fifo", strategy=PerBatch, idempotency_table="x")


def test_dead_letters_consume_the_queues_dlq() -> None:
    """The worker of a dead-letter subscription receives from the queue's DLQ (dlq_name)."""
    assert QueueSubscription("trend-ticks.fifo", dead_letters=True).consumed_queue == (
        "trend-ticks-dlq.fifo")
    assert QueueSubscription("recipes-search-index").consumed_queue == "recipes-search-index"


def test_every_service_declaration_matches_the_topology() -> None:
    """Each declared subscription of the services names a topology queue and exactly the
    event types routed to it, so no worker refuses to start over it."""
    subscriptions = declared_subscriptions()
    assert {s.consumed_queue for s in subscriptions} == {
        "recipes-search-index", "meetings-notifications", "trend-ticks.fifo",
        "media-jobs-uploads", "media-jobs-uploads-dlq", "insights-platform-events"}
    for subscription in subscriptions:
        assert subscription.event_types, f"{subscription.queue} declares no event types"
        subscription.check(load_topology())
