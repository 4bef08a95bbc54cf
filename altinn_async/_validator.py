"""Validate the tokens a service receives: Altinn tokens (and Maskinporten and ID-porten access
tokens) against their issuer's published keys, with typed claims."""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import anyio
import attrs
import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ._environment import Environment, check_url
from ._http import describe_transport_error
from ._httpcompat import TRANSPORT_ERRORS, AsyncClient, as_httpx
from ._jwks import JWKSCache
from ._redact import mask_pid
from ._retry import RetryPolicy, send
from ._tokens import Clock
from .exceptions import (
    ConfigurationError,
    DiscoveryError,
    InsufficientScopeError,
    TokenValidationError,
)

__all__ = ["AltinnPrincipal", "AltinnTokenValidator", "SystemUserClaims"]

DEFAULT_ALGORITHMS = ("RS256",)
"""What Altinn, Maskinporten and ID-porten sign their tokens with."""
_SYMMETRIC = re.compile(r"HS\d+|none", re.IGNORECASE)
_KID = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")
_KEY_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
# Extensions no Altinn token uses: a critical one must be understood, and b64=false would
# change what the signature covers (RFC 7515 §4.1.11, RFC 7797).
_EXTENSION_HEADERS = frozenset({"crit", "b64"})
_ISO6523 = re.compile(r"(?:0192:)?([0-9]{9})")
Kind = Literal["altinn", "maskinporten", "idporten"]


@attrs.frozen
class SystemUserClaims:
    """The system user a token names (``authorization_details`` of type
    ``urn:altinn:systemuser``).

    Attributes:
        ids: the system user's id(s).
        org_number: the organisation that owns it (the customer).
        system_id: the vendor's system.
    """

    ids: tuple[str, ...]
    org_number: str | None
    system_id: str | None


def _org_number(value: object) -> str | None:
    if value is None:
        return None
    if type(value) is dict or (type(value) is not str and isinstance(value, Mapping)):
        value = value.get("ID")
    if type(value) is int:
        value = f"{value:09d}"
    if not isinstance(value, str):
        return None
    match = _ISO6523.fullmatch(value.strip())
    return match[1] if match else None


def _text(claims: Mapping[str, Any], key: str) -> str | None:
    value = claims.get(key)
    kind = type(value)
    if kind is str:
        return value or None
    if value is None or kind is bool:
        return None
    if isinstance(value, int | float):
        return str(int(value))
    return value if isinstance(value, str) and value else None


