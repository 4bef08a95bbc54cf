"""Authorized Parties (Access Management): whom a user, person or system user may act for.

The successor of Altinn 2's ``/api/reportees``: each `AuthorizedParty` is a mailbox to
harvest, with its sub-units, its `urn` for Dialogporten and its `reportee_id` for Altinn 2::

    async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
        parties = AuthorizedPartiesClient(http)
        for party in flatten(await parties.mine()):
            print(party.name, party.urn)

Access Management takes **Altinn tokens only**: exchange Maskinporten and ID-porten tokens
first (`AltinnExchangeAuth`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from ._api import PlatformClient
from ._http import api_error, network_error
from ._httpcompat import TRANSPORT_ERRORS, url_argument
from ._reading import JsonReader
from ._redact import mask_pid, mask_pids, safe_url
from ._retry import RetryPolicy, request, send
from .exceptions import ConfigurationError, ResponseFormatError

__all__ = [
    "SUBJECT_KINDS",
    "AuthorizedInstance",
    "AuthorizedPartiesClient",
    "AuthorizedParty",
    "flatten",
]

_PATH = "/accessmanagement/api/v1"

PERSON = "urn:altinn:person:identifier-no"
ORGANIZATION = "urn:altinn:organization:identifier-no"
PARTY_UUID = "urn:altinn:party:uuid"

SUBJECT_KINDS = (
    PERSON,
    ORGANIZATION,
    PARTY_UUID,
    "urn:altinn:partyid",
    "urn:altinn:userid",
    "urn:altinn:person:uuid",
    "urn:altinn:organization:uuid",
    "urn:altinn:systemuser:uuid",
    "urn:altinn:enterpriseuser:username",
    "urn:altinn:enterpriseuser:uuid",
    "urn:altinn:person:idporten-email",
)
"""The kinds of subject `AuthorizedPartiesClient.of` asks about (the request's ``type``)."""

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


@attrs.frozen(kw_only=True)
class AuthorizedInstance:
    """One app instance (or other resource instance) delegated on its own.

    Attributes:
        resource_id: the resource.
        instance_id: the instance.
        instance_ref: Access Management's reference to it.
    """

    resource_id: str | None
    instance_id: str | None
    instance_ref: str | None


@attrs.frozen(kw_only=True, repr=False)
class AuthorizedParty:
    """A party the subject may act for: an organisation (with its sub-units) or a person.

    Parse one with `from_dict`; `AuthorizedPartiesClient` hands them out parsed. The
    ``repr`` masks the national identity number and leaves out the date of birth.

    Attributes:
        party_uuid: the party's UUID.
        name: its name.
        organization_number: an organisation's number (9 digits).
        person_id: a person's national identity number (11 digits).
        party_id: Altinn's party id (an Altinn 2 reportee is ``r{party_id}``).
        type: ``Organization``, ``Person``, ``SelfIdentified`` or ``None``.
        unit_type: an organisation's form: ``AS``, ``BEDR`` (a sub-unit), ``ENK``, ...
        is_deleted: the party was deleted (still listed with ``include_inactive``).
        only_hierarchy_element_with_no_access: a main unit listed only for its sub-units.
        parent_id: a sub-unit's main unit (its party UUID).
        date_of_birth: a person's date of birth.
        authorized_resources: the resources the subject may use for the party (with
            ``include_resources``).
        authorized_roles: the subject's roles for it (with ``include_roles``).
        authorized_access_packages: the subject's access packages (with
            ``include_access_packages``).
        authorized_instances: single instances delegated (with ``include_instances``).
        subunits: its sub-units, as parties.
        document: the JSON object as Access Management sent it (do not modify it).
    """

    party_uuid: str | None
    name: str | None
    organization_number: str | None
    person_id: str | None
    party_id: int | None
    type: str | None
    unit_type: str | None
    is_deleted: bool
    only_hierarchy_element_with_no_access: bool
    parent_id: str | None
    date_of_birth: dt.date | None
    authorized_resources: tuple[str, ...]
    authorized_roles: tuple[str, ...]
    authorized_access_packages: tuple[str, ...]
    authorized_instances: tuple[AuthorizedInstance, ...]
    subunits: tuple[AuthorizedParty, ...]
    document: Mapping[str, Any] = attrs.field(eq=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> AuthorizedParty:
        """The party in one object of an authorized-parties list.

        Raises:
            ResponseFormatError: ``document`` is not an object, or a field has the wrong type.
        """
        return _party(JsonReader(document))

    @property
    def urn(self) -> str | None:
        """The party as Dialogporten names it: ``urn:altinn:organization:identifier-no:{orgno}``
        or ``urn:altinn:person:identifier-no:{pid}`` (``None`` when it has neither number, as
        a self-identified user)."""
        if self.organization_number:
            return f"{ORGANIZATION}:{self.organization_number}"
        if self.person_id:
            return f"{PERSON}:{self.person_id}"
        return None

    @property
    def reportee_id(self) -> str | None:
        """The party as Altinn 2 names it: ``r{party_id}``."""
        return None if self.party_id is None else f"r{self.party_id}"

    def __repr__(self) -> str:
        parts = [
            f"name={self.name!r}",
            f"type={self.type!r}",
            f"party_uuid={self.party_uuid!r}",
            f"party_id={self.party_id!r}",
        ]
        if self.organization_number is not None:
            parts.append(f"organization_number={self.organization_number!r}")
        if self.person_id is not None:
            parts.append(f"person_id={mask_pid(self.person_id)!r}")
        if self.unit_type is not None:
            parts.append(f"unit_type={self.unit_type!r}")
        if self.is_deleted:
            parts.append("is_deleted=True")
        parts.append(f"subunits={len(self.subunits)}")
        return f"AuthorizedParty({', '.join(parts)})"


def _party(r: JsonReader) -> AuthorizedParty:
    party_id = r.document.get("partyId")
    if isinstance(party_id, str) and _DIGITS.fullmatch(party_id):
        party_id = int(party_id)
    elif party_id is not None and (isinstance(party_id, bool) or not isinstance(party_id, int)):
        raise ResponseFormatError(f"{r.path}.partyId is not a number", path=f"{r.path}.partyId")
    return AuthorizedParty(
        party_uuid=r.text("partyUuid"),
        name=r.text("name"),
        organization_number=r.text("organizationNumber"),
        person_id=r.text("personId"),
        party_id=party_id,
        type=r.text("type"),
        unit_type=r.text("unitType"),
        is_deleted=r.flag("isDeleted"),
        only_hierarchy_element_with_no_access=r.flag("onlyHierarchyElementWithNoAccess"),
        parent_id=r.text("parentId"),
        date_of_birth=r.date("dateOfBirth"),
        authorized_resources=r.texts("authorizedResources"),
        authorized_roles=r.texts("authorizedRoles"),
        authorized_access_packages=r.texts("authorizedAccessPackages"),
        authorized_instances=tuple(
            AuthorizedInstance(
                resource_id=i.text("resourceId"),
                instance_id=i.text("instanceId"),
                instance_ref=i.text("instanceRef"),
            )
            for i in r.objects("authorizedInstances")
        ),
        subunits=tuple(_party(s) for s in r.objects("subunits")),
        document=r.document,
    )


def flatten(parties: Iterable[AuthorizedParty]) -> list[AuthorizedParty]:
    """Every party and, after each, its sub-units (depth first), each once, as a list.

    A party that appears twice (as a main unit's sub-unit and on its own, say) comes out the
    first time only, by its party UUID (or its party id, when it has no UUID).

    Example::

        mailboxes = [party.urn for party in flatten(await parties.mine())]
    """
    seen: set[object] = set()
    found: list[AuthorizedParty] = []
    stack = list(reversed(list(parties)))
    while stack:
        party = stack.pop()
        key: object = party.party_uuid or party.party_id or id(party)
        if isinstance(key, str):
            key = key.lower()
        if key in seen:
            continue
        seen.add(key)
        found.append(party)
        stack.extend(reversed(party.subunits))
    return found


def _flags(
    *,
    include_subunits: bool,
    include_roles: bool,
    include_resources: bool,
    include_instances: bool,
    include_access_packages: bool,
    include_inactive: bool | None,
    include_key_roles: bool | None,
    resources: Sequence[str],
) -> list[tuple[str, str]]:
    def word(value: bool) -> str:  # noqa: FBT001
        return "true" if value else "false"

    query = [
        ("includeSubParties", word(include_subunits)),
        ("includeRoles", word(include_roles)),
        ("includeResources", word(include_resources)),
        ("includeInstances", word(include_instances)),
        ("includeAccessPackages", word(include_access_packages)),
    ]
    # Unsent, these are "auto".
    if include_inactive is not None:
        query.append(("includeInactiveParties", word(include_inactive)))
    if include_key_roles is not None:
        query.append(("includePartiesViaKeyRoles", word(include_key_roles)))
    if isinstance(resources, str):
        raise ConfigurationError("resources is a list of resource ids, not one string")
    for resource in resources:
        if not resource:
            raise ConfigurationError("resources must be non-empty resource ids")
        query.append(("anyOfResourceIds", resource))
    return query


def _is_uuid(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _subject(subject: object, kind: str | None) -> tuple[str, str]:
    if not isinstance(subject, str) or not subject.strip():
        raise ConfigurationError("subject must be a non-empty identifier")
    value = subject.strip()
    if kind is None:
        for known in SUBJECT_KINDS:
            if value.startswith(known + ":") and len(value) > len(known) + 1:
                return known, value[len(known) + 1 :]
        if _DIGITS.fullmatch(value) and len(value) == 11:
            return PERSON, value
        if _DIGITS.fullmatch(value) and len(value) == 9:
            return ORGANIZATION, value
        if _is_uuid(value):
            return PARTY_UUID, value
        raise ConfigurationError(
            f"cannot tell what kind of subject {mask_pids(value)!r} is (11 digits: a person, 9: "
            "an organisation, a UUID: a party): pass kind= one of SUBJECT_KINDS"
        )
    if kind not in SUBJECT_KINDS:
        raise ConfigurationError(f"kind {kind!r} is not one of {', '.join(SUBJECT_KINDS)}")
    return kind, value


class AuthorizedPartiesClient(PlatformClient):
    """Access Management's Authorized Parties, over an authenticated ``httpx.AsyncClient``.

    Example::

        async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
            parties = AuthorizedPartiesClient(http)
            mine = await parties.mine(include_resources=True)
            theirs = await parties.of("312345678")          # a resource owner asking

    The whole list comes in one answer (Access Management does not page it). Every request
    goes through the retry policy; `of` is a ``POST`` that only reads, so it is retried as
    a ``GET`` would be. The flags are always sent: the endpoints' defaults differ.

    Args:
        http: a client whose auth gives Altinn tokens (`AltinnExchangeAuth`); Access
            Management refuses Maskinporten and ID-porten tokens.
        platform: the platform base URL, if ``http`` has no ``base_url``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).

    Raises:
        ConfigurationError: there is no platform URL.
    """

    async def mine(
        self,
        *,
        include_subunits: bool = True,
        include_roles: bool = False,
        include_resources: bool = False,
        include_instances: bool = False,
        include_access_packages: bool = False,
        include_inactive: bool | None = None,
        include_key_roles: bool | None = None,
        resources: Sequence[str] = (),
    ) -> list[AuthorizedParty]:
        """The parties the token's user (a person or a system user) may act for
        (``GET /enduser/authorizedparties``).

        Needs the scope ``altinn:accessmanagement/authorizedparties`` (or
        ``altinn:portal/enduser``) in the exchanged token.

        Example::

            for party in flatten(await parties.mine(resources=["skd-melding-x"])):
                ...

        Args:
            include_subunits: list each organisation's sub-units (``includeSubParties``).
            include_roles: fill `AuthorizedParty.authorized_roles`.
            include_resources: fill `AuthorizedParty.authorized_resources`.
            include_instances: fill `AuthorizedParty.authorized_instances`.
            include_access_packages: fill `AuthorizedParty.authorized_access_packages`.
            include_inactive: list deleted parties too (``None``: Access Management decides).
            include_key_roles: list parties reached through a key role such as managing
                director (``None``: Access Management decides).
            resources: only parties where the user has one of these resources
                (``anyOfResourceIds``; unknown ids are ignored).

        Raises:
            ConfigurationError: ``resources`` is a string, or has an empty id.
            APIError: Access Management answered an error (401, 403: scope).
            ResponseFormatError: the answer is not a list of parties.
        """
        query = _flags(
            include_subunits=include_subunits,
            include_roles=include_roles,
            include_resources=include_resources,
            include_instances=include_instances,
            include_access_packages=include_access_packages,
            include_inactive=include_inactive,
            include_key_roles=include_key_roles,
            resources=resources,
        )
        url = httpx.URL(f"{self._base}{_PATH}/enduser/authorizedparties", params=query)
        response = await request(self._http, "GET", url, policy=self._retry, auth=self._auth)
        return await _parties(response, url)

    async def of(
        self,
        subject: str,
        *,
        kind: str | None = None,
        include_subunits: bool = True,
        include_roles: bool = False,
        include_resources: bool = False,
        include_instances: bool = False,
        include_access_packages: bool = False,
        include_inactive: bool | None = None,
        include_key_roles: bool | None = None,
        resources: Sequence[str] = (),
        party_filter: Sequence[str] = (),
    ) -> list[AuthorizedParty]:
        """The parties someone else may act for, asked by a resource owner
        (``POST /resourceowner/authorizedparties``).

        Needs the scope ``altinn:accessmanagement/authorizedparties.resourceowner``. The
        subject goes in the request body (a national identity number never in a URL).

        Example::

            await parties.of("24917298544")                              # a person
            await parties.of("312345678", include_resources=True)        # an organisation
            await parties.of(system_user_id, kind="urn:altinn:systemuser:uuid")

        Args:
            subject: whom to ask about: 11 digits (a person), 9 digits (an organisation), a
                UUID (a party), or a URN of `SUBJECT_KINDS` with its value
                (``urn:altinn:person:identifier-no:…``).
            kind: the subject's kind (one of `SUBJECT_KINDS`) when it cannot be told from
                the value.
            include_subunits: as for `mine`.
            include_roles: as for `mine`.
            include_resources: as for `mine`.
            include_instances: as for `mine`.
            include_access_packages: as for `mine`.
            include_inactive: as for `mine`.
            include_key_roles: as for `mine`.
            resources: as for `mine`.
            party_filter: only these parties (their party UUIDs).

        Raises:
            ConfigurationError: an unknown ``kind``, a subject whose kind cannot be told, a
                ``party_filter`` entry that is not a UUID (all before any request).
            APIError: Access Management answered an error.
            ResponseFormatError: the answer is not a list of parties.
        """
        subject_kind, value = _subject(subject, kind)
        if isinstance(party_filter, str):
            raise ConfigurationError("party_filter is a list of party UUIDs, not one string")
        for party in party_filter:
            if not _is_uuid(party):
                raise ConfigurationError(f"party_filter takes party UUIDs, not {party!r}")
        query = _flags(
            include_subunits=include_subunits,
            include_roles=include_roles,
            include_resources=include_resources,
            include_instances=include_instances,
            include_access_packages=include_access_packages,
            include_inactive=include_inactive,
            include_key_roles=include_key_roles,
            resources=resources,
        )
        body: dict[str, Any] = {"type": subject_kind, "value": value}
        if party_filter:
            body["partyFilter"] = [{"type": PARTY_UUID, "value": p} for p in party_filter]
        url = httpx.URL(f"{self._base}{_PATH}/resourceowner/authorizedparties", params=query)

        async def build() -> httpx.Request:
            return self._http.build_request("POST", url_argument(self._http, url), json=body)

        response = await _send(self._http, build, self._retry, self._auth)
        return await _parties(response, url)


async def _send(
    http: httpx.AsyncClient,
    build: Callable[[], Awaitable[httpx.Request]],
    policy: RetryPolicy,
    auth: httpx.Auth | None,
) -> httpx.Response:
    try:
        # A query that reads: sending it twice is harmless.
        return await send(http, build, policy=policy, idempotent=True, auth=auth)
    except TRANSPORT_ERRORS as exc:
        raise network_error(exc) from exc


async def _parties(response: httpx.Response, url: httpx.URL) -> list[AuthorizedParty]:
    if response.status_code != 200:
        raise await api_error(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    # The enduser endpoint wraps the list ({"links": ..., "data": [...]}); the others do not.
    path = "$"
    if isinstance(body, dict) and "data" in body:
        body, path = body["data"], "$.data"
    if not isinstance(body, list):
        raise ResponseFormatError(
            f"{response.request.method} {safe_url(url)} answered without a list of parties",
            path=path,
        )
    try:
        return [_party(JsonReader(item, f"{path}[{i}]")) for i, item in enumerate(body)]
    except ResponseFormatError as exc:
        raise ResponseFormatError(
            f"{response.request.method} {safe_url(url)}: {exc}", path=exc.path
        ) from None
