"""Adding many sources from one file, CSV or OPML: every row or none, each problem with where it is.

A CSV file has a ``url`` column and optionally ``name``, ``kind`` and ``poll_interval_s``; an OPML file
(a feed reader's export) has ``<outline xmlUrl="...">`` elements, at any depth, named by their ``title``
or ``text``; outlines without ``xmlUrl`` are folders. Each row goes through the same checks as one
``threatwatch sources add`` (``sources.normalise_source_url``, ``parse_kind``, ``add_source``), and the
whole file is checked before anything is written, so a bad row refuses the file with a list of
``line N: reason`` (for OPML: the outline's line and title).

Decisions, as a careful operator would expect them:

- A file holds URLs: ``http(s)://`` or ``file://``. A bare path, which ``sources add`` turns into a
  ``file://`` URL relative to the working directory, is refused in a file, where it is far more likely a
  broken cell than a deliberate path relative to wherever the command happens to run.
- The same URL twice in one file is refused (a copy-paste slip that would otherwise hide a typo in the
  row meant). A URL that is already a source is not an error: it is counted as already present and left
  as it is, like ``sources add`` does, so importing a grown file again adds only the new rows.
- Unknown CSV columns are refused, so a misspelt ``poll_interval`` does not silently fall back to the
  default. A row with more cells than the header is refused: an unquoted comma in a name shifts the
  cells after it.
- OPML is parsed with the standard library's expat, refusing any DOCTYPE (and so any entity
  declaration) before it is processed: entity expansion ("billion laughs") and external entities are
  the XML attacks, and OPML never needs a DTD. ``defusedxml`` is not a dependency; this is the same
  guard it applies.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.parsers import expat

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.collect.sources import SourceError, add_source, normalise_source_url, parse_kind
from threatwatch.db.models import Source
from threatwatch.domain import SourceKind

MIN_POLL_INTERVAL_S = 30  # as `sources add --interval`
CSV_COLUMNS = ("url", "name", "kind", "poll_interval_s")


class SourceImportError(ValueError):
    """The file cannot be imported; ``problems`` lists (where, reason); nothing was added."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {where}: {reason}" for where, reason in problems)
        super().__init__(f"{path}: nothing imported, {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class SourceRow:
    """One checked row: the normalised URL and what the file says about it."""

    where: str  # "line 7", or "line 7 (outline 'Regio')"
    url: str
    name: str | None
    kind: SourceKind | None
    poll_interval_s: int | None


@dataclass(frozen=True)
class SourceImportReport:
    added: int
    already_present: int


@dataclass(frozen=True)
class _RawRow:
    where: str
    url: str
    name: str = ""
    kind: str = ""
    poll_interval_s: str = ""


class _RefusedError(Exception):
    """Raised from inside the expat parse: the file is refused as a whole."""


def _csv_rows(path: Path) -> list[_RawRow | tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceImportError(
            path, [("file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from exc
    reader = csv.reader(io.StringIO(text))
    header = [column.strip().lower() for column in next(reader, [])]
    if "url" not in header:
        raise SourceImportError(path, [("line 1", "no 'url' column in the header")])
    unknown = [column for column in header if column not in CSV_COLUMNS]
    if unknown or len(set(header)) != len(header):
        what = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "a column twice"
        raise SourceImportError(path, [("line 1", f"{what}; the columns are {', '.join(CSV_COLUMNS)}")])
    rows: list[_RawRow | tuple[str, str]] = []
    line = reader.line_num
    for cells in reader:
        first_line, line = line + 1, reader.line_num  # a quoted cell may span lines: name the first
        where = f"line {first_line}"
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) > len(header):
            rows.append(
                (
                    where,
                    f"{len(cells)} cells but the header has {len(header)} ({', '.join(header)}); "
                    "a cell that contains a comma must be in double quotes",
                )
            )
            continue
        values: dict[str, Any] = {column: cell.strip() for column, cell in zip(header, cells, strict=False)}
        rows.append(_RawRow(where=where, **values) if "url" in values else (where, "no cell for url"))
    return rows


def _opml_rows(path: Path) -> list[_RawRow | tuple[str, str]]:
    rows: list[_RawRow | tuple[str, str]] = []
    parser = expat.ParserCreate()
    seen_root = False

    def refuse_doctype(*_: object) -> NoReturn:
        raise _RefusedError(
            "a DOCTYPE or entity declaration is not allowed in OPML (remove the <!DOCTYPE ...>)"
        )

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal seen_root
        if not seen_root:
            seen_root = True
            if name != "opml":
                raise _RefusedError(f"the root element is <{name}>, not <opml>")
        if name != "outline":
            return
        lowered = {key.lower(): value for key, value in attributes.items()}
        if "xmlurl" not in lowered:
            return  # a folder of outlines
        title = (lowered.get("title") or lowered.get("text") or "").strip()
        where = f"line {parser.CurrentLineNumber}" + (f" (outline {title!r})" if title else "")
        rows.append(_RawRow(where=where, url=lowered["xmlurl"].strip(), name=title))

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.ExternalEntityRefHandler = refuse_doctype
    parser.StartElementHandler = start
    try:
        parser.Parse(path.read_bytes(), True)
    except _RefusedError as exc:
        raise SourceImportError(path, [(f"line {parser.CurrentLineNumber}", str(exc))]) from None
    except expat.ExpatError as exc:
        reason = f"not well-formed XML: {expat.errors.messages[exc.code]}"
        raise SourceImportError(path, [(f"line {exc.lineno}", reason)]) from None
    if not seen_root:
        raise SourceImportError(path, [("file", "no <opml> element")])
    return rows


def _check(raw: _RawRow) -> SourceRow:
    """One row through the single-source checks; ``SourceError`` says what is wrong with it."""
    if not raw.url:
        raise SourceError("no URL")
    scheme = urlsplit(raw.url).scheme
    if not scheme or len(scheme) == 1:  # len 1: a Windows drive letter, i.e. a path
        raise SourceError(f"bad URL {raw.url!r}: a file must hold http(s):// or file:// URLs, not paths")
    url = normalise_source_url(raw.url)
    kind = parse_kind(raw.kind) if raw.kind else None
    interval: int | None = None
    if raw.poll_interval_s:
        try:
            interval = int(raw.poll_interval_s)
        except ValueError:
            interval = None
        if interval is None or interval < MIN_POLL_INTERVAL_S:
            raise SourceError(
                f"poll_interval_s must be a whole number of seconds, at least {MIN_POLL_INTERVAL_S}; "
                f"got {raw.poll_interval_s!r}"
            )
    return SourceRow(where=raw.where, url=url, name=raw.name or None, kind=kind, poll_interval_s=interval)


def read_source_file(path: Path) -> list[SourceRow]:
    """Parse and check every row of a CSV or OPML file; ``SourceImportError`` lists every bad one."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw_rows = _csv_rows(path)
    elif suffix in (".opml", ".xml"):
        raw_rows = _opml_rows(path)
    else:
        raise SourceImportError(path, [("file", f"unsupported file type {path.suffix!r}; use .csv or .opml")])
    rows: list[SourceRow] = []
    problems: list[tuple[str, str]] = []
    first_seen: dict[str, str] = {}
    for raw in raw_rows:
        if isinstance(raw, tuple):
            problems.append(raw)
            continue
        try:
            row = _check(raw)
        except SourceError as exc:
            problems.append((raw.where, str(exc)))
            continue
        if row.url in first_seen:
            problems.append((row.where, f"duplicate of {first_seen[row.url]} (the same URL)"))
            continue
        first_seen[row.url] = row.where
        rows.append(row)
    if problems:
        raise SourceImportError(path, problems)
    if not rows:
        raise SourceImportError(path, [("file", "no sources in the file")])
    return rows


def import_sources(session: Session, *, path: Path, default_poll_interval_s: int) -> SourceImportReport:
    """Add every source of the file in the caller's transaction (the caller commits), or raise
    ``SourceImportError`` before adding any. URLs that are already sources are left as they are."""
    rows = read_source_file(path)
    urls = [row.url for row in rows]
    present: set[str] = set()
    for start in range(0, len(urls), 500):
        present.update(session.scalars(select(Source.url).where(Source.url.in_(urls[start : start + 500]))))
    added = 0
    for row in rows:
        if row.url in present:
            continue
        add_source(
            session,
            url=row.url,
            name=row.name,
            kind=row.kind,
            poll_interval_s=row.poll_interval_s or default_poll_interval_s,
        )
        added += 1
    return SourceImportReport(added=added, already_present=len(present))
