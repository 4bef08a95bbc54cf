"""The Dialogporten endpoints under ``/platform/dialogporten/api/v1``: the end user's search,
dialog, transmissions, activities, seen log and parties; the service owner's search and dialog;
the open limits, JWKS and metadata documents.

Read from ``Altinn/dialogporten`` (1.119.1): ``SearchDialogQuery`` (authorised parties and
resources only, silently; nothing authorised is an empty page; deleted, not yet visible and
expired dialogs hidden), ``GetDialogQuery`` (the order of its checks: 404 unknown, 403 no
access, 410 deleted, 403 authentication level, 404 not visible with ``Expires``, 404 expired;
then the seen log, the dialog token and the URL rewriting), ``DialogSeenLogWriter`` (one
entry per viewer and revision, ``isContentSeen`` set, ``MarkedAsUnopened`` removed; the save
leaves ``updatedAt`` and ``revision`` alone).

The emulator's PDP is the party directory: a caller sees a party's dialogs when their access to
the party covers the dialog's service resource, and may use an element (action, transmission,
attachment) when it also covers the element's ``authorizationAttribute``. Its parties are a
person (``pid``) or a system user; the authentication level a service resource needs is 0
unless set (``Emulator.set_dialog_service_resource_auth_level``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.parties import AuthorizedParty, PartyDirectory, date_of_birth
from .._toolkit.register import Register
from .._toolkit.responses import json_response
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from . import render
from .auth import Bearers, EndUser, authenticate, end_user, service_owner
from .model import ApiAction, Dialog, DialogStore, GuiAction, SeenEntry
from .paging import continuation_token, format_time, order_string, page
from .query import END_USER_LIMITS, SERVICE_OWNER_LIMITS, Search, parse_search, problem
from .seeding import uuid7
from .tokens import API, DialogTokens, dialogporten_issuer_for

_ID = r"(?P<dialog_id>[^/]+)"
KEY_ROLES = frozenset({"DAGL", "LEDE", "INNH", "DTPR", "DTSO", "BEST", "KOMP"})


def _entity(name: str, key: str, *, removed: bool = False) -> dict[str, list[str]]:
    verb = "is removed" if removed else "was not found"
    return {name: [f"Entity '{name}' with the following key(s) {verb}: ({key})."]}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _sortable(us: int) -> str:
    return f"{_EPOCH + dt.timedelta(microseconds=us):%Y-%m-%dT%H:%M:%S}"


def _rfc1123(us: int) -> str:
    return f"{_EPOCH + dt.timedelta(microseconds=us):%a, %d %b %Y %H:%M:%S GMT}"


class Dialogporten:
    """The emulated Dialogporten.

    Args:
        shared: the lock and the clock.
        store: the dialogs.
        parties: who may act for whom.
        register: persons (for names) and service owners.
        bearers: the tokens it accepts.
        tokens: the dialog tokens it issues.
    """

    def __init__(
        self,
        shared: SharedState,
        store: DialogStore,
        *,
        parties: PartyDirectory,
        register: Register,
        bearers: Bearers,
        tokens: DialogTokens,
    ) -> None:
        self._shared = shared
        self._store = store
        self._parties = parties
        self._register = register
        self._bearers = bearers
        self._tokens = tokens
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Dialogporten({self._store!r})"

    # -- who -----------------------------------------------------------------------------------

    def _end_user(self, request: Request) -> EndUser:
        claims = authenticate(request, self._bearers, self._shared.clock())
        return end_user(claims)

    def _access(self, user: EndUser) -> dict[str, AuthorizedParty]:
        """The caller's parties by URN, sub-units included. Lock held."""
        return {
            party.urn: party
            for top in self._parties.authorized_parties(user.caller)
            for party in top.flattened()
        }

    def _now_us(self) -> int:
        return round(self._shared.clock() * 1_000_000)

    # -- search --------------------------------------------------------------------------------

    @route("GET", rf"{API}/enduser/dialogs", "dialogporten.search")
    async def search(self, request: Request) -> Response:
        """``GET /enduser/dialogs``."""
        user = self._end_user(request)
        search = parse_search(request, service_owner=False)
        now = self._now_us()
        view_base = render.View(
            request.origin,
            now,
            render.accepted_languages(request.header("accept-language")),
            actor_id=user.actor_id,
        )
        with self._shared.lock:
            access = self._access(user)
            if search.parties:
                parties = [
                    p for p in dict.fromkeys(x.lower() for x in search.parties) if p in access
                ]
            else:
                parties = sorted(access)
            accept = self._filter(search, now, access, end_user=True)
            items, more = self._page(parties, search, accept)
            body = [
                render.list_item(d, _with_access(view_base, access.get(d.party))) for d in items
            ]
            token = continuation_token(search.orders, items[-1]) if items else search.raw_token
        return _page_response(body, more=more, token=token, search=search)

    def _filter(
        self,
        search: Search,
        now: int,
        access: Mapping[str, AuthorizedParty] | None,
        *,
        end_user: bool,
        org: str | None = None,
    ) -> Callable[[Dialog], bool]:
        resources = {r.lower() for r in search.resources} if search.resources else None
        orgs = {o.lower() for o in search.orgs} if search.orgs else None
        extended = set(search.extended_statuses) if search.extended_statuses else None
        statuses = set(search.statuses) if search.statuses else None
        labels = set(search.system_labels) if search.system_labels else None
        bounds = search.bounds
        created = (bounds.get("createdAfter"), bounds.get("createdBefore"))
        updated = (bounds.get("updatedAfter"), bounds.get("updatedBefore"))
        content = (bounds.get("contentUpdatedAfter"), bounds.get("contentUpdatedBefore"))
        due = (bounds.get("dueAfter"), bounds.get("dueBefore"))
        text = search.search.lower() if search.search else None
        language = search.search_language.lower() if search.search_language else None

        def within(value: int | None, window: tuple[int | None, int | None]) -> bool:
            low, high = window
            if low is None and high is None:
                return True
            if value is None:
                return False
            return (low is None or low <= value) and (high is None or value <= high)

        def accept(d: Dialog) -> bool:  # noqa: PLR0911, PLR0912 - one filter after another
            if d.deleted_us is not None:
                return False
            if end_user:
                if d.visible_from_us is not None and d.visible_from_us > now:
                    return False
                if d.expires_us is not None and d.expires_us <= now:
                    return False
                party = access.get(d.party) if access is not None else None
                if party is None or not party.allows(d.service_resource):
                    return False
            elif d.org.lower() != org:
                return False
            if resources is not None and d.service_resource.lower() not in resources:
                return False
            if orgs is not None and d.org.lower() not in orgs:
                return False
            if extended is not None and d.extended_status not in extended:
                return False
            if statuses is not None and d.status not in statuses:
                return False
            if search.external_reference is not None and (
                d.external_reference != search.external_reference
            ):
                return False
            if search.process is not None and d.process != search.process:
                return False
            if labels is not None and not labels <= set(d.system_labels):
                return False
            if search.exclude_api_only and d.is_api_only:
                return False
            if search.is_content_seen is not None and (
                render.is_content_seen(d) != search.is_content_seen
            ):
                return False
            if not (
                within(d.created_us, created)
                and within(d.updated_us, updated)
                and within(d.content_updated_us, content)
                and within(d.due_us, due)
            ):
                return False
            return text is None or _matches(d, text, language)

        return accept

    def _page(
        self, parties: list[str], search: Search, accept: Callable[[Dialog], bool]
    ) -> tuple[list[Dialog], bool]:
        if not parties:
            return [], False
        return page(
            self._store,
            parties,
            search.orders,
            tokens=search.tokens,
            limit=search.limit,
            accept=accept,
        )

    # -- one dialog ----------------------------------------------------------------------------

    def _dialog(self, request: Request, user: EndUser, now: int) -> tuple[Dialog, AuthorizedParty]:
        """The dialog of the path, if the caller may see it now. Lock held.

        Raises:
            Refusal: the 404, 403 or 410 of ``GetDialogQuery``.
        """
        raw = request.path_params["dialog_id"]
        try:
            dialog_id = str(uuid.UUID(raw))
        except ValueError:
            raise Refusal(
                problem(
                    400, request, {"dialogId": [f"The value '{raw}' is not valid for DialogId."]}
                )
            ) from None
        dialog = self._store.dialogs.get(dialog_id)
        if dialog is None:
            raise Refusal(problem(404, request, _entity("DialogEntity", dialog_id)))
        access = self._access(user).get(dialog.party)
        if access is None or not access.allows(dialog.service_resource):
            raise Refusal(problem(403, request, {"Forbidden": ["Forbidden"]}))
        if dialog.deleted_us is not None:
            raise Refusal(problem(410, request, _entity("DialogEntity", dialog_id, removed=True)))
        if user.auth_level < self._store.min_auth_levels.get(dialog.service_resource, 0):
            raise Refusal(
                problem(403, request, {"Forbidden": ["Altinn authentication level too low."]})
            )
        if dialog.visible_from_us is not None and dialog.visible_from_us > now:
            raise Refusal(
                problem(
                    404,
                    request,
                    {
                        "DialogEntity": [
                            f"Dialog is not visible until {_sortable(dialog.visible_from_us)}"
                        ]
                    },
                    headers=[("expires", _rfc1123(dialog.visible_from_us))],
                )
            )
        if dialog.expires_us is not None and dialog.expires_us < now:
            raise Refusal(
                problem(
                    404,
                    request,
                    {"DialogEntity": [f"Dialog expired at {_sortable(dialog.expires_us)}"]},
                )
            )
        return dialog, access

    @route("GET", rf"{API}/enduser/dialogs/{_ID}", "dialogporten.dialog")
    async def get_dialog(self, request: Request) -> Response:
        """``GET /enduser/dialogs/{id}``: the aggregate, a fresh dialog token, a seen log."""
        user = self._end_user(request)
        now = self._now_us()
        languages = render.accepted_languages(request.header("accept-language"))
        with self._shared.lock:
            dialog, access = self._dialog(request, user, now)
            self._seen(dialog, user, now)
            view = render.View(request.origin, now, languages, access, user.actor_id)
            claims = self._token_claims(dialog, user, view)
        token = self._tokens.issue(claims, request.origin, now / 1_000_000)
        with self._shared.lock:
            body = render.full(dialog, view, dialog_token=token)
            revision = dialog.revision
        return json_response(body, headers=[("etag", revision)])

    def _seen(self, dialog: Dialog, user: EndUser, now: int) -> None:
        """``DialogSeenLogWriter.OnSeen``. Lock held."""
        marked = "MarkedAsUnopened" in dialog.system_labels
        seen_by = any(
            e.actor_id == user.actor_id and e.updated_us == dialog.updated_us
            for e in dialog.seen_log
        )
        if seen_by and not marked and dialog.content_seen:
            return
        digest = hashlib.sha256(
            f"{dialog.id}{dialog.updated_us}{dialog.content_seen}{user.actor_id}".encode()
        ).digest()
        entry_id = uuid7(now, int.from_bytes(digest[:10], "big"))
        exists = any(e.id == entry_id for e in dialog.seen_log)
        if exists and not marked:
            return
        if not exists:
            dialog.seen_log.append(
                SeenEntry(
                    entry_id, now, user.actor_id.lower(), self._name_of(user), dialog.updated_us
                )
            )
        if marked:
            dialog.system_labels = [x for x in dialog.system_labels if x != "MarkedAsUnopened"]
            dialog.end_user_revision = str(uuid.uuid4())
        dialog.content_seen = True

    def _name_of(self, user: EndUser) -> str:
        caller = user.caller
        if caller.pid is not None:
            person = self._register.persons.get(caller.pid)
            return (person.name if person is not None and person.name else caller.pid).upper()
        if caller.system_user_org is not None:
            organization = self._parties.ensure_organization(caller.system_user_org)
            return organization.name
        return user.actor_id

    @staticmethod
    def _token_claims(dialog: Dialog, user: EndUser, view: render.View) -> dict[str, Any]:
        caller = user.caller
        claims: dict[str, Any] = {}
        if caller.system_user_id is not None and user.consumer_org is not None:
            claims["c"] = f"urn:altinn:organization:identifier-no:{user.consumer_org}"
            claims["y"] = f"urn:altinn:systemuser:uuid:{caller.system_user_id}"
            claims["o"] = f"urn:altinn:organization:identifier-no:{caller.system_user_org}"
        else:
            claims["c"] = user.actor_id
        if user.supplier_org is not None:
            claims["u"] = f"urn:altinn:organization:identifier-no:{user.supplier_org}"
        actions: dict[str, None] = {"read": None}
        elements: list[ApiAction | GuiAction] = [*dialog.api_actions, *dialog.gui_actions]
        for element in elements:
            attribute = element.authorization_attribute
            if view.allows(attribute):
                actions[
                    element.action if attribute is None else f"{element.action},{attribute}"
                ] = None
        claims.update(
            {
                "l": user.auth_level,
                "p": dialog.party,
                "s": dialog.service_resource,
                "i": dialog.id,
                "a": ";".join(actions),
            }
        )
        return claims

    @route("GET", rf"{API}/enduser/dialogs/{_ID}/transmissions", "dialogporten.transmissions")
    async def get_transmissions(self, request: Request) -> Response:
        """``GET …/transmissions``: an array, oldest first."""
        return self._part(request, render.transmissions)

    @route(
        "GET",
        rf"{API}/enduser/dialogs/{_ID}/transmissions/(?P<item>[^/]+)",
        "dialogporten.transmission",
    )
    async def get_transmission(self, request: Request) -> Response:
        """``GET …/transmissions/{id}``."""
        return self._item(request, "DialogTransmission", render.transmissions)

    @route("GET", rf"{API}/enduser/dialogs/{_ID}/activities", "dialogporten.activities")
    async def get_activities(self, request: Request) -> Response:
        """``GET …/activities``: an array, oldest first."""
        return self._part(request, render.activities)

    @route(
        "GET", rf"{API}/enduser/dialogs/{_ID}/activities/(?P<item>[^/]+)", "dialogporten.activity"
    )
    async def get_activity(self, request: Request) -> Response:
        """``GET …/activities/{id}``."""
        return self._item(request, "DialogActivity", render.activities)

    @route("GET", rf"{API}/enduser/dialogs/{_ID}/seenlog", "dialogporten.seenlog")
    async def get_seen_log(self, request: Request) -> Response:
        """``GET …/seenlog``: an array, oldest first."""
        return self._part(request, render.seen_log)

    @route(
        "GET", rf"{API}/enduser/dialogs/{_ID}/seenlog/(?P<item>[^/]+)", "dialogporten.seenlog_entry"
    )
    async def get_seen_log_entry(self, request: Request) -> Response:
        """``GET …/seenlog/{id}``."""
        return self._item(request, "DialogSeenLog", render.seen_log)

    def _part(self, request: Request, build: Callable[[Dialog, render.View], Any]) -> Response:
        user = self._end_user(request)
        now = self._now_us()
        languages = render.accepted_languages(request.header("accept-language"))
        with self._shared.lock:
            dialog, access = self._dialog(request, user, now)
            body = build(dialog, render.View(request.origin, now, languages, access, user.actor_id))
        return json_response(body)

    def _item(
        self,
        request: Request,
        entity: str,
        build: Callable[[Dialog, render.View], list[dict[str, Any]]],
    ) -> Response:
        wanted = request.path_params["item"].lower()
        found: list[dict[str, Any]] = []

        def pick(dialog: Dialog, view: render.View) -> Any:
            found.extend(x for x in build(dialog, view) if x["id"] == wanted)
            return found

        self._part(request, pick)
        if not found:
            return problem(404, request, _entity(entity, wanted))
        return json_response(found[0])

    # -- parties, limits, keys -----------------------------------------------------------------

    @route("GET", rf"{API}/enduser/parties", "dialogporten.parties")
    async def get_parties(self, request: Request) -> Response:
        """``GET /enduser/parties``: the caller's authorized parties, from the directory."""
        user = self._end_user(request)
        with self._shared.lock:
            tops = self._parties.authorized_parties(user.caller)
            body = [self._party(p, user, sub=False) for p in tops]
        return json_response({"authorizedParties": body})

    def _party(self, party: AuthorizedParty, user: EndUser, *, sub: bool) -> dict[str, Any]:
        person = party.person_pid
        document: dict[str, Any] = {
            "party": party.urn,
            "partyUuid": party.party_uuid,
            "partyId": party.party_id,
            "partyType": "Person" if person is not None else "Organization",
            "isDeleted": False,
            "hasKeyRole": bool(KEY_ROLES & set(party.roles)),
            "isCurrentEndUser": person is not None and person == user.caller.pid,
            "isMainAdministrator": False,
            "isAccessManager": False,
            "hasOnlyAccessToSubParties": False,
            "name": party.name,
        }
        if person is not None:
            born = date_of_birth(person)
            if born is not None:
                document["dateOfBirth"] = born
        if not sub:
            document["subParties"] = [self._party(s, user, sub=True) for s in party.subunits]
        return document

    @route("GET", rf"{API}/metadata/limits", "dialogporten.limits")
    async def get_limits(self, request: Request) -> Response:
        """``GET /metadata/limits`` (open): the limits the searches enforce."""
        del request
        return json_response(
            {"endUserSearch": END_USER_LIMITS, "serviceOwnerSearch": SERVICE_OWNER_LIMITS}
        )

    @route("GET", rf"{API}/\.well-known/jwks\.json", "dialogporten.jwks")
    async def get_jwks(self, request: Request) -> Response:
        """``GET /.well-known/jwks.json`` (open): the dialog-token keys."""
        del request
        return json_response(self._tokens.jwks())

    @route(
        "GET",
        rf"{API}/\.well-known/oauth-authorization-server",
        "dialogporten.authorization_server",
    )
    async def get_metadata(self, request: Request) -> Response:
        """``GET /.well-known/oauth-authorization-server`` (open): issuer and JWKS URI."""
        issuer = dialogporten_issuer_for(request.origin)
        return json_response({"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"})

    # -- the service owner ---------------------------------------------------------------------

    def _service_owner(self, request: Request) -> str:
        claims = authenticate(request, self._bearers, self._shared.clock())
        with self._shared.lock:
            owners = dict(self._register.service_owners)
        return service_owner(claims, owners).lower()

    @route("GET", rf"{API}/serviceowner/dialogs", "dialogporten.serviceowner_search")
    async def service_owner_search(self, request: Request) -> Response:
        """``GET /serviceowner/dialogs``: the service owner's own dialogs (not deleted ones)."""
        org = self._service_owner(request)
        search = parse_search(request, service_owner=True)
        now = self._now_us()
        view = render.View(
            request.origin, now, render.accepted_languages(request.header("accept-language"))
        )
        with self._shared.lock:
            own = self._store.parties_of_org.get(org, set())
            if search.parties:
                parties = [p for p in dict.fromkeys(x.lower() for x in search.parties) if p in own]
            else:
                parties = sorted(own)
            accept = self._filter(search, now, None, end_user=False, org=org)
            items, more = self._page(parties, search, accept)
            body = [_service_owner_item(render.list_item(d, view), d) for d in items]
            token = continuation_token(search.orders, items[-1]) if items else search.raw_token
        return _page_response(body, more=more, token=token, search=search)

    @route("GET", rf"{API}/serviceowner/dialogs/{_ID}", "dialogporten.serviceowner_dialog")
    async def service_owner_dialog(self, request: Request) -> Response:
        """``GET /serviceowner/dialogs/{id}``: deleted dialogs too; no seen log, no token."""
        org = self._service_owner(request)
        raw = request.path_params["dialog_id"]
        try:
            dialog_id = str(uuid.UUID(raw))
        except ValueError:
            return problem(
                400, request, {"dialogId": [f"The value '{raw}' is not valid for DialogId."]}
            )
        now = self._now_us()
        with self._shared.lock:
            dialog = self._store.dialogs.get(dialog_id)
            if dialog is None or dialog.org.lower() != org:
                return problem(404, request, _entity("DialogEntity", dialog_id))
            body = _service_owner_item(
                render.full(dialog, render.View(request.origin, now), dialog_token=None), dialog
            )
            revision = dialog.revision
        return json_response(body, headers=[("etag", revision)])


