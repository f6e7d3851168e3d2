"""Subscriptions and alerts (issue 6): who is told what, through which channel, exactly once.

Events (``threatwatch.events``) call ``enqueue_alerts`` in their own transaction (the outbox); the
dispatcher (``alerts.dispatch``, run by ``src/threatwatch/flows/dispatch.py``) delivers what is due.
"""

from threatwatch.alerts.outbox import enqueue_alerts
from threatwatch.alerts.subscriptions import (
    SubscriptionError,
    SubscriptionSpec,
    create_subscription,
    list_subscriptions,
    remove_subscription,
)

__all__ = [
    "SubscriptionError",
    "SubscriptionSpec",
    "create_subscription",
    "enqueue_alerts",
    "list_subscriptions",
    "remove_subscription",
]
