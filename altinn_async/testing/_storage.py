"""Emulated Altinn 3 Storage for service owners (and end users, for their own instances): instance
queries, instances, data and completion.

Behaviour follows ``InstancesController`` / ``DataController`` of altinn-storage and its
Postgres repository (``altinn-protocol.md`` §5.1-5.2 and §7 items 16-17).
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import json
import random
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._asgi import (
    JSON_UTF8,
    Request,
    Response,
    Router,
    empty_response,
    json_response,
    problem_response,
)
from ._authentication import Authentication
from ._state import State

API = "/platform/storage/api/v1"
READ_SCOPE = "altinn:serviceowner/instances.read"
WRITE_SCOPE = "altinn:serviceowner/instances.write"
SYNC_ADAPTER_SCOPE = "altinn:storage/instances.syncadapter"

_EPOCH_TICKS = 621_355_968_000_000_000  # DateTime(1970, 1, 1).Ticks
_TICKS_PER_SECOND = 10_000_000
_DATE_OPERATORS = frozenset({"gt", "gte", "lt", "lte", "eq"})
_DATE_FILTERS = {
    "process.ended": "ended",
    "lastchanged": "last_changed",
    "created": "created",
    "visibleafter": "visible_after",
    "duebefore": "due_before",
}
_BOOL_FILTERS = (
    "process.iscomplete",
    "status.isarchived",
    "status.issoftdeleted",
    "status.isharddeleted",
)


def ticks_from_seconds(seconds: float) -> int:
    """.NET ticks (100 ns since 0001-01-01) at microsecond precision, as Postgres stores them."""
    return _EPOCH_TICKS + round(seconds * 1_000_000) * 10


_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: isoformat() without offset


def format_ticks(ticks: int) -> str:
    """A UTC timestamp as Newtonsoft writes ``DateTime`` (``…ss.FFFFFFFZ``, zeros trimmed)."""
    seconds, remainder = divmod(ticks - _EPOCH_TICKS, _TICKS_PER_SECOND)
    moment = (_EPOCH + dt.timedelta(seconds=seconds)).isoformat()
    if remainder:
        return f"{moment}.{f'{remainder:07d}'.rstrip('0')}Z"
    return f"{moment}Z"


def _parse_date(value: str) -> int:
    """ISO-8601 date or date-time to ticks; values without an offset are taken as UTC."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return ticks_from_seconds(moment.timestamp())


@dataclass(slots=True)
class StoredData:
    """One data element and its bytes."""

    id: str
    content: bytes = field(repr=False)
    document: dict[str, Any]


@dataclass(slots=True)
class StoredInstance:
    """One instance: its JSON document (without self links) and the fields queries filter on."""

    internal_id: int
    guid: str
    party_id: str
    org: str
    app: str
    document: dict[str, Any]
    data: dict[str, StoredData]
    created: int
    last_changed: int
    visible_after: int | None
    due_before: int | None
    ended: int | None
    current_task: str | None
    is_archived: bool
    is_soft_deleted: bool
    is_hard_deleted: bool
    confirmed_by: frozenset[str]
    # Serialized JSON per request origin; replaced (never mutated) when the document changes.
    rendered: dict[str, bytes] = field(default_factory=dict)

    def json_for(self, origin: str) -> bytes:
        """The rendered instance JSON for ``origin``, cached."""
        cache = self.rendered
        cached = cache.get(origin)
        if cached is None:
            cached = json.dumps(
                render_instance(self, origin), separators=(",", ":"), ensure_ascii=False
            ).encode()
            cache[origin] = cached
        return cached

    @property
    def sort_key(self) -> tuple[int, int]:
        # Ascending order of this key is Storage's "desc:lastChanged", ties by id descending.
        return (-self.last_changed, -self.internal_id)


