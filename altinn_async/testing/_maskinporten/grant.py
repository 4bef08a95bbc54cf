"""The JWT-bearer grant (RFC 7523 §2.1) as Maskinporten validates it: client authentication by a
registered key or an enterprise certificate, ``aud``, the time window, ``jti`` replay, scopes,
``consumer_org`` delegation and ``resource``.

Follows Digdir's documentation and error catalogue (``altinn-protocol.md`` §1.3, §1.6, §1.7, §7
items 1-4); the time window is what the server enforces, which is wider than documented.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.jwk import RSAKey

from .._toolkit.asgi import FormError, Request
from .._toolkit.claims import CLOCK_SKEW, number, pid, scope_list
from .._toolkit.jose import (
    RSA_ALGORITHMS,
    MalformedJWTError,
    grant_registry,
    parse_jwt,
    sha256_hex,
    signature_valid,
)
from .._toolkit.pki import TrustStore, certificate_org_number
from .._toolkit.register import ORG_NUMBER
from .._toolkit.state import ReplayGuard, SharedState
from .details import authorization_details
from .errors import (
    GrantError,
    authentication_failed,
    invalid_grant,
    invalid_parameter,
    invalid_scope,
)
from .model import MaskinportenClient, MaskinportenStore
from .scopes import ScopeRefusal, scope_refusal
from .system_register import SystemRegister

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

MAX_GRANT_LIFETIME = 180
"""``exp - iat`` the server accepts (``maxLifetimeJwt``); the documentation says 120 s."""


@dataclass(frozen=True, slots=True)
class ValidGrant:
    """A grant that passed every check: what the access token is made of, and the grant's own
    claims and signing key (``kid``, ``alg``) for the record of what was accepted."""

    client: MaskinportenClient
    client_amr: str
    scopes: list[str]
    consumer_org: str | None
    audience: str | list[str]
    authorization_details: list[dict[str, Any]] | None
    pid: str | None
    claims: dict[str, Any]
    kid: str | None
    algorithm: str


class GrantValidator:
    """Checks token requests against the clients, the trusted CAs and the used ``jti``s."""

    def __init__(
        self,
        shared: SharedState,
        store: MaskinportenStore,
        trust: TrustStore,
        register: SystemRegister,
    ) -> None:
        self._shared = shared
        self._store = store
        self._trust = trust
        self._register = register
        self._registry = grant_registry()
        self._replay = ReplayGuard()

    def validate(self, request: Request, issuer: str, now: float) -> ValidGrant:
        """The grant of a ``POST /token``, checked in Maskinporten's order.

        Raises:
            GrantError: the first check that fails.
        """
        assertion = _assertion(request)
        try:
            obj, header, claims = parse_jwt(assertion, self._registry)
        except MalformedJWTError:
            raise invalid_parameter() from None
        client, client_amr = self._authenticate(obj, header, claims, now)
        _check_audience(claims, issuer)
        exp = check_time_window(claims, now)
        self._check_replay(assertion, claims, exp, now)
        scopes = self._scopes(claims)
        consumer_org = self._consumer_org(claims, client, scopes)
        self._check_registry(client, scopes, consumer_org or client.org_number)
        return ValidGrant(
            client=client,
            client_amr=client_amr,
            scopes=scopes,
            consumer_org=consumer_org,
            audience=_audience(claims),
            authorization_details=authorization_details(claims, client, self._register),
            pid=pid(claims),
            claims=claims,
            kid=header.get("kid"),
            algorithm=str(header["alg"]),
        )

    # -- client authentication ---------------------------------------------------------------

    def _authenticate(
        self,
        obj: jws.CompactSignature,
        header: dict[str, Any],
        claims: dict[str, Any],
        now: float,
    ) -> tuple[MaskinportenClient, str]:
        """The client and how it authenticated (``client_amr``)."""
        if header.get("alg") not in RSA_ALGORITHMS:
            raise authentication_failed("Invalid JWT signature.", "MP-124")
        client_id = claims.get("iss")
        with self._shared.lock:
            client = self._store.clients.get(client_id) if isinstance(client_id, str) else None
            if client is not None and not client.active:
                client = None  # deleted through the self-service API
            keys = client.keys_at(now) if client is not None else {}
        if client is None:
            raise authentication_failed("Client not found.", "MP-100")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_parameter()
        if client.requires_registered_key or keys:
            # Such clients must name a registered key; an x5c certificate does not do.
            if kid is None:
                raise authentication_failed(
                    "Invalid JWT. The client requires pre-registered jwk and no key identifier "
                    "(kid) provided"
                )
            registered = keys.get(kid)
            if registered is None:
                self._check_removed(client, kid, now)
                raise authentication_failed("Invalid JWT signature.", "MP-124")
            if registered.expires_at is not None and now > registered.expires_at:
                raise authentication_failed("Expired key.", "MP-121")
            key = registered.key
            client_amr = "private_key_jwt"
        elif kid is not None and "x5c" not in header:
            # Every key removed: the grant still names one.
            self._check_removed(client, kid, now)
            raise authentication_failed("Invalid JWT header x5c.", "MP-123")
        elif "x5c" in header:
            key = self._certificate_key(header["x5c"], client, now)
            client_amr = "virksomhetssertifikat"
        else:
            # Neither a registered key nor a certificate to check the signature with.
            raise authentication_failed("Invalid JWT header x5c.", "MP-123")
        if not signature_valid(obj, key, self._registry):
            raise authentication_failed("Invalid JWT signature.", "MP-124")
        return client, client_amr

    def _check_removed(self, client: MaskinportenClient, kid: str, now: float) -> None:
        """MP-121 for a key the client had and no longer has: Digdir's "expired key" covers a
        key removed from the client's JWKS as well as one past its ``exp``."""
        with self._shared.lock:
            removed = client.had_key(kid, now)
        if removed:
            raise authentication_failed("Expired key.", "MP-121")

    def _certificate_key(self, x5c: Any, client: MaskinportenClient, now: float) -> RSAKey:
        bad_header = authentication_failed("Invalid JWT header x5c.", "MP-123")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
            raise bad_header
        try:
            chain = [
                x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
                for value in x5c
            ]
        except (ValueError, binascii.Error):
            raise bad_header from None
        invalid_certificate = authentication_failed(
            "The JWT is signed with an invalid certificate.", "MP-120"
        )
        if not self._trust.trusts(chain, now):
            raise invalid_certificate
        leaf = chain[0]
        if certificate_org_number(leaf) != client.org_number:
            raise authentication_failed(
                "Invalid JWT. Invalid organization number for client. Does not match "
                "certificate orgno",
                "MP-122",
            )
        public_key = leaf.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise invalid_certificate
        return RSAKey.import_key(public_key)

    # -- the grant's claims ------------------------------------------------------------------

    def _check_replay(self, assertion: str, claims: dict[str, Any], exp: float, now: float) -> None:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti:
            key = f"jti:{claims['iss']}:{jti}"
        else:
            key = f"assertion:{sha256_hex(assertion)}"
        # Forget the grant once it can no longer pass the time window anyway.
        with self._shared.lock:
            fresh = self._replay.remember(key, exp + CLOCK_SKEW, now)
        if not fresh:
            raise invalid_grant("Invalid assertion. Grant is used before.", "MP-012")

    def _scopes(self, claims: dict[str, Any]) -> list[str]:
        raw = claims.get("scope")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise invalid_parameter()
        scopes = scope_list(raw)
        if not scopes:
            raise invalid_scope(
                "Token request contains invalid scopes for client: (none)", "MP-200"
            )
        with self._shared.lock:
            settings = {s: self._store.scopes.get(s) for s in scopes}
        for scope, setting in settings.items():
            if setting is not None and not setting.maskinporten:
                raise invalid_scope(
                    f"Token request contains scopes not allowed for maskinporten: {scope}",
                    "MP-201",
                )
        return scopes

    def _consumer_org(
        self, claims: dict[str, Any], client: MaskinportenClient, scopes: Sequence[str]
    ) -> str | None:
        consumer_org = claims.get("consumer_org")
        if consumer_org is None:
            invalid = [s for s in scopes if s not in client.scopes]
            if invalid:
                raise invalid_scope(
                    "Token request contains invalid scopes for client: " + " ".join(invalid),
                    "MP-200",
                )
            return None
        if not isinstance(consumer_org, str) or not ORG_NUMBER.fullmatch(consumer_org):
            raise invalid_parameter()
        if consumer_org == client.org_number:
            raise GrantError(
                "invalid_request",
                "Validation of JWT claim failed: The combination consumer_org in claim and "
                "delegation scope on client is invalid",
            )
        with self._shared.lock:
            delegations = set(self._store.delegations)
        for scope in scopes:
            if (consumer_org, client.org_number, scope) not in delegations:
                raise GrantError(
                    "access_denied",
                    f"Consumer {consumer_org} has not delegated access to the scope {scope} "
                    f"to supplier {client.org_number}",
                    "MP-251",
                    status=403,
                )
        return consumer_org

    def _check_registry(
        self, client: MaskinportenClient, scopes: Sequence[str], consumer: str
    ) -> None:
        """The scope registry's rule for the scopes it knows (API scopes registered through the
        self-service API or seeded as such); other scopes are trusted as the client has them.

        Raises:
            GrantError: MP-200 for a deactivated scope, MP-201 for one that does not allow
                Maskinporten, MP-250 (403) for one the consumer has no access to.
        """
        refusals: list[tuple[str, ScopeRefusal | None]] = []
        with self._shared.lock:
            for scope in scopes:
                registered = self._store.api_scopes.get(scope)
                if registered is not None:
                    refusal = scope_refusal(
                        registered, self._store.scope_access, consumer, client.integration_type
                    )
                    refusals.append((scope, refusal))
        for scope, refusal in refusals:
            if refusal is ScopeRefusal.INACTIVE:
                raise invalid_scope(
                    f"Token request contains invalid scopes for client: {scope}", "MP-200"
                )
            if refusal is ScopeRefusal.INCOMPATIBLE:
                raise invalid_scope(
                    f"Token request contains scopes not allowed for maskinporten: {scope}",
                    "MP-201",
                )
            if refusal is ScopeRefusal.NO_ACCESS:
                raise GrantError(
                    "access_denied",
                    f"Consumer has not been granted access to the scope {scope}",
                    "MP-250",
                    status=403,
                )


