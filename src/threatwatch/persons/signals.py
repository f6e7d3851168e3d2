"""What makes a person of concern, computed from their posts alone (plain functions, no database).

Each signal is raised by the posts it names, so an analyst can check it; none of them judges a person
by itself. The thresholds follow how threat assessors read repeated contact (fixation on one target,
persistence over days, a shift from insults to threats, "leakage" of intent: weapons, a time, a place
tied to the target) and are deliberately few and simple enough to explain in a report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from threatwatch.domain import FLAGGED_LABELS, SEVERITY, Label
from threatwatch.watchlist.names import fold, tokens

ESCALATION = "escalation"
FIXATION = "fixation"
PERSISTENCE = "persistence"
LEAKAGE = "leakage"
MULTIPLE_TARGETS = "multiple_targets"
SIGNALS: tuple[str, ...] = (ESCALATION, FIXATION, PERSISTENCE, LEAKAGE, MULTIPLE_TARGETS)

# How much each raised signal adds to a person's concern (besides the flagged posts themselves).
WEIGHTS: Mapping[str, float] = {
    ESCALATION: 0.25,
    FIXATION: 0.15,
    PERSISTENCE: 0.10,
    LEAKAGE: 0.30,
    MULTIPLE_TARGETS: 0.20,
}
FIXATION_MIN_POSTS = 3
FIXATION_SHARE = 0.7
PERSISTENCE_MIN_DAYS = 4
ESCALATION_MIN_POSTS = 3
ESCALATION_RISE = 0.4  # mean severity of the later half minus the earlier half
MULTIPLE_TARGETS_MIN = 2

_WEAPONS = frozenset(
    [
        "mes",
        "messen",
        "steekmes",
        "zakmes",
        "pistool",
        "pistolen",
        "geweer",
        "geweren",
        "vuurwapen",
        "vuurwapens",
        "wapen",
        "wapens",
        "kogel",
        "kogels",
        "bijl",
        "bijlen",
        "bom",
        "bommen",
        "explosief",
        "explosieven",
        "molotov",
        "molotovcocktail",
        "brandbom",
        "vuurwerkbom",
        "handgranaat",
        "granaat",
        "knuppel",
        "honkbalknuppel",
        "zuur",
        "benzine",
        "schietijzer",
        "blaffer",
    ]
)
_PLACES = frozenset(
    [
        "huis",
        "woning",
        "adres",
        "straat",
        "voordeur",
        "deur",
        "tuin",
        "oprit",
        "auto",
        "school",
        "kinderen",
        "gemeentehuis",
        "stadhuis",
        "raadhuis",
        "provinciehuis",
        "kantoor",
        "werk",
        "buurt",
        "wijk",
        "sportschool",
        "kerk",
        "moskee",
        "supermarkt",
    ]
)
_TIMES = frozenset(
    [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
        "morgen",
        "overmorgen",
        "vanavond",
        "vannacht",
        "vanmiddag",
        "vanochtend",
        "straks",
        "binnenkort",
        "volgende",
        "week",
        "weekend",
        "uur",
    ]
)
_CLOCK = re.compile(
    r"\b(?:[01]?\d|2[0-3])[:.][0-5]\d\b|\bom \d{1,2}\b|\b\d{1,2}[-/]\d{1,2}(?:[-/]\d{2,4})?\b"
)


@dataclass(frozen=True)
class PostFact:
    """What the signals need of one post: when, the label that counts (an analyst's decision over the
    model's), which officials it is about, and its text (for leakage)."""

    post_id: int
    at: datetime
    label: Label
    official_ids: tuple[int, ...]
    text: str

    @property
    def flagged(self) -> bool:
        return self.label in FLAGGED_LABELS


@dataclass(frozen=True)
class Signal:
    name: str
    value: float
    post_ids: tuple[int, ...]
    detail: str

    def stored(self) -> dict[str, object]:
        return {"value": round(self.value, 4), "post_ids": list(self.post_ids), "detail": self.detail}


@dataclass(frozen=True)
class Assessment:
    """The signals raised now and the concern score the persons list sorts by."""

    signals: dict[str, Signal] = field(default_factory=dict)
    concern: float = 0.0


def escalation(facts: Sequence[PostFact]) -> Signal | None:
    """The label mix moved toward threats: the later half of the posts is clearly more severe than the
    earlier half, and the later half holds a threat, coercion or doxxing post the earlier lacked."""
    ordered = sorted(facts, key=lambda f: (f.at, f.post_id))
    if len(ordered) < ESCALATION_MIN_POSTS:
        return None
    half = len(ordered) // 2
    earlier, later = ordered[:half], ordered[half:]
    rise = _mean_severity(later) - _mean_severity(earlier)
    if rise < ESCALATION_RISE or any(f.flagged for f in earlier) or not any(f.flagged for f in later):
        return None
    severe = tuple(f.post_id for f in later if f.flagged)
    return Signal(
        ESCALATION, rise, severe, f"mean severity rose by {rise:.2f} (from abuse or none to threats)"
    )


def fixation(facts: Sequence[PostFact], official_names: Mapping[int, str]) -> Signal | None:
    """Most of the person's posts are about one official."""
    if len(facts) < FIXATION_MIN_POSTS:
        return None
    counts = Counter(official for f in facts for official in set(f.official_ids))
    if not counts:
        return None
    official, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    share = count / len(facts)
    if share < FIXATION_SHARE:
        return None
    name = official_names.get(official, f"official {official}")
    post_ids = tuple(f.post_id for f in facts if official in f.official_ids)
    return Signal(FIXATION, share, post_ids, f"{count} of {len(facts)} posts are about {name}")


def persistence(facts: Sequence[PostFact]) -> Signal | None:
    """Posts on many different days (first post of each day as its evidence)."""
    first_of_day: dict[object, PostFact] = {}
    for fact in sorted(facts, key=lambda f: (f.at, f.post_id)):
        first_of_day.setdefault(fact.at.date(), fact)
    days = len(first_of_day)
    if days < PERSISTENCE_MIN_DAYS:
        return None
    return Signal(
        PERSISTENCE, float(days), tuple(f.post_id for f in first_of_day.values()), f"posts on {days} days"
    )


def leakage_cues(text: str, places: frozenset[str] = frozenset()) -> list[str]:
    """Which kinds of leakage a text shows: ``weapon``, ``time`` or ``place`` (generic places such as a
    home or a town hall, and the places tied to the officials it names: their municipality)."""
    words = set(tokens(text))
    folded = fold(text)
    cues = []
    if words & _WEAPONS:
        cues.append("weapon")
    if words & _TIMES or _CLOCK.search(folded):
        cues.append("time")
    if words & _PLACES or any(place in folded for place in places):
        cues.append("place")
    return cues


def leakage(facts: Sequence[PostFact], places: Mapping[int, frozenset[str]]) -> Signal | None:
    """Doxxing posts, and flagged posts that name a weapon, a time or a place tied to the official."""
    hits: list[tuple[int, str]] = []
    for fact in facts:
        if fact.label == Label.DOXXING:
            hits.append((fact.post_id, "doxxing"))
            continue
        if not fact.flagged:
            continue
        own = frozenset().union(*(places.get(o, frozenset()) for o in fact.official_ids))
        cues = leakage_cues(fact.text, own)
        if cues:
            hits.append((fact.post_id, "+".join(cues)))
    if not hits:
        return None
    kinds = sorted({kind for _p, kind in hits})
    return Signal(
        LEAKAGE, float(len(hits)), tuple(p for p, _k in hits), f"{len(hits)} posts: {', '.join(kinds)}"
    )


def multiple_targets(facts: Sequence[PostFact]) -> Signal | None:
    """Threats, coercion or doxxing against several officials."""
    targets: dict[int, list[int]] = {}
    for fact in facts:
        if fact.flagged:
            for official in set(fact.official_ids):
                targets.setdefault(official, []).append(fact.post_id)
    if len(targets) < MULTIPLE_TARGETS_MIN:
        return None
    post_ids = tuple(sorted({p for ids in targets.values() for p in ids}))
    return Signal(
        MULTIPLE_TARGETS, float(len(targets)), post_ids, f"flagged posts about {len(targets)} officials"
    )


def assess(
    facts: Sequence[PostFact],
    *,
    official_names: Mapping[int, str],
    places: Mapping[int, frozenset[str]],
) -> Assessment:
    """Every signal of one person, and their concern: the severity of their flagged posts (saturating:
    the third threat says less than the first) plus the weights of the raised signals."""
    found = [
        escalation(facts),
        fixation(facts, official_names),
        persistence(facts),
        leakage(facts, places),
        multiple_targets(facts),
    ]
    signals = {s.name: s for s in found if s is not None}
    flagged_severity = sum(SEVERITY[f.label] for f in facts if f.flagged)
    base = flagged_severity / (1.0 + flagged_severity)  # 0 with none, 0.5 at one threat, → 1
    abuse = min(0.1, 0.02 * sum(1 for f in facts if f.label == Label.ABUSE))
    concern = base + abuse + (sum(WEIGHTS[name] for name in signals) if flagged_severity else 0.0)
    return Assessment(signals=signals, concern=round(concern, 4))


def _mean_severity(facts: Sequence[PostFact]) -> float:
    return sum(SEVERITY[f.label] for f in facts) / len(facts) if facts else 0.0
