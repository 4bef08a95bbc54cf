"""The client model (``maskinporten-selfservice.md`` §3, §9.4-6): what a POST or PUT body may
hold, the allowed combinations of integration type, application type, authentication method and
grant types, the defaults, and how a client is rendered.

Two modes. Both refuse a value that is malformed, unknown to its enum or not allowed in its
combination. Lenient (the default) fills in a missing application type, authentication method
or grant types with the integration type's own, and ignores fields it does not know, the 2019
API's ``client_type`` and ``token_reference`` among them (whether today's API ignores or refuses
them is unconfirmed, §10.3). Strict requires those three fields and refuses unknown ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._maskinporten import JWT_BEARER
from .._toolkit.register import ORG_NUMBER
from .errors import FieldError, iso_ms
from .model import ClientRegistration

INTEGRATION_TYPES = (
    "idporten",
    "api_klient",
    "ansattporten",
    "maskinporten",
    "krr",
    "eformidling",
    "idporten_saml2",
)
APPLICATION_TYPES = ("web", "browser", "native")
AUTH_METHODS = ("private_key_jwt", "client_secret_basic", "client_secret_post", "none")
GRANT_TYPES = (JWT_BEARER, "authorization_code", "refresh_token")
REFRESH_TOKEN_USAGES = ("ONETIME", "REUSE")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")

MASKINPORTEN_TYPES = frozenset({"maskinporten", "krr", "eformidling"})
"""Integration types whose clients get Maskinporten tokens (jwt-bearer): the emulated
Maskinporten knows them."""
LOGIN_TYPES = frozenset({"idporten", "api_klient", "ansattporten"})

KRR_SCOPES = ("krr:global/kontaktinformasjon.read", "krr:global/digitalpost.read")
LOGIN_SCOPES = ("openid", "profile")
IDPORTEN_SCOPES = frozenset({"openid", "profile", "eidas", "no_pid"})

LIFETIMES = {
    "access_token_lifetime": 120,
    "authorization_lifetime": 7200,
    "refresh_token_lifetime": 600,
}

_STRINGS = ("client_name", "client_uri", "frontchannel_logout_uri")
_URI_LISTS = ("redirect_uris", "post_logout_redirect_uris")
_BOOLEANS = ("frontchannel_logout_session_required", "sso_disabled")
_SERVER_SET = frozenset(
    {
        "client_id",
        "supplier_orgno",
        "active",
        "created",
        "last_updated",
        "client_secret",
        "onbehalfof",
        "jwks_uri",
        "jwks",
    }
)
LEGACY_FIELDS = frozenset(
    {"client_type", "token_reference", "display_name", "default_scopes", "force_pkce", "logo_uri"}
)
_KNOWN = frozenset(
    {
        "description",
        "integration_type",
        "application_type",
        "token_endpoint_auth_method",
        "grant_types",
        "scopes",
        "refresh_token_usage",
        "code_challenge_method",
        "client_orgno",
        *_STRINGS,
        *_URI_LISTS,
        *_BOOLEANS,
        *LIFETIMES,
    }
)


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A validated POST or PUT body.

    ``registry_scopes`` are the scopes the scope registry must allow (every scope of a
    Maskinporten client; those beyond the built-in login scopes of a login client).
    """

    integration_type: str
    fields: dict[str, Any]
    scopes: tuple[str, ...]
    registry_scopes: tuple[str, ...]
    client_orgno: str | None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(value: Any, allowed: tuple[str, ...]) -> bool:
    return isinstance(value, str) and value in allowed


