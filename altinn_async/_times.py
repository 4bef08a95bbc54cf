"""Times as Altinn writes and reads them: RFC 3339 with up to 7 fraction digits (.NET ticks),
and the UTC ``Z`` form its query strings want."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from .exceptions import ConfigurationError

__all__ = ["format_time", "parse_time", "query_time"]

_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware `datetime`, with any number of fraction digits.

    .NET writes 7 (``2023-02-16T18:02:11.0276259Z``, 100-nanosecond ticks); digits beyond the
    microsecond are cut off, never rounded up into the next second. A leap second (``:60``)
    reads as the last microsecond before it.

    Raises:
        ValueError: ``text`` is not an RFC 3339 date-time with a timezone.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    microsecond = int((match[7] or "")[:6].ljust(6, "0"))
    if second == 60:
        second, microsecond = 59, 999_999
    tz = UTC
    if match[8] is not None:
        hours, minutes = int(match[9]), int(match[10])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} has an impossible UTC offset")
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if match[8] == "-" else offset)
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)


def format_time(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if value.utcoffset() == timedelta(0) else text


def query_time(name: str, value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            # fromisoformat before 3.13 may refuse what .NET writes (7 fraction digits).
            try:
                when = parse_time(value)
            except ValueError:
                raise ConfigurationError(
                    f"{name} {value!r} is not an ISO 8601 time such as 2023-02-16T18:00Z"
                ) from None
    elif isinstance(value, datetime):
        when = value
    else:
        raise ConfigurationError(f"{name} must be a datetime or an ISO 8601 string")
    if when.utcoffset() is None:
        raise ConfigurationError(
            f"{name} must carry a timezone (Altinn refuses a time without one): an aware "
            f"datetime, or a string such as 2023-02-16T18:00Z"
        )
    # As UTC with a Z: Altinn copies the value into its next link unencoded, where the + of
    # an offset would come back as a space.
    return when.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
