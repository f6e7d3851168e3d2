"""Evidence across incidents: one person's retained posts about watched officials, for a police report
(aangifte) of repeated threats.

A single post is often not punishable on its own; a pattern is (repeated threats, stalking). The pack
holds every retained post of the person's accounts about a watched official (retention has not erased
it), grouped per official, each with its text, link, timestamps, SHA-256 of the stored text, the model's
label and the analysts' decisions and escalations; the accounts with the display names they used; and
the signals (escalation, fixation, ...) with the posts that raise them, computed as they are now.
Posts about nobody watched are left out: they are not what the report is about (data minimisation).

The JSON is the record; the HTML the same content as a printable Dutch document. Building a pack is
audited (``evidence.person_export``) with ids only: the audit trail does not repeat names.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload

from threatwatch import __version__, audit
from threatwatch.db.models import (
    Decision,
    Escalation,
    Mention,
    Post,
    RedactedPost,
    ReviewItem,
    User,
)
from threatwatch.evidence.html import render_person_html
from threatwatch.evidence.pack import decision_records, escalation_records, iso_or_none
from threatwatch.persons.profile import assess_person, post_facts
from threatwatch.persons.signals import SIGNALS
from threatwatch.persons.views import person_with_accounts

MAX_POSTS = 2000
PERSON_EXPORT = "evidence.person_export"


class PersonEvidenceError(ValueError):
    """A person pack that cannot be built (too many posts)."""


@dataclass(frozen=True)
class PersonEvidencePost:
    number: int  # 1, 2, ... in time order: how the report refers to a post
    post_id: int
    account: str  # "handle (platform)"
    author: str | None  # the byline as the source gave it
    text: str
    text_sha256: str
    url: str | None
    source: str
    source_url: str
    published_at: str | None
    collected_at: str
    official_ids: list[int]
    label: str  # what counts now: the analyst's live decision, else the model's label
    classification: dict[str, Any] | None
    review_item_id: int | None
    status: str | None
    decisions: list[dict[str, Any]]
    escalations: list[dict[str, Any]]


@dataclass(frozen=True)
class PersonEvidencePack:
    """Like ``EvidencePack``: ``json_bytes`` is the record, ``html`` the printable document."""

    generated_at: str
    generated_by: str
    generator: str
    person: dict[str, Any]
    accounts: list[dict[str, Any]]
    officials: list[dict[str, Any]]  # each with the numbers of its posts, most posts first
    signals: list[dict[str, Any]]
    posts: list[PersonEvidencePost] = field(default_factory=list)
    filename_stem: str = "bewijs-persoon"

    @property
    def scope(self) -> dict[str, Any]:
        return {"kind": "person", "person_id": self.person["id"]}

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        del body["filename_stem"]
        body["scope"] = self.scope
        body["hash_algorithm"] = "SHA-256 of the UTF-8 bytes of the stored text"
        return body

    def json_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")

    def html(self) -> str:
        return render_person_html(self)


def build_person_evidence_pack(
    session: Session, *, person_id: int, actor: User, now: datetime
) -> PersonEvidencePack:
    """Collect one person's evidence and audit the export; the caller checks the role (analysts and
    admins) and commits. ``PersonNotFoundError`` for an unknown person, ``PersonEvidenceError`` when
    the person has more than ``MAX_POSTS`` posts."""
    person = person_with_accounts(session, person_id)
    facts = post_facts(session, [person_id]).get(person_id, [])
    if len(facts) > MAX_POSTS:
        raise PersonEvidenceError(f"person {person_id} has more than {MAX_POSTS} posts")
    counted = {f.post_id: f.label.value for f in facts}
    author_ids = [a.id for a in person.authors]
    posts: list[Post] = []
    if counted:
        posts = list(
            session.scalars(
                select(Post)
                .where(
                    Post.author_id.in_(author_ids),
                    Post.id.in_(list(counted)),
                    ~exists().where(RedactedPost.post_id == Post.id),
                )
                .options(
                    selectinload(Post.source),
                    selectinload(Post.mentions).selectinload(Mention.official),
                    selectinload(Post.classifications),
                )
            )
        )
    items: dict[int, ReviewItem] = {}
    if posts:
        items = {
            item.post_id: item
            for item in session.scalars(
                select(ReviewItem)
                .where(ReviewItem.post_id.in_([p.id for p in posts]))
                .options(
                    selectinload(ReviewItem.decisions).selectinload(Decision.user),
                    selectinload(ReviewItem.escalations).selectinload(Escalation.user),
                )
            )
        }
    accounts = {a.id: a for a in person.authors}
    posts.sort(key=lambda p: (p.published_at or p.collected_at, p.id))
    officials: dict[int, dict[str, Any]] = {}
    evidence: list[PersonEvidencePost] = []
    for number, post in enumerate(posts, start=1):
        for mention in post.mentions:
            o = mention.official
            officials.setdefault(
                o.id,
                {"id": o.id, "name": o.name, "role": o.role, "organisation": o.organisation, "posts": []},
            )
        latest = max(post.classifications, key=lambda c: c.id, default=None)
        item = items.get(post.id)
        account = accounts.get(post.author_id or 0)
        evidence.append(
            PersonEvidencePost(
                number=number,
                post_id=post.id,
                account=f"{account.handle} ({account.platform})" if account else "onbekend",
                author=post.author,
                text=post.text,
                text_sha256=hashlib.sha256(post.text.encode("utf-8")).hexdigest(),
                url=post.url,
                source=post.source.name,
                source_url=post.source.url,
                published_at=iso_or_none(post.published_at),
                collected_at=post.collected_at.isoformat(),
                official_ids=sorted(m.official_id for m in post.mentions),
                label=counted[post.id],
                classification=None
                if latest is None
                else {
                    "model_version": latest.model_version,
                    "label": latest.label,
                    "flagged": latest.flagged,
                    "scores": latest.scores,
                    "explanation": latest.explanation,
                    "classified_at": latest.created_at.isoformat(),
                },
                review_item_id=item.id if item else None,
                status=item.status if item else None,
                decisions=decision_records(item),
                escalations=escalation_records(item),
            )
        )
    per_official: dict[int, list[int]] = defaultdict(list)
    for entry in evidence:
        for official_id in entry.official_ids:
            per_official[official_id].append(entry.number)
    for official_id, numbers in per_official.items():
        officials[official_id]["posts"] = numbers
    number_of = {e.post_id: e.number for e in evidence}
    assessment = assess_person(session, facts)
    signals = [
        {
            "name": s.name,
            "value": s.value,
            "detail": s.detail,
            "post_ids": list(s.post_ids),
            "posts": [number_of[p] for p in s.post_ids if p in number_of],
        }
        for name in SIGNALS
        if (s := assessment.signals.get(name)) is not None
    ]
    pack = PersonEvidencePack(
        generated_at=now.isoformat(),
        generated_by=actor.username,
        generator=f"threatwatch {__version__}",
        person={
            "id": person.id,
            "status": person.status,
            "concern": assessment.concern,
            "first_post_at": evidence[0].published_at or evidence[0].collected_at if evidence else None,
            "last_post_at": evidence[-1].published_at or evidence[-1].collected_at if evidence else None,
        },
        accounts=[
            {
                "id": a.id,
                "platform": a.platform,
                "handle": a.handle,
                "first_seen_at": a.first_seen_at.isoformat(),
                "last_seen_at": a.last_seen_at.isoformat(),
                "names": [
                    {
                        "name": n.name,
                        "first_seen_at": n.first_seen_at.isoformat(),
                        "last_seen_at": n.last_seen_at.isoformat(),
                    }
                    for n in a.names
                ],
            }
            for a in person.authors
        ],
        officials=sorted(officials.values(), key=lambda o: (-len(o["posts"]), o["name"], o["id"])),
        signals=signals,
        posts=evidence,
        filename_stem=f"bewijs-persoon-{person.id}-{now:%Y%m%d-%H%M}",
    )
    audit.record(
        session,
        actor=actor.username,
        action=PERSON_EXPORT,
        object_type="person",
        object_id=person.id,
        details={
            "posts": [e.post_id for e in evidence],
            "accounts": author_ids,
            "officials": sorted(officials),
            "signals": [s["name"] for s in signals],
        },
    )
    return pack
