"""The dialogs the emulated Dialogporten keeps, and the store that finds them fast.

A dialog is one aggregate: its content, attachments, actions, transmissions, activities, seen
log and labels. Times are whole microseconds since the epoch (what Postgres keeps of a
``timestamptz``), ids lower-case UUID strings (their integer value orders them as Postgres orders
``uuid`` columns).

The store keeps the dialogs by id and by party, and builds, on demand, per party and sort key,
a list sorted by ``(key, ±id)``: a keyset page in the common two-key orders (``<key>_<dir>,
id_<dir>``) is then a bisect and a walk, whatever the mailbox size. An index is rebuilt lazily
when a dialog of its party is added or changes a sort value (its party's version moves on).
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

Texts = tuple[tuple[str, str], ...]
"""A localized text: ``(languageCode, value)`` pairs, in the order given."""

NULL_HIGH = 1 << 62
"""The sort value of a null time: above every time, so ascending puts nulls last and descending
first, as Postgres does (``ASC NULLS LAST``, ``DESC NULLS FIRST``)."""

SORT_KEYS = ("contentupdatedat", "updatedat", "createdat", "dueat")
"""The orderBy keys besides ``id``, lower-cased."""


@dataclass(slots=True)
class AttachmentUrl:
    """One URL of an attachment."""

    id: str
    url: str
    media_type: str | None
    consumer_type: str


@dataclass(slots=True)
class Attachment:
    """A dialog's or a transmission's attachment."""

    id: str
    display_name: Texts
    name: str | None
    expires_us: int | None
    urls: list[AttachmentUrl]
    authorization_attribute: str | None = None


@dataclass(slots=True)
class Endpoint:
    """One endpoint of an API action."""

    id: str
    url: str
    http_method: str
    version: str | None = None
    documentation_url: str | None = None
    request_schema: str | None = None
    response_schema: str | None = None
    deprecated: bool = False
    sunset_us: int | None = None


@dataclass(slots=True)
class ApiAction:
    """An API action: what a system may do with the dialog, and where."""

    id: str
    action: str
    name: str | None
    authorization_attribute: str | None
    endpoints: list[Endpoint]


@dataclass(slots=True)
class GuiAction:
    """A GUI action: a button in the inbox."""

    id: str
    action: str
    url: str
    authorization_attribute: str | None
    is_delete_dialog_action: bool
    priority: str
    http_method: str
    title: Texts
    prompt: Texts | None


@dataclass(slots=True)
class Actor:
    """Who sent a transmission or performed an activity."""

    actor_type: str
    actor_id: str | None = None
    actor_name: str | None = None


@dataclass(slots=True)
class Transmission:
    """A message sent within the dialog."""

    id: str
    created_us: int
    type: str
    sender: Actor
    title: Texts
    summary: Texts | None
    content_reference: str | None
    authorization_attribute: str | None
    extended_type: str | None
    external_reference: str | None
    related_transmission_id: str | None
    attachments: list[Attachment]
    opened: bool = False


@dataclass(slots=True)
class Activity:
    """An entry of the dialog's activity history."""

    id: str
    created_us: int
    type: str
    performed_by: Actor
    description: Texts | None
    transmission_id: str | None
    extended_type: str | None


@dataclass(frozen=True, slots=True)
class SeenEntry:
    """One seen-log entry: someone opened the dialog at ``seen_us`` (revision ``updated_us``)."""

    id: str
    seen_us: int
    actor_id: str
    actor_name: str
    updated_us: int
    via_service_owner: bool = False


