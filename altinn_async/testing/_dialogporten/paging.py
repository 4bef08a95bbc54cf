"""Keyset paging as Dialogporten does it (``Common/Pagination/**`` of ``Altinn/dialogporten``):
the ``orderBy`` grammar and its normalisation, the plaintext continuation token, and the page.

- ``orderBy`` is ``key[_asc|_desc]`` joined by ``,``; keys ``contentUpdatedAt`` (the default),
  ``updatedAt``, ``createdAt``, ``dueAt`` and ``id``, any case; the default direction is desc.
  An unknown or repeated key fails to parse (400). ``id`` is moved last, ``id_desc`` appended
  when absent, and a lone key gets the default prepended (``OrderSet.TryParse``). The echo is
  lower-cased.
- The token is ``key_value`` joined by ``,`` for every order key, from the page's last item:
  times as UTC ``o`` (seven fractional digits, ``Z``), null as an empty value. It is stateless;
  every order key must be in it ("ContinuationToken does not match OrderBy. Missing token keys:
  [...]."), and nothing else is checked.
- A page fetches ``limit + 1`` items; ``hasNextPage`` is whether the extra one came. The token
  is the last item's, on the last page too; an empty page echoes the request's token.

Two small liberties, both about spellings nobody sends: keys are compared without regard to
case when looking for a repeated key or for ``id`` (the source compares the spelling as given,
so ``ID_asc`` would not count as the id order there).
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .model import NULL_HIGH, SORT_KEYS, Dialog, DialogStore

_CANONICAL = {
    "contentupdatedat": "contentUpdatedAt",
    "updatedat": "updatedAt",
    "createdat": "createdAt",
    "dueat": "dueAt",
    "id": "id",
}
_NULLABLE = frozenset({"dueat"})
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Order:
    """One key of an order: as spelled (``key``), lower-cased (``name``), and its direction."""

    key: str
    name: str
    desc: bool


DEFAULT_ORDER = (
    Order("contentUpdatedAt", "contentupdatedat", desc=True),
    Order("id", "id", desc=True),
)


def parse_order_by(value: str | None) -> tuple[Order, ...] | None:
    """The normalised order of an ``orderBy`` value (the default when absent or blank), or None
    when it does not parse."""
    if value is None or not value.strip():
        return DEFAULT_ORDER
    orders: list[Order] = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        key, _, direction = part.partition("_")
        key = key.strip()
        name = key.lower()
        if name not in _CANONICAL or "_" in direction:
            return None
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc") or (direction == "" and "_" in part):
            return None
        if any(o.name == name for o in orders):
            return None
        orders.append(Order(key, name, desc=direction != "asc"))
    if not orders:
        return None
    id_order = next((o for o in orders if o.name == "id"), DEFAULT_ORDER[1])
    orders = [o for o in orders if o.name != "id"]
    orders.append(id_order)
    if len(orders) == 1:
        orders.insert(0, DEFAULT_ORDER[0])
    return tuple(orders)


def order_string(orders: tuple[Order, ...]) -> str:
    """The ``orderBy`` echo: ``key_direction`` lower-cased, joined by ``,``."""
    return ",".join(f"{o.name}_{'desc' if o.desc else 'asc'}" for o in orders)


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return (_EPOCH + dt.timedelta(days=days)).date().isoformat()


def format_time(us: int) -> str:
    """UTC, .NET's round-trip ``o`` format: ``2026-08-20T10:11:12.1234560Z``."""
    seconds, micro = divmod(us, 1_000_000)
    days, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(days)}T{hour:02d}:{minute:02d}:{second:02d}.{micro:06d}0Z"