def check_time_window(claims: dict[str, Any], now: float) -> float:
    """``iat`` and ``exp`` in one step, as the server's ``validateJwtExpiration`` does: a lifetime
    of at most `MAX_GRANT_LIFETIME` (measured between the two claims, so skew-free), ``iat`` at
    most 10 s ahead of the server's clock and ``exp`` at most 10 s behind it. Returns ``exp``.

    Sources: the checks and their order as read from the server source in
    ``Altinn/altinn-studio#19603``; 180 s as observed in ``felleslosninger/docs#455``; the texts
    of the catalogue (``maskinporten_feilsoking.md``) where it has them.

    Raises:
        GrantError: MP-011 without numeric ``iat`` and ``exp``; ``invalid_grant`` otherwise.
    """
    iat, exp = number(claims.get("iat")), number(claims.get("exp"))
    if iat is None or exp is None:
        raise invalid_parameter()
    if exp - iat > MAX_GRANT_LIFETIME:
        raise authentication_failed("JWT has too long lifetime.")
    if iat > now + CLOCK_SKEW:
        raise authentication_failed("Issue time is after now.")
    if exp < now - CLOCK_SKEW:
        raise authentication_failed("JWT is expired.", "MP-130")
    return exp


def _assertion(request: Request) -> str:
    try:
        form = request.form()
    except FormError as exc:
        raise GrantError("invalid_request", str(exc)) from None
    grant_type = form.get("grant_type")
    if not grant_type:
        raise GrantError("invalid_request", "Missing grant_type")
    if grant_type != JWT_BEARER:
        raise GrantError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}")
    assertion = form.get("assertion")
    if not assertion:
        raise GrantError("invalid_request", "Missing assertion")
    return assertion


def _check_audience(claims: dict[str, Any], issuer: str) -> None:
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if aud != issuer:
        raise authentication_failed("Invalid JWT claim aud.", "MP-110")


def _audience(claims: dict[str, Any]) -> str | list[str]:
    resource = claims.get("resource")
    if resource is None:
        return "unspecified"
    if isinstance(resource, str) and resource:
        return resource
    if isinstance(resource, list) and resource and all(isinstance(r, str) and r for r in resource):
        # Like Nimbus (Maskinporten's JWT library), a one-element audience is a string.
        return resource[0] if len(resource) == 1 else list(resource)
    raise invalid_parameter()
