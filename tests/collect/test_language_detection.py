"""Batch language detection walks py3langid's automaton for many posts at once; it must decide exactly as
py3langid does post by post, and keep the rules for short and ambiguous texts."""

from __future__ import annotations

import random

import pytest

from threatwatch.collect.language import (
    MIN_CONFIDENCE,
    MIN_LETTERS,
    SAMPLE_CHARS,
    _identifier,
    _walker,
    detect_language,
    detect_languages,
)

SENTENCES = [
    "Burgemeester Van der Linden moet maar eens goed opletten als ze vanavond naar huis fietst.",
    "Wethouder, we weten waar je woont en we komen eraan.",
    "Goed werk van de gemeente, de nieuwe woonwijk aan de Havenkade ziet er prachtig uit!",
    "The mayor should resign, this is a disgrace to the whole city council.",
    "Der Bürgermeister von Zuiderhaven hat heute den Hafen besucht und Kaffee ausgeschenkt.",
    "Le maire a visité le port aujourd'hui et a parlé avec les pêcheurs de la région.",
    "De boargemaster fan Ljouwert hat hjoed de haven besocht.",
    "Belediye başkanı bugün limanı ziyaret etti ve balıkçılarla konuştu.",
    "زار رئيس البلدية الميناء اليوم وتحدث مع الصيادين",
    "Burmistrz odwiedził dziś port i rozmawiał z rybakami o przyszłości miasta.",
    "El alcalde visitó hoy el puerto y habló con los pescadores de la zona.",
    "Il sindaco ha visitato oggi il porto e ha parlato con i pescatori.",
    "O prefeito visitou hoje o porto e conversou com os pescadores da região.",
    "Primarul a vizitat astăzi portul și a vorbit cu pescarii din zonă.",
    "Walikota mengunjungi pelabuhan hari ini dan berbicara dengan para nelayan.",
    "Duqa magaalada ayaa maanta booqday dekedda wuxuuna la hadlay kalluumeysatada.",
    "Мер сьогодні відвідав порт і поспілкувався з рибалками.",
    "Мэр сегодня посетил порт и поговорил с рыбаками о будущем города.",
    "WAAROM ZEGT NIEMAND IETS OVER DE SLUITING VAN HET ZWEMBAD?!",
    "@burgemeesterzh https://nieuws.example/artikel/1?utm_source=rss #zuiderhaven 🔥🔥🔥",
    "1234 5678 !!!! ???? .... ---- ____ ++++ 0000 9999 8888 7777 6666 5555",
    "日本語のテキストも時々流れてきますが、候補の言語ではありません。",
    "nl en de fr: Ik ben het er niet mee eens, but I see your point, aber trotzdem nein.",
]


def _corpus() -> list[str]:
    """The sentences, their openings at every length, mixtures, and random text in several scripts."""
    rng = random.Random(20261128)
    texts = list(SENTENCES)
    texts += [s[:n] for s in SENTENCES for n in range(1, len(s), 7)]
    texts += [" ".join(rng.sample(SENTENCES, 3))[:SAMPLE_CHARS] for _ in range(200)]
    alphabets = [(0x20, 0x7E), (0xC0, 0x17F), (0x400, 0x4FF), (0x600, 0x6FF), (0x20, 0x3000)]
    for low, high in alphabets:
        texts += ["".join(chr(rng.randint(low, high)) for _ in range(rng.randint(0, 130))) for _ in range(60)]
    return [*texts, "", " ", "a" * 300, "é" * 130, "\u0301\u0301 combining", "\ud800 lone surrogate"]


def test_the_batch_walk_is_used_and_decides_exactly_as_py3langid() -> None:
    walker = _walker()
    assert walker is not None, "this py3langid keeps its model differently: texts now go one by one"
    identifier = _identifier()
    corpus = _corpus()
    expected = [(str(language), float(p)) for language, p in map(identifier.classify, corpus)]
    assert walker.classify(corpus) == expected  # same labels and the very same confidences
    assert walker.classify(corpus[:1]) == expected[:1]
    assert walker.classify([]) == []


def _one_by_one(text: str, declared: str | None) -> str | None:
    """The rule as written before batching: py3langid per post on its opening."""
    code = declared.strip().lower().replace("_", "-").split("-", 1)[0][:20] or None if declared else None
    if len(text) < 4 * MIN_LETTERS and sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return code
    language, confidence = _identifier().classify(text[:SAMPLE_CHARS])
    return (code or str(language)) if confidence < MIN_CONFIDENCE else str(language)


def test_a_batch_keeps_the_rules_for_short_ambiguous_and_repeated_posts() -> None:
    texts = [*SENTENCES, "Ok!", "Oké", "1234 5678 9", SENTENCES[0], SENTENCES[0] + " en nog meer tekst"]
    declared = [None, "nl-NL", "EN", "de_DE", None, "fr", "fy"] * 5
    declared = declared[: len(texts)]
    expected = [_one_by_one(t, d) for t, d in zip(texts, declared, strict=True)]
    assert detect_languages(texts, declared) == expected
    assert [detect_language(t, declared=d) for t, d in zip(texts, declared, strict=True)] == expected
    assert detect_language("Ok!", declared="nl-NL") == "nl" and detect_language("Ok!") is None
    assert detect_languages([], []) == []
    with pytest.raises(ValueError, match="one declared language"):
        detect_languages(["een", "twee"], [None])
