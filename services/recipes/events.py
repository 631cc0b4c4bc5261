"""The events recipes publishes (through its outbox): ``recipe.created``, ``recipe.updated``,
``recipe.deleted`` with the recipe as stored, ``recipe.liked`` and ``recipe.unliked`` with its
like count."""

from __future__ import annotations

from shared.outbox import EventSource

RECIPE_EVENTS = EventSource(service="recipes", topic="recipes-events")
