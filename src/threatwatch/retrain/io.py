"""``labels export`` and ``labels import``: CSV or JSONL, so teams can also label outside the app.

An import is checked completely before anything is written: unknown labels, duplicate ids, broken
encoding, missing columns, empty texts and bad dates are all reported with their line numbers, and then
the whole file is refused. A file that passes is written in the caller's one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from threatwatch.db.models import ExternalLabel
from threatwatch.domain import LABELS
from threatwatch.retrain.labels import LabelRecord

REQUIRED = ("id", "text", "label")
COLUMNS = ("id", "text", "label", "labeller", "labelled_at", "origin", "note")
MAX_PROBLEMS = 50


class LabelImportError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        super().__init__("file refused, nothing imported:\n" + "\n".join(problems[:MAX_PROBLEMS]) + more)


@dataclass(frozen=True)
class ImportRow:
    line: int
    external_id: str
    text: str
    label: str
    labeller: str
    labelled_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise LabelImportError([f"{path}: unknown format {suffix!r}: use .csv or .jsonl"])


def export_labels(records: list[LabelRecord], out: TextIO, *, fmt: str) -> int:
    def row(r: LabelRecord) -> dict[str, str]:
        return {
            "id": r.key,
            "text": r.text,
            "label": r.label,
            "labeller": r.labeller,
            "labelled_at": r.labelled_at.isoformat(),
            "origin": r.origin,
            "note": r.note or "",
        }

    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(row(record), ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row(r) for r in records)
    return len(records)


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LabelImportError([f"{name}:{line}: not valid UTF-8 (byte {raw[exc.start]:#04x})"]) from None


def _raw_rows(text: str, fmt: str, name: str, problems: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{name}:{number}: not JSON ({exc.msg})")
                continue
            if not isinstance(value, dict):
                problems.append(f"{name}:{number}: expected a JSON object")
                continue
            missing = [c for c in REQUIRED if c not in value]
            if missing:
                problems.append(f"{name}:{number}: missing field(s) {', '.join(missing)}")
                continue
            yield number, value
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        problems.append(f"{name}:1: missing column(s) {', '.join(missing)}")
        return
    start = reader.line_num + 1
    for row in reader:
        if None in row:
            problems.append(f"{name}:{start}: more fields than columns")
        yield start, {k: v for k, v in row.items() if k is not None}
        start = reader.line_num + 1


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_label_file(path: Path) -> list[ImportRow]:
    """Every row, or ``LabelImportError`` with every problem found (by line number)."""
    fmt = file_format(path)
    name = path.name
    text = _decode(path.read_bytes(), name)
    problems: list[str] = []
    rows: list[ImportRow] = []
    seen: dict[tuple[str, str], int] = {}
    known = {label.value for label in LABELS}
    for line, raw in _raw_rows(text, fmt, name, problems):
        external_id = str(raw.get("id") or "").strip()
        body = str(raw.get("text") or "").strip()
        label = str(raw.get("label") or "").strip()
        labeller = str(raw.get("labeller") or "").strip()
        note = str(raw.get("note") or "").strip() or None
        if not external_id:
            problems.append(f"{name}:{line}: empty id")
        if not body:
            problems.append(f"{name}:{line}: empty text")
        if label not in known:
            problems.append(f"{name}:{line}: unknown label {label!r} (known: {', '.join(sorted(known))})")
        if len(external_id) > 200 or len(labeller) > 200:
            problems.append(f"{name}:{line}: id or labeller longer than 200 characters")
        labelled_at = None
        if str(raw.get("labelled_at") or "").strip():
            try:
                labelled_at = _parse_time(raw["labelled_at"])
            except ValueError:
                problems.append(f"{name}:{line}: labelled_at {raw['labelled_at']!r} is not an ISO date")
        key = (external_id, labeller)
        if external_id and key in seen:
            problems.append(f"{name}:{line}: duplicate id {external_id!r} (first on line {seen[key]})")
        seen.setdefault(key, line)
        rows.append(ImportRow(line, external_id, body, label, labeller, labelled_at, note))
    if not rows and not problems:
        problems.append(f"{name}: no rows")
    if problems:
        raise LabelImportError(problems)
    return rows


def import_labels(session: Session, *, path: Path, now: datetime) -> ImportReport:
    """Validate the whole file, then add or update its labels (keyed by id and labeller); the caller
    commits, so a failure while writing rolls everything back."""
    rows = read_label_file(path)
    existing = {
        (e.external_id, e.labeller): e
        for e in session.scalars(
            select(ExternalLabel).where(ExternalLabel.external_id.in_({r.external_id for r in rows}))
        )
    }
    added = updated = 0
    for row in rows:
        target = existing.get((row.external_id, row.labeller))
        if target is None:
            target = ExternalLabel(external_id=row.external_id, labeller=row.labeller, created_at=now)
            session.add(target)
            added += 1
        else:
            updated += 1
        target.text, target.label, target.note = row.text, row.label, row.note
        target.labelled_at = row.labelled_at or now
        target.import_name = path.name[:300]
    session.flush()
    return ImportReport(added=added, updated=updated)