class InstanceStore:
    """The instances, kept in query order so a page costs O(size + skipped)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._by_guid: dict[str, StoredInstance] = {}
        self._order: list[tuple[int, int]] = []
        self._by_key: dict[tuple[int, int], StoredInstance] = {}
        self._next_id = 1
        self._generated = 0

    def _insert(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        bisect.insort(self._order, key)
        self._by_key[key] = instance
        self._by_guid[instance.guid] = instance

    def _remove(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        index = bisect.bisect_left(self._order, key)
        del self._order[index]
        del self._by_key[key]

    def get(self, guid: str) -> StoredInstance | None:
        """The instance with this GUID (lock held by the caller)."""
        return self._by_guid.get(guid)

    def page(
        self,
        after: tuple[int, int] | None,
        size: int,
        keep: Callable[[StoredInstance], bool],
    ) -> list[StoredInstance]:
        """Up to ``size`` instances after the cursor that pass ``keep`` (lock held)."""
        start = 0 if after is None else bisect.bisect_right(self._order, (-after[0], -after[1]))
        found: list[StoredInstance] = []
        for key in self._order[start:]:
            instance = self._by_key[key]
            if keep(instance):
                found.append(instance)
                if len(found) >= size:
                    break
        return found

    def confirm(self, instance: StoredInstance, org: str, by: str, now: float) -> None:
        """Append a complete confirmation (lock held). Copy-on-write: documents being
        serialized by another request are never mutated."""
        ticks = ticks_from_seconds(now)
        self._remove(instance)
        confirmations = [
            *instance.document.get("completeConfirmations", []),
            {"stakeholderId": org, "confirmedOn": format_ticks(ticks)},
        ]
        document = dict(instance.document)
        document["completeConfirmations"] = confirmations
        document["lastChanged"] = format_ticks(ticks)
        document["lastChangedBy"] = by
        _reorder_confirmations(document)
        instance.document = document
        instance.rendered = {}
        instance.confirmed_by = instance.confirmed_by | {org}
        instance.last_changed = ticks
        self._insert(instance)

    def add(self, org: str, app: str, spec: InstanceSpec) -> StoredInstance:
        """Store a new instance built from ``spec`` (takes the lock)."""
        with self._lock:
            instance = self._build(org, app, spec)
            self._insert(instance)
            return instance

    def add_many(self, org: str, app: str, specs: Iterable[InstanceSpec]) -> list[StoredInstance]:
        """Store many instances at once (takes the lock, sorts once)."""
        with self._lock:
            built = [self._build(org, app, spec) for spec in specs]
            for instance in built:
                self._by_key[instance.sort_key] = instance
                self._by_guid[instance.guid] = instance
                self._order.append(instance.sort_key)
            self._order.sort()
            return built

    def next_generation_seed(self, org: str, app: str, seed: int) -> str:
        """A seed string that differs for every `add_instances` call (lock taken)."""
        with self._lock:
            self._generated += 1
            return f"{seed}:{org}/{app}:{self._generated}"

    def _build(self, org: str, app: str, spec: InstanceSpec) -> StoredInstance:
        if spec.guid in self._by_guid:
            raise ValueError(f"an instance with id {spec.guid} already exists")
        internal_id = self._next_id
        self._next_id += 1
        return spec.build(org, app, internal_id)


def _reorder_confirmations(document: dict[str, Any]) -> None:
    # Keep the documented member order: completeConfirmations comes right after status.
    if "completeConfirmations" not in document:
        return
    items = list(document.items())
    document.clear()
    confirmations = next(v for k, v in items if k == "completeConfirmations")
    for key, value in items:
        if key == "completeConfirmations":
            continue
        document[key] = value
        if key == "status":
            document["completeConfirmations"] = confirmations
    if "completeConfirmations" not in document:
        document["completeConfirmations"] = confirmations


@dataclass(slots=True)
class InstanceSpec:
    """Everything `Emulator.add_instance` accepts, resolved to concrete values."""

    guid: str
    party_id: str
    created: float
    last_changed: float
    data: bytes | None
    content_type: str
    filename: str | None
    data_type: str
    current_task: str | None
    completed: float | None
    archived: bool
    soft_deleted: float | None
    hard_deleted: float | None
    visible_after: float | None
    due_before: float | None
    confirmed_by: tuple[tuple[str, float], ...]
    person_number: str | None
    organisation_number: str | None
    created_by: str
    read_status: str
    data_guid: str

    def build(self, org: str, app: str, internal_id: int) -> StoredInstance:
        created = ticks_from_seconds(self.created)
        last_changed = ticks_from_seconds(max(self.last_changed, self.created))
        ended = ticks_from_seconds(self.completed) if self.completed is not None else None
        created_text = format_ticks(created)
        changed_text = format_ticks(last_changed)
        instance_id = f"{self.party_id}/{self.guid}"
        owner: dict[str, Any] = {"partyId": self.party_id}
        if self.person_number is not None:
            owner["personNumber"] = self.person_number
        if self.organisation_number is not None:
            owner["organisationNumber"] = self.organisation_number
        document: dict[str, Any] = {
            "id": instance_id,
            "instanceOwner": owner,
            "appId": f"{org}/{app}",
            "org": org,
        }
        if self.due_before is not None:
            document["dueBefore"] = format_ticks(ticks_from_seconds(self.due_before))
        visible_after = ticks_from_seconds(
            self.visible_after if self.visible_after is not None else self.created
        )
        document["visibleAfter"] = format_ticks(visible_after)
        process: dict[str, Any] = {"started": created_text, "startEvent": "StartEvent_1"}
        if ended is None and self.current_task is not None:
            process["currentTask"] = {
                "flow": 2,
                "started": created_text,
                "elementId": self.current_task,
                "name": "Utfylling",
                "altinnTaskType": "data",
                "flowType": "CompleteCurrentMoveToNext",
            }
        if ended is not None:
            process["ended"] = format_ticks(ended)
            process["endEvent"] = "EndEvent_1"
        document["process"] = process
        status: dict[str, Any] = {"isArchived": self.archived}
        if self.archived:
            status["archived"] = format_ticks(ended if ended is not None else last_changed)
        status["isSoftDeleted"] = self.soft_deleted is not None
        if self.soft_deleted is not None:
            status["softDeleted"] = format_ticks(ticks_from_seconds(self.soft_deleted))
        status["isHardDeleted"] = self.hard_deleted is not None
        if self.hard_deleted is not None:
            status["hardDeleted"] = format_ticks(ticks_from_seconds(self.hard_deleted))
        status["readStatus"] = self.read_status
        document["status"] = status
        if self.confirmed_by:
            document["completeConfirmations"] = [
                {"stakeholderId": who, "confirmedOn": format_ticks(ticks_from_seconds(when))}
                for who, when in self.confirmed_by
            ]
        data: dict[str, StoredData] = {}
        if self.data is not None:
            element: dict[str, Any] = {
                "id": self.data_guid,
                "instanceGuid": self.guid,
                "dataType": self.data_type,
            }
            if self.filename is not None:
                element["filename"] = self.filename
            element.update(
                {
                    "contentType": self.content_type,
                    "blobStoragePath": f"{org}/{app}/{self.guid}/data/{self.data_guid}",
                    "size": len(self.data),
                    "locked": ended is not None,
                    "refs": [],
                    "isRead": True,
                    "tags": [],
                    "fileScanResult": "NotApplicable",
                    "created": created_text,
                    "createdBy": self.created_by,
                    "lastChanged": created_text,
                    "lastChangedBy": self.created_by,
                }
            )
            data[self.data_guid] = StoredData(self.data_guid, self.data, element)
        document["data"] = [d.document for d in data.values()]
        document["created"] = created_text
        document["createdBy"] = self.created_by
        document["lastChanged"] = changed_text
        document["lastChangedBy"] = self.created_by
        return StoredInstance(
            internal_id=internal_id,
            guid=self.guid,
            party_id=self.party_id,
            org=org,
            app=app,
            document=document,
            data=data,
            created=created,
            last_changed=last_changed,
            visible_after=visible_after,
            due_before=(
                ticks_from_seconds(self.due_before) if self.due_before is not None else None
            ),
            ended=ended,
            current_task=process.get("currentTask", {}).get("elementId"),
            is_archived=self.archived,
            is_soft_deleted=self.soft_deleted is not None,
            is_hard_deleted=self.hard_deleted is not None,
            confirmed_by=frozenset(who for who, _ in self.confirmed_by),
        )


def render_instance(instance: StoredInstance, origin: str) -> dict[str, Any]:
    """The instance JSON with self links for ``origin`` (nulls are never stored)."""
    base = f"{origin}{API}/instances/{instance.party_id}/{instance.guid}"
    apps = f"{origin}/{instance.org}/{instance.app}/instances/{instance.party_id}/{instance.guid}"
    rendered: dict[str, Any] = {}
    for key, value in instance.document.items():
        if key == "data":
            rendered["data"] = [render_data_element(d, base, apps) for d in value]
        else:
            rendered[key] = value
        if key == "org":
            rendered["selfLinks"] = {"apps": apps, "platform": base}
    return rendered


def render_data_element(element: dict[str, Any], instance_base: str, apps: str) -> dict[str, Any]:
    """A data element with its self links."""
    rendered: dict[str, Any] = {}
    for key, value in element.items():
        rendered[key] = value
        if key == "blobStoragePath":
            rendered["selfLinks"] = {
                "apps": f"{apps}/data/{element['id']}",
                "platform": f"{instance_base}/data/{element['id']}",
            }
    return rendered


_EXTENSIONS = {
    "application/xml": "xml",
    "text/xml": "xml",
    "application/json": "json",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def default_filename(data_type: str, content_type: str) -> str:
    """``model.xml`` and the like, for data elements given without a file name."""
    extension = _EXTENSIONS.get(content_type.split(";", maxsplit=1)[0].strip().lower(), "bin")
    return f"{data_type}.{extension}"


_FIRST_NAMES = ("Ola", "Kari", "Per", "Ingrid", "Nils", "Sigrid", "Lars", "Marit", "Ole", "Anne")
_LAST_NAMES = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Dahl")


def generate_specs(count: int, seed: str, now: float) -> Iterator[InstanceSpec]:
    """Deterministic, realistic instances: persons and organisations, open and completed,
    some archived, soft-deleted or confirmed, each with one XML data element."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    day = 86_400.0
    for index in range(count):
        guid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        data_guid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = now - rng.uniform(0.0, 90 * day)
        last_changed = created + rng.uniform(0.0, min(now - created, 14 * day))
        is_person = rng.random() < 0.7
        party_id = str(50_000_000 + rng.randrange(10_000_000))
        person_number = organisation_number = None
        if is_person:
            day_month = f"{rng.randrange(1, 29):02d}{rng.randrange(1, 13):02d}"
            person_number = f"{day_month}{rng.randrange(10_000_000):07d}"
        else:
            organisation_number = str(rng.randrange(310_000_000, 999_999_999))
        roll = rng.random()
        completed = None
        archived = False
        current_task: str | None = "Task_1"
        if roll < 0.6:
            completed = last_changed
            archived = True
            current_task = None
        elif roll < 0.75:
            current_task = "Task_2"
        soft_deleted = last_changed if rng.random() < 0.03 else None
        confirmed: tuple[tuple[str, float], ...] = ()
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        content = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f"<Skjema><Innsender>{name}</Innsender><Referanse>{index + 1}</Referanse>"
            f"<Beloep>{rng.randrange(100, 100_000)}</Beloep></Skjema>\n"
        ).encode()
        yield InstanceSpec(
            guid=guid,
            party_id=party_id,
            created=created,
            last_changed=last_changed,
            data=content,
            content_type="application/xml",
            filename="model.xml",
            data_type="model",
            current_task=current_task,
            completed=completed,
            archived=archived,
            soft_deleted=soft_deleted,
            hard_deleted=None,
            visible_after=created,
            due_before=(created + 30 * day) if rng.random() < 0.2 else None,
            confirmed_by=confirmed,
            person_number=person_number,
            organisation_number=organisation_number,
            created_by=party_id,
            read_status="Read" if completed is not None else "Unread",
            data_guid=data_guid,
        )


