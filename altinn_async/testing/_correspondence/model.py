"""What the emulated Correspondence keeps: correspondences, their attachments and their status
history, and the indexes the list endpoint reads.

Times are whole microseconds since the epoch (what Postgres keeps of a ``timestamptz``), so the
list's exclusive ``from``/``to`` bounds compare exactly what a client read from a
``requestedPublishTime``.

A status entry with a time in the future has not happened yet: a correspondence seeded with a
later ``requestedPublishTime`` is published when the clock gets there, and a confirmation is
committed a few seconds after ``POST /confirm`` (``altinn3-messaging.md`` §1.2). Every reader
asks for the history as of now.
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import random
import secrets
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from .._toolkit.dotnet import EPOCH_TICKS, format_ticks

US = 1_000_000
"""Microseconds per second."""

CHUNK = 64 * 1024


class Status(enum.IntEnum):
    """``CorrespondenceStatusExt``: the order is the enum's (the overview's ``status`` is the
    highest value reached, not the latest)."""

    Initialized = 0
    ReadyForPublish = 1
    Published = 2
    Fetched = 3
    Read = 4
    Replied = 5
    Confirmed = 6
    PurgedByRecipient = 7
    PurgedByAltinn = 8
    Archived = 9
    Reserved = 10
    Failed = 11
    AttachmentsDownloaded = 12
    Forwarded = 13


AVAILABLE_FOR_RECIPIENT = frozenset(
    {
        Status.Published,
        Status.Fetched,
        Status.Read,
        Status.Replied,
        Status.Confirmed,
        Status.Archived,
        Status.Reserved,
        Status.AttachmentsDownloaded,
        Status.Forwarded,
    }
)
"""The highest statuses a recipient may see a correspondence in (else 404/1001)."""

HIDDEN_FROM_RECIPIENT_LIST = frozenset({Status.Initialized, Status.ReadyForPublish, Status.Failed})
"""A latest status the recipient's list leaves out, and statuses it never filters on."""

PURGED = frozenset({Status.PurgedByRecipient, Status.PurgedByAltinn})


def format_offset(us: int) -> str:
    """A ``DateTimeOffset`` in UTC as System.Text.Json writes it: ``…ss.FFFFFFF+00:00``."""
    return format_ticks(EPOCH_TICKS + us * 10)[:-1] + "+00:00"


def seconds_to_us(seconds: float) -> int:
    """Seconds since the epoch, rounded to whole microseconds."""
    return round(seconds * US)


