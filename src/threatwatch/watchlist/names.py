"""Dutch name handling: normalisation and the name forms people actually write."""

from __future__ import annotations

import re
import unicodedata

# Tussenvoegsels, longest first so "van der" wins over "van".
PARTICLES: tuple[str, ...] = (
    "van de", "van der", "van den", "van het", "van 't", "in 't", "in de", "in het", "op de", "op den",
    "op 't", "uit de", "uit den", "van", "de", "der", "den", "het", "'t", "ter", "ten", "te", "von", "zu",
    "la", "le", "du", "d'",
)  # fmt: skip

# Titles that precede a surname in Dutch and Flemish writing about officials.
TITLES: frozenset[str] = frozenset(
    {
        "burgemeester", "burgervader", "burgermoeder", "loco-burgemeester", "locoburgemeester",
        "wethouder", "raadslid", "gemeenteraadslid", "statenlid", "gedeputeerde", "kamerlid",
        "tweede-kamerlid", "eerste-kamerlid", "minister", "staatssecretaris", "premier",
        "dijkgraaf", "heemraad", "hoogheemraad", "commissaris", "gouverneur", "griffier",
        "secretaris", "schepen", "fractievoorzitter", "voorzitter", "ambtenaar", "directeur",
    }
)  # fmt: skip

# Letters NFKD does not decompose (Turkish dotless i, Scandinavian o-slash, ...).
_FOLD_EXTRA = str.maketrans({"ı": "i", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d"})
# People abbreviate "van der" and friends: "J. v.d. Berg", "vd Berg", "v/d Berg".
_PARTICLE_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "van de": ("vd", "v d"),
    "van der": ("vd", "v d", "vd r", "v d r"),
    "van den": ("vd", "v d"),
    "van": ("v",),
}
_TOKEN = re.compile(r"@[\w.]+\w|\w+(?:'\w+)?|'t\b", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case, strip diacritics (Gül → gul, Hoëvenaars → hoevenaars) and unify apostrophes.

    Most posts are plain ASCII; they skip the per-character pass (collection runs this on every post).
    """
    if text.isascii():
        return text.replace("`", "'").lower()
    text = unicodedata.normalize("NFKD", text)
    if not text.isascii():
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    return text.lower().translate(_FOLD_EXTRA)


def tokens(text: str) -> list[str]:
    """Word tokens of folded text; ``@handles`` stay one token, hyphens split words."""
    return _TOKEN.findall(fold(text).replace("-", " "))


def split_dutch_name(name: str) -> tuple[str, str, str]:
    """Split "Jan van der Berg-Smit" into ("jan", "van der", "berg smit") after folding.

    The first word is the given name; the particles after it form the tussenvoegsel.
    """
    words = tokens(name)
    if len(words) < 2:
        return "", "", " ".join(words)
    first, rest = words[0], " ".join(words[1:])
    for particle in PARTICLES:
        if rest.startswith(particle + " "):
            return first, particle, rest[len(particle) + 1 :]
    return first, "", rest


GENERIC_ORGANISATION_WORDS = frozenset(
    {"gemeente", "provincie", "waterschap", "hoogheemraadschap", "tweede", "eerste", "kamer", "de", "het",
     "van", "der", "den", "en", "staten", "ministerie", "stad"}
)  # fmt: skip


def family_forms(name: str) -> set[str]:
    """The surname as written alone ("van der linden", "vd linden", "yildiz"); ambiguous without context."""
    _first, particle, surname = split_dutch_name(name)
    if not surname:
        return set()
    particles = {particle, *_PARTICLE_ABBREVIATIONS.get(particle, ())}
    return {f"{p} {s}".strip() for p in particles for s in {surname, surname.split()[0]}}


def context_words(role: str, organisation: str) -> set[str]:
    """Words that, next to a bare surname, make it likely the text is about this official."""
    titles = {" ".join(tokens(t)) for t in TITLES if t in fold(role)}
    place = " ".join(w for w in tokens(organisation) if w not in GENERIC_ORGANISATION_WORDS)
    return titles | ({place} if len(place) > 2 else set())


def name_forms(name: str, role: str, aliases: list[str]) -> set[str]:
    """Phrases (folded, space-joined tokens) that identify this official in running text.

    A bare surname is too ambiguous to count; it needs the given name, an initial, or a title.
    """
    first, particle, surname = split_dutch_name(name)
    forms = {" ".join(tokens(name))}
    if first and surname:
        # "Yıldız-Öztürk" is also written "Yildiz"; "van der Berg" also "vd Berg".
        surnames = {surname, surname.split()[0]}
        particles = {particle, *_PARTICLE_ABBREVIATIONS.get(particle, ())}
        families = {f"{p} {s}".strip() for p in particles for s in surnames}
        full_families = {f"{p} {surname}".strip() for p in particles}
        own_titles = [" ".join(tokens(t)) for t in TITLES if t in fold(role)]
        for family in full_families:
            forms.add(f"{first} {family}")
            forms.add(f"{first[0]} {family}")
        for title in own_titles:
            for family in families:
                forms.add(f"{title} {family}")
    for alias in aliases:
        alias_tokens = tokens(alias)
        if alias_tokens:
            forms.add(" ".join(alias_tokens))
    return forms