@dataclass(slots=True)
class Dialog:
    """One dialog aggregate."""

    id: str
    party: str
    org: str
    service_resource: str
    service_resource_type: str
    status: str
    created_us: int
    updated_us: int
    content_updated_us: int
    title: Texts
    revision: str
    end_user_revision: str
    summary: Texts | None = None
    sender_name: Texts | None = None
    extended_status: str | None = None
    external_reference: str | None = None
    process: str | None = None
    progress: int | None = None
    due_us: int | None = None
    visible_from_us: int | None = None
    expires_us: int | None = None
    main_content_reference: str | None = None
    is_api_only: bool = False
    system_labels: list[str] = field(default_factory=lambda: ["Default"])
    service_owner_labels: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    api_actions: list[ApiAction] = field(default_factory=list)
    gui_actions: list[GuiAction] = field(default_factory=list)
    transmissions: list[Transmission] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    seen_log: list[SeenEntry] = field(default_factory=list)
    content_seen: bool = False
    deleted_us: int | None = None

    @property
    def has_unopened_content(self) -> bool:
        """A transmission from the service owner that nobody has opened."""
        return any(
            t.sender.actor_type == "ServiceOwner" and not t.opened for t in self.transmissions
        )

    @property
    def key(self) -> int:
        """The id as an integer (Postgres orders ``uuid`` by its bytes, which this preserves)."""
        return uuid.UUID(self.id).int

    def sort_value(self, key: str) -> int:
        """The value of an orderBy key (``id`` or one of `SORT_KEYS`), nulls as `NULL_HIGH`."""
        if key == "id":
            return self.key
        value = {
            "contentupdatedat": self.content_updated_us,
            "updatedat": self.updated_us,
            "createdat": self.created_us,
            "dueat": self.due_us,
        }[key]
        return NULL_HIGH if value is None else value


@dataclass(slots=True)
class _Index:
    version: int
    keys: list[tuple[int, int]]
    dialogs: list[Dialog]


class DialogStore:
    """Every dialog, by id, party and service owner. Guarded by the shared lock."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.dialogs: dict[str, Dialog] = {}
        self.by_party: dict[str, dict[str, Dialog]] = {}
        self.parties_of_org: dict[str, set[str]] = {}
        self.min_auth_levels: dict[str, int] = {}  # service resource -> level
        self._versions: dict[str, int] = {}
        self._indexes: dict[tuple[str, str, int], _Index] = {}

    def __repr__(self) -> str:
        return f"DialogStore(dialogs={len(self.dialogs)})"

    def put(self, dialog: Dialog) -> None:
        """Add a new dialog, or record that one changed a sort value. Lock held."""
        self.dialogs[dialog.id] = dialog
        self.by_party.setdefault(dialog.party, {})[dialog.id] = dialog
        self.parties_of_org.setdefault(dialog.org.lower(), set()).add(dialog.party)
        self._versions[dialog.party] = self._versions.get(dialog.party, 0) + 1

    def walk(
        self, party: str, key: str, id_sign: int, cursor: tuple[int, int] | None, *, desc: bool
    ) -> Iterator[tuple[tuple[int, int], Dialog]]:
        """The party's dialogs in ``key`` order, strictly after ``cursor`` (a ``(key value,
        id)`` pair), as ``((key value, id_sign * id), dialog)``.

        The index is sorted ascending by ``(key, id_sign * id)``; ``desc`` walks it backwards.
        Lock held while the iterator is consumed.
        """
        index = self._index(party, key, id_sign)
        keys, dialogs = index.keys, index.dialogs
        if desc:
            start = (
                len(keys) if cursor is None else bisect.bisect_left(keys, _signed(cursor, id_sign))
            )
            for position in range(start - 1, -1, -1):
                yield keys[position], dialogs[position]
        else:
            start = 0 if cursor is None else bisect.bisect_right(keys, _signed(cursor, id_sign))
            for position in range(start, len(keys)):
                yield keys[position], dialogs[position]

    def _index(self, party: str, key: str, id_sign: int) -> _Index:
        version = self._versions.get(party, 0)
        found = self._indexes.get((party, key, id_sign))
        if found is not None and found.version == version:
            return found
        pairs = sorted(
            (
                ((d.sort_value(key), id_sign * d.key), d)
                for d in self.by_party.get(party, {}).values()
            ),
            key=lambda pair: pair[0],
        )
        index = _Index(version, [p[0] for p in pairs], [p[1] for p in pairs])
        self._indexes[(party, key, id_sign)] = index
        return index


def _signed(cursor: tuple[int, int], id_sign: int) -> tuple[int, int]:
    return (cursor[0], id_sign * cursor[1])
