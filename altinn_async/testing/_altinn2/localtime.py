"""Norwegian local time, as Altinn 2 writes it.

Altinn 2 writes ``DateTime`` values in Norwegian local time without an offset
(``2013-11-11T13:41:01.703``) and ``DateTimeOffset`` values with one. The emulator keeps every
time as UTC milliseconds and converts with the EU summer-time rule (CET/CEST), so the output does
not depend on the host's time-zone database.
"""

from __future__ import annotations

import datetime as dt

_UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: local wall-clock times


def _last_sunday(year: int, month: int) -> int:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = following - dt.timedelta(days=1)
    return last.day - (last.weekday() + 1) % 7


def oslo_offset(seconds: float) -> int:
    """Europe/Oslo's UTC offset in seconds at a moment: +2 h from the last Sunday of March
    01:00 UTC to the last Sunday of October 01:00 UTC, else +1 h."""
    moment = dt.datetime.fromtimestamp(seconds, _UTC)
    year = moment.year
    start = dt.datetime(year, 3, _last_sunday(year, 3), 1, tzinfo=_UTC)
    end = dt.datetime(year, 10, _last_sunday(year, 10), 1, tzinfo=_UTC)
    return 7200 if start <= moment < end else 3600


def local_time(ms: int) -> dt.datetime:
    """UTC milliseconds as naive Norwegian local time."""
    return EPOCH + dt.timedelta(milliseconds=ms + oslo_offset(ms / 1000) * 1000)


def local_to_ms(local: dt.datetime) -> int:
    """Naive Norwegian local time to UTC milliseconds (the summer-time reading when ambiguous)."""
    naive_ms = (local - EPOCH) // dt.timedelta(milliseconds=1)
    for offset in (7200, 3600):
        candidate = naive_ms - offset * 1000
        if oslo_offset(candidate / 1000) == offset:
            return candidate
    return naive_ms - 3600 * 1000  # inside the spring-forward gap


def to_local(moment: dt.datetime) -> dt.datetime:
    """An aware datetime as naive Norwegian local time."""
    return local_time(round(moment.timestamp() * 1000))


def net_datetime(local: dt.datetime) -> str:
    """A naive ``DateTime`` as Newtonsoft writes it: ``2013-11-20T19:50:54.86``."""
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    return text


def net_datetime_offset(ms: int) -> str:
    """A ``DateTimeOffset`` in local time: ``2020-02-03T10:09:59.548+01:00``."""
    offset = oslo_offset(ms / 1000)
    return f"{net_datetime(local_time(ms))}+{offset // 3600:02d}:00"


def to_ms(seconds: float) -> int:
    """Seconds since the epoch to whole milliseconds."""
    return round(seconds * 1000)
