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
    """``YYYY-MM-DDT`` of the day ``days`` after 1970-01-01 (pages of instances share a few)."""
    return f"{(_EPOCH + dt.timedelta(days=days)).isoformat()}T"


_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))


def format_ticks(ticks: int) -> str:
    """A UTC ``DateTime`` as .NET writes it: ``…ss.FFFFFFFZ``, trailing zeros trimmed."""
    seconds, remainder = divmod(ticks - EPOCH_TICKS, TICKS_PER_SECOND)
    # What datetime.isoformat() writes, without building a datetime for every value.
    days, second = divmod(seconds, _DAY_SECONDS)
    hours, second = divmod(second, 3600)
    minutes, second = divmod(second, 60)
    date, two = _date_text(days), _TWO_DIGITS
    if remainder:
        # The fraction's seven digits (what f"{remainder:07d}" writes), trailing zeros trimmed.
        fraction = str(TICKS_PER_SECOND + remainder)[1:].rstrip("0")
        return f"{date}{two[hours]}:{two[minutes]}:{two[second]}.{fraction}Z"
    return f"{date}{two[hours]}:{two[minutes]}:{two[second]}Z"


def format_utc(seconds: float) -> str:
    """Seconds since the epoch as a UTC ``DateTime`` (microsecond precision)."""
    return format_ticks(ticks_from_seconds(seconds))
