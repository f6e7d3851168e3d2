"""The signals are plain functions of a person's posts: each raised by the posts it names, none by
posts that do not show it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threatwatch.domain import Label
from threatwatch.persons.signals import (
    ESCALATION,
    FIXATION,
    LEAKAGE,
    MULTIPLE_TARGETS,
    PERSISTENCE,
    PostFact,
    assess,
    escalation,
    fixation,
    leakage,
    leakage_cues,
    multiple_targets,
    persistence,
)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MAYOR, ALDERMAN = 1, 2
NAMES = {MAYOR: "Marieke van der Linden", ALDERMAN: "Youssef El Amrani"}
PLACES = {MAYOR: frozenset({"zuiderhaven"}), ALDERMAN: frozenset({"zuiderhaven"})}


def fact(
    n: int, label: Label, officials: tuple[int, ...] = (MAYOR,), text: str = "", days: int = 0
) -> PostFact:
    return PostFact(
        post_id=n, at=START + timedelta(days=days, minutes=n), label=label, official_ids=officials, text=text
    )


def test_escalation_needs_a_move_from_insults_to_threats() -> None:
    rising = [fact(1, Label.NONE), fact(2, Label.ABUSE), fact(3, Label.ABUSE), fact(4, Label.THREAT)]
    signal = escalation(rising)
    assert signal is not None and signal.post_ids == (4,) and signal.value >= 0.4

    steady_threats = [fact(1, Label.THREAT), fact(2, Label.THREAT), fact(3, Label.THREAT)]
    assert escalation(steady_threats) is None  # threatening from the start is not an escalation
    falling = [fact(1, Label.THREAT), fact(2, Label.ABUSE), fact(3, Label.NONE), fact(4, Label.NONE)]
    assert escalation(falling) is None
    assert escalation(rising[2:]) is None  # two posts say nothing about a trend


def test_escalation_reads_posts_in_time_order_not_id_order() -> None:
    late_ids = [fact(9, Label.NONE, days=0), fact(1, Label.THREAT, days=3), fact(5, Label.ABUSE, days=1)]
    assert escalation(late_ids) is not None


def test_fixation_is_most_posts_about_one_official() -> None:
    fixated = [fact(n, Label.NONE) for n in range(4)] + [fact(9, Label.NONE, (ALDERMAN,))]
    signal = fixation(fixated, NAMES)
    assert signal is not None and signal.value == 0.8 and 9 not in signal.post_ids
    assert "4 of 5 posts are about Marieke van der Linden" in signal.detail
    spread = [fact(1, Label.NONE), fact(2, Label.NONE, (ALDERMAN,)), fact(3, Label.NONE, (ALDERMAN, MAYOR))]
    assert fixation(spread, NAMES) is None
    assert fixation([fact(1, Label.NONE), fact(2, Label.NONE)], NAMES) is None  # too few to say


def test_persistence_counts_days_and_cites_the_first_post_of_each() -> None:
    same_day = [fact(n, Label.ABUSE) for n in range(10)]
    assert persistence(same_day) is None
    days = [fact(n, Label.ABUSE, days=n // 2) for n in range(8)]  # two posts a day on four days
    signal = persistence(days)
    assert signal is not None and signal.value == 4 and signal.post_ids == (0, 2, 4, 6)


def test_leakage_cues_weapons_times_and_places_tied_to_the_official() -> None:
    assert leakage_cues("Ik heb een mes voor je klaarliggen") == ["weapon"]
    assert leakage_cues("Zaterdag om 21:30 sta ik er") == ["time"]
    assert leakage_cues("We staan straks bij je voordeur") == ["time", "place"]
    assert leakage_cues("Wacht maar tot je weer in Zuiderhaven bent", frozenset({"zuiderhaven"})) == ["place"]
    assert leakage_cues("Wat een slecht plan van het college") == []


def test_leakage_counts_flagged_posts_and_doxxing_only() -> None:
    facts = [
        fact(1, Label.THREAT, text="Ik kom met een mes naar het gemeentehuis"),
        fact(2, Label.ABUSE, text="Die bijl van de bezuinigingen is een schande"),  # not flagged: no leakage
        fact(3, Label.DOXXING, text="Ze woont op de Dijkstraat 4"),
        fact(4, Label.THREAT, text="Je gaat eraan"),  # flagged but names nothing concrete
    ]
    signal = leakage(facts, PLACES)
    assert signal is not None and signal.post_ids == (1, 3)
    assert "doxxing" in signal.detail and "weapon+place" in signal.detail


def test_multiple_targets_needs_flagged_posts_about_two_officials() -> None:
    assert multiple_targets([fact(1, Label.THREAT), fact(2, Label.ABUSE, (ALDERMAN,))]) is None
    signal = multiple_targets([fact(1, Label.THREAT), fact(2, Label.COERCION, (ALDERMAN,))])
    assert signal is not None and signal.value == 2 and signal.post_ids == (1, 2)


def test_concern_ranks_threats_with_signals_above_threats_alone_and_ignores_a_loyal_fan() -> None:
    fan = [fact(n, Label.NONE, days=n) for n in range(10)]  # daily, always about the mayor, never hostile
    fan_assessment = assess(fan, official_names=NAMES, places=PLACES)
    assert set(fan_assessment.signals) == {FIXATION, PERSISTENCE}
    assert fan_assessment.concern == 0.0

    one_threat = assess([fact(1, Label.THREAT)], official_names=NAMES, places=PLACES)
    escalating = assess(
        [
            fact(1, Label.ABUSE, days=0),
            fact(2, Label.ABUSE, days=1),
            fact(3, Label.ABUSE, days=2),
            fact(4, Label.THREAT, days=3, text="Vanavond sta ik bij je huis"),
            fact(5, Label.THREAT, (ALDERMAN,), days=4),
        ],
        official_names=NAMES,
        places=PLACES,
    )
    assert {ESCALATION, LEAKAGE, MULTIPLE_TARGETS, PERSISTENCE} <= set(escalating.signals)
    assert escalating.concern > one_threat.concern > 0
