"""Signing keys and JWS helpers (joserfc for every JWT, cryptography for X.509), and
`IssuedTokens`: how one service checks a token another emulated issuer signed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .claims import lifetime_ok

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


class SigningKey:
    """A token-signing key of one emulated issuer, generated on first use, that also checks the
    signatures it made.

    Generation is lazy because RSA key generation costs tens of milliseconds and many emulators
    (one per test) never issue a token. Verified tokens are remembered (bounded), since clients
    send the same token many times.
    """

    _CACHE_SIZE = 4096

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._key: RSAKey | None = None
        self._kid = ""
        self._registry = token_registry()
        self._verified: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, <private>)"

    def _generate(self) -> tuple[RSAKey, str]:
        """A new private key and its ``kid`` (called once, with the key's lock held)."""
        raise NotImplementedError

    def _header(self) -> dict[str, str]:
        """The JWS header of tokens this key signs."""
        raise NotImplementedError

    def _ensure(self) -> RSAKey:
        with self._lock:
            if self._key is None:
                self._key, self._kid = self._generate()
            return self._key

    @property
    def key(self) -> RSAKey:
        """The private key."""
        return self._ensure()

    @property
    def kid(self) -> str:
        """The key id published in the JWKS."""
        self._ensure()
        return self._kid

    def sign(self, claims: Mapping[str, Any]) -> str:
        """An RS256 JWT of ``claims``."""
        key = self._ensure()
        return jwt.encode(
            self._header(), dict(claims), key, algorithms=["RS256"], default_type=None
        )

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of ``token`` if this key signed it (a ``kid``, if any, must be ours), else
        None. Lifetime and issuer are the caller's to check."""
        with self._lock:
            cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            obj, header, claims = parse_jwt(token, self._registry)
        except MalformedJWTError:
            return None
        key = self._ensure()
        if header.get("kid") not in (None, self._kid) or not signature_valid(
            obj, key, self._registry
        ):
            return None
        with self._lock:
            if len(self._verified) >= self._CACHE_SIZE:
                # Crude but bounded: tests rarely hold thousands of live tokens.
                self._verified.clear()
            self._verified[token] = claims
        return claims


class RsaSigningKey(SigningKey):
    """The token-signing key of the emulated Maskinporten or ID-porten (``kid`` is the RFC 7638
    thumbprint; neither service sets ``typ``)."""

    def _generate(self) -> tuple[RSAKey, str]:
        key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return key, key.thumbprint()

    def _header(self) -> dict[str, str]:
        return {"kid": self._kid, "alg": "RS256"}

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


class AltinnSigningCertificate(SigningKey):
    """The emulated Altinn platform's signing certificate (self-signed X.509), generated lazily.

    Altinn signs with ``X509SigningCredentials``: header ``kid`` is the certificate's SHA-1
    thumbprint in upper-case hex and ``x5t`` its base64url form, and ``typ`` is ``JWT`` (what
    .NET's ``JwtSecurityTokenHandler`` writes).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__("altinn")
        self._clock = clock
        self._certificate: x509.Certificate | None = None
        self._x5t = ""
        self._retired: list[tuple[RSAKey, str, x509.Certificate]] = []

    def _generate(self) -> tuple[RSAKey, str]:
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
        self._x5t = b64url(thumbprint)
        self._certificate = certificate
        return RSAKey.import_key(private), thumbprint.hex().upper()

    def _header(self) -> dict[str, str]:
        return {"alg": "RS256", "kid": self._kid, "x5t": self._x5t, "typ": "JWT"}

    def jwk(self) -> dict[str, Any]:
        """The JWKS entry, with Altinn's quirk: ``n``/``e`` in standard base64, plus ``x5c``."""
        self._ensure()
        certificate = self._certificate
        assert certificate is not None  # noqa: S101 - set by _generate
        return _certificate_jwk(certificate, self._kid)

    def jwks(self) -> list[dict[str, Any]]:
        """The published keys: the one signing now, then the ones it replaced (tokens they
        signed stay valid until they expire)."""
        current = self.jwk()
        with self._lock:
            retired = list(self._retired)
        return [current, *(_certificate_jwk(cert, kid) for _, kid, cert in reversed(retired))]

    def rotate(self) -> None:
        """Sign with a new certificate from now on; the old one stays published and valid."""
        self._ensure()
        with self._lock:
            assert self._key is not None  # noqa: S101 - just ensured
            assert self._certificate is not None  # noqa: S101 - set with the key
            self._retired.append((self._key, self._kid, self._certificate))
            self._key, self._certificate = None, None

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of ``token`` if the current certificate or one it replaced signed it."""
        claims = super().verify(token)
        with self._lock:
            retired = list(self._retired)
        if claims is not None or not retired:
            return claims
        try:
            obj, header, claims = parse_jwt(token, self._registry)
        except MalformedJWTError:
            return None
        for key, kid, _ in retired:
            if header.get("kid") == kid and signature_valid(obj, key, self._registry):
                return claims
        return None


def _certificate_jwk(certificate: x509.Certificate, kid: str) -> dict[str, Any]:
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)  # noqa: S101 - we generated it
    numbers = public.public_numbers()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "e": b64std(_int_bytes(numbers.e)),
        "n": b64std(_int_bytes(numbers.n)),
        "x5c": [b64std(der)],
    }


class IssuedTokens:
    """The tokens one emulated issuer signs, as the services that accept them check them: the
    signature, and on request the issuer for the request's origin and the lifetime (with the
    10 s clock skew every Altinn and Digdir validator allows)."""

    def __init__(
        self,
        key: SigningKey,
        issuer_for: Callable[[str], str],
        *,
        revoked: Callable[[str], bool] | None = None,
    ) -> None:
        self.key = key
        self._issuer_for = issuer_for
        self._revoked = revoked

    def __repr__(self) -> str:
        return f"IssuedTokens({self.key!r})"

    def issuer_for(self, origin: str) -> str:
        """The ``iss`` of tokens issued at ``origin``."""
        return self._issuer_for(origin)

    def claims(
        self, token: str, *, origin: str | None = None, now: float | None = None
    ) -> dict[str, Any] | None:
        """The token's claims if the key signed it, the issuer did not end it early, its ``iss``
        is the issuer at ``origin`` (when given) and it is within its lifetime at ``now`` (when
        given); otherwise None."""
        claims = self.key.verify(token)
        if claims is None or (self._revoked is not None and self._revoked(token)):
            return None
        if now is not None and not lifetime_ok(claims, now):
            return None
        if origin is not None and claims.get("iss") != self._issuer_for(origin):
            return None
        return claims


def sha256_hex(value: str) -> str:
    """Hex SHA-256 of a string (a key for secrets that must not sit in memory in clear)."""
    return hashlib.sha256(value.encode()).hexdigest()


def import_public_keys(jwks: Iterable[Mapping[str, Any]], what: str) -> dict[str, RSAKey]:
    """Registered client keys by ``kid``, public parts only, whatever the caller handed over.

    Raises:
        ValueError: a JWK without ``kid``, not RSA, or not a valid key.
    """
    keys: dict[str, RSAKey] = {}
    for jwk in jwks:
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every registered JWK needs a 'kid'")
        if jwk.get("kty") != "RSA":
            raise ValueError(f"JWK {kid!r} is not an RSA key; {what} signs with RS256")
        try:
            imported = RSAKey.import_key(dict(jwk))
            keys[kid] = RSAKey.import_key(imported.as_dict(private=False))
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError(f"JWK {kid!r} is not a valid RSA key: {exc}") from exc
    return keys
