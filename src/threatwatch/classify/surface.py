"""The surface of social-media posts: normalised away before a model reads a message, and added back as
noise during training, the same on every label, so that no label owns a register.

The first model learned our writing instead of threats: a tidy sentence passed, the same sentence with
"RT @x:", a link and an emoji was flagged. Both stages now read ``normalise(text)`` (retweet prefixes
dropped, handles made ``@user``, links one placeholder, whitespace and long character runs squeezed,
a trailing "…" of a cut-off post dropped), and train on originals plus ``noisy`` copies of them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

URL_PLACEHOLDER = "http"
HANDLE_PLACEHOLDER = "@user"

# One pattern, tried left to right; the group that matched says what to write instead.
_SURFACE = re.compile(
    r"(?P<retweet>^\s*(?:RT|rt)\s*@[\w.]+\s*:?\s*)"
    r"|(?P<url>(?:https?://|www\.)\S+)"
    r"|(?P<handle>(?<![\w@])@[A-Za-z0-9_](?:[\w.]*\w)?)"
    r"|(?P<run>(?P<char>\S)(?P=char){3,})"
    r"|(?P<space>\s+)"
    r"|(?P<ellipsis>\s*(?:…|\.\.\.)\s*$)"
)


def normalise(text: str) -> str:
    """What every model stage reads instead of the raw post (see the module docstring); a post that is
    nothing but surface keeps its text."""
    out: list[str] = []
    position = 0
    previous_handle = False
    for match in _SURFACE.finditer(text):
        start, end = match.span()
        if start > position:
            out.append(text[position:start])
            previous_handle = False
        kind = match.lastgroup
        if kind == "url":
            out.append(URL_PLACEHOLDER)
            previous_handle = False
        elif kind == "handle":
            # "@a @b @c" at the head of a reply says who is addressed, not what is said: one is enough.
            if not previous_handle:
                out.append(HANDLE_PLACEHOLDER)
            elif out and out[-1] == " ":
                out.pop()
            previous_handle = True
        elif kind == "run":
            out.append(match.group()[:3])
            previous_handle = False
        elif kind == "space" and out and out[-1] != " ":
            out.append(" ")
        # a retweet prefix and a trailing ellipsis are dropped
        position = end
    out.append(text[position:])
    return "".join(out).strip() or text.strip()


# ----------------------------------------------------------------------------- training noise

# Label-neutral pools: every label draws from the same ones, so none of them points at a label.
_HASHTAGS = (
    "#nieuws", "#politiek", "#gemeenteraad", "#tweedekamer", "#breaking", "#nl", "#corona", "#samen",
    "#debat", "#verkiezingen", "#lokaal", "#regio", "#woningmarkt", "#klimaat", "#stikstof", "#asiel",
    "#zorg", "#onderwijs", "#vandaag", "#maandag", "#weekend", "#raad", "#provincie", "#waterschap",
    "#nos", "#video", "#update", "#thread", "#opinie", "#ff",
)  # fmt: skip
_EMOJI = (
    "😂", "🤣", "😡", "🙄", "😢", "😱", "👍", "👎", "🙏", "👏", "🔥", "💯", "❤️", "🇳🇱", "🤡", "😤", "🤔",
    "😬", "🥲", "✅", "❌", "⚠️", "📢", "👀", "💪", "🎉", "😊", "🤬", "😳", "🫣",
)  # fmt: skip
_SEPARATORS = (" | ", " - ", " — ", " • ", " >> ", " --- ", " :: ")
_HANDLES = (
    "@NOS", "@nunl", "@gemeente", "@jan_b", "@Sanne_K", "@omroep_west", "@RTLnieuws", "@politie",
    "@hart_voor_nl", "@m.devries", "@x_user12", "@dewereld", "@TweedeKamer", "@buurtapp",
)  # fmt: skip
_LINKS = (
    "https://t.co/Ab3xK9pQz", "https://www.nu.nl/binnenland/6312/artikel.html", "https://bit.ly/3xYz12",
    "https://youtu.be/dQ4w9WgXcQ", "https://nos.nl/l/24817", "www.example.nl/nieuws", "https://t.co/7hGq2",
)  # fmt: skip


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop one
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double one


def noisy(text: str, rng: random.Random) -> str:
    """``text`` with a random mix of the surface real posts carry: retweet prefix, handles, links,
    hashtags, emoji, separators, timestamps, typos, casing, dropped punctuation, truncation."""
    words = text.split()
    if rng.random() < 0.25:
        words = [_typo(w, rng) if rng.random() < 0.15 else w for w in words]
    if rng.random() < 0.15:
        words = [w.strip(".,!?;:") or w for w in words]
    out = " ".join(words)
    casing = rng.random()
    if casing < 0.15:
        out = out.lower()
    elif casing < 0.20:
        out = out.upper()
    if rng.random() < 0.08 and len(words) > 8:
        out = " ".join(out.split()[: rng.randrange(6, len(words))]) + "…"
    tail: list[str] = []
    if rng.random() < 0.3:
        tail.extend(rng.sample(_HASHTAGS, rng.randrange(1, 4)))
    if rng.random() < 0.35:
        tail.append("".join(rng.choices(_EMOJI, k=rng.randrange(1, 4))))
    if rng.random() < 0.35:
        tail.append(rng.choice(_LINKS))
    if tail:
        out = out + (rng.choice(_SEPARATORS) if rng.random() < 0.3 else " ") + " ".join(tail)
    if rng.random() < 0.08:
        out = f"{rng.randrange(24):02d}:{rng.randrange(60):02d} " + out
    head = rng.random()
    if head < 0.2:
        out = f"RT {rng.choice(_HANDLES)}: {out}"
    elif head < 0.45:
        out = " ".join(rng.sample(_HANDLES, rng.randrange(1, 4))) + " " + out
    return out


def with_noisy_copies(
    texts: Sequence[str], labels: Sequence[str], *, share: float, seed: int
) -> tuple[list[str], list[str]]:
    """The originals plus a noisy copy of a random ``share`` of them, drawn alike from every label."""
    rng = random.Random(seed)
    out_texts, out_labels = list(texts), list(labels)
    for text, label in zip(texts, labels, strict=True):
        if rng.random() < share:
            out_texts.append(noisy(text, rng))
            out_labels.append(label)
    return out_texts, out_labels
