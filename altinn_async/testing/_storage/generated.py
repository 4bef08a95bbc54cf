"""Generated instances that are never built up front (``Emulator.generate_instances``).

A `GeneratedInstances` set of ``count`` instances is a handful of numbers: instance ``i`` (0 to
``count - 1``) is derived from the set's key and ``i`` alone, when a request needs it, and thrown
away after the answer. What makes a page cheap is that every attribute a query filters on is
either monotone in ``i`` or periodic in it:

- ``created`` and ``lastChanged`` grow with ``i``: instance ``i`` is created in the ``i``-th
  slot of ``spacing`` microseconds after ``start`` (in its first half) and last changed less
  than half a slot later, so ``lastChanged(i) < created(i + 1)``. Storage's order
  (``desc:lastChanged``, then the internal id, also growing with ``i``) is ``i`` descending,
  and a date window on ``created``, ``lastChanged``, ``visibleAfter`` (= ``created``),
  ``process.ended`` (= ``lastChanged``) or ``dueBefore`` (= ``created`` + 30 days) is an index
  range found by bisection.
- The status (open in Task_1 or Task_2, completed and archived, soft-deleted, with a due
  date) repeats with period `SLOTS`, shuffled by the key: a status filter is a set of residues.
- The owner is party ``(i * mult + offset) mod parties`` of a population shared by every set,
  so one party's instances are an arithmetic progression of ``i``.

A page therefore examines about as many instances as it returns, wherever its window lies.
GUIDs are a keyed Feistel permutation of ``(i, what)`` laid out as UUID 4, so they look random
and still decode to ``i`` (`decode`). An instance that is changed (``POST .../complete``) is
materialized into the ordinary store under the same internal id and hidden here.
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from .._toolkit.dotnet import EPOCH_TICKS, format_ticks, ticks_from_seconds
from .model import API, Content, InstanceSpec, Selection, StoredInstance

SLOTS = 100
"""The period of the status pattern."""

PARTY_BASE = 70_000_000
"""Party ``k`` of the generated population has party id ``PARTY_BASE + k``."""

MAX_PARTIES = 50_000
"""The population's size: a set of ``count`` instances has ``min(MAX_PARTIES, ⌈count / 3⌉)``
owners."""

DAY_US = 86_400_000_000
DUE_US = 30 * DAY_US  # dueBefore, where an instance has one, is 30 days after it was created

# What a GUID stands for, in its two low bits.
INSTANCE, DATA, CREATED_EVENT, COMPLETED_EVENT = range(4)

_from_bytes = int.from_bytes  # looked up once: GUIDs call it four times each

_HALF_BITS = 61
_HALF = (1 << _HALF_BITS) - 1
_ROUNDS = 4
_TAG_BITS = 122 - 64

_FIRST_NAMES = ("Ola", "Kari", "Per", "Ingrid", "Nils", "Sigrid", "Lars", "Marit", "Ole", "Anne")
_LAST_NAMES = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Dahl")

_NO_ONE: frozenset[str] = frozenset()  # whom a generated instance's completion is confirmed by

# Every instance's one data element.
_DATA_TYPE, _FILENAME, _CONTENT_TYPE = "model", "model.xml", "application/xml"


def _json(text: str) -> str:
    """A JSON string, as `json_bytes` writes it (UTF-8, not ASCII-escaped)."""
    return json.dumps(text, ensure_ascii=False)


@functools.lru_cache(maxsize=16)
def _json_text(text: str) -> str:
    """What goes between the quotes of a JSON string (escaping is per character, so escaped
    pieces put together are the escaped whole)."""
    return _json(text)[1:-1]


@functools.lru_cache(maxsize=64)
def _links(org: str, app: str, origin: str) -> tuple[str, str]:
    """The ``apps`` and ``platform`` self-link prefixes of ``org/app``'s instances for
    ``origin``, JSON-escaped: the path ``{partyId}/{guid}`` follows."""
    return (
        _json_text(f"{origin}/{org}/{app}/instances/"),
        _json_text(f"{origin}{API}/instances/"),
    )


_ELEMENT_TYPE_JSON = (
    f'"dataType":{_json(_DATA_TYPE)},"filename":{_json(_FILENAME)},'
    f'"contentType":{_json(_CONTENT_TYPE)}'
)


def _data(index: int, digest: bytes) -> bytes:
    """Instance ``index``'s data: a small XML form read from its digest."""
    name = f"{_FIRST_NAMES[digest[8] % 10]} {_LAST_NAMES[digest[9] % 8]}"
    amount = 100 + int.from_bytes(digest[10:14], "big") % 99_900
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f"<Skjema><Innsender>{name}</Innsender><Referanse>{index + 1}</Referanse>"
        f"<Beloep>{amount}</Beloep></Skjema>\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Status:
    """One slot of the status pattern."""

    completed: bool  # process ended at lastChanged, archived then
    task: str | None  # the current task while open
    soft_deleted: bool  # at lastChanged
    due: bool  # dueBefore 30 days after created


