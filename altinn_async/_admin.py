"""Digdir's self-service API: Maskinporten clients, their keys, API scopes and who may use them.

The API (``https://api[.test].samarbeid.digdir.no/api/v1``, `Environment.selfservice`) takes a
Maskinporten token of an admin client with the ``idporten:dcr.*`` and ``idporten:scopes.write``
scopes, got with the enterprise certificate or a key registered on the admin client, without a
``resource`` and without Altinn's exchange (`MaskinportenAdmin.auth`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

import anyio
import attrs
import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from ._auth import TokenAuth
from ._environment import Environment, check_url
from ._hal import json_kind
from ._http import network_error, origin, read_error_body, retry_after, safe_url
from ._httpcompat import TRANSPORT_ERRORS, AsyncClient, as_httpx, url_argument
from ._keys import ALGORITHMS, Signer, SigningKey
from ._maskinporten import MaskinportenAuth
from ._origins import ForeignOrigins, OriginPolicy
from ._retry import RetryPolicy, send
from ._times import format_time, parse_time
from ._tokens import Clock, TokenCache
from .exceptions import (
    ConfigurationError,
    KeyLoadError,
    KeyRotationError,
    ResponseFormatError,
    SelfServiceError,
)

__all__ = [
    "ADMIN_SCOPES",
    "ApiScope",
    "ClientKey",
    "ClientKeys",
    "ClientRegistration",
    "DelegationSource",
    "KeyRotation",
    "MaskinportenAdmin",
    "ScopeAccess",
]

logger = logging.getLogger("altinn_async")

ADMIN_SCOPES: tuple[str, ...] = ("idporten:dcr.read", "idporten:dcr.write")
"""The admin scopes `MaskinportenAdmin.auth` asks for by default: read, create, change and delete
the organisation's clients and their keys. An API provider adds ``idporten:scopes.write`` for
scopes and access lists."""

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_KEYS = 5
"""The most keys Digdir keeps on one client."""

_KID = re.compile(r"[A-Za-z0-9._-]+")
_ORG_NUMBER = re.compile(r"\d{9}")
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_LIFETIMES = ("access_token_lifetime", "authorization_lifetime", "refresh_token_lifetime")
# Set by the server; a PUT sends the rest of the model back (D-scopesapi: drop these two).
_SERVER_TIMES = frozenset({"created", "last_updated"})
_NOTHING_YET = "does not have any"

# --- the models ----------------------------------------------------------------------------------

_KIND = "altinn_kind"
_Kind = Literal["text", "texts", "int", "bool", "time"]


def _texts(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigurationError(f"give a list of strings, not the string {value!r}")
    return tuple(value)


_TEXT = {_KIND: "text"}
_TEXTS = {_KIND: "texts"}
_INT = {_KIND: "int"}
_BOOL = {_KIND: "bool"}
_TIME = {_KIND: "time"}


def _members(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _kinds(cls: type) -> dict[str, _Kind]:
    return {
        field.name: field.metadata[_KIND] for field in attrs.fields(cls) if _KIND in field.metadata
    }


def _wrong(path: str, name: str, value: object, wanted: str) -> ResponseFormatError:
    where = f"{path}.{name}"
    return ResponseFormatError(f"{where} is {json_kind(value)}, not {wanted}", path=where)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "text": (_is_text, "a string"),
    "texts": (_is_texts, "an array of strings"),
    "int": (_is_int, "an integer"),
    "bool": (_is_bool, "a boolean"),
}


def _load(cls: type, data: object, path: str) -> dict[str, Any]:
    """The constructor arguments of model ``cls`` from a JSON object; what it does not type, or
    could not read as a time, goes to ``extra`` as it came."""
    if not isinstance(data, Mapping):
        raise ResponseFormatError(f"{path} is {json_kind(data)}, not an object", path=path)
    kinds = _kinds(cls)
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in data.items():
        kind = kinds.get(name)
        if kind is None:
            extra[name] = value
        elif value is None:
            continue
        elif kind == "time":
            moment = _time(value)
            if moment is None:
                extra[name] = value  # kept as sent, so that it goes back as it came
            else:
                values[name] = moment
        else:
            check, wanted = _CHECKS[kind]
            if not check(value):
                raise _wrong(path, name, value, wanted)
            values[name] = tuple(value) if kind == "texts" else value
    values["extra"] = extra
    return values


def _dump(model: object, *, leave_out: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(leave_out)
    body = {k: v for k, v in getattr(model, "extra", {}).items() if k not in skip}
    for name in _kinds(type(model)):
        value = getattr(model, name)
        if value is None or name in skip:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = format_time(value)
        body[name] = value
    return body


def _evolve(model: Any, changes: Mapping[str, Any], fixed: Iterable[str]) -> Any:
    known = set(_kinds(type(model))) | {"extra"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigurationError(
            f"{type(model).__name__} has no field {', '.join(unknown)} (set others with "
            "extra={...})"
        )
    for name in fixed:
        if name in changes and changes[name] != getattr(model, name):
            raise ConfigurationError(
                f"{name} of a {type(model).__name__} cannot be changed (the API refuses it): "
                "create a new one instead"
            )
    return attrs.evolve(model, **changes)


@attrs.frozen(kw_only=True)
class ClientRegistration:
    """A client (integration) as the self-service API describes it.

    Build a new one with `maskinporten`; change one with `MaskinportenAdmin.update_client`, which
    sends the whole model back as the API wants. Fields the model does not type (the API adds
    fields) are kept in `extra` and sent back unchanged. ``client_secret`` comes only in the
    answer to a create (for ``client_secret_*`` clients) and never shows in a ``repr``.

    Attributes:
        client_id: the id Digdir assigned (a UUID; ``None`` for a client not yet created).
        client_name: the name.
        description: what it is for (shown to Digdir's staff; required in practice).
        integration_type: ``maskinporten``, ``krr``, ``idporten``, ``api_klient``,
            ``ansattporten``, ... (fixed once created).
        application_type: ``web``, ``browser`` or ``native``.
        token_endpoint_auth_method: ``private_key_jwt``, ``client_secret_basic``,
            ``client_secret_post`` or ``none``.
        grant_types: ``urn:ietf:params:oauth:grant-type:jwt-bearer``, ``authorization_code``,
            ``refresh_token``.
        scopes: the scopes the client may ask for.
        client_orgno: the owning organisation (set by the server from the admin token).
        supplier_orgno: the supplier that created it for the owner, if any.
        client_uri: a URL about the client.
        access_token_lifetime: seconds (the default 120 when left out).
        authorization_lifetime: seconds.
        refresh_token_lifetime: seconds.
        refresh_token_usage: ``ONETIME`` or ``REUSE``.
        redirect_uris: for login clients.
        post_logout_redirect_uris: for login clients.
        jwks_uri: where the API serves the client's keys.
        active: whether the client is active.
        created: when it was created.
        last_updated: when it was last changed.
        client_secret: the secret, in the answer to a create only (a secret).
        extra: every other member, as the API sent it.
    """

    client_id: str | None = attrs.field(default=None, metadata=_TEXT)
    client_name: str | None = attrs.field(default=None, metadata=_TEXT)
    description: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    integration_type: str | None = attrs.field(default=None, metadata=_TEXT)
    application_type: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    token_endpoint_auth_method: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    grant_types: tuple[str, ...] | None = attrs.field(
        default=None, converter=_texts, metadata=_TEXTS, repr=False
    )
    scopes: tuple[str, ...] | None = attrs.field(default=None, converter=_texts, metadata=_TEXTS)
    client_orgno: str | None = attrs.field(default=None, metadata=_TEXT)
    supplier_orgno: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    client_uri: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    access_token_lifetime: int | None = attrs.field(default=None, metadata=_INT, repr=False)
    authorization_lifetime: int | None = attrs.field(default=None, metadata=_INT, repr=False)
    refresh_token_lifetime: int | None = attrs.field(default=None, metadata=_INT, repr=False)
    refresh_token_usage: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    redirect_uris: tuple[str, ...] | None = attrs.field(
        default=None, converter=_texts, metadata=_TEXTS, repr=False
    )
    post_logout_redirect_uris: tuple[str, ...] | None = attrs.field(
        default=None, converter=_texts, metadata=_TEXTS, repr=False
    )
    jwks_uri: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    active: bool | None = attrs.field(default=None, metadata=_BOOL)
    created: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    last_updated: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    client_secret: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, converter=_members)

    @classmethod
    def maskinporten(
        cls,
        *,
        client_name: str,
        description: str,
        scopes: Iterable[str],
        **fields: Any,
    ) -> ClientRegistration:
        """A new Maskinporten client: ``web``, ``private_key_jwt``, the JWT-bearer grant.

        Args:
            client_name: the name.
            description: what it is for.
            scopes: at least one scope the organisation may use.
            fields: any other field (``access_token_lifetime=300``, ``extra={...}``).
        """
        settings: dict[str, Any] = {
            "integration_type": "maskinporten",
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": (JWT_BEARER,),
            "client_name": client_name,
            "description": description,
            "scopes": _texts(scopes),
        }
        try:
            return cls(**(settings | fields))
        except TypeError as exc:
            raise ConfigurationError(f"ClientRegistration: {exc}") from None

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> ClientRegistration:
        """Read a client as the API sent it.

        Raises:
            ResponseFormatError: a typed member has the wrong type.
        """
        return cls(**_load(cls, data, path))

    def to_json(self) -> dict[str, Any]:
        """The client as a JSON object, ``extra`` included, ``client_secret`` left out."""
        return _dump(self, leave_out=("client_secret",))


def _client_body(client: ClientRegistration) -> dict[str, Any]:
    """What a create or an update sends: the model without the secret and the server's times."""
    body = _dump(client, leave_out={"client_secret", *_SERVER_TIMES})
    # A lifetime of 0 means "the default" in what the API answered, and is refused with a 400
    # since mid-2025 in what it is sent; left out, it is the default.
    for name in _LIFETIMES:
        if body.get(name) == 0:
            del body[name]
    return body


@attrs.frozen(kw_only=True)
class ClientKey:
    """One public key (JWK) of a client, as registered or to be registered.

    Attributes:
        kid: the key's id, chosen by its owner (letters, digits, ``.``, ``_``, ``-``).
        kty: ``RSA``.
        alg: ``RS256``, ``RS384`` or ``RS512``.
        use: ``sig`` (keys stored before 2025 may come back without it).
        n: the modulus (base64url).
        e: the exponent (base64url).
        exp: when Digdir stops accepting the key (seconds since the epoch); at most a year after
            it was posted, a year when left out.
        extra: every other member (``x5c``, ...).
    """

    kid: str | None = attrs.field(default=None, metadata=_TEXT)
    kty: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    alg: str | None = attrs.field(default=None, metadata=_TEXT)
    use: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    n: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    e: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    exp: int | None = attrs.field(default=None, metadata=_INT)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, converter=_members)

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> ClientKey:
        """Read a key as the API sent it.

        Raises:
            ResponseFormatError: a typed member has the wrong type.
        """
        return cls(**_load(cls, data, path))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str, *, kid: str | None = None) -> ClientKey:
        """A public RSA JWK to register, checked the way Digdir checks it.

        Args:
            jwk: the JWK, as a mapping or JSON text. It must be public: a private JWK is
                refused, so that private parts are never sent (use `load` to derive the public
                key from a private one).
            kid: the ``kid`` to register it under, instead of (or for want of) the JWK's own.

        Raises:
            KeyLoadError: not an RSA public key of at least 2048 bits, private members, a
                missing or malformed ``kid``, an ``alg`` other than RS256/RS384/RS512, a
                ``use`` other than ``sig``.
        """
        data = _jwk_object(jwk)
        if any(member in data for member in _PRIVATE_MEMBERS):
            raise KeyLoadError(
                "the JWK holds a private key; register only its public part (SigningKey."
                "public_jwk, or ClientKey.load, which derives it)"
            )
        if data.get("kty") != "RSA":
            raise KeyLoadError(
                f'the JWK is not an RSA key ("kty": {data.get("kty")!r}); Maskinporten takes '
                f"RSA keys for {', '.join(ALGORITHMS)}"
            )
        for member in ("n", "e"):
            if not isinstance(data.get(member), str) or not data[member]:
                raise KeyLoadError(f'the JWK has no "{member}"')
        bits = _modulus_bits(data["n"])
        if bits < _MIN_RSA_BITS:
            raise KeyLoadError(f"the RSA key has {bits} bits; Digdir takes 2048 or more")
        alg = data.get("alg")
        if alg not in ALGORITHMS:
            raise KeyLoadError(
                f'the JWK\'s "alg" is {alg!r}; give one of {", ".join(ALGORITHMS)} (the '
                "algorithm the client will sign with)"
            )
        if data.get("use", "sig") != "sig":
            raise KeyLoadError(f'the JWK is for "use": {data["use"]!r}; client keys are "sig"')
        exp = data.get("exp")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int)):
            raise KeyLoadError('the JWK\'s "exp" must be whole seconds since the epoch')
        chosen = _check_kid(kid if kid is not None else data.get("kid"))
        return cls.from_json({**data, "kid": chosen, "use": "sig"})

    @classmethod
    def load(
        cls,
        data: bytes | str,
        *,
        kid: str | None = None,
        password: bytes | str | None = None,
        algorithm: str = "RS256",
    ) -> ClientKey:
        """The public key to register, from a PEM or JWK file's contents, public or private.

        Takes a PEM public key (``PUBLIC KEY``, ``RSA PUBLIC KEY``), a certificate (its public
        key; the certificate itself is not registered, which would lock the client to it), a
        PEM private key (encrypted with ``password``), or a JWK, public or private. Of a private
        key only the public part is kept.

        Args:
            data: the file's contents.
            kid: the ``kid`` to register it under (a JWK's own by default; without either, the
                key's RFC 7638 thumbprint).
            password: the password of an encrypted private key.
            algorithm: the ``alg``, when the file does not say (a JWK's own ``alg`` wins).

        Raises:
            KeyLoadError: the data holds no usable RSA key, or as for `from_jwk`. The message
                never holds key material.
        """
        raw = data.encode() if isinstance(data, str) else bytes(data)
        text = raw.strip()
        if text.startswith(b"{"):
            jwk = dict(_jwk_object(text.decode("utf-8", errors="replace")))
            if "d" in jwk:
                signing = SigningKey.from_jwk(jwk)  # checks the private key
                public = signing.public_jwk
                public.pop("kid", None)
                kept = {k: v for k, v in jwk.items() if k not in (*_PRIVATE_MEMBERS, "key_ops")}
                jwk = {**kept, **public}
            jwk.setdefault("alg", algorithm)
            return cls._with_kid(jwk, kid)
        if b"PRIVATE KEY-----" in text:
            signing = SigningKey.from_pem(raw, password=password, algorithm=algorithm)
            public = signing.public_jwk
            public.pop("kid", None)
            return cls._with_kid(public, kid)
        public_key = _pem_public_key(raw)
        jwk = {**RSAKey.import_key(public_key).as_dict(), "alg": algorithm, "use": "sig"}
        return cls._with_kid(jwk, kid)

    @classmethod
    def _with_kid(cls, jwk: dict[str, Any], kid: str | None) -> ClientKey:
        if kid is None and not jwk.get("kid"):
            key = cls.from_jwk(jwk, kid="unnamed")  # checked first: a thumbprint needs a key
            members = {k: v for k, v in key.to_json().items() if k in ("kty", "n", "e")}
            kid = RSAKey.import_key(members).thumbprint()
        return cls.from_jwk(jwk, kid=kid)

    def to_json(self) -> dict[str, Any]:
        """The key as a JWK, ``extra`` included (``use`` is ``sig`` if it was missing: the API
        requires it since 2025 and keys stored before may come back without it)."""
        body = _dump(self)
        body.setdefault("use", "sig")
        return body


