"""The Storage endpoints under ``/platform/storage/api/v1``: the instance query, one instance,
its data elements and data, and completion.

Behaviour follows ``InstancesController`` / ``DataController`` of altinn-storage and its Postgres
repository (``altinn-protocol.md`` §5.1-5.2 and §7 items 16-17).
"""

from __future__ import annotations

import json
import uuid

from .._authentication import AltinnTokens
from .._toolkit.asgi import Request, Response
from .._toolkit.responses import JSON_UTF8, content_disposition, empty_response, json_response
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from .access import WRITE_SCOPE, Caller, authorize_query, forbidden
from .model import API, InstanceStore, StoredInstance
from .query import next_link, parse_query, self_link
from .render import instance_bytes, render_data_element, render_instance

_INSTANCE = rf"{API}/instances/(?P<party_id>\d+)/(?P<guid>[^/]+)"


def _not_found(message: str) -> Refusal:
    # [Produces("application/json")] makes string results JSON strings.
    return Refusal(json_response(message, 404))


def _guid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class Storage:
    """The emulated Storage.

    Args:
        shared: the lock and the clock.
        store: the instances.
        altinn: the Altinn tokens requests carry.
    """

    def __init__(self, shared: SharedState, store: InstanceStore, altinn: AltinnTokens) -> None:
        self._shared = shared
        self._store = store
        self._altinn = altinn
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Storage({self._store!r})"

    def _caller(self, request: Request) -> Caller:
        claims = self._altinn.authenticate(request, self._shared.clock())
        if claims is None:
            # [Authorize] challenge: a bare 401.
            raise Refusal(empty_response(401))
        return Caller.from_claims(claims)

    # -- GET /instances ----------------------------------------------------------------------

    @route("GET", rf"{API}/instances", "storage.instances")
    async def instances(self, request: Request) -> Response:
        """``GET /instances``: the paged instance query."""
        caller = self._caller(request)
        query = parse_query(request)
        authorize_query(caller, query)
        if not caller.reads_unfiltered:
            # Only the app owner and the sync adapter may see hard-deleted instances.
            if query.flags.get("status.isharddeleted"):
                document = {"count": 0, "self": self_link(request, query), "next": None}
                return json_response({**document, "instances": []})
            query.flags["status.isharddeleted"] = False
        selection = query.selection()
        with self._shared.lock:
            found = self._store.page(selection, query.continuation, query.size)
        next_url = next_link(request, found[-1]) if found and len(found) == query.size else None
        if not caller.reads_unfiltered:
            # The page is fetched first and then filtered by the PDP (AuthorizeInstances), so a
            # page may come back short with a next link all the same.
            found = [i for i in found if caller.pdp_permits(i)]
        head = json.dumps(
            {"count": len(found), "self": self_link(request, query), "next": next_url},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        parts = b",".join(instance_bytes(i, request.origin) for i in found)
        body = b"".join((head[:-1].encode(), b',"instances":[', parts, b"]}"))
        return Response(200, body, [("content-type", JSON_UTF8)])

    # -- single instance, data, completion ---------------------------------------------------

    @route("GET", _INSTANCE, "storage.instance")
    async def instance(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}``."""
        found = self._readable(request)
        return Response(200, instance_bytes(found, request.origin), [("content-type", JSON_UTF8)])

    @route("GET", rf"{_INSTANCE}/dataelements", "storage.dataelements")
    async def data_elements(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}/dataelements``."""
        found = self._readable(request)
        base = f"{request.origin}{API}/instances/{found.party_id}/{found.guid}"
        apps = f"{request.origin}/{found.org}/{found.app}/instances/{found.party_id}/{found.guid}"
        elements = [render_data_element(d, base, apps) for d in found.document.get("data", [])]
        return json_response({"dataElements": elements})

    @route("GET", rf"{_INSTANCE}/data/(?P<data_guid>[^/]+)", "storage.data")
    async def data(self, request: Request) -> Response:
        """``GET /instances/{partyId}/{guid}/data/{dataGuid}``: the raw bytes."""
        found = self._readable(request, data_controller=True)
        data_guid = _guid(request.path_params["data_guid"])
        with self._shared.lock:
            element = found.data.get(data_guid) if data_guid else None
        if element is None:
            shown = data_guid or request.path_params["data_guid"]
            raise _not_found(f"Unable to find any data element with id: {shown}.")
        content_type = element.document.get("contentType") or "application/octet-stream"
        headers = [("content-type", str(content_type))]
        filename = element.document.get("filename")
        if isinstance(filename, str) and filename:
            headers.append(("content-disposition", content_disposition(filename)))
        return Response(200, element.content, headers)

    @route("POST", rf"{_INSTANCE}/complete", "storage.complete")
    async def complete(self, request: Request) -> Response:
        """``POST /instances/{partyId}/{guid}/complete``: confirm download for the caller's org."""
        caller = self._caller(request)
        guid = _guid(request.path_params["guid"])
        if guid is None:
            return empty_response(404)
        now = self._shared.clock()
        with self._shared.lock:
            found = self._store.get(guid)
            if found is None or caller.org != found.org or WRITE_SCOPE not in caller.scopes:
                # Storage authorizes before it looks at the instance: a missing one is forbidden.
                raise forbidden()
            if found.org not in found.confirmed_by:
                self._store.confirm(found, found.org, caller.org_number or found.org, now)
        return json_response(render_instance(found, request.origin))

    def _readable(self, request: Request, *, data_controller: bool = False) -> StoredInstance:
        """The instance the path names, if the caller may read it."""
        caller = self._caller(request)
        party_id = request.path_params["party_id"]
        guid = _guid(request.path_params["guid"])
        if guid is None:
            # The route constraint {instanceGuid:guid} does not match: no such endpoint.
            raise Refusal(empty_response(404))
        with self._shared.lock:
            found = self._store.get(guid)
        if found is None:
            if data_controller:
                raise _not_found(f"Unable to find any instance with id: {int(party_id)}/{guid}.")
            raise _not_found(f"Unable to find instance {guid}")
        if not caller.may_read(found):
            raise forbidden()
        return found


HANDLERS = (Storage,)
"""The classes that declare Storage's routes."""
