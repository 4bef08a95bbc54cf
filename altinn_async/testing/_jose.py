"""Signing keys and JWS helpers for the emulator (joserfc for every JWT, cryptography for X.509)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

RSA_ALGORITHMS = ("RS256", "RS384", "RS512")


class _LenientSizeRegistry(jws.JWSRegistry):
    # joserfc caps headers at 512 bytes by default; an x5c header with a full certificate chain
    # is several kilobytes, and Maskinporten accepts it.
    max_header_length = 64 * 1024
    max_payload_length = 256 * 1024


def grant_registry() -> jws.JWSRegistry:
    """Registry for client grants: the RSA algorithms Maskinporten lists, any header members."""
    return _LenientSizeRegistry(algorithms=list(RSA_ALGORITHMS), strict_check_header=False)


def token_registry() -> jws.JWSRegistry:
    """Registry for the emulator's own RS256 tokens."""
    return _LenientSizeRegistry(algorithms=["RS256"], strict_check_header=False)


class MalformedJWTError(ValueError):
    """The value is not a compact JWS with a JSON-object payload."""


def parse_jwt(
    value: str, registry: jws.JWSRegistry
) -> tuple[jws.CompactSignature, dict[str, Any], dict[str, Any]]:
    """Split a compact JWT without verifying it: the JWS object, its header and its claims."""
    try:
        obj = jws.extract_compact(value.encode("ascii"), registry=registry)
        claims = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise MalformedJWTError(str(exc)) from exc
    header = obj.headers()
    if not isinstance(claims, dict) or not isinstance(header, dict):
        raise MalformedJWTError("the JWT payload is not a JSON object")
    return obj, header, claims


def signature_valid(obj: jws.CompactSignature, key: RSAKey, registry: jws.JWSRegistry) -> bool:
    """Whether ``obj`` is signed by ``key`` with an algorithm ``registry`` allows."""
    try:
        return jws.validate_compact(obj, key, registry=registry)
    except (JoseError, ValueError, TypeError):
        return False


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64std(data: bytes) -> str:
    """Standard, padded base64 (what .NET's ``Convert.ToBase64String`` writes)."""
    return base64.b64encode(data).decode("ascii")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


class RsaSigningKey:
    """A token-signing key of the emulated Maskinporten or ID-porten, generated on first use.

    Generation is lazy because RSA key generation costs tens of milliseconds and many emulators
    (one per test) never issue a token.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._key: RSAKey | None = None
        self._kid = ""

    def __repr__(self) -> str:
        return f"RsaSigningKey({self._name!r}, <private>)"

    def _ensure(self) -> RSAKey:
        with self._lock:
            if self._key is None:
                private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                self._key = RSAKey.import_key(private)
                self._kid = self._key.thumbprint()
            return self._key

    @property
    def key(self) -> RSAKey:
        """The private key."""
        return self._ensure()

    @property
    def kid(self) -> str:
        """The key id published in the JWKS (the RFC 7638 thumbprint)."""
        self._ensure()
        return self._kid

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK as Maskinporten's ``/jwk`` and ID-porten's ``/jwks.json`` list it."""
        public = self.key.as_dict(private=False)
        return {
            "kty": "RSA",
            "e": public["e"],
            "use": "sig",
            "kid": self.kid,
            "alg": "RS256",
            "n": public["n"],
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An RS256 JWT with header ``{"kid", "alg"}`` (neither Maskinporten nor ID-porten sets
        ``typ``)."""
        return jwt.encode(
            {"kid": self.kid, "alg": "RS256"},
            dict(claims),
            self.key,
            algorithms=["RS256"],
            default_type=None,
        )


class AltinnSigningCertificate:
    """The emulated Altinn platform's signing certificate (self-signed X.509), generated lazily.

    Altinn signs with ``X509SigningCredentials``: header ``kid`` is the certificate's SHA-1
    thumbprint in upper-case hex and ``x5t`` its base64url form.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._key: RSAKey | None = None
        self._certificate: x509.Certificate | None = None
        self._kid = ""
        self._x5t = ""

    def __repr__(self) -> str:
        return "AltinnSigningCertificate(<private>)"

    def _ensure(self) -> tuple[RSAKey, x509.Certificate]:
        with self._lock:
            if self._key is None or self._certificate is None:
                private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                now = dt.datetime.fromtimestamp(int(self._clock()), dt.UTC)
                name = x509.Name(
                    [x509.NameAttribute(NameOID.COMMON_NAME, "altinn-async emulator token signing")]
                )
                certificate = (
                    x509.CertificateBuilder()
                    .subject_name(name)
                    .issuer_name(name)
                    .public_key(private.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=365))
                    .sign(private, hashes.SHA256())
                )
                thumbprint = certificate.fingerprint(hashes.SHA1())  # noqa: S303 - .NET thumbprint
                self._kid = thumbprint.hex().upper()
                self._x5t = b64url(thumbprint)
                self._key = RSAKey.import_key(private)
                self._certificate = certificate
            return self._key, self._certificate

    @property
    def key(self) -> RSAKey:
        """The private key."""
        return self._ensure()[0]

    @property
    def kid(self) -> str:
        """The certificate thumbprint, upper-case hex."""
        self._ensure()
        return self._kid

    def jwk(self) -> dict[str, Any]:
        """The JWKS entry, with Altinn's quirk: ``n``/``e`` in standard base64, plus ``x5c``."""
        _, certificate = self._ensure()
        public = certificate.public_key()
        assert isinstance(public, rsa.RSAPublicKey)  # noqa: S101 - we generated it
        numbers = public.public_numbers()
        der = certificate.public_bytes(serialization.Encoding.DER)
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self._kid,
            "e": b64std(_int_bytes(numbers.e)),
            "n": b64std(_int_bytes(numbers.n)),
            "x5c": [b64std(der)],
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An RS256 JWT with the header .NET's ``JwtSecurityTokenHandler`` writes."""
        key = self.key
        return jwt.encode(
            {"alg": "RS256", "kid": self._kid, "x5t": self._x5t, "typ": "JWT"},
            dict(claims),
            key,
            algorithms=["RS256"],
            default_type=None,
        )


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string (used to remember grants that carry no ``jti``)."""
    return hashlib.sha256(value.encode()).hexdigest()