def _pattern() -> tuple[Status, ...]:
    """60 % completed, 15 % in Task_2, 25 % in Task_1; 3 % soft-deleted, 20 % with a due date."""
    return (
        *(
            Status(completed=True, task=None, soft_deleted=i < 2, due=2 <= i < 14)
            for i in range(60)
        ),
        *(Status(completed=False, task="Task_2", soft_deleted=False, due=i < 3) for i in range(15)),
        *(
            Status(completed=False, task="Task_1", soft_deleted=i < 1, due=1 <= i < 6)
            for i in range(25)
        ),
    )


_PATTERN = _pattern()
assert len(_PATTERN) == SLOTS  # noqa: S101 - a module invariant


def _blake(data: bytes, key: bytes, size: int = 16) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=size).digest()


_ORGANISATION_CHECK = (3, 2, 7, 6, 5, 4, 3, 2)


def _check(total: int) -> int | None:
    """The mod 11 check digit of a weighted digit sum, or None where the remainder leaves
    none (10)."""
    check = 11 - total % 11
    return None if check == 10 else check % 11


def _mod11(number: int, weights: tuple[int, ...]) -> int | None:
    """The mod 11 check digit of ``number`` written with ``len(weights)`` digits."""
    total = 0
    for weight in reversed(weights):
        number, digit = divmod(number, 10)
        total += digit * weight
    return _check(total)


def _person_number(seed: int) -> str:
    """A valid synthetic national identity number (month + 80, as Norway's synthetic test
    population writes them)."""
    day, month, year = 1 + seed % 28, 81 + (seed >> 5) % 12, (seed >> 9) % 100
    individual = (seed >> 16) % 500
    # DDMMYYIII and its two mod 11 check digits, weighed 3 7 6 1 8 9 4 5 2 and
    # 5 4 3 2 7 6 5 4 3 2 (the second over the first as well), as `_mod11` would: the date's
    # part of each sum is the same for every III tried.
    d1, d2, m1, m2, y1, y2 = day // 10, day % 10, month // 10, month % 10, year // 10, year % 10
    first_date = 3 * d1 + 7 * d2 + 6 * m1 + m2 + 8 * y1 + 9 * y2
    second_date = 5 * d1 + 4 * d2 + 3 * m1 + 2 * m2 + 7 * y1 + 6 * y2
    date = (day * 100 + month) * 100 + year
    while True:
        i1, i2, i3 = individual // 100, individual // 10 % 10, individual % 10
        first = _check(first_date + 4 * i1 + 5 * i2 + 2 * i3)
        if first is not None:
            second = _check(second_date + 5 * i1 + 4 * i2 + 3 * i3 + 2 * first)
            if second is not None:
                return f"{date * 1000 + individual:09d}{first}{second}"
        individual = (individual + 1) % 1000


def _organisation_number(seed: int) -> str:
    """A valid organisation number (mod 11 check digit) in the test range 31xxxxxxx."""
    body = 31_000_000 + seed % 1_000_000
    while True:
        check = _mod11(body, _ORGANISATION_CHECK)
        if check is not None:
            return f"{body}{check}"
        body += 1


class Owner(NamedTuple):
    """A party of the generated population (a named tuple: a scan makes one for every
    instance whose owner has left `party_owner`'s cache)."""

    party_id: int
    person_number: str | None
    organisation_number: str | None


_PARTY_HASHER = hashlib.blake2b(key=b"generated-parties", digest_size=8)