def _jwk_object(jwk: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(jwk, str | bytes):
        try:
            jwk = json.loads(jwk)
        except ValueError:
            # The text around a parse error may be key material: not shown.
            raise KeyLoadError("the JWK is not valid JSON") from None
    if not isinstance(jwk, Mapping):
        raise KeyLoadError(f"the JWK must be a JSON object, not {json_kind(jwk)}")
    if "keys" in jwk and "kty" not in jwk:
        raise KeyLoadError("this is a JWK Set; give one of its keys")
    return jwk


def _check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise KeyLoadError(
            f"the key needs a kid of letters, digits, '.', '_' and '-' (got {kid!r}): give kid=..."
        )
    return kid


def _modulus_bits(n: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        raise KeyLoadError('the JWK\'s "n" is not base64url') from None
    return int.from_bytes(raw, "big").bit_length()


def _pem_public_key(data: bytes) -> rsa.RSAPublicKey:
    public: object
    try:
        if b"CERTIFICATE-----" in data:
            public = x509.load_pem_x509_certificate(data).public_key()
        elif b"PUBLIC KEY-----" in data:
            public = serialization.load_pem_public_key(data)
        else:
            raise KeyLoadError(
                "the file holds no key: give a PEM public key, certificate or private key, or a JWK"
            )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"the PEM key could not be read: {exc}") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise KeyLoadError("the key is not an RSA key; Maskinporten takes RSA keys")
    if public.key_size < _MIN_RSA_BITS:
        raise KeyLoadError(f"the RSA key has {public.key_size} bits; Digdir takes 2048 or more")
    return public


def _key_tuple(keys: Iterable[ClientKey]) -> tuple[ClientKey, ...]:
    return tuple(keys)


@attrs.frozen(kw_only=True)
class ClientKeys:
    """A client's key set (``GET /clients/{id}/jwks``): iterate it for its `ClientKey` objects;
    ``kid in keys`` says whether a key is in it.

    Attributes:
        keys: the keys.
        created: when the set was first posted.
        last_updated: when it was last replaced.
    """

    keys: tuple[ClientKey, ...] = attrs.field(default=(), converter=_key_tuple)
    created: datetime | None = None
    last_updated: datetime | None = None

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> ClientKeys:
        """Read a key set as the API sent it (``{"keys": [...], "created": ...}``).

        Raises:
            ResponseFormatError: it is not a key set.
        """
        if isinstance(data, list):  # the web UI's bare array
            data = {"keys": data}
        if not isinstance(data, Mapping):
            raise ResponseFormatError(f"{path} is {json_kind(data)}, not an object", path=path)
        entries = data.get("keys") or []
        if not isinstance(entries, list):
            raise _wrong(path, "keys", entries, "an array")
        keys = tuple(
            ClientKey.from_json(entry, path=f"{path}.keys[{index}]")
            for index, entry in enumerate(entries)
        )
        return cls(
            keys=keys,
            created=_time(data.get("created")),
            last_updated=_time(data.get("last_updated")),
        )

    @property
    def kids(self) -> tuple[str, ...]:
        """The ``kid`` of each key."""
        return tuple(key.kid or "" for key in self.keys)

    def get(self, kid: str) -> ClientKey | None:
        """The key with ``kid``, if there is one."""
        return next((key for key in self.keys if key.kid == kid), None)

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[ClientKey]:
        return iter(self.keys)

    def __contains__(self, kid: object) -> bool:
        return any(key.kid == kid for key in self.keys)


def _time(value: object) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


@attrs.frozen(kw_only=True)
class ApiScope:
    """A Maskinporten API scope of an API provider (or one of ``/scopes/all``).

    Fields the model does not type (``description#en``, newer flags) are kept in `extra` and
    sent back unchanged.

    Attributes:
        name: ``prefix:subscope`` (computed by the server).
        prefix: the organisation's prefix.
        subscope: the rest of the name (it may hold ``/`` and ``.``).
        description: a short description.
        long_description: a longer one.
        owner_orgno: the owning organisation.
        active: ``False`` once deactivated (scopes are never deleted).
        created: when it was created.
        last_updated: when it was last changed.
        allowed_integration_types: the client types that may use it (``maskinporten``, ...);
            empty for any.
        visibility: ``PUBLIC``, ``PRIVATE`` or ``INTERNAL``.
        token_type: ``SELF_CONTAINED`` or ``OPAQUE``.
        at_max_age: the longest token lifetime, in seconds (0: the default).
        authorization_max_lifetime: seconds.
        accessible_for_all: every organisation may use it, no access list.
        requires_user_consent: a flag of ID-porten scopes.
        requires_user_authentication: a flag of ID-porten scopes.
        requires_pseudonymous_tokens: a flag of ID-porten scopes.
        delegation_source: the issuer of a delegation source (``https://www.altinn.no/``).
        extra: every other member, as the API sent it.
    """

    name: str | None = attrs.field(default=None, metadata=_TEXT)
    prefix: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    subscope: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    description: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    long_description: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    owner_orgno: str | None = attrs.field(default=None, metadata=_TEXT)
    active: bool | None = attrs.field(default=None, metadata=_BOOL)
    created: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    last_updated: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    allowed_integration_types: tuple[str, ...] | None = attrs.field(
        default=None, converter=_texts, metadata=_TEXTS, repr=False
    )
    visibility: str | None = attrs.field(default=None, metadata=_TEXT)
    token_type: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    at_max_age: int | None = attrs.field(default=None, metadata=_INT, repr=False)
    authorization_max_lifetime: int | None = attrs.field(default=None, metadata=_INT, repr=False)
    accessible_for_all: bool | None = attrs.field(default=None, metadata=_BOOL, repr=False)
    requires_user_consent: bool | None = attrs.field(default=None, metadata=_BOOL, repr=False)
    requires_user_authentication: bool | None = attrs.field(
        default=None, metadata=_BOOL, repr=False
    )
    requires_pseudonymous_tokens: bool | None = attrs.field(
        default=None, metadata=_BOOL, repr=False
    )
    delegation_source: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, converter=_members)

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> ApiScope:
        """Read a scope as the API sent it.

        Raises:
            ResponseFormatError: a typed member has the wrong type.
        """
        return cls(**_load(cls, data, path))

    def to_json(self) -> dict[str, Any]:
        """The scope as a JSON object, ``extra`` included."""
        return _dump(self)


