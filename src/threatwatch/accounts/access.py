"""Who may do what: the one table every page, API route and CLI command is checked against.

Routes never test roles themselves; they depend on ``deps.require(Permission.X)`` (or one of the
``Annotated`` aliases in ``deps``), and the role table below decides. README's "Roles" section mirrors
this table; ``tests/web/test_access.py`` enumerates every route and proves the refusals.

Support staff see only what was escalated to them: ``may_view_item`` is the single object-level rule.
Persons of concern (profiles of people) are for analysts and admins alone; support meets an author only
through the escalated items it can open.
"""

from __future__ import annotations

from enum import StrEnum

from threatwatch.domain import Role


class Permission(StrEnum):
    VIEW_QUEUE = "view_queue"  # the review queue and its counts
    REVIEW = "review"  # claim, release, decide, undo, bulk-dismiss, escalate
    VIEW_ITEM = "view_item"  # one item's detail (support: escalated items only, see may_view_item)
    VIEW_ESCALATIONS = "view_escalations"  # the list of escalated items
    EXPORT_EVIDENCE = "export_evidence"  # evidence packs (support: escalated items, whole officials)
    CLOSE_ESCALATIONS = "close_escalations"  # mark an escalation done (the support team's case is closed)
    VIEW_OFFICIALS = "view_officials"  # official pages and their timelines
    VIEW_PERSONS = "view_persons"  # persons of concern: the list, person pages (support: never)
    MANAGE_PERSONS = "manage_persons"  # a person's status and notes; link and unlink accounts
    VIEW_SOURCES = "view_sources"  # sources health
    VIEW_MODELS = "view_models"  # model versions and their metrics
    MANAGE_MODELS = "manage_models"  # promote or roll back a model version (issue 7)
    MANAGE_SUBSCRIPTIONS = "manage_subscriptions"  # alert subscriptions for officials (issue 6)
    MANAGE_USERS = "manage_users"  # users: create, deactivate
    OWN_ACCOUNT = "own_account"  # one's own account page and API tokens


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: frozenset(
        {
            Permission.VIEW_QUEUE,
            Permission.REVIEW,
            Permission.VIEW_ITEM,
            Permission.VIEW_ESCALATIONS,
            Permission.EXPORT_EVIDENCE,
            Permission.VIEW_OFFICIALS,
            Permission.VIEW_PERSONS,
            Permission.MANAGE_PERSONS,
            Permission.OWN_ACCOUNT,
        }
    ),
    Role.SUPPORT: frozenset(
        {
            Permission.VIEW_ITEM,
            Permission.VIEW_ESCALATIONS,
            Permission.EXPORT_EVIDENCE,
            Permission.CLOSE_ESCALATIONS,
            Permission.VIEW_OFFICIALS,
            Permission.MANAGE_SUBSCRIPTIONS,
            Permission.OWN_ACCOUNT,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}

# Roles that see every item; the others see an item only once it has been escalated.
SEES_ALL_ITEMS: frozenset[Role] = frozenset({Role.ANALYST, Role.ADMIN})


def role_of(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def can(role: str, permission: Permission) -> bool:
    """Unknown roles (a row edited by hand) may do nothing."""
    known = role_of(role)
    return known is not None and permission in ROLE_PERMISSIONS[known]


def may_view_item(role: str, *, escalated: bool) -> bool:
    known = role_of(role)
    if known is None or not can(role, Permission.VIEW_ITEM):
        return False
    return known in SEES_ALL_ITEMS or escalated
