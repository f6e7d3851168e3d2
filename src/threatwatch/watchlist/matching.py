"""Find watched officials in a post: name forms, aliases and @handles, tolerant of Dutch spelling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from threatwatch.watchlist.names import context_words, family_forms, name_forms, tokens


@dataclass(frozen=True)
class OfficialRef:
    """What matching needs to know of an official, without a database session."""

    id: int
    name: str
    role: str
    aliases: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    organisation: str = ""


@dataclass(frozen=True)
class Match:
    official_id: int
    matched_on: str


def _handle_forms(handle: str) -> set[str]:
    """``@jdevries``, ``jdevries@mastodon.nl`` and ``jdevries.bsky.social`` all mean one account."""
    handle = handle.strip().lower().lstrip("@")
    forms = {"@" + handle}
    if "@" in handle:  # Mastodon user@instance: people often write only @user
        forms.add("@" + handle.split("@", 1)[0])
    return forms


class OfficialMatcher:
    """An index of every name form of every official, looked up by token n-grams.

    Building it is linear in the watchlist; matching a post costs one dict look-up per n-gram,
    so thousands of officials cost no more per post than ten.
    """

    def __init__(self, officials: Iterable[OfficialRef]) -> None:
        self._phrases: dict[tuple[str, ...], set[int]] = {}
        # A bare surname counts only beside a context word of that official (role title, place).
        self._families: dict[tuple[str, ...], list[tuple[int, frozenset[str]]]] = {}
        for official in officials:
            forms = name_forms(official.name, official.role, list(official.aliases))
            for handle in official.handles:
                forms |= _handle_forms(handle)
            for form in forms:
                self._phrases.setdefault(tuple(form.split()), set()).add(official.id)
            context = frozenset(context_words(official.role, official.organisation))
            for family in family_forms(official.name):
                self._families.setdefault(tuple(family.split()), []).append((official.id, context))
        self._lengths = sorted(
            {len(key) for key in self._phrases} | {len(k) for k in self._families}, reverse=True
        )
        # Most words of a post start no name at all; only positions whose word can start one are tried,
        # and only with the lengths of the forms that start with that word.
        starts: dict[str, set[int]] = {}
        for key in (*self._phrases, *self._families):
            starts.setdefault(key[0], set()).add(len(key))
        self._starts = {word: frozenset(lengths) for word, lengths in starts.items()}

    def __len__(self) -> int:
        return len({oid for ids in self._phrases.values() for oid in ids})

    def match(self, text: str) -> list[Match]:
        """Officials named in ``text``, each once, with the longest form that matched."""
        return self.match_tokens(tokens(text))

    def match_tokens(self, words: list[str]) -> list[Match]:
        """``match`` on words already split by ``names.tokens`` (collection splits each post once)."""
        found: dict[int, str] = {}
        text_context: set[str] | None = None
        starts = [(i, self._starts[word]) for i, word in enumerate(words) if word in self._starts]
        for n in self._lengths:
            for start, lengths in starts:
                if n not in lengths or start + n > len(words):
                    continue
                key = tuple(words[start : start + n])
                for official_id in self._phrases.get(key, ()):
                    found.setdefault(official_id, " ".join(key))
                for official_id, context in self._families.get(key, ()):
                    if official_id in found:
                        continue
                    if text_context is None:
                        text_context = {
                            " ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)
                        }
                    hits = context & text_context
                    if hits:
                        found[official_id] = f"{' '.join(key)} + {min(hits)}"
        return [Match(official_id=oid, matched_on=form) for oid, form in sorted(found.items())]