@attrs.frozen(kw_only=True)
class ScopeAccess:
    """An organisation's access to a scope (the API's ConsumerRegistration).

    Attributes:
        scope: the scope's name.
        state: ``APPROVED``, ``DENIED`` (revoked) or ``REQUESTED``.
        consumer_orgno: the organisation given access.
        owner_orgno: the scope's owner.
        prefix: the scope's prefix, when the API says.
        created: when it was first granted.
        last_updated: when it last changed.
        extra: every other member, as the API sent it.
    """

    scope: str | None = attrs.field(default=None, metadata=_TEXT)
    state: str | None = attrs.field(default=None, metadata=_TEXT)
    consumer_orgno: str | None = attrs.field(default=None, metadata=_TEXT)
    owner_orgno: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    prefix: str | None = attrs.field(default=None, metadata=_TEXT, repr=False)
    created: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    last_updated: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, converter=_members)

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> ScopeAccess:
        """Read an access entry as the API sent it.

        Raises:
            ResponseFormatError: a typed member has the wrong type.
        """
        return cls(**_load(cls, data, path))

    @property
    def approved(self) -> bool:
        """Whether the organisation may use the scope (only ``APPROVED`` gives access)."""
        return self.state == "APPROVED"


@attrs.frozen(kw_only=True)
class DelegationSource:
    """Where delegations of a scope come from (``/delegationsources``: Altinn).

    Attributes:
        name: ``altinn``.
        issuer: the issuer URL scopes name as their ``delegation_source``.
        created: when it was added.
        last_updated: when it last changed.
        extra: every other member.
    """

    name: str | None = attrs.field(default=None, metadata=_TEXT)
    issuer: str | None = attrs.field(default=None, metadata=_TEXT)
    created: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    last_updated: datetime | None = attrs.field(default=None, metadata=_TIME, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False, converter=_members)

    @classmethod
    def from_json(cls, data: object, *, path: str = "$") -> DelegationSource:
        """Read a delegation source as the API sent it."""
        return cls(**_load(cls, data, path))