def _with_access(view: render.View, access: AuthorizedParty | None) -> render.View:
    return render.View(view.origin, view.now_us, view.languages, access, view.actor_id)


def _service_owner_item(document: dict[str, Any], dialog: Dialog) -> dict[str, Any]:
    if dialog.visible_from_us is not None:
        document["visibleFrom"] = format_time(dialog.visible_from_us)
    if dialog.deleted_us is not None:
        document["deletedAt"] = format_time(dialog.deleted_us)
    document["serviceOwnerContext"] = {
        "serviceOwnerLabels": [{"value": x} for x in dialog.service_owner_labels]
    }
    return document


def _page_response(
    items: list[dict[str, Any]], *, more: bool, token: str | None, search: Search
) -> Response:
    body: dict[str, Any] = {"items": items, "hasNextPage": more}
    if token is not None:
        body["continuationToken"] = token
    body["orderBy"] = order_string(search.orders)
    return json_response(body)


def _matches(dialog: Dialog, text: str, language: str | None) -> bool:
    for texts in (dialog.title, dialog.summary, dialog.sender_name):
        for code, value in texts or ():
            if (language is None or code == language) and text in value.lower():
                return True
    return False


HANDLERS = (Dialogporten,)
"""The classes that declare Dialogporten's routes."""