class _Reader:
    """Collects the field errors of one body."""

    def __init__(self, body: Mapping[str, Any], *, strict: bool) -> None:
        self.body = body
        self.strict = strict
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def enum(self, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        """A value of ``allowed``; ``default`` when missing (None: the field is required)."""
        value = self.body.get(name)
        if value is None:
            if default is None:
                self.fail(name, f"{name} is required: one of {', '.join(allowed)}")
            return default
        if not _one_of(value, allowed):
            self.fail(name, f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return None
        return str(value)

    def strings(self, name: str) -> list[str] | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(name, f"{name} must be an array of non-empty strings")
            return None
        return list(dict.fromkeys(value))


def parse_client(
    body: Any, *, strict: bool, existing: ClientRegistration | None = None
) -> ClientRequest | list[FieldError]:
    """The client a POST (or, with ``existing``, a PUT) body describes, or its field errors."""
    if not isinstance(body, Mapping):
        return [FieldError("body", "the body must be a JSON object (the client model)")]
    read = _Reader(body, strict=strict)
    if strict:
        for name in sorted(set(body) - _KNOWN - _SERVER_SET):
            read.fail(name, f"{name} is not a field of the client model")
    integration_type = read.enum("integration_type", INTEGRATION_TYPES, None)
    if existing is not None and integration_type not in (None, existing.integration_type):
        read.fail(
            "integration_type",
            f"integration_type cannot change (the client is {existing.integration_type}): "
            "create a new client instead",
        )
    fields = _plain_fields(read)
    client_orgno = body.get("client_orgno")
    if client_orgno is not None and (
        not isinstance(client_orgno, str) or not ORG_NUMBER.fullmatch(client_orgno)
    ):
        read.fail("client_orgno", "client_orgno must be a 9-digit organisation number")
        client_orgno = None
    scopes: tuple[str, ...] = ()
    registry: tuple[str, ...] = ()
    if integration_type is not None:
        _combination(read, integration_type, fields)
        scopes, registry = _scopes(read, integration_type)
    if read.errors or integration_type is None:
        return read.errors
    return ClientRequest(integration_type, fields, scopes, registry, client_orgno)


def _plain_fields(read: _Reader) -> dict[str, Any]:
    """The fields that stand on their own: texts, URIs, flags, lifetimes, refresh and PKCE."""
    body = read.body
    fields: dict[str, Any] = {}
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        read.fail("description", "description is required (a non-empty string)")
    else:
        fields["description"] = description
    for name in _STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            read.fail(name, f"{name} must be a string")
        elif value is not None:
            fields[name] = value
    for name in _URI_LISTS:
        uris = read.strings(name)
        if uris is not None:
            fields[name] = uris
    for name in _BOOLEANS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            read.fail(name, f"{name} must be true or false")
        fields[name] = value is True
    for name, default in LIFETIMES.items():
        fields[name] = _lifetime(read, name, default)
    usage = read.enum("refresh_token_usage", REFRESH_TOKEN_USAGES, "ONETIME")
    fields["refresh_token_usage"] = usage or "ONETIME"
    if body.get("code_challenge_method") is not None:
        fields["code_challenge_method"] = read.enum("code_challenge_method", ("S256",), None)
    return fields


def _lifetime(read: _Reader, name: str, default: int) -> int:
    """A lifetime in seconds: the default when omitted; 0 is refused (since about 2025-07)."""
    value = read.body.get(name)
    if value is None:
        return default
    if not _is_int(value) or value < 1:
        read.fail(
            name,
            f"{name} must be a positive number of seconds (omit it for the default {default}), "
            f"got {value!r}",
        )
        return default
    return int(value)


def _pick(  # noqa: PLR0917 - the field, its enum, the combination's values, and why
    read: _Reader,
    name: str,
    known: tuple[str, ...],
    allowed: tuple[str, ...],
    default: str,
    context: str,
) -> str | None:
    """One of the combination's fields: known to its enum and allowed in the combination;
    ``default`` when missing in lenient mode."""
    value = read.body.get(name)
    if value is None:
        if read.strict:
            read.fail(name, f"{name} is required ({context} use {' or '.join(allowed)})")
        return default
    if not _one_of(value, known):
        read.fail(name, f"{name} must be one of {', '.join(known)}, got {value!r}")
        return None
    if value not in allowed:
        read.fail(name, f"{context} use {name} {' or '.join(allowed)}, not {value}")
        return None
    return str(value)


def _combination(read: _Reader, integration_type: str, fields: dict[str, Any]) -> None:
    """The application type, authentication method and grant types, checked against the
    integration type (D-clientreg's table; strict since the 2025 API)."""
    context = f"{integration_type} clients"
    if integration_type in MASKINPORTEN_TYPES:
        application = _pick(read, "application_type", APPLICATION_TYPES, ("web",), "web", context)
        methods: tuple[str, ...] = ("private_key_jwt",)
        grants_allowed: tuple[str, ...] = (JWT_BEARER,)
        required = JWT_BEARER
    else:
        application = _pick(
            read, "application_type", APPLICATION_TYPES, APPLICATION_TYPES, "web", context
        )
        if application in ("browser", "native"):
            methods = ("none",)
        else:
            methods = ("client_secret_basic", "client_secret_post", "private_key_jwt")
        grants_allowed = ("authorization_code", "refresh_token")
        required = "authorization_code"
    if application is not None:
        context = f"{integration_type} clients of application_type {application}"
    method = _pick(read, "token_endpoint_auth_method", AUTH_METHODS, methods, methods[0], context)
    grants = read.strings("grant_types")
    if read.body.get("grant_types") is None:
        if read.strict:
            read.fail("grant_types", f"grant_types is required ({context} use {required})")
        grants = [required]
    elif grants is not None:
        unknown = [g for g in grants if g not in GRANT_TYPES]
        if unknown:
            read.fail(
                "grant_types",
                f"grant_types must be of {', '.join(GRANT_TYPES)}, got {', '.join(unknown)}",
            )
        elif required not in grants or any(g not in grants_allowed for g in grants):
            read.fail(
                "grant_types",
                f"{context} use the grant types {', '.join(grants_allowed)} (with {required}), "
                f"not {', '.join(grants) or 'none'}",
            )
    fields["application_type"] = application
    fields["token_endpoint_auth_method"] = method
    fields["grant_types"] = grants or []


def _scopes(read: _Reader, integration_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The client's scopes, and those the scope registry must allow."""
    listed = read.strings("scopes")
    if integration_type == "krr":
        scopes = KRR_SCOPES if listed is None else tuple(listed)
        extra = [s for s in scopes if s not in KRR_SCOPES]
        if extra:
            read.fail("scopes", f"krr clients may not add scopes: {', '.join(extra)}")
        return scopes, ()
    if integration_type in MASKINPORTEN_TYPES:
        scopes = tuple(listed or ())
        if not scopes:
            read.fail("scopes", f"a {integration_type} client needs at least one scope")
        return scopes, scopes
    scopes = LOGIN_SCOPES if listed is None else tuple(listed)
    if integration_type == "idporten":
        extra = [s for s in scopes if s not in IDPORTEN_SCOPES]
        if extra:
            read.fail(
                "scopes",
                "idporten clients may add only eidas and no_pid; use an api_klient for "
                f"{', '.join(extra)}",
            )
        return scopes, ()
    return scopes, tuple(s for s in scopes if s not in IDPORTEN_SCOPES)


def render_client(
    registration: ClientRegistration, scopes: tuple[str, ...] | list[str]
) -> dict[str, Any]:
    """The client model, in the order of Digdir's responses."""
    fields = registration.fields
    document: dict[str, Any] = {}
    if "client_name" in fields:
        document["client_name"] = fields["client_name"]
    document.update(
        {
            "description": fields["description"],
            "scopes": list(scopes),
            "authorization_lifetime": fields["authorization_lifetime"],
            "access_token_lifetime": fields["access_token_lifetime"],
            "refresh_token_lifetime": fields["refresh_token_lifetime"],
            "refresh_token_usage": fields["refresh_token_usage"],
            "frontchannel_logout_session_required": fields["frontchannel_logout_session_required"],
            "sso_disabled": fields["sso_disabled"],
            "token_endpoint_auth_method": fields["token_endpoint_auth_method"],
            "grant_types": list(fields["grant_types"]),
            "integration_type": registration.integration_type,
            "application_type": fields["application_type"],
        }
    )
    for name in ("client_uri", "frontchannel_logout_uri", "code_challenge_method", *_URI_LISTS):
        if name in fields:
            document[name] = fields[name]
    document.update(
        {
            "last_updated": iso_ms(registration.last_updated),
            "created": iso_ms(registration.created),
            "client_id": registration.client_id,
            "client_orgno": registration.client_orgno,
        }
    )
    if registration.supplier_orgno is not None:
        document["supplier_orgno"] = registration.supplier_orgno
    document["active"] = registration.active
    return document


def seeded_fields(client_id: str) -> dict[str, Any]:
    """The registration of a client seeded straight into Maskinporten
    (``add_maskinporten_client``), as the self-service API first shows it."""
    return {
        "client_name": client_id,
        "description": client_id,
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": [JWT_BEARER],
        "refresh_token_usage": "ONETIME",
        "frontchannel_logout_session_required": False,
        "sso_disabled": False,
        **LIFETIMES,
    }
