"""Emulated Maskinporten: metadata, JWKS and the JWT-bearer token endpoint (RFC 7523 §2.1).

Grant validation follows Digdir's documentation and error catalogue (MP-xxx codes); see
``altinn-protocol.md`` §1 and §7 items 1-4.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import RSAKey

from ._asgi import Request, Response, Router, json_response
from ._jose import (
    RSA_ALGORITHMS,
    MalformedJWTError,
    b64url,
    grant_registry,
    parse_jwt,
    sha256_hex,
    signature_valid,
)
from ._state import MaskinportenClient, State, SystemUser

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SYSTEMUSER_TYPE = "urn:altinn:systemuser"
CONSENT_TYPE = "urn:altinn:consent"
ISO6523 = "iso6523-actorid-upis"

# Documented limits: grant lifetime at most 120 s, clocks within about 10 s of each other.
MAX_GRANT_LIFETIME = 120
CLOCK_SKEW = 10

_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_ORG_NUMBER = re.compile(r"\d{9}")
_ISO6523_ID = re.compile(r"0192:(\d{9})")

_SHA256 = hashes.SHA256()
_AUTH_FAILED = "Invalid assertion. Client authentication failed."
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))


def issuer_for(origin: str) -> str:
    """The Maskinporten issuer for an origin (with the trailing slash Maskinporten uses)."""
    return f"{origin}/maskinporten/"


class GrantError(Exception):
    """A refused token request: becomes Maskinporten's OAuth error body."""

    def __init__(self, error: str, description: str, code: str | None, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code
        self.status = status

    def response(self) -> Response:
        body: dict[str, str] = {
            "error": self.error,
            "error_description": f"{self.description} (trace_id: {secrets.token_hex(16)})",
        }
        if self.code is not None:
            body["error_uri"] = f"https://maskinporten.no/errors/{self.code}"
        return json_response(body, self.status, content_type="application/json", headers=_NO_STORE)


def _invalid_grant(description: str, code: str | None) -> GrantError:
    return GrantError("invalid_grant", description, code)


def _invalid_parameter() -> GrantError:
    return GrantError("invalid_request", "Invalid assertion. Invalid parameter value", "MP-011")


def _invalid_details(code: str, description: str) -> GrantError:
    return GrantError("invalid_authorization_details", description, code)


@dataclass(frozen=True, slots=True)
class _Authenticated:
    client: MaskinportenClient
    client_amr: str


class Maskinporten:
    """The Maskinporten endpoints, mounted under ``/maskinporten``."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._registry = grant_registry()

    def register(self, router: Router) -> None:
        """Add the routes to ``router``."""
        router.add(
            ["GET"],
            r"/maskinporten/\.well-known/oauth-authorization-server",
            "maskinporten.metadata",
            self.metadata,
        )
        router.add(["GET"], r"/maskinporten/jwk", "maskinporten.jwk", self.jwk)
        router.add(["POST"], r"/maskinporten/token", "maskinporten.token", self.token)

    async def metadata(self, request: Request) -> Response:
        """``GET /.well-known/oauth-authorization-server`` (the TEST document's shape)."""
        issuer = issuer_for(request.origin)
        return json_response(
            {
                "authorization_details_types_supported": [SYSTEMUSER_TYPE, CONSENT_TYPE],
                "grant_types_supported": [JWT_BEARER],
                "issuer": issuer,
                "jwks_uri": f"{issuer}jwk",
                "token_endpoint": f"{issuer}token",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": list(RSA_ALGORITHMS),
            },
            content_type="application/json",
        )

    async def jwk(self, request: Request) -> Response:
        """``GET /jwk``: the key that signs access tokens."""
        return json_response(
            {"keys": [self._state.maskinporten_key.public_jwk()]}, content_type="application/json"
        )

    async def token(self, request: Request) -> Response:
        """``POST /token`` with a JWT-bearer grant."""
        try:
            return self._token(request)
        except GrantError as exc:
            return exc.response()

    # -- the grant ---------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        assertion = self._read_assertion(request)
        now = self._state.clock()
        issuer = issuer_for(request.origin)
        try:
            obj, header, claims = parse_jwt(assertion, self._registry)
        except MalformedJWTError:
            raise _invalid_parameter() from None

        authenticated = self._authenticate(obj, header, claims, now)
        client = authenticated.client
        exp = self._check_claims(claims, issuer, now)
        self._check_replay(assertion, claims, exp, now)
        scopes = self._granted_scopes(claims)
        consumer_org = self._consumer_org(claims, client, scopes)
        audience = self._audience(claims)
        details = self._authorization_details(claims, client)

        expires_in = self._state.maskinporten_token_lifetime
        with self._state.lock:
            caps = [self._state.scopes.get(scope) for scope in scopes]
        for settings in caps:
            if settings is not None and settings.at_max_age is not None:
                expires_in = min(expires_in, settings.at_max_age)
        iat = int(now)
        scope_string = " ".join(scopes)
        token_claims: dict[str, Any] = {}
        if details is not None:
            token_claims["authorization_details"] = details
        token_claims.update(
            {
                "scope": scope_string,
                "iss": issuer,
                "client_amr": authenticated.client_amr,
                "token_type": "Bearer",
                "exp": iat + expires_in,
                "iat": iat,
                "client_id": client.client_id,
                "jti": b64url(secrets.token_bytes(32)),
                "aud": audience,
            }
        )
        own = {"authority": ISO6523, "ID": f"0192:{client.org_number}"}
        if consumer_org is not None:
            token_claims["supplier"] = own
            token_claims["delegation_source"] = f"{request.origin}/"
            token_claims["consumer"] = {"authority": ISO6523, "ID": f"0192:{consumer_org}"}
        else:
            token_claims["consumer"] = own
        pid = claims.get("pid")
        if isinstance(pid, str) and pid:
            token_claims["pid"] = pid
        access_token = self._state.maskinporten_key.sign(token_claims)
        return json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": scope_string,
            },
            content_type="application/json",
            headers=_NO_STORE,
        )

    @staticmethod
    def _read_assertion(request: Request) -> str:
        content_type = (request.header("content-type") or "").split(";", maxsplit=1)[0]
        if content_type.strip().lower() != "application/x-www-form-urlencoded":
            raise GrantError(
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
                None,
            )
        try:
            pairs = urllib.parse.parse_qsl(
                request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError:
            raise GrantError("invalid_request", "The request body is not UTF-8", None) from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise GrantError("invalid_request", f"Duplicate parameter: {name}", None)
            form[name] = value
        grant_type = form.get("grant_type")
        if not grant_type:
            raise GrantError("invalid_request", "Missing grant_type", None)
        if grant_type != JWT_BEARER:
            raise GrantError(
                "unsupported_grant_type", f"Unsupported grant_type: {grant_type}", None
            )
        assertion = form.get("assertion")
        if not assertion:
            raise GrantError("invalid_request", "Missing assertion", None)
        return assertion

    def _authenticate(
        self,
        obj: jws.CompactSignature,
        header: dict[str, Any],
        claims: dict[str, Any],
        now: float,
    ) -> _Authenticated:
        if header.get("alg") not in RSA_ALGORITHMS:
            raise _invalid_grant(f"{_AUTH_FAILED} Invalid JWT signature.", "MP-124")
        client_id = claims.get("iss")
        with self._state.lock:
            client = self._state.clients.get(client_id) if isinstance(client_id, str) else None
        if client is None:
            raise _invalid_grant(f"{_AUTH_FAILED} Client not found.", "MP-100")

        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid_parameter()
        if client.requires_registered_key or client.keys:
            # Such clients must name a registered key; an x5c certificate does not do.
            if kid is None:
                raise _invalid_grant(
                    f"{_AUTH_FAILED} Invalid JWT. The client requires pre-registered jwk and no "
                    "key identifier (kid) provided",
                    None,
                )
            key = client.keys.get(kid)
            if key is None:
                raise _invalid_grant(f"{_AUTH_FAILED} Invalid JWT signature.", "MP-124")
            if client.key_expires_at is not None and now > client.key_expires_at:
                raise _invalid_grant(f"{_AUTH_FAILED} Expired key.", "MP-121")
            client_amr = "private_key_jwt"
        elif "x5c" in header:
            key = self._certificate_key(header["x5c"], client, now)
            client_amr = "virksomhetssertifikat"
        else:
            # Neither a registered key nor a certificate to check the signature with.
            raise _invalid_grant(f"{_AUTH_FAILED} Invalid JWT header x5c.", "MP-123")
        if not signature_valid(obj, key, self._registry):
            raise _invalid_grant(f"{_AUTH_FAILED} Invalid JWT signature.", "MP-124")
        return _Authenticated(client, client_amr)

    def _certificate_key(self, x5c: Any, client: MaskinportenClient, now: float) -> RSAKey:
        bad_header = _invalid_grant(f"{_AUTH_FAILED} Invalid JWT header x5c.", "MP-123")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
            raise bad_header
        try:
            chain = [
                x509.load_der_x509_certificate(base64.b64decode(value, validate=True))
                for value in x5c
            ]
        except (ValueError, binascii.Error):
            raise bad_header from None
        with self._state.lock:
            trusted = list(self._state.trusted_certificates)
        if not _chain_is_trusted(chain, trusted, now):
            raise _invalid_grant(
                f"{_AUTH_FAILED} The JWT is signed with an invalid certificate.", "MP-120"
            )
        leaf = chain[0]
        if _certificate_org_number(leaf) != client.org_number:
            raise _invalid_grant(
                f"{_AUTH_FAILED} Invalid JWT. Invalid organization number for client. "
                "Does not match certificate orgno",
                "MP-122",
            )
        public_key = leaf.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise _invalid_grant(
                f"{_AUTH_FAILED} The JWT is signed with an invalid certificate.", "MP-120"
            )
        return RSAKey.import_key(public_key)

    @staticmethod
    def _check_claims(claims: dict[str, Any], issuer: str, now: float) -> float:
        """Check ``aud``, ``iat`` and ``exp``; return ``exp``."""
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if aud != issuer:
            raise _invalid_grant(f"{_AUTH_FAILED} Invalid JWT claim aud.", "MP-110")
        iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
        if iat is None or exp is None:
            raise _invalid_parameter()
        if exp - iat > MAX_GRANT_LIFETIME:
            raise _invalid_parameter()
        if iat > now + CLOCK_SKEW:
            raise _invalid_grant(f"{_AUTH_FAILED} Issue time is after now.", None)
        # An expired grant is refused outright; only iat gets the clock-skew allowance (an iat
        # older than skew + the longest grant lifetime cannot belong to a live grant).
        if exp < now or iat < now - CLOCK_SKEW - MAX_GRANT_LIFETIME:
            raise _invalid_grant(f"{_AUTH_FAILED} JWT is expired.", "MP-130")
        return exp

    def _check_replay(self, assertion: str, claims: dict[str, Any], exp: float, now: float) -> None:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti:
            key = f"jti:{claims['iss']}:{jti}"
        else:
            key = f"assertion:{sha256_hex(assertion)}"
        # Forget the grant once it can no longer pass the expiry check anyway.
        until = exp + CLOCK_SKEW
        with self._state.lock:
            fresh = self._state.remember_grant(key, until, now)
        if not fresh:
            raise _invalid_grant("Invalid assertion. Grant is used before.", "MP-012")

    def _granted_scopes(self, claims: dict[str, Any]) -> list[str]:
        raw = claims.get("scope")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            raise _invalid_parameter()
        scopes = list(dict.fromkeys(s for s in raw.split(" ") if s))
        if not scopes:
            raise GrantError(
                "invalid_scope",
                "Token request contains invalid scopes for client: (none)",
                "MP-200",
            )
        with self._state.lock:
            settings = {s: self._state.scopes.get(s) for s in scopes}
        for scope, setting in settings.items():
            if setting is not None and not setting.maskinporten:
                raise GrantError(
                    "invalid_scope",
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
                raise GrantError(
                    "invalid_scope",
                    "Token request contains invalid scopes for client: " + " ".join(invalid),
                    "MP-200",
                )
            return None
        if not isinstance(consumer_org, str) or not _ORG_NUMBER.fullmatch(consumer_org):
            raise _invalid_parameter()
        if consumer_org == client.org_number:
            raise GrantError(
                "invalid_request",
                "Validation of JWT claim failed: The combination consumer_org in claim and "
                "delegation scope on client is invalid",
                None,
            )
        with self._state.lock:
            delegations = set(self._state.delegations)
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

    @staticmethod
    def _audience(claims: dict[str, Any]) -> str | list[str]:
        resource = claims.get("resource")
        if resource is None:
            return "unspecified"
        if isinstance(resource, str) and resource:
            return resource
        if (
            isinstance(resource, list)
            and resource
            and all(isinstance(r, str) and r for r in resource)
        ):
            # Like Nimbus (Maskinporten's JWT library), a one-element audience is a string.
            return resource[0] if len(resource) == 1 else list(resource)
        raise _invalid_parameter()

    def _authorization_details(
        self, claims: dict[str, Any], client: MaskinportenClient
    ) -> list[dict[str, Any]] | None:
        details = claims.get("authorization_details")
        if details is None:
            return None
        if not isinstance(details, list) or not details:
            raise _invalid_details(
                "MP-303",
                "Invalid authorization details values: authorization_details must be a "
                "non-empty array of objects",
            )
        result: list[dict[str, Any]] = []
        for entry in details:
            if not isinstance(entry, dict):
                raise _invalid_details(
                    "MP-303",
                    "Invalid authorization details values: authorization_details must be a "
                    "non-empty array of objects",
                )
            kind = entry.get("type")
            if kind not in (SYSTEMUSER_TYPE, CONSENT_TYPE):
                raise _invalid_details("MP-301", f"Unknown authorization details type: {kind}")
            if kind == CONSENT_TYPE:
                raise _invalid_details(
                    "MP-303",
                    "Invalid authorization details values: no consent found for the request "
                    "(the emulator has no consents)",
                )
            result.append(self._systemuser_entry(entry, client))
        if len(result) > 1:
            raise _invalid_details(
                "MP-303",
                "Invalid authorization details values: only one urn:altinn:systemuser entry "
                "is allowed",
            )
        return result

    def _systemuser_entry(
        self, entry: dict[str, Any], client: MaskinportenClient
    ) -> dict[str, Any]:
        unknown = sorted(set(entry) - {"type", "systemuser_org", "externalRef"})
        if unknown:
            raise _invalid_details(
                "MP-302", f"Unknown fields in the authorization details: {', '.join(unknown)}"
            )
        org = entry.get("systemuser_org")
        identifier = None
        if isinstance(org, dict) and org.get("authority") == ISO6523:
            value = org.get("ID", org.get("id"))
            if isinstance(value, str):
                found = _ISO6523_ID.fullmatch(value)
                identifier = found.group(1) if found else None
        if identifier is None:
            raise _invalid_details("MP-303", "Invalid authorization details values: systemuser_org")
        external_ref = entry.get("externalRef")
        if external_ref is not None and not isinstance(external_ref, str):
            raise _invalid_details("MP-303", "Invalid authorization details values: externalRef")
        with self._state.lock:
            candidates = [
                user
                for user in self._state.system_users
                if user.client_id == client.client_id
                and user.customer_org == identifier
                and (external_ref is None or user.external_ref == external_ref)
            ]
        if not candidates:
            raise _invalid_details(
                "MP-303",
                "Invalid authorization details values: no system user found for client "
                f"{client.client_id} and systemuser_org 0192:{identifier}",
            )
        user: SystemUser = candidates[0]
        system_id = user.system_id or f"{client.org_number}_{client.client_id}"
        return {**entry, "systemuser_id": [user.id], "system_id": system_id}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _certificate_org_number(certificate: x509.Certificate) -> str | None:
    serial = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if serial:
        return str(serial[0].value)
    identifiers = certificate.subject.get_attributes_for_oid(_ORGANIZATION_IDENTIFIER)
    for attribute in identifiers:
        value = str(attribute.value)
        if value.startswith("NTRNO-"):
            return value.removeprefix("NTRNO-")
    return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _valid_at(certificate: x509.Certificate, now: float) -> bool:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chain_is_trusted(
    chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate], now: float
) -> bool:
    """Walk from the leaf: each certificate must be valid now and issued by the next one, until
    one is a trust anchor or is issued by one. Anchors may be roots or intermediates, so a
    leaf-only ``x5c`` works when its issuing CA is trusted (as Maskinporten knows the Buypass and
    Commfides intermediates)."""
    anchors = {anchor.fingerprint(_SHA256): anchor for anchor in trusted}
    for index, certificate in enumerate(chain):
        if not _valid_at(certificate, now):
            return False
        if certificate.fingerprint(_SHA256) in anchors:
            return True
        for anchor in anchors.values():
            if _is_ca(anchor) and _valid_at(anchor, now) and _issued_by(certificate, anchor):
                return True
        if index + 1 >= len(chain):
            return False
        issuer = chain[index + 1]
        if not _is_ca(issuer) or not _issued_by(certificate, issuer):
            return False
    return False
