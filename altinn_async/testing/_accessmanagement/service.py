"""The Authorized Parties endpoints of Access Management under
``/platform/accessmanagement/api/v1``.

Read from ``Altinn/altinn-authorization-tmp`` (``AuthorizedPartiesController`` of the enduser,
service-owner and internal APIs, ``AuthzConstants``, ``AccessManagementHost``):

- Only Altinn tokens (Bearer, or the ``AltinnStudioRuntime`` cookie) authenticate; anything
  else is the JwtCookie challenge, ``401`` with no body.
- ``GET /enduser/authorizedparties``: scope ``altinn:portal/enduser`` or
  ``altinn:accessmanagement/authorizedparties`` (else ``403``); a person or a system user (else
  ``401 Unknown user type``); ``{"links": {"next": null}, "data": [...]}``.
- ``GET /authorizedparties`` and ``GET /authorizedparty/{partyId}``: any Altinn token with a
  user id (a system user gets ``401``); a bare array, or the one party (``400`` with
  ``errors.InvalidParty`` when it is not in the list).
- ``POST /resourceowner/authorizedparties`` (and ``/serviceowner/authorizedparties``): scope
  ``altinn:accessmanagement/authorizedparties.resourceowner`` or ``….admin``; the body names the
  subject, ``{"type": "<attribute urn>", "value": "…"}``; an unknown type is ``400`` with
  ``errors["Argument exception"]``. ``orgCode``, when given, must be the caller's own org code
  unless the token has the admin scope (else ``403``).
- The query parameters and their code defaults (enduser: roles, resources and instances off;
  the others: on; ``include*Parties`` ``true|false|auto``, ``auto`` counted as true);
  ``includeAltinn2``/``includeAltinn3`` accepted and ignored; ``partyFilter`` (party UUIDs)
  and ``anyOfResourceIds`` narrow the list.

Who may act for whom is the party directory's rule. ``authorizedResources`` lists the resources
a role was given for (empty when it covers every resource); access packages and instances are
not modelled (always ``[]``). Subjects the directory cannot resolve (enterprise users, ID-porten
e-mail users, unknown ids) have no authorized parties.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .._authentication import AltinnTokens
from .._toolkit.asgi import Request, Response
from .._toolkit.claims import altinn_org, altinn_user_id, scopes, system_user
from .._toolkit.parties import AuthorizedParty, Caller, PartyDirectory, date_of_birth
from .._toolkit.register import ORG_NUMBER, PID, Person
from .._toolkit.responses import (
    empty_response,
    json_response,
    negotiated_string,
    problem_response,
)
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState

API = "/platform/accessmanagement/api/v1"
ENDUSER_SCOPES = frozenset({"altinn:portal/enduser", "altinn:accessmanagement/authorizedparties"})
RESOURCE_OWNER_SCOPE = "altinn:accessmanagement/authorizedparties.resourceowner"
ADMIN_SCOPE = "altinn:accessmanagement/authorizedparties.admin"
KEY_ROLES = frozenset({"DAGL", "LEDE", "INNH", "DTPR", "DTSO", "BEST", "KOMP"})
KNOWN_TYPES = (
    "urn:altinn:person:identifier-no",
    "urn:altinn:organization:identifier-no",
    "urn:altinn:party:uuid",
    "urn:altinn:partyid",
    "urn:altinn:userid",
    "urn:altinn:person:uuid",
    "urn:altinn:organization:uuid",
    "urn:altinn:systemuser:uuid",
    "urn:altinn:enterpriseuser:username",
    "urn:altinn:enterpriseuser:uuid",
    "urn:altinn:person:idporten-email",
)
_INCLUDE = ("true", "false", "auto")
_NOT_AUTHORIZED_PARTY = (
    "The party id is either invalid or is not an authorized party for the authenticated user"
)
_VALIDATION = {
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    "title": "One or more validation errors occurred.",
    "status": 400,
}


def _validation(errors: dict[str, list[str]]) -> Refusal:
    return Refusal(problem_response(400, problem=_VALIDATION, extra={"errors": errors}))


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list includes."""

    roles: bool
    resources: bool
    via_key_roles: bool
    sub_parties: bool
    party_filter: frozenset[str] | None
    any_of_resources: tuple[str, ...]


