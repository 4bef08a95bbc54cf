"""The scopes API's bodies and documents (``maskinporten-selfservice.md`` §6, §9.9-11): an API
scope as a provider posts and puts it, a scope and a ConsumerRegistration as the API shows them,
and the delegation sources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._maskinporten import ApiScope, ScopeAccess
from .clients import INTEGRATION_TYPES
from .errors import FieldError, iso_ms

VISIBILITIES = ("PUBLIC", "PRIVATE", "INTERNAL")
TOKEN_TYPES = ("SELF_CONTAINED", "OPAQUE")
SUBSCOPE = re.compile(r"[A-Za-z0-9._:-]+(?:/[A-Za-z0-9._:-]+)*")
"""A subscope: segments of letters, digits and ``._:-`` between single slashes. Digdir's own
rule is unknown (§10.8); this admits every live scope seen, which Altinn's regex does not."""
PREFIX = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_OBJECT = "Scope"

_SHOWN_FLAGS = (
    "requires_user_consent",
    "requires_user_authentication",
    "requires_pseudonymous_tokens",
    "protected",
    "supports_european_businesses",
)
_SERVER_SET = frozenset({"name", "owner_orgno", "created", "last_updated"})
_KNOWN = frozenset(
    {
        "prefix",
        "subscope",
        "description",
        "long_description",
        "visibility",
        "token_type",
        "allowed_integration_types",
        "at_max_age",
        "authorization_max_lifetime",
        "accessible_for_all",
        "delegation_source",
        "enforced_aud_for_access_token",
        "active",
        *_SHOWN_FLAGS,
    }
)
_LOCALISED = re.compile(r"(?:long_)?description#[a-z]{2}")


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """A validated POST or PUT body of a scope (``active`` None: not given)."""

    prefix: str
    subscope: str
    description: str
    long_description: str | None
    visibility: str
    accessible_for_all: bool
    allowed_integration_types: tuple[str, ...]
    at_max_age: int
    delegation_source: str | None
    active: bool | None
    extra: dict[str, Any]

    @property
    def name(self) -> str:
        """``prefix:subscope``."""
        return f"{self.prefix}:{self.subscope}"


def _fail(errors: list[FieldError], name: str, message: str) -> None:
    errors.append(FieldError(name, message, _OBJECT))