@functools.lru_cache(maxsize=8192)
def party_owner(k: int) -> Owner:
    """Party ``k`` of the population every generated set draws its owners from: 70 % persons,
    the rest organisations, the same in every set."""
    number = _party_number(k)
    if number > 0:
        return Owner(PARTY_BASE + k, f"{number:011d}", None)
    return Owner(PARTY_BASE + k, None, str(-number))


@functools.cache
def _party_numbers() -> array.array[int]:
    """The population's numbers as `_party_number` computes them, 0 until it has: 8 bytes a
    party, 400 kB in all, made when first needed. A scan over a big set meets each owner
    once in ``parties`` instances (50 000 in a million), too far apart for `party_owner`'s
    LRU to keep them, and computing one costs far more than reading it back."""
    return array.array("q", bytes(8 * MAX_PARTIES))


def _party_number(k: int) -> int:
    """Party ``k``'s number: a person's national identity number, or the negated number of
    an organisation."""
    numbers = _party_numbers()
    if 0 <= k < MAX_PARTIES and numbers[k]:
        return numbers[k]
    hasher = _PARTY_HASHER.copy()
    hasher.update(k.to_bytes(8, "big"))
    digest = hasher.digest()
    seed = int.from_bytes(digest, "big") >> 8
    # 70 % persons (11 digits, a leading zero restored by party_owner), the rest 31xxxxxxx.
    person = digest[0] < 179
    number = int(_person_number(seed)) if person else -int(_organisation_number(seed))
    if 0 <= k < MAX_PARTIES:
        numbers[k] = number
    return number


@dataclass(slots=True)
class Derived:
    """What one instance of a generated set was derived from, and what of it is costly to
    derive again (its data element's GUID, its owner): with the instance's fields, enough to
    render its JSON (`GeneratedInstances.render`) and, if asked for, to build its document."""

    source: GeneratedInstances
    index: int
    digest: bytes
    data_guid: str
    owner: Owner

    def content(self) -> Content:
        """The document and data element (`GeneratedInstances.content`)."""
        return self.source.content(self)