def _filters(request: Request, *, enduser: bool, party_filter: Iterable[str] = ()) -> Filters:
    errors: dict[str, list[str]] = {}

    def flag(name: str, default: bool) -> bool:  # noqa: FBT001 - a local helper
        raw = request.param(name)
        if raw is None:
            return default
        value = {"true": True, "false": False}.get(raw.strip().lower())
        if value is None:
            errors[name] = [f"The value '{raw}' is not valid for {name}."]
            return default
        return value

    def include(name: str) -> bool:
        raw = request.param(name)
        if raw is None:
            return True  # the default, true or auto, and auto includes
        if raw.strip().lower() not in _INCLUDE:
            errors[name] = [f"The value '{raw}' is not valid for {name}."]
            return True
        return raw.strip().lower() != "false"

    wanted = not enduser
    flag("includeAltinn2", default=False)
    flag("includeAltinn3", default=True)
    flag("includeAccessPackages", default=False)
    flag("includeInstances", default=wanted)
    filters_given = [v for k, v in request.query() if k.lower() == "partyfilter"]
    uuids: set[str] = set()
    for value in [*filters_given, *party_filter]:
        try:
            uuids.add(str(uuid.UUID(value)))
        except ValueError:
            errors["partyFilter"] = [f"The value '{value}' is not valid."]
    result = Filters(
        roles=flag("includeRoles", default=wanted),
        resources=flag("includeResources", default=wanted),
        via_key_roles=include("includePartiesViaKeyRoles"),
        sub_parties=include("includeSubParties"),
        party_filter=frozenset(uuids) if uuids else None,
        any_of_resources=tuple(
            v.removeprefix("urn:altinn:resource:")
            for k, v in request.query()
            if k.lower() == "anyofresourceids" and v.strip()
        ),
    )
    include("includeInactiveParties")
    if errors:
        raise _validation(errors)
    return result


class AccessManagement:
    """The emulated Authorized Parties API.

    Args:
        shared: the lock and the clock.
        altinn: the Altinn tokens it accepts.
        parties: who may act for whom.
        system_user_org: the owner organisation of a system user id (None when unknown).
            Called without the lock held.
    """

    def __init__(
        self,
        shared: SharedState,
        altinn: AltinnTokens,
        parties: PartyDirectory,
        system_user_org: Callable[[str], str | None],
    ) -> None:
        self._shared = shared
        self._altinn = altinn
        self._parties = parties
        self._system_user_org = system_user_org
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"AccessManagement({self._parties!r})"

    def _claims(self, request: Request) -> dict[str, Any]:
        claims = self._altinn.authenticate(request, self._shared.clock())
        if claims is None:
            raise Refusal(empty_response(401))
        return claims

    # -- endpoints -----------------------------------------------------------------------------

    @route("GET", rf"{API}/enduser/authorizedparties", "accessmanagement.enduser_authorizedparties")
    async def enduser(self, request: Request) -> Response:
        """``GET /enduser/authorizedparties``: the caller's own list, wrapped."""
        claims = self._claims(request)
        if not scopes(claims) & ENDUSER_SCOPES:
            return empty_response(403)
        caller = Caller.from_claims(claims)
        if altinn_user_id(claims) is None and not caller.is_system_user:
            return negotiated_string(request, "Unknown user type", 401)
        filters = _filters(request, enduser=True)
        return json_response({"links": {"next": None}, "data": self._list(caller, filters)})

    @route("GET", rf"{API}/authorizedparties", "accessmanagement.authorizedparties")
    async def authorized_parties(self, request: Request) -> Response:
        """``GET /authorizedparties``: the user's list, a bare array."""
        caller = self._user(request)
        filters = _filters(request, enduser=False)
        return json_response(self._list(caller, filters))

    @route("GET", rf"{API}/authorizedparty/(?P<party_id>[^/]+)", "accessmanagement.authorizedparty")
    async def authorized_party(self, request: Request) -> Response:
        """``GET /authorizedparty/{partyId}``: one party of the user's list."""
        caller = self._user(request)
        raw = request.path_params["party_id"]
        if not raw.lstrip("-").isdigit():
            raise _validation({"partyId": [f"The value '{raw}' is not valid."]})
        party_id = int(raw)
        if party_id == 0:
            raise _validation({"InvalidParty": ["The party id must be a valid non-zero integer"]})
        filters = _filters(request, enduser=False)
        for top in self._list(caller, filters):
            for candidate in (top, *top["subunits"]):
                if candidate["partyId"] == party_id:
                    return json_response(candidate)
        raise _validation({"InvalidParty": [_NOT_AUTHORIZED_PARTY]})

    @route(
        "POST",
        rf"{API}/(?:resourceowner|serviceowner)/authorizedparties",
        "accessmanagement.resourceowner_authorizedparties",
    )
    async def resource_owner(self, request: Request) -> Response:
        """``POST /resourceowner/authorizedparties``: the list of the subject in the body."""
        claims = self._claims(request)
        granted = scopes(claims)
        if RESOURCE_OWNER_SCOPE not in granted and ADMIN_SCOPE not in granted:
            return empty_response(403)
        org_code = request.param("orgCode")
        if org_code and ADMIN_SCOPE not in granted and org_code != altinn_org(claims):
            return empty_response(403)
        subject_type, value, party_filter = _body(request)
        filters = _filters(request, enduser=False, party_filter=party_filter)
        if subject_type not in KNOWN_TYPES:
            raise _validation({"Argument exception": [f"Unknown attribute type: {subject_type}"]})
        caller = self._subject(subject_type, value)
        return json_response([] if caller is None else self._list(caller, filters))

    # -- the list ------------------------------------------------------------------------------

    def _user(self, request: Request) -> Caller:
        claims = self._claims(request)
        if altinn_user_id(claims) is None or system_user(claims) is not None:
            raise Refusal(empty_response(401))
        return Caller.from_claims(claims)

    def _subject(self, kind: str, value: str) -> Caller | None:  # noqa: PLR0911 - per kind
        """The caller a resource owner's subject names, or None when nobody."""
        if kind == "urn:altinn:person:identifier-no":
            return Caller(pid=value) if PID.fullmatch(value) else None
        if kind == "urn:altinn:organization:identifier-no":
            return Caller(org_number=value) if ORG_NUMBER.fullmatch(value) else None
        if kind == "urn:altinn:systemuser:uuid":
            org = self._system_user_org(value.lower())
            return None if org is None else Caller(system_user_org=org, system_user_id=value)
        lookup = {
            "urn:altinn:party:uuid": "uuid",
            "urn:altinn:person:uuid": "uuid",
            "urn:altinn:organization:uuid": "uuid",
            "urn:altinn:partyid": "party_id",
            "urn:altinn:userid": "user_id",
        }.get(kind)
        if lookup is None:
            return None  # enterprise users and ID-porten e-mail users are not modelled
        with self._shared.lock:
            found = self._parties.party(lookup, value)
        if found is None or (kind == "urn:altinn:person:uuid" and not isinstance(found, Person)):
            return None
        if isinstance(found, Person):
            return Caller(pid=found.pid, user_id=str(found.user_id))
        if kind == "urn:altinn:person:uuid":
            return None
        return Caller(org_number=found.org_number)

    def _list(self, caller: Caller, filters: Filters) -> list[dict[str, Any]]:
        with self._shared.lock:
            tops = self._parties.authorized_parties(caller)
        out: list[dict[str, Any]] = []
        for top in tops:
            roles = set(top.roles)
            if (
                not filters.via_key_roles
                and top.organization is not None
                and roles
                and roles <= KEY_ROLES
            ):
                continue
            subunits = top.subunits if filters.sub_parties else []
            if filters.party_filter is not None and top.party_uuid not in filters.party_filter:
                subunits = [s for s in subunits if s.party_uuid in filters.party_filter]
                if not subunits:
                    continue
            if filters.any_of_resources and not any(
                p.allows(r) for p in (top, *subunits) for r in filters.any_of_resources
            ):
                continue
            document = _party(top, filters, parent=None)
            document["subunits"] = [_party(s, filters, parent=top.party_uuid) for s in subunits]
            out.append(document)
        return out