def _nonnegative(body: Mapping[str, Any], name: str, errors: list[FieldError], default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        _fail(errors, name, f"{name} must be 0 or a positive number of seconds")
        return default
    return value


def parse_scope(
    body: Any,
    *,
    strict: bool,
    delegation_sources: tuple[str, ...],
    existing: ApiScope | None = None,
) -> ScopeRequest | list[FieldError]:
    """The scope a POST body (or, with ``existing``, a PUT body) describes, or its errors."""
    errors: list[FieldError] = []
    if not isinstance(body, Mapping):
        return [FieldError("body", "the body must be a JSON object (the scope)", _OBJECT)]
    if strict:
        for name in sorted(set(body) - _KNOWN - _SERVER_SET):
            if not _LOCALISED.fullmatch(name):
                _fail(errors, name, f"{name} is not a field of the scope")
    prefix, subscope = _name(body, existing, errors)
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        _fail(errors, "description", "description is required (a non-empty string)")
        description = ""
    long_description = body.get("long_description")
    if long_description is not None and not isinstance(long_description, str):
        _fail(errors, "long_description", "long_description must be a string")
        long_description = None
    visibility = _enum(body, "visibility", VISIBILITIES, errors)
    types = body.get("allowed_integration_types")
    if types is None:
        types = []
    if not isinstance(types, list) or not all(t in INTEGRATION_TYPES for t in types):
        _fail(
            errors,
            "allowed_integration_types",
            f"allowed_integration_types must be an array of {', '.join(INTEGRATION_TYPES)}",
        )
        types = []
    flags = _flags(body, errors)
    source = body.get("delegation_source")
    if source is not None and source not in delegation_sources:
        _fail(
            errors,
            "delegation_source",
            f"delegation_source must be the issuer of a delegation source "
            f"({', '.join(delegation_sources)}), got {source!r}",
        )
    at_max_age = _nonnegative(body, "at_max_age", errors, 0)
    extra = _shown(body, flags, errors)
    if errors:
        return errors
    return ScopeRequest(
        prefix=prefix,
        subscope=subscope,
        description=description,
        long_description=long_description,
        visibility=visibility,
        accessible_for_all=flags["accessible_for_all"],
        allowed_integration_types=tuple(dict.fromkeys(types)),
        at_max_age=at_max_age,
        delegation_source=source,
        active=body.get("active") if isinstance(body.get("active"), bool) else None,
        extra=extra,
    )


def _name(
    body: Mapping[str, Any], existing: ApiScope | None, errors: list[FieldError]
) -> tuple[str, str]:
    """``(prefix, subscope)``; on PUT they cannot change (leaving them out keeps them)."""
    prefix, subscope = body.get("prefix"), body.get("subscope")
    if existing is not None:
        for part, value, current in (
            ("prefix", prefix, existing.prefix),
            ("subscope", subscope, existing.subscope),
        ):
            if value is not None and value != current:
                _fail(errors, part, f"{part} cannot change (it is {current}): the name is fixed")
        return existing.prefix, existing.subscope
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        _fail(errors, "prefix", "prefix is required: lower-case letters and digits")
        prefix = ""
    if not isinstance(subscope, str) or not SUBSCOPE.fullmatch(subscope):
        _fail(
            errors,
            "subscope",
            "subscope is required: letters, digits and ._:- in segments separated by /",
        )
        subscope = ""
    return prefix, subscope


def _enum(
    body: Mapping[str, Any], name: str, allowed: tuple[str, ...], errors: list[FieldError]
) -> str:
    """One of ``allowed``, the first when omitted."""
    value = body.get(name)
    if value is None:
        return allowed[0]
    if value not in allowed:
        _fail(errors, name, f"{name} must be one of {', '.join(allowed)}")
        return allowed[0]
    return str(value)


def _flags(body: Mapping[str, Any], errors: list[FieldError]) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for name in ("accessible_for_all", "active", *_SHOWN_FLAGS):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            _fail(errors, name, f"{name} must be true or false")
        flags[name] = value is True
    return flags


def _shown(
    body: Mapping[str, Any], flags: Mapping[str, bool], errors: list[FieldError]
) -> dict[str, Any]:
    """What is shown but not enforced: token type, authorization lifetime, the other flags,
    the enforced audience and the localised descriptions."""
    extra: dict[str, Any] = {
        "token_type": _enum(body, "token_type", TOKEN_TYPES, errors),
        "authorization_max_lifetime": _nonnegative(body, "authorization_max_lifetime", errors, 0),
        **{name: flags[name] for name in _SHOWN_FLAGS},
    }
    enforced_aud = body.get("enforced_aud_for_access_token")
    if isinstance(enforced_aud, str):
        extra["enforced_aud_for_access_token"] = enforced_aud
    elif enforced_aud is not None:
        _fail(errors, "enforced_aud_for_access_token", "must be a string")
    for name, value in body.items():
        if not _LOCALISED.fullmatch(name):
            continue
        if isinstance(value, str):
            extra[name] = value
        else:
            _fail(errors, name, f"{name} must be a string")
    return extra


def render_scope(scope: ApiScope) -> dict[str, Any]:
    """A scope, in the order of the live ``/scopes/all`` documents."""
    extra = scope.extra
    document: dict[str, Any] = {
        "prefix": scope.prefix,
        "subscope": scope.subscope,
        "description": scope.description,
    }
    if scope.long_description is not None:
        document["long_description"] = scope.long_description
    document.update({k: v for k, v in extra.items() if _LOCALISED.fullmatch(k)})
    document.update(
        {
            "active": scope.active,
            "created": iso_ms(scope.created),
            "last_updated": iso_ms(scope.last_updated),
            "allowed_integration_types": list(scope.allowed_integration_types),
            "owner_orgno": scope.owner_org,
            "token_type": extra.get("token_type", "SELF_CONTAINED"),
            "visibility": scope.visibility,
            "requires_user_consent": extra.get("requires_user_consent", False),
            "requires_user_authentication": extra.get("requires_user_authentication", False),
            "requires_pseudonymous_tokens": extra.get("requires_pseudonymous_tokens", False),
            "at_max_age": scope.at_max_age,
            "authorization_max_lifetime": extra.get("authorization_max_lifetime", 0),
            "accessible_for_all": scope.accessible_for_all,
            "name": scope.name,
            "protected": extra.get("protected", False),
            "supports_european_businesses": extra.get("supports_european_businesses", False),
        }
    )
    if scope.delegation_source is not None:
        document["delegation_source"] = scope.delegation_source
    if "enforced_aud_for_access_token" in extra:
        document["enforced_aud_for_access_token"] = extra["enforced_aud_for_access_token"]
    return document


def render_access(entry: ScopeAccess, owner_org: str) -> dict[str, Any]:
    """A ConsumerRegistration (``prefix`` null, as in Digdir's example)."""
    return {
        "scope": entry.scope,
        "state": entry.state,
        "prefix": None,
        "created": iso_ms(entry.created),
        "consumer_orgno": entry.consumer_org,
        "last_updated": iso_ms(entry.last_updated),
        "owner_orgno": owner_org,
    }


def valid_org_number(value: str) -> bool:
    """Whether ``value`` is 9 digits with a valid modulus-11 check digit (as every number in
    the Central Coordinating Register for Legal Entities has)."""
    if not (len(value) == 9 and value.isascii() and value.isdigit()):
        return False
    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    remainder = sum(int(d) * w for d, w in zip(value, weights, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(value[8])
