"""The data model, one module per area; changes go through a new revision in ``db/migrations/versions``.

Every table module is imported here so that ``Base.metadata`` is complete and string relationships resolve.
"""

from threatwatch.db.models.accounts import ApiToken, User, UserSession
from threatwatch.db.models.alerts import Alert, AlertItem, DeliveryAttempt, Subscription
from threatwatch.db.models.audit import AuditEvent
from threatwatch.db.models.base import NAMING_CONVENTION, Base
from threatwatch.db.models.classify import Classification
from threatwatch.db.models.collect import Mention, Post, Source
from threatwatch.db.models.labels import ExternalLabel
from threatwatch.db.models.ops import DailyCount, RedactedPost
from threatwatch.db.models.persons import Author, AuthorName, Person, PersonNote, PersonOfficial
from threatwatch.db.models.registry import ModelVersion
from threatwatch.db.models.review import Decision, Escalation, ReviewItem
from threatwatch.db.models.watch import Official

__all__ = [
    "NAMING_CONVENTION",
    "Alert",
    "AlertItem",
    "ApiToken",
    "AuditEvent",
    "Author",
    "AuthorName",
    "Base",
    "Classification",
    "DailyCount",
    "Decision",
    "DeliveryAttempt",
    "Escalation",
    "ExternalLabel",
    "Mention",
    "ModelVersion",
    "Official",
    "Person",
    "PersonNote",
    "PersonOfficial",
    "Post",
    "RedactedPost",
    "ReviewItem",
    "Source",
    "Subscription",
    "User",
    "UserSession",
]