def parse_time(text: str, *, require_offset: bool) -> int | None:
    """Microseconds since the epoch of an ISO 8601 time (a seventh fractional digit is dropped,
    as Postgres keeps microseconds); None when it does not parse, or lacks a required
    offset. Without an offset the time is UTC."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    if offset is None and require_offset:
        return None
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(7, "0")[:6]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None
    shift = 0
    if offset is not None and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 14 or minutes > 59:
            return None
        shift = (hours * 60 + minutes) * 60 * (1 if offset[0] == "+" else -1)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds - shift) * 1_000_000 + delta.microseconds


def continuation_token(orders: tuple[Order, ...], dialog: Dialog) -> str:
    """The token of ``dialog`` for ``orders``."""
    parts: list[str] = []
    for order in orders:
        if order.name == "id":
            value = dialog.id
        else:
            raw = dialog.sort_value(order.name)
            value = "" if raw == NULL_HIGH else format_time(raw)
        parts.append(f"{order.name}_{value}")
    return ",".join(parts)


def parse_token(value: str) -> dict[str, tuple[str, int]] | None:
    """The keys of a continuation token: lower-cased name to ``(key as spelled, sort value)``;
    None when it does not parse (an unknown or repeated key, a bad value)."""
    tokens: dict[str, tuple[str, int]] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        pieces = [p.strip() for p in part.split("_")]
        if len(pieces) != 2:
            return None
        key, text = pieces
        name = key.lower()
        if name not in _CANONICAL or name in tokens:
            return None
        parsed: int | None
        if name == "id":
            try:
                parsed = uuid.UUID(text).int
            except ValueError:
                return None
        elif not text and name in _NULLABLE:
            parsed = NULL_HIGH
        else:
            parsed = parse_time(text, require_offset=False) if text else None
        if parsed is None:
            return None
        tokens[name] = (key, parsed)
    return tokens if tokens else None


def missing_keys(orders: tuple[Order, ...], tokens: dict[str, tuple[str, int]]) -> list[str]:
    """The order keys (as spelled) the token lacks."""
    return [o.key for o in orders if o.name not in tokens]


def page(
    store: DialogStore,
    parties: list[str],
    orders: tuple[Order, ...],
    *,
    tokens: dict[str, tuple[str, int]] | None,
    limit: int,
    accept: Callable[[Dialog], bool],
) -> tuple[list[Dialog], bool]:
    """One page of the parties' accepted dialogs after the token: the items and whether more
    follow. Lock held.

    A two-key order (a time and ``id``) walks the store's sorted per-party indexes, merged,
    from a bisect at the token; any other order sorts the parties' accepted dialogs.
    """
    cursor = [tokens[o.name][1] for o in orders] if tokens is not None else None
    wanted = limit + 1
    items: list[Dialog] = []
    if len(orders) == 2 and orders[0].name in SORT_KEYS:
        first, second = orders
        id_sign = 1 if first.desc == second.desc else -1
        start = (cursor[0], cursor[1]) if cursor is not None else None
        walks: list[Iterator[tuple[tuple[int, int], Dialog]]] = [
            store.walk(party, first.name, id_sign, start, desc=first.desc) for party in parties
        ]
        merged = (
            walks[0]
            if len(walks) == 1
            else heapq.merge(*walks, key=lambda pair: pair[0], reverse=first.desc)
        )
        for _, dialog in merged:
            if accept(dialog):
                items.append(dialog)
                if len(items) == wanted:
                    break
    else:

        def sort_key(dialog: Dialog) -> tuple[int, ...]:
            return tuple(
                -dialog.sort_value(o.name) if o.desc else dialog.sort_value(o.name) for o in orders
            )

        after = (
            tuple(-v if o.desc else v for o, v in zip(orders, cursor, strict=True))
            if cursor is not None
            else None
        )
        candidates = [
            (sort_key(d), d)
            for party in parties
            for d in store.by_party.get(party, {}).values()
            if accept(d)
        ]
        if after is not None:
            candidates = [c for c in candidates if c[0] > after]
        candidates.sort(key=lambda pair: pair[0])
        items = [d for _, d in candidates[:wanted]]
    has_next = len(items) > limit
    return items[:limit], has_next
