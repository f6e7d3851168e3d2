"""Watchlist import from CSV or YAML: all rows or none, with the row number of every problem."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import Official


class WatchlistError(ValueError):
    """The file cannot be imported; ``problems`` lists (row number, message), rows counted from 1."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  row {row}: {message}" for row, message in problems)
        super().__init__(f"{path}: nothing imported, {len(problems)} problem(s):\n{lines}")


class OfficialRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200)
    role: str = Field(min_length=2, max_length=100)
    organisation: str = Field(min_length=2, max_length=200)
    aliases: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)

    @field_validator("aliases", "handles", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """CSV cells hold lists separated by ';'."""
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        return value


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    officials: list[Official] = field(default_factory=list)  # created or updated, in file order


def _raw_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WatchlistError(path, [(0, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from exc
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise WatchlistError(path, [(0, f"invalid YAML: {exc}")]) from exc
        if isinstance(data, dict):
            data = data.get("officials")
        if not isinstance(data, list):
            raise WatchlistError(path, [(0, "expected a list of officials (or a mapping with 'officials')")])
        return [row if isinstance(row, dict) else {"__invalid__": row} for row in data]
    if path.suffix.lower() == ".csv":
        return _csv_rows(path, text)
    raise WatchlistError(path, [(0, f"unsupported file type {path.suffix!r}; use .csv, .yaml or .yml")])


_REQUIRED = ("name", "role", "organisation")
_PROBLEM = "__problem__"  # a raw row that is refused before validation, with the reason


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    """CSV rows as dicts of their non-empty cells; a row whose cells do not fit the header is refused.

    ``Jansen, Piet,Burgemeester,Gemeente Westdorp`` under ``name,role,organisation`` has one cell too
    many: read by position it would store the name "Jansen", the role "Piet" and the organisation
    "Burgemeester" (the old behaviour, which dropped the extra cell). Which cell is the stray one cannot
    be known, so such a row is refused, naming its line, and with it the whole file. A row with fewer
    cells is accepted when only optional columns (aliases, handles) lack a cell, since spreadsheets
    often leave trailing empty cells out; a required column without a cell is refused the same way.
    Blank lines are skipped and not counted as rows.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    missing = set(_REQUIRED) - set(header)
    if missing:
        raise WatchlistError(path, [(0, f"missing column(s): {', '.join(sorted(missing))}")])
    columns = f"{len(header)} column(s) ({', '.join(header)})"
    rows: list[dict[str, Any]] = []
    line = reader.line_num
    for cells in reader:
        first_line, line = line + 1, reader.line_num  # a quoted cell may span lines: name the first
        if not cells:
            continue
        shape = f"line {first_line}: {len(cells)} cells but the header has {columns}"
        lacking = [column for column in header[len(cells) :] if column in _REQUIRED]
        if len(cells) > len(header):
            rows.append({_PROBLEM: f"{shape}; a cell that contains a comma must be in double quotes"})
        elif lacking:
            rows.append({_PROBLEM: f"{shape}; no cell for {', '.join(lacking)}"})
        else:
            rows.append({k: v for k, v in zip(header, cells, strict=False) if v != ""})
    return rows


def read_watchlist(path: Path) -> list[OfficialRow]:
    """Parse and validate every row before anything touches the database."""
    rows: list[OfficialRow] = []
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(_raw_rows(path), start=1):
        if _PROBLEM in raw:
            problems.append((number, str(raw[_PROBLEM])))
            continue
        try:
            row = OfficialRow.model_validate(raw)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
            )
            problems.append((number, details))
            continue
        key = (row.name.casefold(), row.organisation.casefold())
        if key in seen:
            problems.append((number, f"duplicate of row {seen[key]} ({row.name}, {row.organisation})"))
            continue
        seen[key] = number
        rows.append(row)
    if problems:
        raise WatchlistError(path, problems)
    return rows


def import_officials(session: Session, *, path: Path) -> ImportReport:
    """Create or update officials by (name, organisation) in the caller's transaction.

    Their generated search sources are the caller's next step (``collect.searches.sync_searches``),
    left out where nothing may reach the internet (the demo).
    """
    rows = read_watchlist(path)
    existing = {(o.name.casefold(), o.organisation.casefold()): o for o in session.scalars(select(Official))}
    created = updated = 0
    imported: list[Official] = []
    for row in rows:
        official = existing.get((row.name.casefold(), row.organisation.casefold()))
        if official is None:
            official = Official(**row.model_dump())
            session.add(official)
            created += 1
        else:
            for field, value in row.model_dump().items():
                setattr(official, field, value)
            updated += 1
        imported.append(official)
    session.flush()
    return ImportReport(created=created, updated=updated, officials=imported)
