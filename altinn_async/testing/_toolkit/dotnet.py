"""Time as the .NET services store and write it: ticks (100 ns since 0001-01-01) and UTC
``DateTime`` values with the fraction's trailing zeros trimmed, as Newtonsoft and System.Text.Json
both write them."""

from __future__ import annotations

import datetime as dt
import functools

EPOCH_TICKS = 621_355_968_000_000_000  # DateTime(1970, 1, 1).Ticks
TICKS_PER_SECOND = 10_000_000

_EPOCH = dt.date(1970, 1, 1)
_DAY_SECONDS = 86_400


def ticks_from_seconds(seconds: float) -> int:
    """.NET ticks at microsecond precision (what Postgres keeps of a timestamp)."""
    return EPOCH_TICKS + round(seconds * 1_000_000) * 10


@functools.lru_cache(maxsize=64)
def _date_text(days: int) -> str:
    """``YYYY-MM-DD`` of the day ``days`` after 1970-01-01 (pages of instances share a few)."""
    return (_EPOCH + dt.timedelta(days=days)).isoformat()


def format_ticks(ticks: int) -> str:
    """A UTC ``DateTime`` as .NET writes it: ``…ss.FFFFFFFZ``, trailing zeros trimmed."""
    seconds, remainder = divmod(ticks - EPOCH_TICKS, TICKS_PER_SECOND)
    # What datetime.isoformat() writes, without building a datetime for every value.
    days, second = divmod(seconds, _DAY_SECONDS)
    minutes, second = divmod(second, 60)
    hours, minutes = divmod(minutes, 60)
    moment = f"{_date_text(days)}T{hours:02d}:{minutes:02d}:{second:02d}"
    if remainder:
        return f"{moment}.{f'{remainder:07d}'.rstrip('0')}Z"
    return f"{moment}Z"


def format_utc(seconds: float) -> str:
    """Seconds since the epoch as a UTC ``DateTime`` (microsecond precision)."""
    return format_ticks(ticks_from_seconds(seconds))
