"""Who may read which instances: service owners (by scope and org), the sync adapter, end users,
and system users.

Read from altinn-storage (``Altinn/altinn-storage`` at ``d9364e40``):

- ``src/Storage/Controllers/InstancesController.cs``: ``AuthorizeCaller`` takes an
  ``urn:altinn:org`` caller through the scope and org checks; an end user (``urn:altinn:userid``)
  *or a system user* (``User.GetSystemUser() is not null``) must name the instance owner
  (``instanceOwner.partyId`` or ``X-Ai-InstanceOwnerIdentifier``); anyone else gets
  ``BadRequest()``. For callers without a service-owner scope (``HasServiceOwnerScope``) or the
  sync adapter scope, the page is fetched and then filtered by the PDP (``AuthorizeInstances``),
  and a single instance needs the PDP's ``read`` (``AuthorizeEnrichedInstanceAction``).
- ``src/Storage/Helpers/ClaimsPrincipalExtensions.cs``: the system user is the
  ``authorization_details`` claim read as a ``SystemUserClaim``; its owner is the organisation
  number in ``systemuser_org`` (``GetSystemUserOwner``, authority ``iso6523-actorid-upis``).
- ``Altinn/altinn-authentication``, ``src/Authentication/Helpers/SpecificDecisionHelper.cs``:
  the PDP's subject is the system user (its ``systemuser_id``), whose rights the owner delegated.

The emulator's PDP knows no roles, delegations or rights: a person may read what their own party
owns, and a system user what its owner organisation owns (the instance's
``instanceOwner.organisationNumber``), which is what a system user acting for its customer's
party is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._toolkit.claims import (
    SystemUserClaim,
    altinn_org,
    altinn_org_number,
    altinn_party_id,
    altinn_user_id,
    scopes,
    system_user,
)
from .._toolkit.responses import empty_response, problem_response
from .._toolkit.router import Refusal
from .model import StoredInstance
from .query import InstanceQuery, bad_request

READ_SCOPE = "altinn:serviceowner/instances.read"
WRITE_SCOPE = "altinn:serviceowner/instances.write"
SYNC_ADAPTER_SCOPE = "altinn:storage/instances.syncadapter"


def forbidden() -> Refusal:
    """``Forbid()``: 403 without a body."""
    return Refusal(empty_response(403))


@dataclass(frozen=True, slots=True)
class Caller:
    """What Storage reads from an Altinn token."""

    org: str | None  # urn:altinn:org, for service owners
    org_number: str | None  # urn:altinn:orgNumber
    scopes: frozenset[str]
    user_id: str | None  # an end user (urn:altinn:userid) ...
    party_id: str | None  # ... and their own party (urn:altinn:partyid)
    system_user: SystemUserClaim | None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        """The caller a verified Altinn token names."""
        return cls(
            org=altinn_org(claims),
            org_number=altinn_org_number(claims),
            scopes=scopes(claims),
            user_id=altinn_user_id(claims),
            party_id=altinn_party_id(claims),
            system_user=system_user(claims),
        )

    @property
    def sync_adapter(self) -> bool:
        """The sync adapter reads every org's instances."""
        return SYNC_ADAPTER_SCOPE in self.scopes

    @property
    def reads_unfiltered(self) -> bool:
        """Service owners and the sync adapter get pages without the PDP filter."""
        return self.sync_adapter or any("altinn:serviceowner" in s for s in self.scopes)

    def pdp_permits(self, instance: StoredInstance) -> bool:
        """The emulator's PDP: a person reads their own party's instances, a system user its
        owner organisation's."""
        if self.user_id is not None and self.party_id == instance.party_id:
            return True
        return self.system_user is not None and (
            self.system_user.org_number == instance.owner_org_number
        )

    def may_read(self, instance: StoredInstance) -> bool:
        """``read`` on one instance."""
        if self.sync_adapter or self.pdp_permits(instance):
            return True
        return self.org == instance.org and bool({READ_SCOPE, WRITE_SCOPE} & self.scopes)


def authorize_query(caller: Caller, query: InstanceQuery) -> None:
    """``AuthorizeCaller``: may the query run at all?

    Raises:
        Refusal: 403 for a service owner without the scope or asking for another org, 400 for a
            query that does not say whose instances it wants.
    """
    if caller.org is None:
        if caller.user_id is None and caller.system_user is None:
            # Neither a service owner, nor an end user, nor a system user.
            raise Refusal(problem_response(400))
        if query.party_id is None:
            raise bad_request(
                "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined."
            )
        return
    if not caller.sync_adapter and READ_SCOPE not in caller.scopes:
        raise forbidden()
    if not query.org and not query.app_id:
        raise bad_request("Org or AppId must be defined.")
    if not query.org and query.app_id:
        query.org = query.app_id.split("/")[0]
    if not caller.sync_adapter and caller.org.lower() != (query.org or "").lower():
        if not query.app_id:
            raise bad_request("AppId must be defined.")
        # The cross-org PDP decision: the emulator grants no cross-org access.
        raise forbidden()
