"""Password policy: long enough, and not one of the passwords an attacker tries first.

Length alone let ``aaaaaaaaaa`` and ``wachtwoord`` through. A password is now refused, with the reason
named in the message, when it is

- shorter than ``MIN_PASSWORD_LENGTH`` or longer than ``MAX_PASSWORD_LENGTH`` characters;
- one character repeated (``aaaaaaaaaa``), a short pattern repeated (``abcabcabca``, ``Welkom01Welkom01``),
  or made of fewer than ``MIN_DISTINCT`` different characters (``1111122222``);
- a simple sequence, or a few glued together: the alphabet, digits, keyboard rows (qwerty, azerty),
  forwards or backwards (``abcdefghij``, ``qwerty123456``, ``0987654321``), with at most two other
  characters around them;
- on the bundled list of common passwords (``common_passwords.txt``: international and Dutch ones such as
  ``welkom01`` and ``wachtwoord``), also when written with capitals, spaces or dashes, the usual symbol
  swaps (``W@chtw00rd``) or digits and symbols before or after it (``Welkom2024!``): those are the first
  variations every cracking tool tries;
- containing the username or a part (4+ characters) of the display name, in any case.

What is not refused: long passphrases of ordinary words ("lang genoeg wachtwoord"), even when one of the
words is on the list: the list is checked against the whole password, not every word in it, because a
phrase of several words is exactly what people should be choosing. Nothing is downloaded at run time;
the list ships inside the package.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from itertools import pairwise

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap stops a megabyte "password" burning CPU
MIN_DISTINCT = 5
MIN_NAME_PART = 4  # shorter parts of names ("de", "van", "ann") occur inside ordinary words

# Forward order; runs are also recognised backwards. Digits wrap (…890, 901…).
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "qwertzuiop",
    "yxcvbnm",
    "!@#$%^&*()",
)
MIN_RUN = 3
ALLOWED_EXTRA = 2  # characters outside the sequence runs that still leave "just a sequence"

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_SEPARATORS = re.compile(r"[\s\-_.]+")
_EDGES = re.compile(r"^[^a-z]+|[^a-z]+$")
_LETTER_RUNS = re.compile(r"[^\W\d_]+")


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list (lower case), read once."""
    text = (files("threatwatch.accounts") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@cache
def _steps() -> dict[tuple[str, str], frozenset[tuple[int, int]]]:
    """(a, b) -> the (sequence, direction) pairs in which b directly follows a."""
    steps: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for index, sequence in enumerate(SEQUENCES):
        for a, b in pairwise(sequence):
            steps.setdefault((a, b), set()).add((index, 1))
            steps.setdefault((b, a), set()).add((index, -1))
    return {pair: frozenset(ways) for pair, ways in steps.items()}


def _sequence_coverage(text: str) -> int:
    """How many characters of ``text`` lie in runs of ``MIN_RUN``+ consecutive sequence characters."""
    steps = _steps()
    covered, i = 0, 0
    while i < len(text) - 1:
        ways = steps.get((text[i], text[i + 1]), frozenset())
        best = 1
        for way in ways:
            j = i + 1
            while j < len(text) - 1 and way in steps.get((text[j], text[j + 1]), frozenset()):
                j += 1
            best = max(best, j - i + 1)
        if best >= MIN_RUN:
            covered += best
            i += best
        else:
            i += 1
    return covered


def _repeated_unit(text: str) -> str | None:
    """The shortest unit that ``text`` repeats (at least twice, a partial copy may end it), or None."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1))[: len(text)] == text:
            return unit
    return None


def _variants(folded: str) -> list[str]:
    """The forms a list entry may hide in: as typed, without separators, without the digits and symbols
    around it, and each of those with symbol swaps undone."""
    joined = _SEPARATORS.sub("", folded)
    forms = [folded, joined, _EDGES.sub("", joined)]
    forms += [form.translate(_LEET) for form in forms]
    forms += [_EDGES.sub("", form) for form in forms]
    return [form for form in dict.fromkeys(forms) if form]


def _name_parts(*names: str) -> list[str]:
    parts: list[str] = []
    for name in names:
        folded = name.casefold().strip()
        if len(folded) >= MIN_NAME_PART:
            parts.append(folded)
            parts.append(_SEPARATORS.sub("", folded))
        parts += [p for p in re.split(r"[^\w]+|_", folded) if len(p) >= MIN_NAME_PART]
        parts += [p for p in _LETTER_RUNS.findall(folded) if len(p) >= MIN_NAME_PART]
    return list(dict.fromkeys(p for p in parts if p))


def password_problem(password: str, *, username: str = "", display_name: str = "") -> str | None:
    """Why ``password`` is refused (a sentence for the person choosing it), or None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"password must be at most {MAX_PASSWORD_LENGTH} characters"
    folded = password.casefold()
    joined = _SEPARATORS.sub("", folded) or folded
    if len(set(joined)) == 1:
        return "password is one character repeated; choose a phrase of several words"
    for form in dict.fromkeys((joined, _EDGES.sub("", joined))):
        unit = _repeated_unit(form) if len(form) >= 4 else None
        if unit is not None:
            return f"password repeats the pattern {unit!r}; choose a phrase of several words"
    distinct = len(set(joined))
    if distinct < MIN_DISTINCT:
        return f"password uses only {distinct} different characters; use at least {MIN_DISTINCT}"
    if _sequence_coverage(joined) >= len(joined) - ALLOWED_EXTRA:
        return (
            "password is a simple sequence (like abcdef, 123456 or qwerty); choose a phrase of several words"
        )
    common = common_passwords()
    hit = next((form for form in _variants(folded) if form in common), None)
    if hit in (folded, joined):
        return f"password is too common: {hit!r} is one of the most used passwords"
    if hit is not None:
        return f"password is too common: it is {hit!r}, one of the most used passwords, slightly changed"
    for part in _name_parts(username):
        if part in joined:
            return "password must not contain the username"
    for part in _name_parts(display_name):
        if part in joined:
            return f"password must not contain the person's name ({part!r})"
    return None
