"""When an alert may go out: digest times and quiet hours, in the subscriber's local time.

All times in the database are UTC; digest times and quiet hours are wall-clock times in one zone
(Europe/Amsterdam by default), so "08:00" stays 08:00 across daylight-saving changes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> time:
    """``"07:30"`` → ``time(7, 30)``; anything else is a clear ``ValueError``."""
    match = _HHMM.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00-23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz)


def _at(day: datetime, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), moment, tzinfo=tz)


def in_quiet_hours(now: datetime, *, start: str, end: str, tz: ZoneInfo) -> bool:
    """Quiet hours may span midnight (22:00-07:00); start == end means none."""
    start_t, end_t, local = parse_hhmm(start), parse_hhmm(end), _local(now, tz).time()
    if start_t == end_t:
        return False
    if start_t < end_t:
        return start_t <= local < end_t
    return local >= start_t or local < end_t


def quiet_hours_end(now: datetime, *, end: str, tz: ZoneInfo) -> datetime:
    """The first moment at or after ``now`` when the clock shows ``end``, in UTC."""
    end_t, local = parse_hhmm(end), _local(now, tz)
    for days in range(3):
        candidate = _at(local + timedelta(days=days), end_t, tz)
        if candidate >= local:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a time of day recurs within two days")


def next_digest_time(now: datetime, *, times: Sequence[str], tz: ZoneInfo) -> datetime:
    """The first digest moment at or after ``now``, in UTC."""
    if not times:
        raise ValueError("a digest needs at least one time of day")
    moments = sorted(parse_hhmm(t) for t in times)
    local = _local(now, tz)
    for days in range(3):
        for moment in moments:
            candidate = _at(local + timedelta(days=days), moment, tz)
            if candidate >= local:
                return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a time of day recurs within two days")


def release_time(
    now: datetime,
    *,
    urgent: bool,
    mode: str,
    digest_times: Sequence[str],
    quiet_start: str | None,
    quiet_end: str | None,
    tz: ZoneInfo,
) -> datetime:
    """When an alert about an event at ``now`` may be sent: urgent ones (threats) right away, always."""
    if urgent:
        return now
    when = next_digest_time(now, times=digest_times, tz=tz) if mode == "digest" else now
    if quiet_start and quiet_end and in_quiet_hours(when, start=quiet_start, end=quiet_end, tz=tz):
        when = quiet_hours_end(when, end=quiet_end, tz=tz)
    return when
