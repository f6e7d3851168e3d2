"""Surface normalisation and training noise: what a model reads of a post, and how no label gets to
own a register."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from threatwatch.classify.surface import noisy, normalise, with_noisy_copies

TIDY = "Blijf thuis, houd 1,5 meter afstand en was je handen."


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        (f"RT @gemeente: {TIDY}", TIDY),
        (f"rt @GGD_regio {TIDY}", TIDY),
        (f"{TIDY} https://t.co/abc123", f"{TIDY} http"),
        (f"{TIDY} www.example.nl/x?y=1", f"{TIDY} http"),
        (f"@user @jan_b @Piet.K {TIDY}", f"@user {TIDY}"),
        (f"{TIDY}   \n\t ok", f"{TIDY} ok"),
        ("jaaaaaaa!!!!!!!! 😂😂😂😂😂", "jaaa!!! 😂😂😂"),
        ("Ze gaan het besluit toch doorzetten, dus we…", "Ze gaan het besluit toch doorzetten, dus we"),
    ],
)
def test_the_surface_of_a_post_is_normalised(raw: str, read: str) -> None:
    assert normalise(raw) == read


def test_what_is_said_survives_normalisation() -> None:
    """E-mail addresses are not handles; hashtags, emoji and words stay."""
    assert normalise("mail a@b.nl #samen 🔫 ik kom") == "mail a@b.nl #samen 🔫 ik kom"


def test_a_post_that_is_only_surface_keeps_its_text() -> None:
    assert normalise("RT @x:") == "RT @x:"


def test_noise_is_drawn_alike_for_every_label() -> None:
    """The same share of each label gets a noisy copy, from the same pools: no label owns a register."""
    texts = [f"bericht nummer {i} over de gemeente en het beleid" for i in range(4000)]
    labels = ["threat", "none"] * 2000
    out_texts, out_labels = with_noisy_copies(texts, labels, share=0.5, seed=3)
    copies = Counter(out_labels[len(texts) :])
    assert abs(copies["threat"] - copies["none"]) < 150
    added = out_texts[len(texts) :]
    by_label = {name: [t for t, lab in zip(added, out_labels[len(texts) :], strict=True) if lab == name]
                for name in ("threat", "none")}  # fmt: skip
    for marker in ("RT @", "http", "#"):
        shares = [sum(marker in t for t in rows) / len(rows) for rows in by_label.values()]
        assert abs(shares[0] - shares[1]) < 0.05, marker


def test_noise_is_reproducible_and_changes_the_surface() -> None:
    rng_a, rng_b = random.Random(5), random.Random(5)
    variants = [noisy(TIDY, rng_a) for _ in range(50)]
    assert variants == [noisy(TIDY, rng_b) for _ in range(50)]
    assert sum(v != TIDY for v in variants) > 30
