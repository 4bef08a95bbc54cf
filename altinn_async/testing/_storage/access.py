"""Who may read which instances: service owners (by scope and org), the sync adapter and end
users (``InstancesController.AuthorizeCaller``; ``altinn-protocol.md`` §5.1).

The emulator's PDP knows no roles or delegations: a person may read what their own party owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._toolkit.claims import scopes
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

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        """The caller a verified Altinn token names."""
        org, org_number = claims.get("urn:altinn:org"), claims.get("urn:altinn:orgNumber")
        user_id, party = claims.get("urn:altinn:userid"), claims.get("urn:altinn:partyid")
        return cls(
            org=org if isinstance(org, str) and org else None,
            org_number=str(org_number) if org_number is not None else None,
            scopes=scopes(claims),
            user_id=str(user_id) if user_id is not None else None,
            party_id=str(party) if party is not None else None,
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
        """The emulator's PDP: a person reads their own party's instances."""
        return self.user_id is not None and self.party_id == instance.party_id

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
        if caller.user_id is None:
            # Neither a service owner nor an end user (system users are not emulated).
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
