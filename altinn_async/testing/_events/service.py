"""The Events API endpoints under ``/platform/events/api/v1``: a service owner's app events, a
party's app events, and the generic events of a resource.

Read from altinn-events (``Altinn/altinn-events`` at ``d7232ac8``):

- ``src/Events/Controllers/AppController.cs``: ``[Authorize]`` and nothing more (no scope
  policy); ``GetForOrg`` answers ``StatusCode(401, "Only orgs can call this api")`` without an
  ``urn:altinn:org`` claim, ``GetForParty`` needs a party, unit or person; both are
  ``[Produces("application/json")]``.
- ``src/Events/Controllers/EventsController.cs``: ``[Authorize(Policy =
  POLICY_SCOPE_EVENTS_SUBSCRIBE)]``, the scope ``altinn:events.subscribe``
  (``Configuration/AuthorizationConstants.cs``; 403 without it).
- ``src/Events/Services/EventsService.cs``: person and unit are looked up in the Register
  (404 when unknown), the page is fetched and then filtered by the PDP
  (``AuthorizeAltinnAppEvents``, ``AuthorizeEvents``), and the ``next`` link is built from what
  is left, so a page can come back short, or empty with more to come.
- ``Formatters/CloudEventJsonOutputFormatter.cs``: the body.

The emulator's PDP knows the app policies' usual rules: the app's owner org reads its events,
a person the events whose subject is their own party, a system user those of its owner
organisation; it knows no policy for other resources, and lets whoever has the scope read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._authentication import AltinnTokens
from .._toolkit.asgi import Request, Response
from .._toolkit.claims import altinn_org, altinn_party_id, scopes, system_user
from .._toolkit.dotnet import ticks_from_seconds
from .._toolkit.register import Register
from .._toolkit.responses import JSON_UTF8, empty_response, json_response
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from .model import APP_RESOURCE_PREFIX, CloudEvent, EventLog, EventQuery, app_resource, like
from .query import (
    AppParameters,
    app_parameters,
    check_app_parameters,
    events_response,
    generic_parameters,
    next_link,
    not_found,
    problem,
)
from .render import events_body

API = "/platform/events/api/v1"
SUBSCRIBE_SCOPE = "altinn:events.subscribe"


@dataclass(frozen=True, slots=True)
class Reader:
    """What the Events API reads from an Altinn token."""

    org: str | None
    party_id: str | None
    system_user_org: str | None
    scopes: frozenset[str]

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Reader:
        """The reader a verified Altinn token names."""
        user = system_user(claims)
        return cls(
            org=altinn_org(claims),
            party_id=altinn_party_id(claims),
            system_user_org=user.org_number if user is not None else None,
            scopes=scopes(claims),
        )

    def may_read(self, event: CloudEvent) -> bool:
        """The emulator's PDP decision on reading (or subscribing to) one event."""
        resource = event.resource or ""
        if not resource.startswith(APP_RESOURCE_PREFIX):
            return True
        owner = resource.removeprefix(APP_RESOURCE_PREFIX).partition("_")[0]
        if self.org is not None and self.org.lower() == owner.lower():
            return True
        if self.party_id is not None and event.subject == f"/party/{self.party_id}":
            return True
        return self.system_user_org is not None and (
            event.alternative_subject == f"/org/{self.system_user_org}"
        )


