"""The data model, one module per area; changes go through a new revision in ``db/migrations/versions``.

Every table module is imported here so that ``Base.metadata`` is complete and string relationships resolve.
"""

from threatwatch.db.models.accounts import User
from threatwatch.db.models.audit import AuditEvent
from threatwatch.db.models.base import NAMING_CONVENTION, Base
from threatwatch.db.models.classify import Classification
from threatwatch.db.models.collect import Mention, Post, Source
from threatwatch.db.models.review import Decision, ReviewItem
from threatwatch.db.models.watch import Official

__all__ = [
    "NAMING_CONVENTION",
    "AuditEvent",
    "Base",
    "Classification",
    "Decision",
    "Mention",
    "Official",
    "Post",
    "ReviewItem",
    "Source",
    "User",
]
