"""What can go wrong in the review queue; the web app maps these to 404 / 409 / 422."""

from __future__ import annotations


class ReviewError(Exception):
    """Base class: a review action that cannot be carried out as asked."""


class ItemNotFound(ReviewError):  # noqa: N818 (name fixed by the published interface)
    """No review item (or decision) with that id."""


class ClaimConflict(ReviewError):  # noqa: N818
    """Another analyst holds the item, or it has been decided already."""


class DecisionError(ReviewError):
    """The decision, undo, escalation or export is not valid in the item's current state."""


class NotAllowedError(ReviewError):
    """The account's role may not do this (the role table in ``accounts.access``), from any entry point."""