class Events:
    """The emulated Events API.

    Args:
        shared: the lock and the clock.
        log: the events.
        altinn: the Altinn tokens requests carry.
        register: the persons (the Register's party lookup).
        visibility_delay: seconds after its ``time`` before an event is listed.
    """

    def __init__(
        self,
        shared: SharedState,
        log: EventLog,
        altinn: AltinnTokens,
        register: Register,
        *,
        visibility_delay: float,
    ) -> None:
        self._shared = shared
        self._log = log
        self._altinn = altinn
        self._register = register
        self._delay = visibility_delay
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Events({self._log!r})"

    def _reader(self, request: Request) -> Reader:
        claims = self._altinn.authenticate(request, self._shared.clock())
        if claims is None:
            # [Authorize] challenge: a bare 401.
            raise Refusal(empty_response(401))
        return Reader.from_claims(claims)

    def _visible_until(self) -> int:
        return ticks_from_seconds(self._shared.clock() - self._delay)

    # -- app events ----------------------------------------------------------------------------

    @route("GET", rf"{API}/app/(?P<org>[^/]+)/(?P<app>[^/]+)", "events.app")
    async def app_events(self, request: Request) -> Response:
        """``GET /app/{org}/{app}``: a service owner's app events."""
        reader = self._reader(request)
        # Model binding ([ApiController]) answers before the action's own checks.
        parameters = app_parameters(request)
        if not reader.org:
            return json_response("Only orgs can call this api", 401)
        check_app_parameters(parameters)
        resource = app_resource(request.path_params["org"], request.path_params["app"])
        return self._app_page(request, reader, parameters, resource=resource)

    @route("GET", rf"{API}/app/party", "events.party")
    async def party_events(self, request: Request) -> Response:
        """``GET /app/party``: the app events of one party (an end user's)."""
        reader = self._reader(request)
        parameters = app_parameters(request)
        check_app_parameters(parameters)
        if not parameters.person and not parameters.unit and parameters.party <= 0:
            raise problem(
                "Subject must be specified using either query params party or unit or header "
                "value person.",
                JSON_UTF8,
            )
        return self._app_page(request, reader, parameters, resource=None)

    def _app_page(
        self, request: Request, reader: Reader, parameters: AppParameters, *, resource: str | None
    ) -> Response:
        party = parameters.party
        if (parameters.person or parameters.unit) and party <= 0:
            party = self._lookup(parameters.person, parameters.unit)
        query = EventQuery(
            size=parameters.size,
            origin=request.origin,
            visible_until=self._visible_until(),
            after=parameters.after,
            least=parameters.least.ticks if parameters.least is not None else None,
            most=parameters.most.ticks if parameters.most is not None else None,
            subject=None if party == 0 else f"/party/{party}",
            resource=resource,
            types=tuple(like(t, case_sensitive=False) for t in parameters.types),
            sources=tuple(like(s, case_sensitive=False) for s in parameters.sources),
        )
        with self._shared.lock:
            found = self._log.page(query)
        found = [event for event in found if reader.may_read(event)]
        next_url = next_link(request, found[-1].id) if found else None
        return self._answer(found, request.origin, next_url)

    def _lookup(self, person: str | None, unit: str | None) -> int:
        """The Register's party lookup (``PartyLookup(unit, person)``); 404 when unknown."""
        with self._shared.lock:
            known = self._register.persons.get(person) if person else None
            party = known.party_id if known is not None else self._log.party_of(person, unit)
        if party is None:
            raise not_found(JSON_UTF8)
        return party

    # -- generic events ------------------------------------------------------------------------

    @route("GET", rf"{API}/events", "events.generic")
    async def events(self, request: Request) -> Response:
        """``GET /events?resource=…&after=…``: the events of a resource."""
        reader = self._reader(request)
        if SUBSCRIBE_SCOPE not in reader.scopes:
            # The ScopeEventsSubscribe policy fails: Forbid().
            return empty_response(403)
        parameters = generic_parameters(request)
        query = EventQuery(
            size=parameters.size,
            origin=request.origin,
            visible_until=self._visible_until(),
            after=parameters.after,
            subject=parameters.subject,
            alternative_subject=parameters.alternative_subject,
            resource=parameters.resource,
            types=tuple(like(t, case_sensitive=True) for t in parameters.types),
        )
        with self._shared.lock:
            found = self._log.page(query)
        found = [event for event in found if reader.may_read(event)]
        next_url = None
        if found:
            # With only the alternative subject given, the link names the subject it found.
            by_alternative = parameters.alternative_subject is not None and not parameters.subject
            subject = found[0].subject if by_alternative else None
            next_url = next_link(request, found[-1].id, subject=subject)
        return self._answer(found, request.origin, next_url)

    @staticmethod
    def _answer(found: list[CloudEvent], origin: str, next_url: str | None) -> Response:
        if next_url is not None and not all(" " <= c <= "~" for c in next_url):
            # Kestrel refuses a header value with non-ASCII or control characters.
            return empty_response(500)
        return events_response(events_body(found, origin), next_url)


HANDLERS = (Events,)
"""The classes that declare the Events API's routes."""