def _system_user(claims: Mapping[str, Any]) -> SystemUserClaims | None:
    details = claims.get("authorization_details")
    if details is None:
        return None
    entry = details[0] if isinstance(details, list) and details else details
    if not isinstance(entry, Mapping) or entry.get("type") != "urn:altinn:systemuser":
        return None
    ids = entry.get("systemuser_id")
    system_id = entry.get("system_id")
    return SystemUserClaims(
        ids=tuple(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else (),
        org_number=_org_number(entry.get("systemuser_org")),
        system_id=system_id if isinstance(system_id, str) else None,
    )


# ID-porten's levels of assurance as Altinn's authentication levels (and the older names).
_ACR_LEVELS = {
    "idporten-loa-substantial": 3,
    "idporten-loa-high": 4,
    "Level3": 3,
    "Level4": 4,
}


def _pid_repr(value: str | None) -> str:
    return repr(None if value is None else mask_pid(value))


class AltinnPrincipal:
    """Who a validated token speaks for, in typed claims.

    Each attribute is read from the claims when it is first asked for (a service that looks at
    two claims pays for two), then kept; the principal is read-only.

    Attributes:
        issuer: ``iss``.
        kind: ``altinn``, ``maskinporten`` or ``idporten``: the issuer that signed it.
        scopes: the token's scopes.
        expires_at: ``exp``, seconds since the epoch.
        org: ``urn:altinn:org``, a service owner's code (``ttd``).
        org_number: the organisation the token is for: ``urn:altinn:orgNumber`` (a string or a
            number on the wire), else the Maskinporten ``consumer``.
        consumer_org: the Maskinporten ``consumer`` organisation (``0192:`` parsed).
        supplier_org: the ``supplier`` organisation, when a supplier acted for the consumer.
        authentication_level: ``urn:altinn:authlevel``, or read from an ID-porten ``acr``
            (``idporten-loa-substantial`` is 3, ``idporten-loa-high`` 4).
        acr: ID-porten's level of assurance, as it wrote it.
        authentication_method: ``urn:altinn:authenticatemethod``.
        user_id: ``urn:altinn:userid``.
        party_id: ``urn:altinn:partyid``.
        party_uuid: ``urn:altinn:party:uuid``.
        pid: a person's national identity number (masked in the repr).
        client_id: the Maskinporten or ID-porten client.
        system_user: the system user, if the token names one.
        claims: every claim, as validated (not in the repr).

    Args:
        claims: the validated claims.
        kind: the issuer that signed them.
    """

    _REPR = (
        "issuer", "kind", "scopes", "expires_at", "org", "org_number", "consumer_org",
        "supplier_org", "authentication_level", "acr", "authentication_method", "user_id",
        "party_id", "party_uuid", "pid", "client_id", "system_user",
    )  # fmt: skip

    def __init__(self, claims: Mapping[str, Any], *, kind: str) -> None:
        object.__setattr__(self, "claims", claims if type(claims) is dict else dict(claims))
        object.__setattr__(self, "kind", kind)

    claims: Mapping[str, Any]
    kind: str

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, kind: str) -> AltinnPrincipal:
        """The principal of validated claims (the same as ``AltinnPrincipal(claims, kind=)``)."""
        return cls(claims, kind=kind)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an AltinnPrincipal is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"an AltinnPrincipal is read-only (cannot delete {name!r})")

    def __repr__(self) -> str:
        shown = []
        for name in self._REPR:
            value = getattr(self, name)
            shown.append(f"{name}={_pid_repr(value) if name == 'pid' else repr(value)}")
        return f"AltinnPrincipal({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AltinnPrincipal):
            return NotImplemented
        return (self.kind, self.claims) == (other.kind, other.claims)

    def __hash__(self) -> int:
        return hash((self.kind, self.issuer, self.expires_at, self.scopes))

    @functools.cached_property
    def issuer(self) -> str:
        return str(self.claims.get("iss", ""))

    @functools.cached_property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

    @functools.cached_property
    def expires_at(self) -> float:
        exp = self.claims.get("exp", 0)
        return float(exp) if isinstance(exp, int | float) else 0.0

    @functools.cached_property
    def org(self) -> str | None:
        return _text(self.claims, "urn:altinn:org")

    @functools.cached_property
    def org_number(self) -> str | None:
        return _org_number(self.claims.get("urn:altinn:orgNumber")) or self.consumer_org

    @functools.cached_property
    def consumer_org(self) -> str | None:
        return _org_number(self.claims.get("consumer"))

    @functools.cached_property
    def supplier_org(self) -> str | None:
        return _org_number(self.claims.get("supplier"))

    @functools.cached_property
    def authentication_level(self) -> int | None:
        level = self.claims.get("urn:altinn:authlevel")
        if isinstance(level, str) and level.isdigit():
            level = int(level)
        if level is None and self.acr is not None:
            level = _ACR_LEVELS.get(self.acr)
        return level if type(level) is int else None

    @functools.cached_property
    def acr(self) -> str | None:
        return _text(self.claims, "acr")

    @functools.cached_property
    def authentication_method(self) -> str | None:
        return _text(self.claims, "urn:altinn:authenticatemethod")

    @functools.cached_property
    def user_id(self) -> str | None:
        return _text(self.claims, "urn:altinn:userid")

    @functools.cached_property
    def party_id(self) -> str | None:
        return _text(self.claims, "urn:altinn:partyid")

    @functools.cached_property
    def party_uuid(self) -> str | None:
        return _text(self.claims, "urn:altinn:party:uuid")

    @functools.cached_property
    def pid(self) -> str | None:
        return _text(self.claims, "pid")

    @functools.cached_property
    def client_id(self) -> str | None:
        return _text(self.claims, "client_id")

    @functools.cached_property
    def system_user(self) -> SystemUserClaims | None:
        return _system_user(self.claims)

    def has_scopes(self, *scopes: str) -> bool:
        """Whether the token carries every one of ``scopes``."""
        return set(scopes) <= self.scopes


