"""The end user's reportees: ``GET /api/reportees`` (their own party first, then those they may
represent, by name, at most 50) and ``GET /api/reportees/{reporteeId}``."""

from __future__ import annotations

from .._toolkit.asgi import Request, Response
from .._toolkit.router import route
from .gate import PREFIX, EndUser, Handlers
from .hal import hal_list, hal_resource, negotiate, odata_options, self_link
from .messages import END_USER_CAP
from .model import END_USER_REPORTEE_SCHEMA, Reportee, Store
from .render import reportee_links

REPORTEE_SCOPES = frozenset({"altinn:enduser", "altinn:reportees"})


def _reportees_of(store: Store, user: EndUser, *, include_inactive: bool) -> list[Reportee]:
    """The user's own party first, then those they have rights for, by name (lock held)."""
    own = store.reportees.get(user.party_id)
    others = [
        store.reportees[p]
        for p in store.rights.get(user.subject, {})
        if p in store.reportees and p != user.party_id
    ]
    others.sort(key=lambda r: (r.name.lower(), r.party_id))
    found = ([own] if own is not None else []) + others
    return [r for r in found if include_inactive or r.active]


class Reportees(Handlers):
    """The reportee endpoints."""

    @route("GET", rf"(?i){PREFIX}/reportees", "altinn2.reportees")
    async def reportees(self, request: Request) -> Response:
        """``GET /reportees``."""
        user = self._gate.end_user(request, REPORTEE_SCOPES)
        mode = negotiate(request)
        include_inactive = (request.param("includeInactiveReportees") or "").lower() == "true"
        query = odata_options(request, END_USER_REPORTEE_SCHEMA, "Reportee")
        with self._shared.lock:
            found = _reportees_of(self._gate.store, user, include_inactive=include_inactive)
        documents = {r.party_id: r.end_user_json() for r in found}
        selected = query.apply(found, lambda r: documents[r.party_id], cap=END_USER_CAP)
        api = f"{request.origin}{PREFIX}"
        items = [(documents[r.party_id], reportee_links(api, r)) for r in selected]
        links = {
            "find": {"href": f"{api}/reportees/{{reporteeId}}", "isTemplated": True},
            "self": self_link(request),
        }
        return hal_list(mode, "reportees", items, links)

    @route("GET", rf"(?i){PREFIX}/reportees/(?P<reportee>[^/]+)", "altinn2.reportee")
    async def reportee(self, request: Request) -> Response:
        """``GET /reportees/{reporteeId}``."""
        user = self._gate.end_user(request, REPORTEE_SCOPES)
        party = self._gate.party(user, request.path_params["reportee"])
        mode = negotiate(request)
        api = f"{request.origin}{PREFIX}"
        return hal_resource(mode, party.end_user_json(), reportee_links(api, party))