class GeneratedInstances:
    """``count`` instances of ``org/app`` derived from a key, never held in memory.

    Guarded by the shared lock (``hidden`` changes when an instance is materialized).

    Args:
        org: the service owner.
        app: the app.
        count: how many instances.
        seed: the caller's seed.
        number: the set's position among the store's generated sets (part of its key).
        start_us: the first instance's slot starts here (microseconds since the epoch).
        end_us: the last slot ends here.
        base_id: the internal id of instance 0 (instance ``i`` has ``base_id + i``).

    Raises:
        ValueError: the window is too short for ``count`` instances (under 20 µs each).
    """

    def __init__(
        self,
        org: str,
        app: str,
        count: int,
        *,
        seed: int,
        number: int,
        start_us: int,
        end_us: int,
        base_id: int,
    ) -> None:
        self.org = org
        self.app = app
        self.count = count
        self.base_id = base_id
        self.start_us = start_us
        self.spacing = (end_us - start_us) // max(count, 1)
        if count and self.spacing < 20:
            raise ValueError(
                f"{count} instances do not fit between start and end: give a longer window "
                "(at least 20 microseconds per instance)"
            )
        self._jitter = max(1, self.spacing // 2)
        self._delay = max(1, 2 * self.spacing // 5)
        self._key = hashlib.blake2b(
            f"{seed}\x1f{org}/{app}\x1f{number}".encode(), digest_size=32
        ).digest()
        self._tag = int.from_bytes(_blake(b"tag", self._key, 8), "big") >> (64 - _TAG_BITS)
        self._tag_high = self._tag << 64
        # Keyed hashers that have already taken the key (and each its round's step byte): a
        # copy of one hashes what follows as a fresh keyed hash of the whole would.
        self._instance_hasher = hashlib.blake2b(key=self._key, digest_size=16)
        self._rounds = tuple(
            hashlib.blake2b(step.to_bytes(1, "big"), key=self._key, digest_size=8)
            for step in range(_ROUNDS)
        )
        order = list(range(SLOTS))
        random.Random(self._key).shuffle(order)  # noqa: S311 - test data, not security
        self._status = tuple(_PATTERN[slot] for slot in order)
        self.parties = min(MAX_PARTIES, max(1, -(-count // 3)))
        mixer = int.from_bytes(_blake(b"parties", self._key, 8), "big")
        self._offset = mixer % self.parties
        mult = (mixer >> 20) % self.parties | 1
        while math.gcd(mult, self.parties) != 1:
            mult += 2
        self._mult = mult % self.parties if self.parties > 1 else 0
        self._inverse = pow(self._mult, -1, self.parties) if self.parties > 1 else 0
        self.hidden: set[int] = set()
        """Indices materialized into the ordinary store (lock held to read or change)."""
        self.resource = f"urn:altinn:resource:app_{org}_{app}"
        # The set's constant pieces of instance JSON.
        self._app_json = f'"appId":{_json(f"{org}/{app}")},"org":{_json(org)}'
        self._blob_json = _json_text(f"{org}/{app}/")
        self._owners: dict[tuple[str, str], int] | None = None

    def __repr__(self) -> str:
        return (
            f"GeneratedInstances({self.org}/{self.app}, count={self.count}, "
            f"hidden={len(self.hidden)})"
        )

    # -- one instance's attributes -----------------------------------------------------------

    def _digest(self, index: int) -> bytes:
        """Instance ``index``'s keyed digest, which its times and contents are read from."""
        hasher = self._instance_hasher.copy()
        hasher.update(index.to_bytes(8, "big"))
        return hasher.digest()

    def _times_us(self, index: int, digest: bytes) -> tuple[int, int]:
        """Created in the first half of the index's slot, changed within 40 % of a slot."""
        created = (
            self.start_us + index * self.spacing + int.from_bytes(digest[:4], "big") % self._jitter
        )
        return created, created + 1 + int.from_bytes(digest[4:8], "big") % self._delay

    def created_us(self, index: int) -> int:
        """When instance ``index`` was created (microseconds since the epoch)."""
        return self._times_us(index, self._digest(index))[0]

    def last_changed_us(self, index: int) -> int:
        """When instance ``index`` last changed (and, if completed, ended)."""
        return self._times_us(index, self._digest(index))[1]

    def created(self, index: int) -> int:
        """``created`` in ticks."""
        return EPOCH_TICKS + 10 * self.created_us(index)

    def last_changed(self, index: int) -> int:
        """``lastChanged`` in ticks."""
        return EPOCH_TICKS + 10 * self.last_changed_us(index)

    def due(self, index: int) -> int:
        """``dueBefore`` in ticks, for instances that have one."""
        return EPOCH_TICKS + 10 * (self.created_us(index) + DUE_US)

    def status(self, index: int) -> Status:
        """Instance ``index``'s slot of the status pattern."""
        return self._status[index % SLOTS]

    def party(self, index: int) -> int:
        """The population index ``k`` of instance ``index``'s owner."""
        return (index * self._mult + self._offset) % self.parties

    def owner(self, index: int) -> Owner:
        """Instance ``index``'s owner."""
        return party_owner(self.party(index))

    def residue(self, party_id: int) -> int | None:
        """The ``i mod parties`` of the instances ``party_id`` owns (None: it owns none)."""
        k = party_id - PARTY_BASE
        if not 0 <= k < self.parties:
            return None
        return ((k - self._offset) * self._inverse) % self.parties

    def party_of(self, person_number: str | None, organisation_number: str | None) -> int | None:
        """The party id of an owner in this set named by number (the Register's lookup)."""
        if self._owners is None:
            owners: dict[tuple[str, str], int] = {}
            for k in range(self.parties):
                owner = party_owner(k)
                if owner.person_number is not None:
                    owners["person", owner.person_number] = owner.party_id
                if owner.organisation_number is not None:
                    owners["org", owner.organisation_number] = owner.party_id
            self._owners = owners
        if person_number:
            return self._owners.get(("person", person_number))
        if organisation_number:
            return self._owners.get(("org", organisation_number))
        return None

    # -- GUIDs -------------------------------------------------------------------------------

    def _round(self, step: int, half: int) -> int:
        """Round ``step``'s function: the keyed hash of the step and the half, cut to a half."""
        hasher = self._rounds[step].copy()
        hasher.update(half.to_bytes(8, "big"))
        return int.from_bytes(hasher.digest(), "big") & _HALF

    def guid(self, index: int, what: int = INSTANCE) -> str:
        """The GUID of instance ``index`` (or of its data element, or of one of its events)."""
        value = self._tag_high | (index << 2) | what
        left, right = value >> _HALF_BITS, value & _HALF
        for hasher in self._rounds:  # `_round`, inlined: this is most of a listed instance
            step = hasher.copy()
            step.update(right.to_bytes(8, "big"))
            left, right = right, left ^ (_from_bytes(step.digest(), "big") & _HALF)
        mixed = (left << _HALF_BITS) | right
        # The 122 free bits of a version-4 UUID: 48, then 12 after the version, then 62.
        number = (
            ((mixed >> 74) << 80)
            | (4 << 76)
            | (((mixed >> 62) & 0xFFF) << 64)
            | (0b10 << 62)
            | (mixed & ((1 << 62) - 1))
        )
        digits = f"{number:032x}"  # str(uuid.UUID(int=number)), without making a UUID
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"

    def decode(self, guid: str) -> tuple[int, int] | None:
        """``(index, what)`` of one of this set's GUIDs, else None."""
        try:
            number = uuid.UUID(guid).int
        except ValueError:
            return None
        if (number >> 76) & 0xF != 4 or (number >> 62) & 0b11 != 0b10:
            return None
        mixed = (
            ((number >> 80) << 74) | (((number >> 64) & 0xFFF) << 62) | (number & ((1 << 62) - 1))
        )
        left, right = mixed >> _HALF_BITS, mixed & _HALF
        for step in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(step, left), left
        value = (left << _HALF_BITS) | right
        if value >> 64 != self._tag:
            return None
        index = (value >> 2) & ((1 << 62) - 1)
        return (index, value & 0b11) if index < self.count else None

    def index_of(self, guid: str) -> int | None:
        """The index of the instance with this GUID, if it is one of this set's."""
        decoded = self.decode(guid)
        return decoded[0] if decoded is not None and decoded[1] == INSTANCE else None

    # -- building one ------------------------------------------------------------------------

    def instance(self, index: int) -> StoredInstance:
        """Instance ``index`` as the store keeps instances (a fresh object every time), with
        the fields queries filter on; its document is built only if asked for (`Derived`)."""
        digest = self._digest(index)
        status = self._status[index % SLOTS]
        owner = party_owner((index * self._mult + self._offset) % self.parties)
        created_us, changed_us = self._times_us(index, digest)
        guid = self.guid(index)
        # The values InstanceSpec.build makes of the spec `_spec` gives (seconds and back).
        created = ticks_from_seconds(created_us / 1e6)
        changed = ticks_from_seconds(changed_us / 1e6)
        return StoredInstance(
            internal_id=self.base_id + index,
            guid=guid,
            party_id=str(owner.party_id),
            org=self.org,
            app=self.app,
            created=created,
            last_changed=changed,
            visible_after=created,
            due_before=ticks_from_seconds((created_us + DUE_US) / 1e6) if status.due else None,
            ended=changed if status.completed else None,
            current_task=None if status.completed else status.task,
            is_archived=status.completed,
            is_soft_deleted=status.soft_deleted,
            is_hard_deleted=False,
            confirmed_by=_NO_ONE,
            owner_org_number=owner.organisation_number,
            generated=Derived(self, index, digest, self.guid(index, DATA), owner),
        )

    def _spec(self, derived: Derived) -> InstanceSpec:
        """What instance ``derived.index`` is, as ``Emulator.add_instance`` would take it."""
        index, digest, owner = derived.index, derived.digest, derived.owner
        status = self._status[index % SLOTS]
        created_us, changed_us = self._times_us(index, digest)
        created, changed = created_us / 1e6, changed_us / 1e6
        party = str(owner.party_id)
        return InstanceSpec(
            guid=self.guid(index),
            party_id=party,
            created=created,
            last_changed=changed,
            data=_data(index, digest),
            content_type=_CONTENT_TYPE,
            filename=_FILENAME,
            data_type=_DATA_TYPE,
            current_task=status.task,
            completed=changed if status.completed else None,
            archived=status.completed,
            soft_deleted=changed if status.soft_deleted else None,
            hard_deleted=None,
            visible_after=created,
            due_before=(created_us + DUE_US) / 1e6 if status.due else None,
            confirmed_by=(),
            person_number=owner.person_number,
            organisation_number=owner.organisation_number,
            created_by=party,
            read_status="Read" if status.completed else "Unread",
            data_guid=derived.data_guid,
        )

    def content(self, derived: Derived) -> Content:
        """Instance ``derived.index``'s document and data element, built as a stored
        instance's are (what `render` writes, and the reference it is tested against)."""
        built = self._spec(derived).build(self.org, self.app, self.base_id + derived.index)
        if built.content is None:
            raise AssertionError("InstanceSpec.build always builds the content")
        return built.content

    def render(self, instance: StoredInstance, origin: str) -> bytes:
        """An unchanged instance's JSON with self links for ``origin``, written straight from
        its fields and what it was derived from: byte for byte what `render.render_instance`
        makes of its document, serialized compactly (members in the same order)."""
        derived = instance.generated
        if derived is None or derived.source is not self:
            raise ValueError("not an unchanged instance of this set")
        owner, status = derived.owner, self._status[derived.index % SLOTS]
        party, guid, data_guid = instance.party_id, instance.guid, derived.data_guid
        apps, platform = _links(self.org, self.app, origin)
        # visibleAfter is created; process.ended, status.archived and softDeleted lastChanged.
        created = format_ticks(instance.created)
        changed = format_ticks(instance.last_changed)
        path = f"{party}/{guid}"
        numbers = ""
        if owner.person_number is not None:
            numbers += f',"personNumber":"{owner.person_number}"'
        if owner.organisation_number is not None:
            numbers += f',"organisationNumber":"{owner.organisation_number}"'
        due = ""
        if instance.due_before is not None:
            due = f'"dueBefore":"{format_ticks(instance.due_before)}",'
        if status.completed:
            process = f',"ended":"{changed}","endEvent":"EndEvent_1"'
        elif status.task is not None:
            process = (
                f',"currentTask":{{"flow":2,"started":"{created}",'
                f'"elementId":"{_json_text(status.task)}","name":"Utfylling",'
                '"altinnTaskType":"data","flowType":"CompleteCurrentMoveToNext"}'
            )
        else:
            process = ""
        state = "true" if status.completed else "false"
        if status.completed:
            state += f',"archived":"{changed}"'
        state += ',"isSoftDeleted":' + ("true" if status.soft_deleted else "false")
        if status.soft_deleted:
            state += f',"softDeleted":"{changed}"'
        read = "Read" if status.completed else "Unread"
        element = f"{path}/data/{data_guid}"
        size = len(_data(derived.index, derived.digest))
        locked = "true" if status.completed else "false"
        return (
            f'{{"id":"{path}","instanceOwner":{{"partyId":"{party}"{numbers}}},{self._app_json},'
            f'"selfLinks":{{"apps":"{apps}{path}","platform":"{platform}{path}"}},'
            f'{due}"visibleAfter":"{created}",'
            f'"process":{{"started":"{created}","startEvent":"StartEvent_1"{process}}},'
            f'"status":{{"isArchived":{state},"isHardDeleted":false,"readStatus":"{read}"}},'
            f'"data":[{{"id":"{data_guid}","instanceGuid":"{guid}",{_ELEMENT_TYPE_JSON},'
            f'"blobStoragePath":"{self._blob_json}{guid}/data/{data_guid}",'
            f'"selfLinks":{{"apps":"{apps}{element}","platform":"{platform}{element}"}},'
            f'"size":{size},"locked":{locked},"refs":[],"isRead":true,"tags":[],'
            f'"fileScanResult":"NotApplicable","created":"{created}","createdBy":"{party}",'
            f'"lastChanged":"{created}","lastChangedBy":"{party}"}}],'
            f'"created":"{created}","createdBy":"{party}",'
            f'"lastChanged":"{changed}","lastChangedBy":"{party}"}}'
        ).encode()

    # -- a page ------------------------------------------------------------------------------

    def first(self, predicate: Callable[[int], bool]) -> int:
        """The smallest index for which a predicate that turns true once (and stays true) holds,
        or ``count``."""
        low, high = 0, self.count
        while low < high:
            middle = (low + high) // 2
            if predicate(middle):
                high = middle
            else:
                low = middle + 1
        return low

    def _window(self, selection: Selection, after: tuple[int, int] | None) -> tuple[int, int]:
        """The index range ``[low, high)`` the date filters and the cursor leave."""
        low, high = 0, self.count
        for attribute, (least, most) in selection.ranges.items():
            ticks = functools.partial(_TICKS[attribute], self)
            if least is not None:
                low = max(low, self.first(_at_least(ticks, least)))
            if most is not None:
                high = min(high, self.first(_beyond(ticks, most)))
        if after is not None:
            changed, internal_id = after

            def past_cursor(index: int) -> bool:
                last = self.last_changed(index)
                return last > changed or (last == changed and self.base_id + index >= internal_id)

            high = min(high, self.first(past_cursor))
        return low, high

    def _allowed(self, selection: Selection) -> list[bool]:
        """Which residues mod `SLOTS` have a status the selection can match."""
        flags = selection.flags

        def fits(status: Status) -> bool:
            wanted = {
                "process.iscomplete": status.completed,
                "status.isarchived": status.completed,
                "status.issoftdeleted": status.soft_deleted,
                "status.isharddeleted": False,
            }
            if any(flags.get(name, value) != value for name, value in wanted.items()):
                return False
            if selection.current_task is not None and status.task != selection.current_task:
                return False
            if "ended" in selection.ranges and not status.completed:
                return False
            return not ("due_before" in selection.ranges and not status.due)

        return [fits(status) for status in self._status]

    def matches_set(self, selection: Selection) -> bool:
        """Whether the selection's org and app can match this set at all."""
        if selection.org is not None and selection.org.lower() != self.org.lower():
            return False
        return selection.app_id is None or selection.app_id == f"{self.org}/{self.app}"

    def candidates(self, selection: Selection, after: tuple[int, int] | None) -> Iterator[int]:
        """Indices that may match, in Storage's order (descending), skipping only what cannot."""
        if not self.count or not self.matches_set(selection):
            return
        allowed = self._allowed(selection)
        if not any(allowed):
            return
        low, high = self._window(selection, after)
        residue: int | None = None
        if selection.party_id is not None:
            residue = self.residue(int(selection.party_id))
            if residue is None:
                return
        if residue is not None:
            index = high - 1 - ((high - 1 - residue) % self.parties)
            while index >= low:
                if allowed[index % SLOTS]:
                    yield index
                index -= self.parties
            return
        back = _back_steps(allowed)
        index = high - 1
        while index >= low:
            index -= back[index % SLOTS]
            if index < low:
                return
            yield index
            index -= 1

    def page(
        self,
        selection: Selection,
        after: tuple[int, int] | None,
        size: int,
        examined: list[int],
    ) -> list[StoredInstance]:
        """Up to ``size`` matching instances after the cursor, in Storage's order (lock held).
        ``examined[0]`` counts the instances built and tested."""
        found: list[StoredInstance] = []
        for index in self.candidates(selection, after):
            if index in self.hidden:
                continue
            instance = self.instance(index)
            examined[0] += 1
            if selection.keep(instance):
                found.append(instance)
                if len(found) >= size:
                    break
        return found


_TICKS: dict[str, Callable[[GeneratedInstances, int], int]] = {
    "created": GeneratedInstances.created,
    "visible_after": GeneratedInstances.created,
    "last_changed": GeneratedInstances.last_changed,
    "ended": GeneratedInstances.last_changed,
    "due_before": GeneratedInstances.due,
}
"""Each date filter's attribute as a function of the index (all grow with it)."""


def _at_least(ticks: Callable[[int], int], bound: int) -> Callable[[int], bool]:
    return lambda index: ticks(index) >= bound


def _beyond(ticks: Callable[[int], int], bound: int) -> Callable[[int], bool]:
    return lambda index: ticks(index) > bound


def _back_steps(allowed: list[bool]) -> list[int]:
    """For each residue, how far down the nearest allowed residue is (wrapping)."""
    steps = [0] * SLOTS
    for residue in range(SLOTS):
        distance = 0
        while not allowed[(residue - distance) % SLOTS]:
            distance += 1
        steps[residue] = distance
    return steps