# --- errors --------------------------------------------------------------------------------------

_HINTS = {
    401: "the admin token was refused: expired, or not a Maskinporten token of this "
    "environment (test and production differ)",
    403: "the admin client lacks a scope for this (idporten:dcr.read, idporten:dcr.write, "
    "idporten:scopes.write; Digdir assigns them), or the object belongs to another "
    "organisation",
    409: "the scope was deactivated: reactivate it with update_scope(name, active=True)",
}


async def selfservice_error(response: httpx.Response) -> SelfServiceError:
    """A `SelfServiceError` for an error answer: its field errors, description and status."""
    with contextlib.suppress(*TRANSPORT_ERRORS):
        await response.aread()  # the status is the news; a body lost on the way is not
    request = response.request
    body = read_error_body(response)
    problem = body.problem or {}
    errors: list[tuple[str | None, str]] = []
    entries = problem.get("errors")
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and isinstance(entry.get("errorMessage"), str):
            field = entry.get("fieldIdentifier")
            errors.append((field if isinstance(field, str) else None, entry["errorMessage"]))
    description = problem.get("error_description")
    description = description if isinstance(description, str) else None
    correlation = problem.get("correlation_id")
    if errors:
        said = "; ".join(f"{field}: {text}" if field else text for field, text in errors)
    else:
        error = problem.get("error")
        said = next(
            (
                text.strip().lstrip(",").strip()
                for text in (description, error, problem.get("message"), body.detail)
                if isinstance(text, str) and text.strip().lstrip(",").strip()
            ),
            "",
        )
    message = (
        f"{request.method} {safe_url(request.url)} answered HTTP {response.status_code} "
        f"{response.reason_phrase}"
    ).rstrip()
    if said:
        message += f": {said}"
    hint = _HINTS.get(response.status_code)
    if hint:
        message += f" (hint: {hint})"
    if isinstance(correlation, str):
        message += f" [correlation_id {correlation}]"
    return SelfServiceError(
        message,
        status_code=response.status_code,
        method=request.method,
        url=str(request.url),
        errors=tuple(errors),
        error_description=description,
        correlation_id=correlation if isinstance(correlation, str) else None,
        problem=body.problem,
        detail=body.detail,
        retry_after=retry_after(response),
    )


def _says_none_yet(error: SelfServiceError) -> bool:
    # The API answers some empty lists with an error that says so (WEB maps it to []).
    texts = [error.error_description or "", *(text for _, text in error.errors)]
    problem = error.problem or {}
    texts += [str(problem.get(name, "")) for name in ("error", "message")]
    texts.append(error.detail or "")
    return any(_NOTHING_YET in text.lower() for text in texts)


# --- the admin token -----------------------------------------------------------------------------


class _AdminAuth(MaskinportenAuth):
    """A Maskinporten token for the self-service API: it goes to that API's origin only."""

    def __init__(
        self,
        *,
        client_id: str,
        key: Signer,
        scopes: Iterable[str],
        environment: Environment,
        grant_lifetime: int,
        http_client: AsyncClient | None,
        cache: TokenCache | None,
        clock: Clock | None,
        retry: RetryPolicy | None,
        allowed_origins: Iterable[str],
        foreign_origins: ForeignOrigins,
    ) -> None:
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        if environment.selfservice is None:
            raise ConfigurationError(
                f"the environment {environment.name!r} has no selfservice URL: build it with "
                "selfservice='https://.../api/v1'"
            )
        super().__init__(
            client_id=client_id,
            key=key,
            scopes=scopes,
            environment=environment,
            grant_lifetime=grant_lifetime,
            http_client=http_client,
            cache=cache,
            clock=clock,
            retry=retry,
            foreign_origins=foreign_origins,
        )
        # Not the platform's and Altinn 2's origins, as for other Maskinporten tokens: this one
        # can create clients and keys, and goes to Digdir's API alone.
        self._origins = OriginPolicy.build(
            [environment.selfservice],
            allowed_origins=allowed_origins,
            foreign_origins=foreign_origins,
            what="the self-service admin token",
        )

    def __repr__(self) -> str:
        return (
            f"MaskinportenAdmin.auth(client_id={self.client_id!r}, scopes={list(self.scopes)!r}, "
            f"environment={self.environment.name!r})"
        )

    def _describe(self) -> str:
        return f"admin client {self.client_id!r}"


# --- the API client ------------------------------------------------------------------------------