def _invalid(message: str, reason: str) -> TokenValidationError:
    return TokenValidationError(message, reason=reason)


class AltinnTokenValidator:
    """Validate tokens signed by Altinn (or Maskinporten, or ID-porten), as a service that
    receives them must.

    The keys come from the issuer's published metadata (Altinn's OpenID configuration, which
    Altinn publishes so that its clients follow its key rotation); they are cached, and a token
    with a ``kid`` not in the cache makes one refetch at most every ``min_refetch_interval``
    seconds, so a flood of forged tokens cannot make the service hammer the issuer. Altinn's
    JWKS writes ``n`` and ``e`` in standard base64; the key is then read from its ``x5c``
    certificate.

    Checked: the algorithm (from ``algorithms``: never ``none``, never an HMAC, which a public
    key must not be the secret of), that the header brings no key of its own (``jwk``, ``jku``,
    ``x5u``, ``x5c``), the signature, ``iss``, ``exp`` and ``nbf`` with ``leeway`` seconds,
    and, when asked, the scopes and the audience.

    Example::

        async with altinn.AltinnTokenValidator(altinn.TEST) as validator:  # one per service
            principal = await validator.validate(token, scopes=["altinn:instances.read"])
            print(principal.org_number, principal.authentication_level)

    Args:
        environment: where the issuer is (`Environment`), or the issuer URL itself.
        kind: which of the environment's issuers: ``altinn`` (tokens from the exchange),
            ``maskinporten`` or ``idporten`` (access tokens).
        audience: a value ``aud`` must hold (none checked by default: Altinn tokens have no
            ``aud``).
        scopes: scopes every token must carry.
        algorithms: the signing algorithms allowed.
        leeway: seconds of clock skew allowed on ``exp`` and ``nbf``.
        min_refetch_interval: the least seconds between two fetches of the keys.
        http_client: the client to fetch metadata and keys with (default: one of its own,
            closed by `aclose`).
        clock: seconds since the epoch.
        retry: the `RetryPolicy` for the fetches.

    Raises:
        ConfigurationError: an HMAC or ``none`` among ``algorithms``, a bad issuer URL, or an
            environment without that issuer.
    """

    def __init__(
        self,
        environment: Environment | str,
        *,
        kind: Kind = "altinn",
        audience: str | None = None,
        scopes: Sequence[str] = (),
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        leeway: float = 10.0,
        min_refetch_interval: float = 60.0,
        http_client: AsyncClient | None = None,
        clock: Clock = time.time,
        retry: RetryPolicy | None = None,
    ) -> None:
        if kind not in ("altinn", "maskinporten", "idporten"):
            raise ConfigurationError(f"kind is altinn, maskinporten or idporten, not {kind!r}")
        allowed = tuple(algorithms)
        if not allowed or any(_SYMMETRIC.fullmatch(a) for a in allowed):
            raise ConfigurationError(
                "algorithms must be asymmetric ones such as RS256: never none, never HS* (a "
                "public key would be the secret)"
            )
        self._kind = kind
        self._issuer, self._jwks_uri, self._metadata_uri = _issuer_of(environment, kind)
        self._audience = audience
        self._scopes = tuple(scopes)
        self._algorithms = allowed
        self._registry = jws.JWSRegistry(algorithms=list(allowed))
        # Room to read (and then refuse by name) a header that brings its own key.
        self._registry.max_header_length = 8192
        self._leeway = leeway
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._own_client = http_client is None
        self._http = (
            httpx.AsyncClient(timeout=10.0) if http_client is None else as_httpx(http_client)
        )
        self._min_interval = min_refetch_interval
        self._keys: JWKSCache | None = None
        self._discovery: anyio.Lock | None = None

    def __repr__(self) -> str:
        return f"AltinnTokenValidator(issuer={self._issuer!r}, kind={self._kind!r})"

    @property
    def issuer(self) -> str:
        """The ``iss`` tokens must have."""
        return self._issuer

    async def aclose(self) -> None:
        """Close the client the validator made for itself."""
        if self._own_client:
            await self._http.aclose()

    async def __aenter__(self) -> AltinnTokenValidator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _cache(self) -> JWKSCache:
        if self._keys is not None:
            return self._keys
        if self._discovery is None:
            self._discovery = anyio.Lock()
        async with self._discovery:  # requests arriving at once discover once
            # Read again after the wait (a method: the check above does not hold any more).
            return self._cached() or await self._new_cache()

    def _cached(self) -> JWKSCache | None:
        return self._keys

    async def _new_cache(self) -> JWKSCache:
        jwks_uri = self._jwks_uri or await self._discover()
        self._keys = JWKSCache(
            jwks_uri,
            clock=self._clock,
            min_refetch_interval=self._min_interval,
            retry=self._retry,
            error=DiscoveryError,
        )
        return self._keys

    async def _discover(self) -> str:
        assert self._metadata_uri is not None  # noqa: S101 - one of the two is set
        uri = self._metadata_uri

        async def build() -> httpx.Request:
            return self._http.build_request("GET", uri, headers={"Accept": "application/json"})

        try:
            # Without the client's own auth: a backend's client may carry its credentials.
            response = await send(self._http, build, policy=self._retry, use_client_auth=False)
        except TRANSPORT_ERRORS as exc:
            raise DiscoveryError(f"could not fetch {uri}: {describe_transport_error(exc)}") from exc
        try:
            document = response.json() if response.status_code == 200 else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            document = {}
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or document.get("issuer") != self._issuer:
            raise DiscoveryError(
                f"{self._metadata_uri} is not the OpenID configuration of {self._issuer}"
            )
        return check_url(jwks_uri, what="jwks_uri")

    async def validate(
        self, token: str, *, scopes: Iterable[str] = (), audience: str | None = None
    ) -> AltinnPrincipal:
        """The principal of a valid token.

        Args:
            token: the compact JWS (without ``Bearer``).
            scopes: scopes this token must carry (besides the validator's own).
            audience: a value ``aud`` must hold (besides the validator's own).

        Raises:
            TokenValidationError: the token is not valid (`TokenValidationError.reason` says
                how); answer 401.
            InsufficientScopeError: it is valid but lacks a scope; answer 403.
            DiscoveryError: the issuer's metadata or keys cannot be had (answer 503: the
                token may be fine).
        """
        compact, header = self._parse(token)
        kid = header.get("kid")
        # The fast path takes no lock and awaits nothing: the keys are there and fresh.
        keys = None if self._keys is None else self._keys.fresh(kid)
        if keys is None:
            cache = await self._cache()
            keys = await cache.key_set(self._http, kid=kid)
        claims = self._verified(compact, keys, kid)
        self._check_claims(claims, audience)
        principal = AltinnPrincipal(claims, kind=self._kind)
        wanted = (*self._scopes, *scopes)
        missing = tuple(s for s in wanted if s not in principal.scopes) if wanted else ()
        if missing:
            raise InsufficientScopeError(
                f"the token lacks the scope {', '.join(missing)}", missing=missing
            )
        return principal

    def _parse(self, token: str) -> tuple[jws.CompactSignature, dict[str, Any]]:
        """The token parsed once (joserfc's own parser), and its header checked."""
        if token.count(".") != 2:
            raise _invalid(
                "the token is not a compact JWS (three dot-separated parts)", "malformed"
            )
        try:
            compact = jws.extract_compact(token.encode("ascii"), registry=self._registry)
        except (JoseError, ValueError, UnicodeError):
            raise _invalid("the token's header is not base64url JSON", "malformed") from None
        header = compact.headers()
        if not isinstance(header, dict):
            raise _invalid("the token's header is not a JSON object", "malformed")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise _invalid(
                f"the token is signed with {str(alg)[:20]!r}, not one of "
                f"{', '.join(self._algorithms)}",
                "algorithm",
            )
        if _KEY_HEADERS & header.keys():
            raise _invalid(
                "the token's header brings a key of its own (jwk, jku, x5u or x5c): only the "
                "issuer's published keys are trusted",
                "header",
            )
        if _EXTENSION_HEADERS & header.keys():
            raise _invalid("the token's header asks for extensions (crit, b64)", "header")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not _KID.fullmatch(kid)):
            raise _invalid("the token's kid is not a key id", "header")
        return compact, header

    def _verified(
        self, compact: jws.CompactSignature, keys: KeySet, kid: str | None
    ) -> dict[str, Any]:
        candidates = [key for key in keys.keys if kid is None or key.kid == kid]
        if not candidates:
            raise _invalid("the token is signed with a key the issuer does not publish", "key")
        for key in candidates:
            try:
                if not jws.validate_compact(compact, key, registry=self._registry):
                    continue
            except (JoseError, ValueError):
                raise _invalid("the token is not a valid JWS", "malformed") from None
            try:
                claims = json.loads(compact.payload)
            except ValueError:
                raise _invalid("the token's payload is not JSON", "malformed") from None
            if not isinstance(claims, dict):
                raise _invalid("the token's payload is not a JSON object", "malformed")
            return claims
        raise _invalid("the token's signature does not verify", "signature")

    def _check_claims(self, claims: Mapping[str, Any], audience: str | None) -> None:
        if claims.get("iss") != self._issuer:
            raise _invalid(
                f"the token is from {str(claims.get('iss'))[:100]!r}, not {self._issuer!r}",
                "issuer",
            )
        now = self._clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _invalid("the token has no exp", "claims")
        if now > exp + self._leeway:
            raise _invalid("the token expired", "expired")
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise _invalid("the token's nbf is not a time", "claims")
            if now + self._leeway < nbf:
                raise _invalid("the token is not valid yet (nbf)", "not yet valid")
        for wanted in (self._audience, audience):
            if wanted is None:
                continue
            aud = claims.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            if wanted not in audiences:
                raise _invalid(f"the token is not for {wanted!r}", "audience")


