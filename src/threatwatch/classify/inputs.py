"""Reading messages from files, row by row, with errors a person can act on.

Formats: CSV (``.csv``, ``.tsv``; comma, semicolon or tab, whichever the header line is split by),
JSON lines (``.jsonl``, ``.ndjson``, ``.json``: one object per line) and plain text (one message per
line). Any other extension is sniffed from the first line: ``{`` means JSON lines, a header naming the
text column means CSV, anything else plain text. Files are read as UTF-8 with or without a BOM, one
line at a time, so memory does not grow with the file; an error names the file, the line and what is
wrong with it.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

Format = Literal["csv", "jsonl", "lines"]
CSV_SUFFIXES = frozenset({".csv", ".tsv"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
DELIMITERS = (",", ";", "\t")


class InputError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # the line the row ends on (1-based, header included)
    text: str
    label: str | None = None  # None: the file has no label column


def count_lines(path: Path) -> int:
    """Lines in ``path`` (a last line without a newline counts), for a progress bar's total."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


class RowReader:
    """The rows of a file, read lazily: ``with RowReader(path) as rows: for row in rows: ...``.

    ``label_column`` None reads no labels; otherwise the file is ``labelled`` when it has that column
    (CSV) or its first object has that field (JSON lines), and a missing one is an error only when
    ``label_required``. An empty text is an error, so output row N always belongs to input row N.
    """

    def __init__(
        self,
        path: Path,
        *,
        text_column: str = "text",
        label_column: str | None = None,
        label_required: bool = False,
    ) -> None:
        if not path.is_file():
            raise InputError(f"file not found: {path}")
        self.path = path
        self.text_column = text_column
        self.label_column = label_column
        self.line = 0  # physical lines read so far
        self.columns: list[str] = []
        self.labelled = False
        self._handle: IO[bytes] = path.open("rb")
        try:
            self._rows = self._open(label_required)
        except BaseException:
            self._handle.close()
            raise

    def __enter__(self) -> RowReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._handle.close()

    def __iter__(self) -> Iterator[Row]:
        return self._rows

    def _error(self, message: str, line: int | None = None) -> InputError:
        where = f"line {line}: " if line is not None else ""
        return InputError(f"{self.path}: {where}{message}")

    def _lines(self) -> Iterator[str]:
        for raw in self._handle:
            self.line += 1
            if self.line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._error(
                    f"not UTF-8 (byte {exc.start + 1} of the line: {exc.reason}); convert the file to UTF-8",
                    self.line,
                ) from None

    def _open(self, label_required: bool) -> Iterator[Row]:
        lines = self._lines()
        first = next(lines, None)
        if first is None:
            raise self._error("empty file")
        if not first.strip():
            raise self._error("the first line is empty", 1)
        lines = chain([first], lines)
        suffix = self.path.suffix.lower()
        delimiter = self._delimiter(first)
        if suffix in JSONL_SUFFIXES or (suffix not in CSV_SUFFIXES and first.lstrip().startswith("{")):
            return self._jsonl(lines, label_required)
        if suffix in CSV_SUFFIXES or delimiter is not None:
            widest = max(DELIMITERS, key=lambda d: len(_header(first, d)))
            return self._csv(lines, delimiter or widest, label_required)
        if self.label_column is not None and label_required:
            raise self._error(
                f"no column {self.label_column!r}: read as plain text (one message per line, no labels) "
                f"because its first line names no column {self.text_column!r}"
            )
        return self._plain(lines)

    def _delimiter(self, header: str) -> str | None:
        """The delimiter that makes ``header`` name the text column, if any."""
        for delimiter in DELIMITERS:
            if self.text_column in _header(header, delimiter):
                return delimiter
        return None

    def _csv(self, lines: Iterator[str], delimiter: str, label_required: bool) -> Iterator[Row]:
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            self.columns = [c.strip() for c in next(reader)]
        except csv.Error as exc:
            raise self._error(str(exc), reader.line_num) from None
        if self.text_column not in self.columns:
            raise self._error(f"no column {self.text_column!r}; columns are {self.columns}")
        text_at = self.columns.index(self.text_column)
        label_at = None
        if self.label_column is not None and self.label_column in self.columns:
            self.labelled = True
            label_at = self.columns.index(self.label_column)
        elif self.label_column is not None and label_required:
            raise self._error(f"no column {self.label_column!r}; columns are {self.columns}")
        return self._csv_rows(reader, text_at, label_at)

    def _csv_rows(self, reader: Any, text_at: int, label_at: int | None) -> Iterator[Row]:
        while True:
            try:
                record: list[str] = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise self._error(str(exc), reader.line_num) from None
            if not record:  # a blank line
                continue
            text = record[text_at].strip() if text_at < len(record) else ""
            if not text:
                raise self._error("empty text", reader.line_num)
            label = None
            if label_at is not None:
                label = record[label_at].strip() if label_at < len(record) else ""
            yield Row(reader.line_num, text, label)

    def _jsonl(self, lines: Iterator[str], label_required: bool) -> Iterator[Row]:
        records = self._objects(lines)
        first = next(records, None)
        if first is None:
            raise self._error("no JSON object in the file")
        self.columns = list(first[1])
        if self.label_column is not None and self.label_column in first[1]:
            self.labelled = True
        elif self.label_column is not None and label_required:
            raise self._error(f"no field {self.label_column!r}; fields are {self.columns}", first[0])
        return self._jsonl_rows(chain([first], records))

    def _objects(self, lines: Iterator[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        for line in lines:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise self._error(f"invalid JSON ({exc.msg} at column {exc.colno})", self.line) from None
            if not isinstance(value, dict):
                raise self._error(
                    f"not a JSON object but {type(value).__name__} (one object per line)", self.line
                )
            yield self.line, value

    def _jsonl_rows(self, records: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[Row]:
        for line, record in records:
            if self.text_column not in record:
                raise self._error(f"no field {self.text_column!r}; fields are {list(record)}", line)
            text = record[self.text_column]
            if text is not None and not isinstance(text, str):
                raise self._error(f"field {self.text_column!r} is {type(text).__name__}, not text", line)
            if not text or not text.strip():
                raise self._error("empty text", line)
            label = None
            if self.labelled:
                value = record.get(str(self.label_column))
                label = "" if value is None else str(value).strip()
            yield Row(line, text.strip(), label)

    def _plain(self, lines: Iterator[str]) -> Iterator[Row]:
        for line in lines:
            text = line.strip()
            if not text:
                raise self._error("empty text", self.line)
            yield Row(self.line, text)


def _header(line: str, delimiter: str) -> list[str]:
    try:
        return [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]
    except csv.Error:
        return []