def _encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    # ASP.NET's QueryBuilder escapes everything but unreserved characters.
    return "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in pairs
    )


class _BadRequestError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


def _json_string(message: str, status: int) -> Response:
    # [Produces("application/json")] makes string results JSON strings.
    return json_response(message, status)


def _validation_problem(name: str, value: str) -> Response:
    return problem_response(
        400,
        problem={
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
        },
        extra={"errors": {name: [f"The value '{value}' is not valid for {name}."]}},
    )


@dataclass(slots=True)
class _Query:
    org: str | None = None
    app_id: str | None = None
    current_task: str | None = None
    bools: dict[str, bool] = field(default_factory=dict)
    dates: list[tuple[str, str, int]] = field(default_factory=list)
    exclude_confirmed_by: list[str] = field(default_factory=list)
    party_id: str | None = None
    size: int = 100
    continuation: tuple[int, int] | None = None
    continuation_raw: str | None = None


class Storage:
    """The Storage endpoints under ``/platform/storage/api/v1``."""

    def __init__(self, state: State, store: InstanceStore, authentication: Authentication) -> None:
        self._state = state
        self._store = store
        self._authentication = authentication

    def register(self, router: Router) -> None:
        """Add the routes to ``router``."""
        instance = rf"{API}/instances/(?P<party_id>\d+)/(?P<guid>[^/]+)"
        router.add(["GET"], rf"{API}/instances", "storage.instances", self.instances)
        router.add(["GET"], instance, "storage.instance", self.instance)
        router.add(["GET"], rf"{instance}/data/(?P<data_guid>[^/]+)", "storage.data", self.data)
        router.add(["GET"], rf"{instance}/dataelements", "storage.dataelements", self.data_elements)
        router.add(["POST"], rf"{instance}/complete", "storage.complete", self.complete)

    # -- GET /instances ----------------------------------------------------------------------

    async def instances(self, request: Request) -> Response:
        """``GET /instances``: the paged instance query."""
        now = self._state.clock()
        claims = self._authentication.authenticate(request, now)
        if claims is None:
            return empty_response(401)
        try:
            query = _parse_query(request)
        except _BadRequestError as exc:
            return exc.response
        refused = _authorize_query(claims, query)
        if refused is not None:
            return refused
        scopes = _scopes(claims)
        owner_or_adapter = SYNC_ADAPTER_SCOPE in scopes or any(
            "altinn:serviceowner" in s for s in scopes
        )
        if not owner_or_adapter:
            # Only the app owner and the sync adapter may see hard-deleted instances.
            if query.bools.get("status.isharddeleted"):
                document = {"count": 0, "self": _self_link(request, query), "next": None}
                return json_response({**document, "instances": []})
            query.bools["status.isharddeleted"] = False

        keep = _filter(query)
        with self._state.lock:
            found = self._store.page(query.continuation, query.size, keep)
        next_link: str | None = None
        if found and len(found) == query.size:
            last = found[-1]
            token = f"{last.last_changed};{last.internal_id}"
            # HttpUtility.UrlEncode, then QueryBuilder encodes again: "%253B" in the link.
            next_link = _link(request, urllib.parse.quote(token, safe=""))
        if not owner_or_adapter:
            # End users: the page is fetched first and then filtered by the PDP
            # (AuthorizeInstances), so a page may come back short with a next link all the same.
            found = [i for i in found if _is_own_instance(claims, i)]
        head = json.dumps(
            {"count": len(found), "self": _self_link(request, query), "next": next_link},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        parts = b",".join(i.json_for(request.origin) for i in found)
        body = b"".join((head[:-1].encode(), b',"instances":[', parts, b"]}"))
        return Response(200, body, [("content-type", JSON_UTF8)])

    # -- single instance, data, completion ---------------------------------------------------

    async def instance(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}``."""
        found = self._lookup(request)
        if isinstance(found, Response):
            return found
        return Response(200, found.json_for(request.origin), [("content-type", JSON_UTF8)])

    async def data_elements(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}/dataelements``."""
        found = self._lookup(request)
        if isinstance(found, Response):
            return found
        base = f"{request.origin}{API}/instances/{found.party_id}/{found.guid}"
        apps = f"{request.origin}/{found.org}/{found.app}/instances/{found.party_id}/{found.guid}"
        elements = [render_data_element(d, base, apps) for d in found.document.get("data", [])]
        return json_response({"dataElements": elements})

    async def data(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}/data/{dataGuid}``: the raw bytes."""
        found = self._lookup(request, data_controller=True)
        if isinstance(found, Response):
            return found
        data_guid = _normalize_guid(request.path_params["data_guid"])
        with self._state.lock:
            element = found.data.get(data_guid) if data_guid else None
        if element is None:
            shown = data_guid or request.path_params["data_guid"]
            return _json_string(f"Unable to find any data element with id: {shown}.", 404)
        content_type = element.document.get("contentType") or "application/octet-stream"
        headers = [("content-type", str(content_type))]
        filename = element.document.get("filename")
        if isinstance(filename, str) and filename:
            headers.append(("content-disposition", content_disposition(filename)))
        return Response(200, element.content, headers)

    async def complete(self, request: Request) -> Response:
        """``POST /instances/{partyId}/{guid}/complete``: confirm download for the caller's org."""
        now = self._state.clock()
        claims = self._authentication.authenticate(request, now)
        if claims is None:
            return empty_response(401)
        guid = _normalize_guid(request.path_params["guid"])
        if guid is None:
            return empty_response(404)
        org_claim = claims.get("urn:altinn:org")
        with self._state.lock:
            found = self._store.get(guid)
            if (
                found is None
                or not isinstance(org_claim, str)
                or org_claim != found.org
                or WRITE_SCOPE not in _scopes(claims)
            ):
                # Storage authorizes before it looks at the instance: a missing one is forbidden.
                return empty_response(403)
            if org_claim not in found.confirmed_by:
                by = str(claims.get("urn:altinn:orgNumber") or org_claim)
                self._store.confirm(found, org_claim, by, now)
        return json_response(render_instance(found, request.origin))

    def _lookup(
        self, request: Request, *, data_controller: bool = False
    ) -> StoredInstance | Response:
        now = self._state.clock()
        claims = self._authentication.authenticate(request, now)
        if claims is None:
            return empty_response(401)
        party_id = request.path_params["party_id"]
        raw_guid = request.path_params["guid"]
        guid = _normalize_guid(raw_guid)
        if guid is None:
            # The route constraint {instanceGuid:guid} does not match: no such endpoint.
            return empty_response(404)
        with self._state.lock:
            found = self._store.get(guid)
        if found is None:
            if data_controller:
                message = f"Unable to find any instance with id: {int(party_id)}/{guid}."
            else:
                message = f"Unable to find instance {guid}"
            return _json_string(message, 404)
        if not _may_read(claims, found):
            return empty_response(403)
        return found


def content_disposition(filename: str) -> str:
    """``attachment; filename=…; filename*=UTF-8''…`` as ASP.NET Core's ``File(…, name)`` sets."""
    if filename.isascii():
        if all(c.isalnum() or c in "!#$&+-.^_`|~" for c in filename):
            plain = filename
        else:
            escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
            plain = f'"{escaped}"'
    else:
        encoded = base64.b64encode(filename.encode()).decode()
        plain = f'"=?utf-8?B?{encoded}?="'
    star = urllib.parse.quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename={plain}; filename*=UTF-8''{star}"


def _is_own_instance(claims: dict[str, Any], instance: StoredInstance) -> bool:
    """Whether an end user's token names the instance owner's party as the user's own.

    The emulator's PDP knows no roles or delegations: a person may read what they own.
    """
    party = claims.get("urn:altinn:partyid")
    return claims.get("urn:altinn:userid") is not None and str(party) == instance.party_id


def _may_read(claims: dict[str, Any], instance: StoredInstance) -> bool:
    scopes = _scopes(claims)
    if SYNC_ADAPTER_SCOPE in scopes or _is_own_instance(claims, instance):
        return True
    org = claims.get("urn:altinn:org")
    return org == instance.org and (READ_SCOPE in scopes or WRITE_SCOPE in scopes)


def _scopes(claims: dict[str, Any]) -> set[str]:
    scope = claims.get("scope")
    return set(scope.split()) if isinstance(scope, str) else set()


def _normalize_guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise _BadRequestError(_validation_problem(name, value))


def _authorize_query(claims: dict[str, Any], query: _Query) -> Response | None:
    """``AuthorizeCaller``; None when the query may run."""
    scopes = _scopes(claims)
    org_claim = claims.get("urn:altinn:org")
    sync_adapter = SYNC_ADAPTER_SCOPE in scopes
    if not isinstance(org_claim, str) or not org_claim:
        return _authorize_end_user_query(claims, query)
    if not sync_adapter and READ_SCOPE not in scopes:
        return empty_response(403)
    if not query.org and not query.app_id:
        return _json_string("Org or AppId must be defined.", 400)
    if not query.org and query.app_id:
        query.org = query.app_id.split("/")[0]
    if not sync_adapter and org_claim.lower() != (query.org or "").lower():
        if not query.app_id:
            return _json_string("AppId must be defined.", 400)
        # The cross-org PDP decision: the emulator grants no cross-org access.
        return empty_response(403)
    return None


def _authorize_end_user_query(claims: dict[str, Any], query: _Query) -> Response | None:
    if claims.get("urn:altinn:userid") is None:
        # Neither a service owner nor an end user (system users are not emulated).
        return problem_response(400)
    if query.party_id is None:
        return _json_string(
            "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined.", 400
        )
    return None


def _set_org(query: _Query, name: str, value: str) -> None:
    query.org = value or None


def _set_app_id(query: _Query, name: str, value: str) -> None:
    query.app_id = value or None


def _set_current_task(query: _Query, name: str, value: str) -> None:
    query.current_task = value or None


def _set_party_id(query: _Query, name: str, value: str) -> None:
    if value:
        query.party_id = str(_parse_int(name, value))


def _set_size(query: _Query, name: str, value: str) -> None:
    if value:
        query.size = _parse_int(name, value)
        if query.size < 1:
            raise _BadRequestError(
                _json_string("The size parameter must be a number larger than 0.", 400)
            )


def _set_continuation(query: _Query, name: str, value: str) -> None:
    if value:
        query.continuation_raw = value
        query.continuation = _decode_continuation(value)


def _set_bool(query: _Query, name: str, value: str) -> None:
    if value:
        query.bools[name.lower()] = _parse_bool(name, value)


_SINGLE_VALUED: dict[str, Callable[[_Query, str, str], None]] = {
    "org": _set_org,
    "appid": _set_app_id,
    "process.currenttask": _set_current_task,
    "instanceowner.partyid": _set_party_id,
    "size": _set_size,
    "continuationtoken": _set_continuation,
    **dict.fromkeys(_BOOL_FILTERS, _set_bool),
}


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _BadRequestError(_validation_problem(name, value)) from None


def _parse_query(request: Request) -> _Query:
    query = _Query()
    seen: set[str] = set()
    for raw_name, value in request.query():
        name = raw_name.lower()
        if name in _DATE_FILTERS:
            if value:
                query.dates.append(_date_filter(raw_name, name, value))
        elif name == "excludeconfirmedby":
            if value:
                query.exclude_confirmed_by.append(value)
        elif name in _SINGLE_VALUED and name not in seen:
            # Model binding takes the first value of a single-valued parameter.
            _SINGLE_VALUED[name](query, raw_name, value)
        seen.add(name)
    return query


def _date_filter(raw_name: str, name: str, value: str) -> tuple[str, str, int]:
    operator, separator, date_value = value.partition(":")
    moment = None
    if separator and operator in _DATE_OPERATORS:
        try:
            moment = _parse_date(date_value)
        except ValueError:
            moment = None
    if moment is None:
        raise _BadRequestError(
            _json_string(f"Invalid date expression: {value} for query key: {raw_name}", 400)
        )
    return (_DATE_FILTERS[name], operator, moment)


def _decode_continuation(value: str) -> tuple[int, int]:
    # Model binding decoded the query once; the controller decodes once more.
    decoded = urllib.parse.unquote_plus(value)
    ticks, _, internal_id = decoded.partition(";")
    if ticks.isdigit() and internal_id.isdigit():
        return (int(ticks), int(internal_id))
    raise _BadRequestError(_json_string(f"Invalid continuation token: {decoded}", 400))


def _filter(query: _Query) -> Callable[[StoredInstance], bool]:
    tests: list[Callable[[StoredInstance], bool]] = []
    if query.org is not None:
        org = query.org.lower()
        tests.append(lambda i: i.org.lower() == org)
    if query.app_id is not None:
        app_id = query.app_id
        tests.append(lambda i: f"{i.org}/{i.app}" == app_id)
    if query.current_task is not None:
        task = query.current_task
        tests.append(lambda i: i.current_task == task)
    if query.party_id is not None:
        party_id = query.party_id
        tests.append(lambda i: i.party_id == party_id)
    flags: dict[str, Callable[[StoredInstance], bool]] = {
        "process.iscomplete": lambda i: i.ended is not None,
        "status.isarchived": lambda i: i.is_archived,
        "status.issoftdeleted": lambda i: i.is_soft_deleted,
        "status.isharddeleted": lambda i: i.is_hard_deleted,
    }
    for name, wanted in query.bools.items():
        tests.append(_flag_test(flags[name], wanted=wanted))
    if query.exclude_confirmed_by:
        excluded = frozenset(query.exclude_confirmed_by)
        tests.append(lambda i: excluded.isdisjoint(i.confirmed_by))
    for attribute, operator, ticks in query.dates:
        tests.append(_date_test(attribute, operator, ticks))
    return lambda instance: all(test(instance) for test in tests)


def _flag_test(
    flag: Callable[[StoredInstance], bool], *, wanted: bool
) -> Callable[[StoredInstance], bool]:
    return lambda instance: flag(instance) == wanted


def _date_test(attribute: str, operator: str, expected: int) -> Callable[[StoredInstance], bool]:
    def test(instance: StoredInstance) -> bool:
        actual: int | None = getattr(instance, attribute)
        return actual is not None and _compare(actual, operator, expected)

    return test


def _compare(actual: int, operator: str, expected: int) -> bool:
    if operator == "gt":
        return actual > expected
    if operator == "gte":
        return actual >= expected
    if operator == "lt":
        return actual < expected
    if operator == "lte":
        return actual <= expected
    return actual == expected


def _self_link(request: Request, query: _Query) -> str:
    if query.continuation_raw is None:
        base = f"{request.origin}{request.path}"
        return f"{base}?{request.query_string}" if request.query_string else base
    return _link(request, query.continuation_raw)


def _link(request: Request, continuation: str) -> str:
    pairs = [(k, v) for k, v in request.query() if k != "continuationToken"]
    pairs.append(("continuationToken", continuation))
    return f"{request.origin}{request.path}?{_encode_query(pairs)}"