def _quote(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a non-empty string, got {value!r}")
    return urllib.parse.quote(value, safe="")


def _org_number(value: object) -> str:
    if not isinstance(value, str) or not _ORG_NUMBER.fullmatch(value):
        raise ConfigurationError(f"an organisation number is 9 digits, got {value!r}")
    return value


def _scope_name(value: object) -> str:
    if not isinstance(value, str) or ":" not in value or any(c.isspace() for c in value):
        raise ConfigurationError(f"a scope name is 'prefix:subscope', got {value!r}")
    return value


def _flags(**flags: bool | str | None) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in flags.items():
        if value is None:
            continue
        query[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return query


def _public_key(key: SigningKey | ClientKey | Mapping[str, Any]) -> ClientKey:
    if isinstance(key, ClientKey):
        return ClientKey.from_jwk(key.to_json())  # a new key: checked like any other
    if isinstance(key, SigningKey):
        if key.key_id is None:
            raise ConfigurationError(
                "the key has no kid: load it with kid=... (the id to register it under)"
            )
        return ClientKey.from_jwk(key.public_jwk)
    if isinstance(key, Mapping):
        return ClientKey.from_jwk(key)
    raise ConfigurationError(
        f"a key to register is a SigningKey, a ClientKey or a public JWK, not {type(key).__name__}"
    )


class MaskinportenAdmin:
    """Digdir's self-service API over an ``httpx.AsyncClient`` (or an ``httpx2.AsyncClient``)
    whose auth is an admin token.

    Clients (`clients`, `create_client`, `update_client`, ...), their keys (`keys`, `add_key`,
    `key_rotation`, ...), and for API providers scopes (`scopes`, `create_scope`, ...) and their
    access lists (`grant_access`, ...).

    Example::

        key = altinn.SigningKey.from_pkcs12_file("virksomhet.p12", password)
        auth = altinn.MaskinportenAdmin.auth(client_id="admin-client-id", key=key,
                                             environment=altinn.TEST)
        async with auth, httpx.AsyncClient(auth=auth) as http:
            admin = altinn.MaskinportenAdmin(http)
            for client in await admin.clients():
                print(client.client_id, client.client_name)

    Every request goes through the retry policy (429, 502, 503, 504 and network failures);
    the ``POST`` of a new client or scope only when it surely did not reach the API, since a
    second one would make a second client. Errors are `SelfServiceError`.

    Args:
        http: a client whose auth gives admin tokens (`MaskinportenAdmin.auth`).
        base_url: the API's URL with its version (``https://api.test.samarbeid.digdir.no/api/v1``,
            an environment's ``selfservice``); by default the client's ``base_url``, else the
            ``selfservice`` of its auth's environment. A bare host gets ``/api/v1``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).

    Raises:
        ConfigurationError: no URL, one that is not https (but on loopback), or an auth that
            would not send its token there.
    """

    def __init__(
        self,
        http: AsyncClient,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        http = as_httpx(http)
        base = base_url
        if base is None and str(http.base_url) not in ("", "/"):
            base = str(http.base_url)
        if base is None:
            environment = getattr(http.auth, "environment", None)
            if isinstance(environment, Environment):
                base = environment.selfservice
        if not base:
            raise ConfigurationError(
                "MaskinportenAdmin needs the self-service API's URL: pass base_url= (an "
                "environment's selfservice, e.g. altinn.TEST.selfservice), or give the client "
                "the auth of MaskinportenAdmin.auth(...)"
            )
        check_url(base, what="the self-service base_url")
        base = base.rstrip("/")
        if httpx.URL(base).path in ("", "/"):
            base += "/api/v1"  # the API moved under /api/v1 on 2025-05-22
        auth = http.auth
        if isinstance(auth, TokenAuth) and origin(base) not in auth.origins:
            raise ConfigurationError(
                f"the client's {type(auth).__name__} does not send its token to {origin(base)}: "
                "use MaskinportenAdmin.auth(...), whose token goes to the self-service API"
            )
        self._http = http
        self._base = base
        self._retry = retry or RetryPolicy()
        self._locks: dict[str, anyio.Lock] = {}

    def __repr__(self) -> str:
        return f"MaskinportenAdmin(base_url={self._base!r})"

    @property
    def base_url(self) -> str:
        """The API's URL (``.../api/v1``)."""
        return self._base

    @staticmethod
    def auth(
        *,
        client_id: str,
        key: Signer,
        environment: Environment,
        scopes: Iterable[str] = ADMIN_SCOPES,
        grant_lifetime: int = 60,
        http_client: AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
    ) -> MaskinportenAuth:
        """The admin token: a `MaskinportenAuth` of the admin client, for this API only.

        Its grants are signed with the enterprise certificate (``x5c``, when the key has no
        ``kid``) or a key registered on the admin client (``kid``), with ``aud`` the
        environment's Maskinporten issuer and no ``resource``. The token goes to the origin of
        `Environment.selfservice` alone (and ``allowed_origins``), never to the Altinn
        platform, and is not exchanged for an Altinn token.

        Args:
            client_id: the admin client's id (Digdir hands admin clients out).
            key: its enterprise certificate (`SigningKey.from_pkcs12_file`) or registered key.
            environment: `TEST`, `PRODUCTION` or one with a ``selfservice`` URL.
            scopes: the admin scopes: `ADMIN_SCOPES`, plus ``idporten:scopes.write`` for
                scopes and access lists.
            grant_lifetime: seconds from ``iat`` to ``exp`` of each grant (at most 120).
            http_client: the client for token requests (one is made if omitted).
            cache: a `TokenCache` to share.
            clock: the time source.
            retry: the `RetryPolicy` for token requests.
            allowed_origins: more origins to send the admin token to.
            foreign_origins: ``"refuse"`` or ``"omit"``, for requests anywhere else.

        Raises:
            ConfigurationError: the environment has no ``selfservice`` URL, or as for
                `MaskinportenAuth`.
        """
        return _AdminAuth(
            client_id=client_id,
            key=key,
            scopes=scopes,
            environment=environment,
            grant_lifetime=grant_lifetime,
            http_client=http_client,
            cache=cache,
            clock=clock,
            retry=retry,
            allowed_origins=allowed_origins,
            foreign_origins=foreign_origins,
        )

    # -- requests ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        url = httpx.URL(f"{self._base}{path}", params=dict(params) if params else None)
        headers = {"Accept": "application/json"}

        target = url_argument(self._http, url)

        async def build() -> httpx.Request:
            if body is None:
                return self._http.build_request(method, target, headers=headers)
            return self._http.build_request(method, target, headers=headers, json=body)

        try:
            response = await send(self._http, build, policy=self._retry, idempotent=idempotent)
        except TRANSPORT_ERRORS as exc:
            raise network_error(exc) from exc
        if not 200 <= response.status_code < 300:
            raise await selfservice_error(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> object:
        try:
            return response.json()
        except ValueError:
            raise ResponseFormatError(
                f"{response.request.method} {safe_url(response.request.url)} answered HTTP "
                f"{response.status_code} without JSON"
            ) from None

    async def _list(
        self,
        path: str,
        parse: Callable[[object, str], Any],
        *,
        params: Mapping[str, str] | None = None,
    ) -> list[Any]:
        try:
            response = await self._call("GET", path, params=params)
        except SelfServiceError as exc:
            if _says_none_yet(exc):
                return []
            raise
        body = self._json(response)
        if not isinstance(body, list):
            raise ResponseFormatError(
                f"GET {safe_url(response.request.url)} answered {json_kind(body)}, not an array"
            )
        return [parse(item, f"$[{index}]") for index, item in enumerate(body)]

    def key_lock(self, client_id: str) -> anyio.Lock:
        """The lock this client holds while it changes a key set it read (`add_key`,
        `remove_key`, `renew_keys`, a `KeyRotation`): the API replaces the whole set, so two
        changes at once would lose one's key. Hold it around a read-modify-write of your own.
        """
        lock = self._locks.get(client_id)
        if lock is None:
            lock = self._locks[client_id] = anyio.Lock()
        return lock

    # -- clients ----------------------------------------------------------------------------

    async def clients(self) -> list[ClientRegistration]:
        """Every client of the organisation (one unpaged list)."""
        return await self._list(
            "/clients", lambda item, path: ClientRegistration.from_json(item, path=path)
        )

    async def get_client(self, client_id: str) -> ClientRegistration:
        """One client.

        Raises:
            SelfServiceError: ``reason`` ``"not found"`` for an unknown (or deleted) client.
        """
        response = await self._call("GET", f"/clients/{_quote(client_id, 'client_id')}")
        return ClientRegistration.from_json(self._json(response))

    async def create_client(self, client: ClientRegistration) -> ClientRegistration:
        """Create a client; the answer has its ``client_id`` (and for ``client_secret_*``
        clients, the only copy of its ``client_secret``).

        Example::

            created = await admin.create_client(altinn.ClientRegistration.maskinporten(
                client_name="my integration", description="reads instances",
                scopes=["altinn:serviceowner/instances.read"]))

        Raises:
            ConfigurationError: the client has a ``client_id`` already, or is a Maskinporten
                client without scopes.
            SelfServiceError: the API refused it (``errors`` says which fields).
        """
        if client.client_id is not None:
            raise ConfigurationError(
                "a new client gets its client_id from Digdir: leave client_id out (to change "
                "a client, use update_client)"
            )
        if client.integration_type == "maskinporten" and not client.scopes:
            raise ConfigurationError("a Maskinporten client needs at least one scope")
        response = await self._call("POST", "/clients", body=_client_body(client))
        created = ClientRegistration.from_json(self._json(response))
        logger.info(
            "created client %s (%s)",
            created.client_id,
            created.integration_type,
            extra={"altinn_client_id": created.client_id},
        )
        return created

    async def update_client(
        self, client: ClientRegistration | str, /, **changes: Any
    ) -> ClientRegistration:
        """Change a client: the whole model is sent back (``PUT``), as the API wants.

        Given a ``client_id``, the client is read first. ``created`` and ``last_updated`` are
        left out of what is sent, and so is a lifetime of 0 (the default), which the API
        refuses. An existing secret is kept by the API.

        Example::

            client = await admin.update_client(client_id, scopes=[*client.scopes, "x:y"])

        Args:
            client: the client (as read) or its id.
            changes: fields to change (``scopes=[...]``, ``description=...``,
                ``extra={...}``).

        Raises:
            ConfigurationError: an unknown field, or a change of ``integration_type`` or
                ``client_id``.
            SelfServiceError: the API refused it.
        """
        current = await self.get_client(client) if isinstance(client, str) else client
        if current.client_id is None:
            raise ConfigurationError("the client has no client_id: read it with get_client")
        updated: ClientRegistration = _evolve(
            current, changes, fixed=("client_id", "integration_type")
        )
        response = await self._call(
            "PUT",
            f"/clients/{_quote(current.client_id, 'client_id')}",
            body=_client_body(updated),
        )
        return ClientRegistration.from_json(self._json(response))

    async def delete_client(self, client_id: str) -> None:
        """Delete a client (Digdir deactivates it; it is gone from `clients`)."""
        await self._call("DELETE", f"/clients/{_quote(client_id, 'client_id')}")
        logger.info("deleted client %s", client_id, extra={"altinn_client_id": client_id})

    # -- keys -------------------------------------------------------------------------------

    def _jwks_path(self, client_id: str) -> str:
        return f"/clients/{_quote(client_id, 'client_id')}/jwks"

    async def keys(self, client_id: str) -> ClientKeys:
        """The client's key set; an empty one when it has no keys (the API answers 404)."""
        try:
            response = await self._call("GET", self._jwks_path(client_id))
        except SelfServiceError as exc:
            if exc.status_code == 404:
                return ClientKeys()
            raise
        return ClientKeys.from_json(self._json(response))

    async def replace_keys(
        self, client_id: str, keys: Iterable[ClientKey | SigningKey | Mapping[str, Any]]
    ) -> ClientKeys:
        """Post a new key set: it replaces the client's whole set (``POST .../jwks``).

        Every key is sent with ``use: "sig"`` and its own ``exp`` (left out: a year). A
        `ClientKey` goes as it is (read from the API, or checked by `ClientKey.from_jwk` or
        `ClientKey.load`); a `SigningKey` by its public part; a mapping is checked as a public
        JWK.

        To change the set it read, a caller holds `key_lock` from the read to the post.

        Raises:
            ConfigurationError: no keys (`delete_keys` removes them all), more than 5, or a
                ``kid`` twice or missing.
            KeyLoadError: a key that is not a public RSA key to register.
            SelfServiceError: the API refused the set.
        """
        chosen = [key if isinstance(key, ClientKey) else _public_key(key) for key in keys]
        if not chosen:
            raise ConfigurationError(
                "a key set cannot be empty: remove every key with delete_keys(client_id)"
            )
        if len(chosen) > MAX_KEYS:
            raise ConfigurationError(f"a client has at most {MAX_KEYS} keys, not {len(chosen)}")
        kids = [key.kid for key in chosen]
        if None in kids or len(set(kids)) != len(kids):
            raise ConfigurationError(f"each key needs a kid of its own, got {kids}")
        # The set replaces the set: sending it twice is harmless.
        response = await self._call(
            "POST",
            self._jwks_path(client_id),
            body={"keys": [key.to_json() for key in chosen]},
            idempotent=True,
        )
        logger.info(
            "posted %d key(s) to client %s: %s",
            len(chosen),
            client_id,
            ", ".join(str(kid) for kid in kids),
            extra={"altinn_client_id": client_id},
        )
        return ClientKeys.from_json(self._json(response))

    async def delete_keys(self, client_id: str) -> None:
        """Remove every key of the client (``DELETE .../jwks``)."""
        await self._call("DELETE", self._jwks_path(client_id))
        logger.info(
            "deleted every key of client %s", client_id, extra={"altinn_client_id": client_id}
        )

    async def delete_key(self, client_id: str, kid: str) -> None:
        """Remove one key with the newer ``DELETE .../jwks/{kid}``.

        Whether machine callers may use it is not confirmed; `remove_key` does the same with
        the documented read-and-post-the-rest.
        """
        await self._call("DELETE", f"{self._jwks_path(client_id)}/{_quote(_check_kid(kid), 'kid')}")

    async def add_key(
        self, client_id: str, key: ClientKey | SigningKey | Mapping[str, Any]
    ) -> ClientKeys:
        """Register one more key, keeping the others (read the set, post it with the new key).

        Raises:
            KeyRotationError: the client has 5 keys, or one with the new key's ``kid``.
            KeyLoadError: not a public RSA key to register.
            SelfServiceError: the API refused it.
        """
        new = _public_key(key)
        async with self.key_lock(client_id):
            current = await self.keys(client_id)
            _check_room(client_id, current, new)
            return await self.replace_keys(client_id, [new, *current.keys])

    async def remove_key(self, client_id: str, kid: str) -> ClientKeys:
        """Remove one key, keeping the others (read the set, post the rest; the last key is
        removed with ``DELETE .../jwks``).

        Raises:
            KeyRotationError: no key has that ``kid``.
        """
        async with self.key_lock(client_id):
            current = await self.keys(client_id)
            if kid not in current:
                raise KeyRotationError(
                    f"client {client_id} has no key {kid!r} to remove (its keys: "
                    f"{', '.join(current.kids) or 'none'})",
                    client_id=client_id,
                    reason="unknown kid",
                    kids=current.kids,
                )
            rest = [key for key in current.keys if key.kid != kid]
            if not rest:
                await self.delete_keys(client_id)
                return ClientKeys()
            return await self.replace_keys(client_id, rest)

    async def renew_keys(self, client_id: str, kids: Iterable[str] | None = None) -> ClientKeys:
        """Post the same keys again, without their ``exp``, so that each lives a year from now.

        Args:
            client_id: the client.
            kids: the keys to renew (all by default); the others keep their ``exp``.

        Raises:
            KeyRotationError: the client has no keys, or none with one of ``kids``.
        """
        async with self.key_lock(client_id):
            current = await self.keys(client_id)
            wanted = set(current.kids if kids is None else kids)
            missing = sorted(wanted - set(current.kids))
            if missing or not current:
                raise KeyRotationError(
                    f"client {client_id} has no key {', '.join(missing) or 'at all'} to renew "
                    f"(its keys: {', '.join(current.kids) or 'none'})",
                    client_id=client_id,
                    reason="unknown kid",
                    kids=current.kids,
                )
            renewed = [
                attrs.evolve(key, exp=None) if key.kid in wanted else key for key in current.keys
            ]
            return await self.replace_keys(client_id, renewed)

    def key_rotation(
        self,
        client_id: str,
        new_key: SigningKey | ClientKey | Mapping[str, Any],
        *,
        auth: MaskinportenAuth | None = None,
        signer: Signer | None = None,
        old_kid: str | None = None,
        propagation: float = 120.0,
        grace: float | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> KeyRotation:
        """A `KeyRotation` of ``client_id``'s key to ``new_key``, to run step by step or whole."""
        return KeyRotation(
            self,
            client_id,
            new_key,
            auth=auth,
            signer=signer,
            old_kid=old_kid,
            propagation=propagation,
            grace=grace,
            clock=clock,
            sleep=sleep,
        )

    async def rotate_key(
        self,
        client_id: str,
        new_key: SigningKey | ClientKey | Mapping[str, Any],
        *,
        auth: MaskinportenAuth | None = None,
        signer: Signer | None = None,
        old_kid: str | None = None,
        propagation: float = 120.0,
        grace: float | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> ClientKeys:
        """Rotate a client's key without downtime: every step of `KeyRotation`, in turn.

        Example::

            new = altinn.SigningKey.from_pem_file("new.pem", kid="key-2026-06")
            await admin.rotate_key(client_id, new, auth=maskinporten)  # about 5 minutes

        Returns:
            The key set in the end (the new key and the others, without the old one).
        """
        rotation = self.key_rotation(
            client_id,
            new_key,
            auth=auth,
            signer=signer,
            old_kid=old_kid,
            propagation=propagation,
            grace=grace,
            clock=clock,
            sleep=sleep,
        )
        return await rotation.run()

    # -- scopes and access ------------------------------------------------------------------

    async def scopes(self, *, inactive: bool = False) -> list[ApiScope]:
        """The organisation's own scopes (public and private); deactivated ones too with
        ``inactive=True``."""
        params = {"inactive": "true"} if inactive else None
        return await self._list(
            "/scopes", lambda item, path: ApiScope.from_json(item, path=path), params=params
        )

    async def get_scope(self, name: str) -> ApiScope:
        """One of the organisation's scopes, by name, deactivated or not (``GET
        /scopes?scope=&inactive=true``: without ``inactive`` the list hides a deactivated scope,
        which `update_scope` must read to reactivate it).

        Raises:
            SelfServiceError: ``reason`` ``"not found"`` for an unknown scope.
        """
        params = {"scope": _scope_name(name), "inactive": "true"}
        response = await self._call("GET", "/scopes", params=params)
        body = self._json(response)
        if isinstance(body, list):
            # The list endpoint filtered by the name (as the web UI uses it).
            for index, item in enumerate(body):
                scope = ApiScope.from_json(item, path=f"$[{index}]")
                if scope.name == name:
                    return scope
            raise SelfServiceError(
                f"GET {safe_url(response.request.url)}: the organisation has no scope {name!r}",
                status_code=404,
                method="GET",
                url=str(response.request.url),
            )
        return ApiScope.from_json(body)

    async def create_scope(self, scope: ApiScope) -> ApiScope:
        """Create a scope under one of the organisation's prefixes (``name`` is made by the
        API as ``prefix:subscope``).

        Example::

            await admin.create_scope(altinn.ApiScope(prefix="myorg", subscope="records.read",
                                                     description="Read the records"))

        Raises:
            ConfigurationError: no ``prefix``, ``subscope`` or ``description``.
            SelfServiceError: the API refused it; ``reason`` ``"conflict"`` for a scope that
                exists deactivated (reactivate it with ``update_scope(name, active=True)``).
        """
        for name in ("prefix", "subscope", "description"):
            if not getattr(scope, name):
                raise ConfigurationError(f"a new scope needs a {name}")
        response = await self._call("POST", "/scopes", body=_dump(scope, leave_out=_SERVER_TIMES))
        return ApiScope.from_json(self._json(response))

    async def update_scope(self, scope: ApiScope | str, /, **changes: Any) -> ApiScope:
        """Change a scope: the whole scope is sent back (``PUT /scopes?scope=``).

        ``active=True`` reactivates a deactivated scope.

        Raises:
            ConfigurationError: an unknown field, or a change of ``name``, ``prefix`` or
                ``subscope``.
        """
        current = await self.get_scope(scope) if isinstance(scope, str) else scope
        if current.name is None:
            raise ConfigurationError("the scope has no name: read it with get_scope")
        updated: ApiScope = _evolve(current, changes, fixed=("name", "prefix", "subscope"))
        response = await self._call(
            "PUT",
            "/scopes",
            params={"scope": _scope_name(current.name)},
            body=_dump(updated, leave_out=_SERVER_TIMES),
        )
        return ApiScope.from_json(self._json(response))

    async def deactivate_scope(self, name: str) -> ApiScope:
        """Deactivate a scope (scopes are never deleted; existing accesses stay)."""
        response = await self._call("DELETE", "/scopes", params={"scope": _scope_name(name)})
        return ApiScope.from_json(self._json(response))

    async def public_scopes(
        self,
        *,
        integration_type: str | None = None,
        accessible_for_all: bool | None = None,
        inactive: bool | None = None,
        delegated_sources: bool | None = None,
    ) -> list[ApiScope]:
        """Every public scope of every provider (``/scopes/all``; it needs no token)."""
        params = _flags(
            accessible_for_all=accessible_for_all,
            integration_type=integration_type,
            inactive=inactive,
            delegated_sources=delegated_sources,
        )
        return await self._list(
            "/scopes/all", lambda item, path: ApiScope.from_json(item, path=path), params=params
        )

    def _access_path(self, consumer_orgno: str) -> str:
        return f"/scopes/access/{_org_number(consumer_orgno)}"

    async def grant_access(self, scope: str, consumer_orgno: str) -> ScopeAccess:
        """Let an organisation use one of our scopes (again, after a revoke)."""
        response = await self._call(
            "PUT", self._access_path(consumer_orgno), params={"scope": _scope_name(scope)}
        )
        return ScopeAccess.from_json(self._json(response))

    async def revoke_access(self, scope: str, consumer_orgno: str) -> ScopeAccess:
        """Take an organisation's access to one of our scopes away (its entry stays,
        ``DENIED``)."""
        response = await self._call(
            "DELETE", self._access_path(consumer_orgno), params={"scope": _scope_name(scope)}
        )
        return ScopeAccess.from_json(self._json(response))

    async def accesses(self, scope: str) -> list[ScopeAccess]:
        """Who has (or had) access to one of our scopes."""
        return await self._list(
            "/scopes/access",
            lambda item, path: ScopeAccess.from_json(item, path=path),
            params={"scope": _scope_name(scope)},
        )

    async def received_accesses(
        self, *, integration_type: str | None = None, inactive: bool | None = None
    ) -> list[ScopeAccess]:
        """The scopes other organisations gave ours access to (``/scopes/access/all``)."""
        params = _flags(integration_type=integration_type, inactive=inactive)
        return await self._list(
            "/scopes/access/all",
            lambda item, path: ScopeAccess.from_json(item, path=path),
            params=params,
        )

    async def prefixes(self) -> list[str]:
        """The prefixes assigned to the organisation (its scopes' names start with one)."""

        def parse(item: object, path: str) -> str:
            if isinstance(item, str):
                return item
            if isinstance(item, Mapping):
                for name in ("prefix", "name"):
                    if isinstance(item.get(name), str):
                        return str(item[name])
            raise ResponseFormatError(f"{path} is {json_kind(item)}, not a prefix", path=path)

        return await self._list("/prefix", parse)

    async def delegation_sources(self) -> list[DelegationSource]:
        """Where scopes' delegations may come from (``/delegationsources``: Altinn)."""
        return await self._list(
            "/delegationsources", lambda item, path: DelegationSource.from_json(item, path=path)
        )


def _check_room(client_id: str, current: ClientKeys, new: ClientKey) -> None:
    if len(current) >= MAX_KEYS:
        raise KeyRotationError(
            f"client {client_id} has {len(current)} keys, the most Digdir allows: remove one "
            f"first (remove_key) (its keys: {', '.join(current.kids)})",
            client_id=client_id,
            reason="full",
            kids=current.kids,
        )
    if new.kid in current:
        raise KeyRotationError(
            f"client {client_id} has a key {new.kid!r} already: give the new key its own kid "
            "(to extend a key's life, use renew_keys)",
            client_id=client_id,
            reason="kid taken",
            kids=current.kids,
        )


# --- rotation ------------------------------------------------------------------------------------

_DEFAULT_TOKEN_LIFETIME = 120.0
"""Maskinporten's default access-token lifetime, for a grace period without a cached token."""

_Step = Literal["new", "added", "switched", "retired"]


class KeyRotation:
    """A client's key rotated without downtime, in the steps Digdir's users follow.

    1. `add`: read the key set; refuse if it has 5 keys, if the old key is not in it, or if
       the new ``kid`` is; post the new key with every existing one (each with ``use: "sig"``
       and its own ``exp``).
    2. `switch`: wait until ``propagation`` seconds have passed since the post (Digdir says
       0-2 minutes before Maskinporten knows the key), check the new key is still
       registered, then make ``auth`` sign new grants with it (`MaskinportenAuth.use_key`).
    3. `retire`: wait out the grace period, then post the set without the old key (or delete
       the set, if nothing is left). The grace covers every grant signed with the old key
       before the switch and the tokens got with them: it lasts until the cached token of
       ``auth`` expires, and at least one token lifetime and one grant lifetime after the
       switch; or ``grace`` seconds after it, when given (needed without ``auth``, when the
       workload that signs switches on its own).

    `run` does all three. Each step is safe to run again after a failure: ``add`` when the new
    key is already registered moves on, ``retire`` when the old key is gone already does
    nothing more. In this process the key set is changed under a lock, so two changes to one
    client do not lose each other's keys; another process or the web UI can still race.

    Args:
        admin: the API client.
        client_id: the client whose key is rotated.
        new_key: the new key: a `SigningKey` with its ``kid`` (registered by its public part,
            and what ``auth`` signs with after the switch), or a public JWK (a `ClientKey` or a
            mapping) with ``signer`` for the key that signs.
        auth: the client's `MaskinportenAuth` to switch to the new key, if it is in this
            process.
        signer: the signer for ``auth`` when ``new_key`` is a public JWK (a key in an HSM).
        old_kid: the key to retire; by default the one ``auth`` signs with now.
        propagation: seconds from the post to the switch (120 by default; 0 in tests).
        grace: seconds from the switch to retiring the old key (worked out from ``auth`` when
            not given).
        clock: the time source (``auth``'s, else ``time.time``).
        sleep: how to wait (``anyio.sleep``; tests pass one that moves a fake clock).

    Raises:
        ConfigurationError: no old key is known (no ``old_kid`` and no ``auth`` signing with
            a ``kid``), the new key has no ``kid`` or is the old one, ``auth`` without a key
            to sign with, no ``grace`` without ``auth``, or a negative wait.
    """

    def __init__(
        self,
        admin: MaskinportenAdmin,
        client_id: str,
        new_key: SigningKey | ClientKey | Mapping[str, Any],
        *,
        auth: MaskinportenAuth | None = None,
        signer: Signer | None = None,
        old_kid: str | None = None,
        propagation: float = 120.0,
        grace: float | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        _quote(client_id, "client_id")
        if auth is not None and not isinstance(auth, MaskinportenAuth):
            raise ConfigurationError(
                f"auth must be the client's MaskinportenAuth, not {type(auth).__name__}"
            )
        self._public = _public_key(new_key)
        if signer is None and isinstance(new_key, SigningKey):
            signer = new_key
        if auth is not None and signer is None:
            raise ConfigurationError(
                "to switch auth to the new key, give the key that signs: new_key as a "
                "SigningKey, or signer=..."
            )
        if signer is not None and signer.key_id != self._public.kid:
            raise ConfigurationError(
                f"the signer's kid {signer.key_id!r} is not the new key's {self._public.kid!r}"
            )
        if old_kid is None and auth is not None:
            old_kid = auth.key.key_id
        if old_kid is None:
            raise ConfigurationError(
                "which key does the new one replace? give old_kid=... (or the auth that signs "
                "with it)"
            )
        if old_kid == self._public.kid:
            raise ConfigurationError(
                f"the new key has the old key's kid {old_kid!r}: give it its own (to extend a "
                "key's life, use renew_keys)"
            )
        if auth is None and grace is None:
            raise ConfigurationError(
                "without auth, say how long the old key stays after the switch: grace=SECONDS "
                "(long enough for the workload to move to the new key and its tokens to expire)"
            )
        for name, value in (("propagation", propagation), ("grace", grace)):
            if value is not None and not value >= 0:
                raise ConfigurationError(f"{name} must be a number of seconds, at least 0")
        self._admin = admin
        self._client_id = client_id
        self._auth = auth
        self._signer = signer
        self._old_kid = _check_kid(old_kid)
        self._propagation = float(propagation)
        self._grace = None if grace is None else float(grace)
        self._clock: Clock = clock or (auth.context.clock if auth is not None else time.time)
        self._sleep = sleep
        self._step: _Step = "new"
        self._added_at: float | None = None
        self._retire_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"KeyRotation(client_id={self._client_id!r}, old_kid={self._old_kid!r}, "
            f"new_kid={self._public.kid!r}, step={self._step!r})"
        )

    @property
    def step(self) -> str:
        """How far it got: ``"new"``, ``"added"``, ``"switched"`` or ``"retired"``."""
        return self._step

    @property
    def new_kid(self) -> str:
        """The new key's ``kid``."""
        return self._public.kid or ""

    @property
    def old_kid(self) -> str:
        """The ``kid`` of the key being retired."""
        return self._old_kid

    @property
    def retire_at(self) -> float | None:
        """When `retire` may post the set without the old key (on the rotation's clock), once
        switched."""
        return self._retire_at

    def _error(self, message: str, reason: str, keys: ClientKeys) -> KeyRotationError:
        return KeyRotationError(
            f"cannot rotate the key of client {self._client_id}: {message} (its keys: "
            f"{', '.join(keys.kids) or 'none'})",
            client_id=self._client_id,
            reason=reason,
            kids=keys.kids,
        )

    def _expect(self, *steps: _Step) -> None:
        if self._step not in steps:
            raise ConfigurationError(
                f"the rotation is at step {self._step!r}; this step follows {' or '.join(steps)}"
            )

    async def add(self) -> ClientKeys:
        """Step 1: register the new key beside every existing one.

        Raises:
            KeyRotationError: 5 keys already, the old key is not registered, or the new
                ``kid`` is (for another key); nothing is posted then.
            SelfServiceError: the API refused the set.
        """
        self._expect("new")
        admin, client_id = self._admin, self._client_id
        async with admin.key_lock(client_id):
            current = await admin.keys(client_id)
            if self._old_kid not in current:
                raise self._error(
                    f"it has no key {self._old_kid!r} to retire", "unknown kid", current
                )
            existing = current.get(self.new_kid)
            if existing is not None and existing.n == self._public.n:
                keys = current  # added by an earlier run that failed after the post
            else:
                _check_room(client_id, current, self._public)
                keys = await admin.replace_keys(client_id, [self._public, *current.keys])
        self._added_at = self._clock()
        self._step = "added"
        return keys

    async def switch(self) -> None:
        """Step 2: wait for the propagation, then sign with the new key.

        Raises:
            KeyRotationError: the new key is no longer registered (someone replaced the set).
        """
        self._expect("added")
        assert self._added_at is not None  # noqa: S101 - set by add()
        await self._wait_until(self._added_at + self._propagation)
        current = await self._admin.keys(self._client_id)
        if self.new_kid not in current:
            raise self._error(
                f"the new key {self.new_kid!r} is no longer registered", "new key missing", current
            )
        switched_at = self._clock()
        cached = None
        if self._auth is not None and self._signer is not None:
            cached = self._auth.cache.peek(self._auth.cache_key)
            self._auth.use_key(self._signer)
        if self._grace is not None:
            self._retire_at = switched_at + self._grace
        else:
            auth = self._auth
            assert auth is not None  # noqa: S101 - checked in __init__
            lifetime = cached.lifetime if cached is not None else _DEFAULT_TOKEN_LIFETIME
            # A grant signed just before the switch may still be on its way, and the token it
            # brings lives a lifetime; the token cached now was got with the old key.
            self._retire_at = max(
                switched_at + lifetime + auth.grant_lifetime,
                cached.expires_at if cached is not None else switched_at,
            )
        self._step = "switched"
        logger.info(
            "client %s: signing with key %s; key %s is retired after %.0f s",
            self._client_id,
            self.new_kid,
            self._old_kid,
            self._retire_at - switched_at,
            extra={"altinn_client_id": self._client_id},
        )

    async def retire(self) -> ClientKeys:
        """Step 3: after the grace period, remove the old key (keeping every other).

        Raises:
            KeyRotationError: the new key is no longer registered (retiring the old one would
                leave the client without the key it signs with).
        """
        self._expect("switched")
        assert self._retire_at is not None  # noqa: S101 - set by switch()
        await self._wait_until(self._retire_at)
        admin, client_id = self._admin, self._client_id
        async with admin.key_lock(client_id):
            current = await admin.keys(client_id)
            if self.new_kid not in current:
                raise self._error(
                    f"the new key {self.new_kid!r} is no longer registered; the old key stays",
                    "new key missing",
                    current,
                )
            keys = current
            if self._old_kid in current:
                rest = [key for key in current.keys if key.kid != self._old_kid]
                keys = await admin.replace_keys(client_id, rest)
        self._step = "retired"
        return keys

    async def run(self) -> ClientKeys:
        """Every step still to do, in turn; the key set in the end."""
        if self._step == "new":
            await self.add()
        if self._step == "added":
            await self.switch()
        return await self.retire()

    async def _wait_until(self, moment: float) -> None:
        remaining = moment - self._clock()
        if remaining > 0:
            await self._sleep(remaining)
