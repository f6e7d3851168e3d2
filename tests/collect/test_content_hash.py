"""Content hashes decide which posts count as copies of one another; wordless posts must not collide."""

from __future__ import annotations

from threatwatch.collect.store import content_hash


def test_same_words_with_other_links_and_spacing_hash_the_same() -> None:
    a = content_hash("Wethouder  De Vries moet weg https://t.co/abc")
    b = content_hash("wethouder de vries moet weg https://example.org/x?utm=1")
    assert a == b


def test_wordless_posts_with_different_content_do_not_collide() -> None:
    one = content_hash("https://example.org/photo/1")
    other = content_hash("https://example.org/photo/2")
    emoji = content_hash("🔥🔥")
    assert len({one, other, emoji}) == 3
    assert content_hash("https://example.org/photo/1 ") == one  # whitespace alone changes nothing
