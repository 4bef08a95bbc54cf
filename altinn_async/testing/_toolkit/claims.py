"""One reader per token claim, shared by every service that looks at tokens.

Maskinporten, ID-porten and Altinn write these claims; the services that accept the tokens read
them here and nowhere else, so a claim cannot be read two ways.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ISO6523 = "iso6523-actorid-upis"
"""The authority of the organisation identifiers in ``consumer``, ``supplier`` and
``systemuser_org``."""

SYSTEMUSER_TYPE = "urn:altinn:systemuser"
CONSENT_TYPE = "urn:altinn:consent"

CLOCK_SKEW = 10
"""Seconds of clock skew every Digdir and Altinn token validator allows."""

_ISO6523_ID = re.compile(r"0192:(\d{9})")


def number(value: Any) -> float | None:
    """A numeric claim (``iat``, ``exp``, ``nbf``) as a float; None for anything else (booleans
    included, which JSON parsers happily treat as numbers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def lifetime_ok(claims: Mapping[str, Any], now: float, skew: float = CLOCK_SKEW) -> bool:
    """``exp`` present and not more than ``skew`` behind ``now``; ``nbf``, if any, not more than
    ``skew`` ahead of it (.NET's ``ValidateLifetime`` with ``ClockSkew``)."""
    exp = number(claims.get("exp"))
    if exp is None or exp + skew < now:
        return False
    if "nbf" not in claims or claims["nbf"] is None:
        return True
    nbf = number(claims["nbf"])
    return nbf is not None and nbf - skew <= now


def scope_list(value: str) -> list[str]:
    """A space-separated scope string (a ``scope`` claim or parameter) as its scopes, in order,
    each once."""
    return list(dict.fromkeys(s for s in value.split(" ") if s))


def scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The ``scope`` claim as a set (empty when missing or not a string)."""
    scope = claims.get("scope")
    return frozenset(scope_list(scope)) if isinstance(scope, str) else frozenset()


def iso6523_org_number(value: Any) -> str | None:
    """The organisation number of an ISO 6523 identifier,
    ``{"authority": "iso6523-actorid-upis", "ID": "0192:<orgno>"}``; None if it is not one.

    ``ID`` may be spelled ``id``: Digdir's examples write ``ID``, Altinn's system-user guide writes
    ``id`` inside ``systemuser_org``.
    """
    if not isinstance(value, Mapping) or value.get("authority") != ISO6523:
        return None
    identifier = value.get("ID", value.get("id"))
    if not isinstance(identifier, str):
        return None
    found = _ISO6523_ID.fullmatch(identifier)
    return found.group(1) if found else None


def iso6523(org_number: str) -> dict[str, str]:
    """The ISO 6523 identifier of an organisation number, as Maskinporten writes it."""
    return {"authority": ISO6523, "ID": f"0192:{org_number}"}


def consumer_org_number(claims: Mapping[str, Any]) -> str | None:
    """The organisation number in ``consumer`` (Maskinporten, ID-porten access tokens and the
    Altinn tokens exchanged from them), or None."""
    return iso6523_org_number(claims.get("consumer"))


def pid(claims: Mapping[str, Any]) -> str | None:
    """The ``pid`` claim (a national identity number), or None when missing or blank."""
    value = claims.get("pid")
    return value if isinstance(value, str) and value.strip() else None


def _text(value: Any) -> str | None:
    # .NET writes claims as strings; Altinn's 2023 code wrote some as numbers.
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def altinn_org(claims: Mapping[str, Any]) -> str | None:
    """``urn:altinn:org``: the service owner's code (``ttd``), for a service owner's token."""
    return _text(claims.get("urn:altinn:org"))


def altinn_org_number(claims: Mapping[str, Any]) -> str | None:
    """``urn:altinn:orgNumber`` (a string since 2025, a number in the 2023 code: both read)."""
    return _text(claims.get("urn:altinn:orgNumber"))


def altinn_user_id(claims: Mapping[str, Any]) -> str | None:
    """``urn:altinn:userid``: set for an end user's token."""
    return _text(claims.get("urn:altinn:userid"))


def altinn_party_id(claims: Mapping[str, Any]) -> str | None:
    """``urn:altinn:partyid``: an end user's own party."""
    return _text(claims.get("urn:altinn:partyid"))


@dataclass(frozen=True, slots=True)
class SystemUserClaim:
    """The system user a token names (``authorization_details`` of type
    ``urn:altinn:systemuser``, after Maskinporten filled it in).

    Attributes:
        ids: ``systemuser_id`` (one id in practice).
        org_number: the system user's owner, the customer (``systemuser_org``).
        system_id: the vendor's system (``system_id``), if named.
    """

    ids: tuple[str, ...]
    org_number: str
    system_id: str | None


def system_user(claims: Mapping[str, Any]) -> SystemUserClaim | None:
    """The system user of a token, or None.

    Maskinporten writes ``authorization_details`` as an array; an Altinn token exchanged from it
    carries the single entry as an object (.NET writes a one-value claim back as the value). Like
    Altinn's ``FindFirstValue``, only the first entry counts.
    """
    details = claims.get("authorization_details")
    entry = details[0] if isinstance(details, list) and details else details
    if not isinstance(entry, Mapping) or entry.get("type") != SYSTEMUSER_TYPE:
        return None
    ids = entry.get("systemuser_id")
    org_number = iso6523_org_number(entry.get("systemuser_org"))
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, str) and i for i in ids)
        or org_number is None
    ):
        return None
    system_id = entry.get("system_id")
    return SystemUserClaim(
        tuple(ids), org_number, system_id if isinstance(system_id, str) else None
    )