def _issuer_of(environment: Environment | str, kind: Kind) -> tuple[str, str | None, str | None]:
    """(issuer, jwks_uri or None, metadata URL or None)."""
    if isinstance(environment, str):
        issuer = check_url(environment, what="issuer")
        suffix = "oauth-authorization-server" if kind == "maskinporten" else "openid-configuration"
        return issuer, None, f"{issuer.rstrip('/')}/.well-known/{suffix}"
    if kind == "maskinporten":
        server = environment.maskinporten
        return (
            server.issuer,
            server.jwks_uri,
            None if server.jwks_uri else _well_known(server.issuer, "oauth-authorization-server"),
        )
    if kind == "idporten":
        idporten = environment.idporten
        if idporten is None:
            raise ConfigurationError(f"the environment {environment.name!r} has no ID-porten")
        return (
            idporten.issuer,
            idporten.jwks_uri,
            None if idporten.jwks_uri else _well_known(idporten.issuer, "openid-configuration"),
        )
    if environment.platform is None:
        raise ConfigurationError(f"the environment {environment.name!r} has no Altinn platform")
    issuer = f"{environment.platform.rstrip('/')}/authentication/api/v1/openid/"
    return issuer, None, f"{issuer}.well-known/openid-configuration"


def _well_known(issuer: str, suffix: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/{suffix}"