def _body(request: Request) -> tuple[str, str, list[str]]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise _validation({"$": ["The JSON value could not be converted to a request."]})
    subject_type, value = body.get("type"), body.get("value")
    if not isinstance(subject_type, str) or not isinstance(value, str):
        raise _validation({"Type": ["The Type and Value fields are required."]})
    party_filter = [
        entry["value"]
        for entry in body.get("partyFilter") or ()
        if isinstance(entry, dict) and isinstance(entry.get("value"), str)
    ]
    return subject_type, value, party_filter


def _party(party: AuthorizedParty, filters: Filters, *, parent: str | None) -> dict[str, Any]:
    organization = party.organization
    person = party.person_pid
    return {
        "partyUuid": party.party_uuid,
        "name": party.name,
        "organizationNumber": organization.org_number if organization is not None else None,
        "parentId": parent,
        "personId": person,
        "dateOfBirth": date_of_birth(person) if person is not None else None,
        "emailId": None,
        "partyId": party.party_id,
        "type": "Person" if person is not None else "Organization",
        "unitType": organization.unit_type if organization is not None else None,
        "isDeleted": False,
        "onlyHierarchyElementWithNoAccess": False,
        "authorizedAccessPackages": [],
        "authorizedResources": sorted(party.resources or ()) if filters.resources else [],
        "authorizedRoles": list(party.roles) if filters.roles else [],
        "authorizedInstances": [],
        "subunits": [],
    }


HANDLERS = (AccessManagement,)
"""The classes that declare the Authorized Parties routes."""