def uuid7(ms: int, rng: random.Random | None = None) -> str:
    """A UUIDv7 (RFC 9562) for the millisecond ``ms``; random bits from ``rng`` (a seeded one
    gives the same ids in every run) or the system's."""
    bits = rng.getrandbits(74) if rng is not None else secrets.randbits(74)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76 | (bits >> 62) << 64  # version, 12 random bits (rand_a)
    value |= 0b10 << 62 | (bits & 0x3FFF_FFFF_FFFF_FFFF)  # variant, 62 random bits (rand_b)
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One status change: what, when (µs), and who caused it (the debounce key of Fetched)."""

    status: Status
    changed: int
    by: str = ""


@dataclass(slots=True)
class Attachment:
    """An attachment; ``data`` None means ``size`` bytes generated from ``seed`` when read."""

    id: str
    file_name: str
    display_name: str
    data: bytes | None = field(repr=False)
    size: int
    seed: str
    created: int
    expires: int
    senders_reference: str | None = None
    purged: int | None = None
    _md5: str | None = field(default=None, repr=False)
    _crc: int | None = field(default=None, repr=False)

    def chunks(self) -> Iterator[bytes]:
        """The bytes in chunks of 64 KiB, generated on the fly when not stored."""
        if self.data is not None:
            for start in range(0, len(self.data), CHUNK):
                yield self.data[start : start + CHUNK]
            return
        rng = random.Random(self.seed)  # noqa: S311 - test data, not secrets
        remaining = self.size
        while remaining > 0:
            size = min(CHUNK, remaining)
            yield rng.randbytes(size)
            remaining -= size

    def _digest(self) -> None:
        md5 = hashlib.md5(usedforsecurity=False)
        crc = 0
        for chunk in self.chunks():
            md5.update(chunk)
            crc = zlib.crc32(chunk, crc)
        self._md5, self._crc = md5.hexdigest(), crc

    @property
    def checksum(self) -> str:
        """The MD5 of the bytes, lower-case hex (computed once, on first use)."""
        if self._md5 is None:
            self._digest()
        assert self._md5 is not None  # noqa: S101 - set by _digest
        return self._md5

    @property
    def crc32(self) -> int:
        """The CRC-32 of the bytes (for the zip of all attachments)."""
        if self._crc is None:
            self._digest()
        assert self._crc is not None  # noqa: S101 - set by _digest
        return self._crc


@dataclass(slots=True)
class Correspondence:
    """One correspondence to one recipient.

    Attributes:
        id: the correspondence id (a UUIDv7).
        order: when it was added, among all (the seeding order).
        tie: the list's order among equal ``requested_publish`` times: a hash of the id, so it
            is neither id order nor insertion order (the real list has no tie-breaker).
        resource: the resource id (without ``urn:altinn:resource:``).
        recipient: the recipient's party URN.
        sender: the sender's organisation number.
    """

    id: str
    order: int
    tie: bytes
    resource: str
    recipient: str
    sender: str
    message_sender: str | None
    senders_reference: str
    title: str
    summary: str
    body: str
    language: str
    attachments: list[Attachment]
    created: int
    requested_publish: int
    confirmation_needed: bool
    due: int | None
    reply_options: tuple[tuple[str, str], ...]
    altinn2_id: int | None
    idempotent_key: str | None
    statuses: list[StatusEntry]
    dialog_id: str | None = None

    def history(self, now: int) -> list[StatusEntry]:
        """The statuses that have happened by ``now``, in order."""
        return sorted(
            (s for s in self.statuses if s.changed <= now), key=lambda s: s.changed
        )  # stable: same-time entries keep the order they were added in

    def has_been(self, status: Status, now: int) -> bool:
        """Whether the correspondence has had ``status`` by ``now``."""
        return any(s.status == status and s.changed <= now for s in self.statuses)

    def pending(self, status: Status) -> bool:
        """Whether ``status`` is recorded, whether or not it has happened yet."""
        return any(s.status == status for s in self.statuses)

    def highest(self, now: int) -> StatusEntry:
        """``GetHighestStatus``: the highest status by enum value, Fetched ignored (the first
        entry that reached it)."""
        best: StatusEntry | None = None
        for entry in self.history(now):
            if entry.status == Status.Fetched:
                continue
            if best is None or entry.status > best.status:
                best = entry
        return best or StatusEntry(Status.Initialized, self.created)

    def latest(self, now: int) -> StatusEntry:
        """The latest status by time (then by the order added)."""
        entries = self.history(now)
        return entries[-1] if entries else StatusEntry(Status.Initialized, self.created)

    def first(self, status: Status, now: int) -> int | None:
        """When ``status`` first happened, if it has."""
        times = [s.changed for s in self.statuses if s.status == status and s.changed <= now]
        return min(times) if times else None

    def purged(self, now: int) -> bool:
        """Purged by the recipient or by Altinn (the sender, before publishing)."""
        return any(s.status in PURGED and s.changed <= now for s in self.statuses)

    def visible_to_recipient(self, now: int) -> bool:
        """What the recipient's GET requires: available, and not purged."""
        return self.highest(now).status in AVAILABLE_FOR_RECIPIENT and not self.purged(now)

    def attachment(self, attachment_id: str) -> Attachment | None:
        """The attachment with this id, if it is this correspondence's."""
        return next((a for a in self.attachments if a.id == attachment_id), None)


def _sort_key(item: Correspondence) -> tuple[int, bytes]:
    return (-item.requested_publish, item.tie)


class CorrespondenceStore:
    """Correspondences by id, and per (party URN, resource) lists newest first for the list
    endpoint, for recipients and for senders. Guarded by the shared lock."""

    def __init__(self) -> None:
        self.by_id: dict[str, Correspondence] = {}
        self._received: dict[tuple[str, str], list[Correspondence]] = {}
        self._sent: dict[tuple[str, str], list[Correspondence]] = {}
        self.added = 0

    def __repr__(self) -> str:
        return f"CorrespondenceStore(correspondences={len(self.by_id)})"

    def add(self, items: list[Correspondence]) -> None:
        """Store correspondences (lock held)."""
        touched: list[list[Correspondence]] = []
        for item in items:
            self.by_id[item.id] = item
            for index, key in ((self._received, item.recipient), (self._sent, item.sender)):
                values = index.setdefault((key, item.resource), [])
                if len(items) == 1:
                    bisect.insort(values, item, key=_sort_key)
                else:
                    values.append(item)
                    touched.append(values)
        for values in {id(v): v for v in touched}.values():
            values.sort(key=_sort_key)

    def received(self, recipient: str, resource: str) -> list[Correspondence]:
        """The recipient's correspondences on ``resource``, newest ``requestedPublishTime``
        first (lock held)."""
        return self._received.get((recipient, resource), [])

    def sent(self, sender: str, resource: str) -> list[Correspondence]:
        """What ``sender`` (an org number) sent on ``resource``, newest first (lock held)."""
        return self._sent.get((sender, resource), [])
