"""Persons of concern: the accounts behind posts, the persons analysts judge them to be, and the
signals (escalation, fixation, persistence, leakage, multiple targets) that rank them.

Threat assessors judge people, not single messages. Profiling people is sensitive: only analysts and
admins see persons, every view and change is audited, and retention erases a person with no retained
posts (docs/data-protection.md).
"""

from threatwatch.domain import AuthorKey, author_key
from threatwatch.persons.accounts import resolve_authors
from threatwatch.persons.profile import RaisedSignal, post_facts, refresh_and_publish, refresh_persons
from threatwatch.persons.signals import SIGNALS, Assessment, PostFact, Signal, assess

__all__ = [
    "SIGNALS",
    "Assessment",
    "AuthorKey",
    "PostFact",
    "RaisedSignal",
    "Signal",
    "assess",
    "author_key",
    "post_facts",
    "refresh_and_publish",
    "refresh_persons",
    "resolve_authors",
]
