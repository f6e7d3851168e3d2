"""Occlusion explanations, checked with a model whose reasons we know."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from threatwatch.classify.explain import occlusion_spans


def knows_where_you_live(texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """P(threat) is high only while both 'waar' and 'woont' are present; the rest is `none`."""
    threat = np.array([0.95 if ("waar" in t and "woont" in t) else 0.2 for t in texts])
    out = np.zeros((len(texts), 5))
    out[:, 0], out[:, 4] = threat, 1 - threat
    return out


def test_spans_point_at_what_drives_the_label_without_overlap() -> None:
    text = "Beste buurman, we weten waar je woont, tot snel"
    [spans] = occlusion_spans([text], [0], knows_where_you_live)
    assert spans, "a flagged message always gets an explanation"
    assert any("waar" in s.text or "woont" in s.text for s in spans)
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))
    assert all("Beste" not in s.text and "snel" not in s.text for s in spans)


def test_a_text_no_single_removal_changes_still_gets_its_best_span() -> None:
    def stubborn(texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return np.tile([0.9, 0.0, 0.0, 0.0, 0.1], (len(texts), 1))

    [spans] = occlusion_spans(["je gaat eraan"], [0], stubborn)
    assert len(spans) == 1


def test_texts_are_explained_independently_in_one_batch() -> None:
    calls: list[int] = []

    def counted(texts: Sequence[str]) -> npt.NDArray[np.float64]:
        calls.append(len(texts))
        return knows_where_you_live(texts)

    result = occlusion_spans(["we weten waar je woont", "ik weet waar hij woont nu"], [0, 0], counted)
    assert len(calls) == 1 and len(result) == 2
    assert all(any("woont" in s.text or "waar" in s.text for s in spans) for spans in result)
