"""``format_ticks`` writes what ``datetime.isoformat`` does (it no longer builds a datetime)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from altinn_async.testing._toolkit.dotnet import EPOCH_TICKS, TICKS_PER_SECOND, format_ticks

_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive, as the reference formatting was


def reference(ticks: int) -> str:
    """The formatting ``format_ticks`` had: a naive datetime's isoformat and the fraction."""
    seconds, remainder = divmod(ticks - EPOCH_TICKS, TICKS_PER_SECOND)
    moment = (_EPOCH + dt.timedelta(seconds=seconds)).isoformat()
    if remainder:
        return f"{moment}.{f'{remainder:07d}'.rstrip('0')}Z"
    return f"{moment}Z"


def test_format_ticks_matches_the_datetime_formatting() -> None:
    rng = random.Random(7)  # noqa: S311 - test values
    first = dt.datetime(1, 1, 1)  # noqa: DTZ001
    last = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)  # noqa: DTZ001
    lowest = (first - _EPOCH) // dt.timedelta(microseconds=1) * 10 + EPOCH_TICKS
    highest = (last - _EPOCH) // dt.timedelta(microseconds=1) * 10 + EPOCH_TICKS + 9
    samples = [lowest, highest, EPOCH_TICKS, EPOCH_TICKS - 1, EPOCH_TICKS + 1]
    samples += [rng.randrange(lowest, highest) for _ in range(20_000)]
    # Around now, at microsecond precision, as instances are: whole seconds, days, fractions.
    now = EPOCH_TICKS + 1_750_000_000 * TICKS_PER_SECOND
    samples += [now + rng.randrange(-(10**15), 10**15) // 10 * 10 for _ in range(20_000)]
    samples += [now + day * 864_000_000_000 + shift for day in range(-3, 3) for shift in (-1, 0, 1)]
    for ticks in samples:
        assert format_ticks(ticks) == reference(ticks), ticks


@pytest.mark.parametrize("ticks", [-1, 3_155_378_976_000_000_000])  # before 0001, from 10000
def test_out_of_range_is_an_overflow_as_before(ticks: int) -> None:
    with pytest.raises(OverflowError):
        reference(ticks)
    with pytest.raises(OverflowError):
        format_ticks(ticks)
