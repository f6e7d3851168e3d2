"""Reading texts to classify from files, with errors a person can act on."""

from __future__ import annotations

import csv
import io
from pathlib import Path


class InputError(ValueError):
    pass


def read_texts(path: Path, *, text_column: str = "text") -> list[str]:
    """Texts from a CSV (one column named ``text_column``) or a plain text file (one message per line).

    Row order is kept; an empty text is an error, so output row N always belongs to input row N.
    """
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 (byte {exc.start}: {exc.reason}); convert it first") from exc
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(content, newline=""))
        if text_column not in (reader.fieldnames or []):
            raise InputError(f"{path}: no column {text_column!r}; columns are {reader.fieldnames or []}")
        texts = []
        for row in reader:
            text = (row.get(text_column) or "").strip()
            if not text:
                raise InputError(f"{path}: line {reader.line_num}: empty text")
            texts.append(text)
        return texts
    texts = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            raise InputError(f"{path}: line {number}: empty text")
        texts.append(line.strip())
    return texts
