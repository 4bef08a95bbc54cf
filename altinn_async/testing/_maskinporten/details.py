"""``authorization_details`` of a grant (RFC 9396): one ``urn:altinn:systemuser`` entry, filled in
with the system user it names (``altinn-protocol.md`` §6.4)."""

from __future__ import annotations

from typing import Any

from .._toolkit.claims import CONSENT_TYPE, SYSTEMUSER_TYPE, iso6523_org_number
from .errors import invalid_details
from .model import MaskinportenClient
from .system_register import SystemRegister

_SYSTEMUSER_FIELDS = frozenset({"type", "systemuser_org", "externalRef"})
_NOT_AN_ARRAY = (
    "Invalid authorization details values: authorization_details must be a non-empty array of "
    "objects"
)


def authorization_details(
    claims: dict[str, Any], client: MaskinportenClient, register: SystemRegister
) -> list[dict[str, Any]] | None:
    """The token's ``authorization_details`` for the grant's, or None when it asks for none.

    Raises:
        GrantError: MP-301 (unknown type), MP-302 (unknown field) or MP-303 (invalid values,
            including no such system user).
    """
    details = claims.get("authorization_details")
    if details is None:
        return None
    if not isinstance(details, list) or not details:
        raise invalid_details("MP-303", _NOT_AN_ARRAY)
    result: list[dict[str, Any]] = []
    for entry in details:
        if not isinstance(entry, dict):
            raise invalid_details("MP-303", _NOT_AN_ARRAY)
        kind = entry.get("type")
        if kind not in (SYSTEMUSER_TYPE, CONSENT_TYPE):
            raise invalid_details("MP-301", f"Unknown authorization details type: {kind}")
        if kind == CONSENT_TYPE:
            raise invalid_details(
                "MP-303",
                "Invalid authorization details values: no consent found for the request "
                "(the emulator has no consents)",
            )
        result.append(_system_user_entry(entry, client, register))
    if len(result) > 1:
        raise invalid_details(
            "MP-303",
            "Invalid authorization details values: only one urn:altinn:systemuser entry is allowed",
        )
    return result


def _system_user_entry(
    entry: dict[str, Any], client: MaskinportenClient, register: SystemRegister
) -> dict[str, Any]:
    unknown = sorted(set(entry) - _SYSTEMUSER_FIELDS)
    if unknown:
        raise invalid_details(
            "MP-302", f"Unknown fields in the authorization details: {', '.join(unknown)}"
        )
    customer = iso6523_org_number(entry.get("systemuser_org"))
    if customer is None:
        raise invalid_details("MP-303", "Invalid authorization details values: systemuser_org")
    external_ref = entry.get("externalRef")
    if external_ref is not None and not isinstance(external_ref, str):
        raise invalid_details("MP-303", "Invalid authorization details values: externalRef")
    user = register.for_grant(client, customer, external_ref)
    if user is None:
        raise invalid_details(
            "MP-303",
            "Invalid authorization details values: no system user found for client "
            f"{client.client_id} and systemuser_org 0192:{customer}",
        )
    return {**entry, "systemuser_id": [user.id], "system_id": user.system_for(client)}
