"""Signing keys for Maskinporten JWT grants and ID-porten client assertions.

Maskinporten accepts grants signed with ``RS256``, ``RS384`` or ``RS512``. The grant's header names
the key in one of two ways:

* ``kid``: the id of a public key registered on the client in Digdir's self-service;
* ``x5c``: the enterprise certificate (virksomhetssertifikat) chain, leaf first, each certificate
  as standard base64 of its DER bytes.

`SigningKey` loads a private RSA key from PEM, JWK or PKCS#12 (``.p12``/``.pfx``), together with its
certificate chain when there is one. `Signer` is the protocol the auth flows need; implement it to
sign with a key that never leaves an HSM or a cloud key vault.

Nothing here puts private key material or a password into a ``repr``, ``str`` or exception
message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from .exceptions import CertificateError, ConfigurationError, KeyLoadError

__all__ = ["ALGORITHMS", "Signer", "SigningKey"]

#: The JWS algorithms Maskinporten and ID-porten accept for grants and client assertions.
ALGORITHMS: tuple[str, ...] = ("RS256", "RS384", "RS512")

_MIN_RSA_BITS = 2048

_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_NTRNO = re.compile(r"NTRNO-(\d{9})")
_ORG_NUMBER = re.compile(r"\d{9}")

# One PEM block, label and body. The label is captured so that the END line must match it.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_PRIVATE_KEY_LABELS = frozenset(
    {
        b"PRIVATE KEY",
        b"ENCRYPTED PRIVATE KEY",
        b"RSA PRIVATE KEY",
        b"EC PRIVATE KEY",
        b"DSA PRIVATE KEY",
    }
)
_CERTIFICATE_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
_PUBLIC_KEY_LABELS = frozenset({b"PUBLIC KEY", b"RSA PUBLIC KEY"})

# The members of an RSA JWK that hold the key; everything else ("kid", "use", ...) is metadata that
# is checked here and not handed to joserfc.
_JWK_KEY_MEMBERS = ("kty", "n", "e", "d", "p", "q", "dp", "dq", "qi", "oth")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@runtime_checkable
class Signer(Protocol):
    """Something that signs JWS signing inputs with an RSA key.

    `SigningKey` is the implementation for keys held in memory. Implement this protocol to keep the
    key in an HSM or a cloud key vault: the auth flows only ever call `sign`.

    Maskinporten needs `key_id` (a key registered on the client) or `certificate_chain` (an
    enterprise certificate); a signer with neither can still sign ID-porten client assertions where
    the key is looked up otherwise.
    """

    @property
    def algorithm(self) -> str:
        """The JWS algorithm: ``"RS256"``, ``"RS384"`` or ``"RS512"``."""
        ...

    @property
    def key_id(self) -> str | None:
        """The ``kid`` to put in the JWT header, or ``None``."""
        ...

    @property
    def certificate_chain(self) -> tuple[str, ...] | None:
        """The ``x5c`` header value: standard-base64 DER certificates, leaf first; or ``None``."""
        ...

    async def sign(self, message: bytes) -> bytes:
        """Return the raw JWS signature over ``message`` (the ASCII JWS signing input)."""
        ...


@attrs.frozen(repr=False, eq=False)
class SigningKey:
    """A private RSA key, optionally with its certificate chain, that signs grants and assertions.

    Build one with `from_pem`, `from_pem_file`, `from_jwk`, `from_pkcs12` or `from_pkcs12_file`; the
    key is parsed once, when loaded. The ``repr`` shows the algorithm, ``kid`` and certificate
    subject, organisation number and expiry, never key material.

    To use the key with Maskinporten it needs a ``kid`` (a key registered on the client) or a
    certificate (an enterprise certificate, sent as ``x5c``). A key with neither can be loaded, for
    instance for ID-porten, and `MaskinportenAuth` refuses it.

    Example::

        key = SigningKey.from_pkcs12_file("virksomhetssertifikat.p12", password)
        key.organization_number  # '991825827'
        key = SigningKey.from_pem_file("client.pem", kid="my-registered-key-id")
    """

    _jwk: RSAKey
    _algorithm: str
    _kid: str | None
    # Leaf first, then its issuer, up to the root (or as far as the given certificates reach).
    _chain: tuple[x509.Certificate, ...]
    _x5c: tuple[str, ...] | None
    _public_jwk: dict[str, Any]
    _thumbprint: str

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_pem(
        cls,
        data: str | bytes,
        *,
        kid: str | None = None,
        password: bytes | str | None = None,
        algorithm: str = "RS256",
        now: dt.datetime | None = None,
    ) -> SigningKey:
        """Load a private key, and any certificates with it, from PEM text.

        The PEM may hold the private key alone (PKCS#1 ``RSA PRIVATE KEY`` or PKCS#8 ``PRIVATE
        KEY``, encrypted or not), or the key and certificates. Then the certificate whose public
        key matches the private key is the leaf, and the chain is built from it by issuer name,
        leaf first; certificates that are not on that path are dropped.

        Args:
            data: the PEM text.
            kid: the id of the key as registered on the client (the JWT header's ``kid``).
            password: the password of an encrypted key. It is ignored when the key is not
                encrypted.
            algorithm: ``"RS256"``, ``"RS384"`` or ``"RS512"``.
            now: the time to check the certificate's validity at; the current time by default.

        Returns:
            The loaded key.

        Raises:
            KeyLoadError: the data holds no usable private RSA key of at least 2048 bits, the key
                is encrypted and no or a wrong password was given, or ``algorithm`` or ``kid`` is
                invalid.
            CertificateError: the certificate does not belong to the key, or is expired or not
                yet valid.
        """
        return cls._load_pem(
            _pem_bytes(data),
            source="the PEM data",
            kid=kid,
            password=password,
            algorithm=algorithm,
            now=now,
        )

    @classmethod
    def from_pem_file(
        cls,
        path: str | os.PathLike[str],
        *,
        kid: str | None = None,
        password: bytes | str | None = None,
        algorithm: str = "RS256",
        now: dt.datetime | None = None,
    ) -> SigningKey:
        """Load a private key, and any certificates with it, from a PEM file.

        Takes the same arguments as `from_pem`, with the file's path in place of the data.

        Raises:
            KeyLoadError: the file cannot be read, or as for `from_pem`; the message names the
                file.
            CertificateError: as for `from_pem`.
        """
        data = _read_file(path, what="key file")
        return cls._load_pem(
            data,
            source=f"key file {os.fspath(path)!r}",
            kid=kid,
            password=password,
            algorithm=algorithm,
            now=now,
        )

    @classmethod
    def from_jwk(
        cls,
        jwk: Mapping[str, Any] | str,
        *,
        kid: str | None = None,
        algorithm: str | None = None,
        now: dt.datetime | None = None,
    ) -> SigningKey:
        """Load a private RSA key from a JSON Web Key.

        Args:
            jwk: the JWK, as a mapping or a JSON string. It must be a private RSA key
                (``"kty": "RSA"`` with ``"d"``). When it has ``x5c``, those certificates become the
                chain (the first must belong to the key).
            kid: the JWT header's ``kid``; the JWK's own ``kid`` by default.
            algorithm: the JWS algorithm; the JWK's ``alg`` by default, else ``"RS256"``.
            now: the time to check an ``x5c`` certificate's validity at; the current time by
                default.

        Returns:
            The loaded key.

        Raises:
            KeyLoadError: the JWK is not valid JSON, not a private RSA key of at least 2048 bits,
                is meant for encryption (``use``/``key_ops``), or its ``alg`` conflicts with
                ``algorithm``.
            CertificateError: an ``x5c`` certificate does not belong to the key or is not valid
                at ``now``.
        """
        data = _jwk_mapping(jwk)
        _check_jwk(data)
        chosen_algorithm = _jwk_algorithm(data, algorithm)
        if kid is None:
            kid = _check_kid(data.get("kid"))
        jwk_key, private_key = _import_jwk(data)
        certificates = _jwk_certificates(data.get("x5c"))
        chain: tuple[x509.Certificate, ...] = ()
        if certificates:
            chain = _build_chain(private_key, certificates, source="the JWK's x5c")
            if chain[0] is not certificates[0]:
                # RFC 7517 §4.7: the first x5c certificate MUST contain the key.
                msg = "the first certificate in the JWK's x5c does not belong to the private key"
                raise CertificateError(msg)
        return cls._create(jwk_key, algorithm=chosen_algorithm, kid=kid, chain=chain, now=now)

    @classmethod
    def from_pkcs12(
        cls,
        data: bytes,
        password: bytes | str | None,
        *,
        algorithm: str = "RS256",
        kid: str | None = None,
        now: dt.datetime | None = None,
    ) -> SigningKey:
        """Load a key and its certificate chain from PKCS#12 (``.p12``/``.pfx``) bytes.

        This is how enterprise certificates (virksomhetssertifikat) are delivered. The certificate
        that belongs to the key is the leaf; the others in the file are ordered from it by issuer
        name (leaf, intermediate, root) and those not on that path are dropped.

        Args:
            data: the PKCS#12 file's bytes.
            password: the file's password, or ``None`` when it has none.
            algorithm: ``"RS256"``, ``"RS384"`` or ``"RS512"``.
            kid: a ``kid`` to send as well, if the key is also registered on the client.
            now: the time to check the certificate's validity at; the current time by default.

        Returns:
            The loaded key.

        Raises:
            KeyLoadError: wrong password, not PKCS#12, no private key, or not an RSA key of at
                least 2048 bits.
            CertificateError: the certificate does not belong to the key, or is expired or not
                yet valid.
        """
        return cls._load_pkcs12(
            data, password, source="the PKCS#12 data", algorithm=algorithm, kid=kid, now=now
        )

    @classmethod
    def from_pkcs12_file(
        cls,
        path: str | os.PathLike[str],
        password: bytes | str | None,
        *,
        algorithm: str = "RS256",
        kid: str | None = None,
        now: dt.datetime | None = None,
    ) -> SigningKey:
        """Load a key and its certificate chain from a PKCS#12 (``.p12``/``.pfx``) file.

        Takes the same arguments as `from_pkcs12`, with the file's path in place of the data.

        Raises:
            KeyLoadError: the file cannot be read, or as for `from_pkcs12`; the message names the
                file.
            CertificateError: as for `from_pkcs12`.
        """
        data = _read_file(path, what="PKCS#12 file")
        return cls._load_pkcs12(
            data,
            password,
            source=f"PKCS#12 file {os.fspath(path)!r}",
            algorithm=algorithm,
            kid=kid,
            now=now,
        )

    @classmethod
    def _load_pem(
        cls,
        data: bytes,
        *,
        source: str,
        kid: str | None,
        password: bytes | str | None,
        algorithm: str,
        now: dt.datetime | None,
    ) -> SigningKey:
        # Settings are checked before the key is touched: they are cheap and the likelier mistake.
        _check_algorithm(algorithm)
        _check_kid(kid)
        label, block, certificate_blocks = _split_pem(data, source)
        rsa_key = _load_pem_private_key(label, block, password, source)
        certificates: list[x509.Certificate] = []
        for index, certificate_block in enumerate(certificate_blocks, start=1):
            try:
                certificates.append(x509.load_pem_x509_certificate(certificate_block))
            except ValueError as exc:
                raise CertificateError(
                    f"certificate #{index} in {source} could not be read: {exc}"
                ) from exc
        chain = _build_chain(rsa_key, certificates, source=source) if certificates else ()
        return cls._create(
            RSAKey.import_key(rsa_key), algorithm=algorithm, kid=kid, chain=chain, now=now
        )

    @classmethod
    def _load_pkcs12(
        cls,
        data: bytes,
        password: bytes | str | None,
        *,
        source: str,
        algorithm: str,
        kid: str | None,
        now: dt.datetime | None,
    ) -> SigningKey:
        _check_algorithm(algorithm)
        _check_kid(kid)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise KeyLoadError(f"{source} must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if data.lstrip().startswith(b"-----BEGIN"):
            raise KeyLoadError(f"{source} is PEM, not PKCS#12; use SigningKey.from_pem")
        private_key, certificate, additional = _open_pkcs12(data, password, source)
        if private_key is None:
            raise KeyLoadError(f"{source} holds no private key; signing needs one")
        rsa_key = _require_rsa(private_key, source)
        certificates = [certificate] if certificate is not None else []
        certificates.extend(additional)
        chain = _build_chain(rsa_key, certificates, source=source) if certificates else ()
        return cls._create(
            RSAKey.import_key(rsa_key), algorithm=algorithm, kid=kid, chain=chain, now=now
        )

    @classmethod
    def _create(
        cls,
        jwk: RSAKey,
        *,
        algorithm: str,
        kid: str | None,
        chain: tuple[x509.Certificate, ...],
        now: dt.datetime | None,
    ) -> SigningKey:
        _check_algorithm(algorithm)
        kid = _check_kid(kid)
        if chain:
            _check_validity(chain[0], _aware(now))
        # Public data is worked out once, from a public-only key, so that nothing derived from
        # the private numbers is kept beyond the key itself.
        public = RSAKey.import_key(jwk.public_key)
        public_jwk: dict[str, Any] = {
            "kty": "RSA",
            **public.as_dict(),
            "use": "sig",
            "alg": algorithm,
        }
        if kid is not None:
            public_jwk["kid"] = kid
        x5c = (
            tuple(
                base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
                for cert in chain
            )
            if chain
            else None
        )
        return cls(
            jwk=jwk,
            algorithm=algorithm,
            kid=kid,
            chain=chain,
            x5c=x5c,
            public_jwk=public_jwk,
            thumbprint=public.thumbprint(),
        )

    # -- the Signer protocol ---------------------------------------------------------------------

    @property
    def algorithm(self) -> str:
        """The JWS algorithm: ``"RS256"``, ``"RS384"`` or ``"RS512"``."""
        return self._algorithm

    @property
    def key_id(self) -> str | None:
        """The ``kid`` for the JWT header, or ``None`` when none was given."""
        return self._kid

    @property
    def certificate_chain(self) -> tuple[str, ...] | None:
        """The ``x5c`` header value (standard-base64 DER, leaf first), or ``None`` without one."""
        return self._x5c

    async def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (the JWS signing input) and return the raw signature.

        Raises:
            CertificateError: the certificate has expired (or is not yet valid) since loading:
                Maskinporten would refuse the grant anyway.
        """
        self.check_valid()
        # An RSA signature takes about a millisecond; handing it to a worker thread would cost
        # more than it saves, so it runs inline.
        return JWSRegistry.algorithms[self._algorithm].sign(message, self._jwk)

    # -- describing the key ----------------------------------------------------------------------

    @property
    def certificate(self) -> x509.Certificate | None:
        """The leaf certificate, or ``None`` for a bare key."""
        return self._chain[0] if self._chain else None

    @property
    def organization_number(self) -> str | None:
        """The organisation number in the leaf certificate's subject, or ``None``.

        Read from ``organizationIdentifier`` ``NTRNO-<orgno>`` (SEID v2) or, failing that, a
        nine-digit ``serialNumber`` (SEID v1).
        """
        certificate = self.certificate
        return _organization_number(certificate) if certificate is not None else None

    @property
    def not_valid_after(self) -> dt.datetime | None:
        """When the leaf certificate expires (UTC), or ``None`` for a bare key."""
        certificate = self.certificate
        return certificate.not_valid_after_utc if certificate is not None else None

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (with ``kid`` if any, ``"use": "sig"`` and ``alg``).

        This is what to register on a client in Digdir's self-service.
        """
        return dict(self._public_jwk)

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 JWK thumbprint of the public key: a stable id for display."""
        return self._thumbprint

    def check_valid(self, now: dt.datetime | None = None) -> None:
        """Raise if the leaf certificate is not valid at ``now`` (by default, the current time).

        A key without a certificate is always valid.

        Raises:
            CertificateError: the certificate is expired or not yet valid.
        """
        if self._chain:
            _check_validity(self._chain[0], _aware(now))

    def __repr__(self) -> str:
        parts = [f"algorithm={self._algorithm!r}", f"kid={self._kid!r}"]
        certificate = self.certificate
        if certificate is not None:
            parts.append(f"subject={_describe(certificate)!r}")
            parts.append(f"organization_number={_organization_number(certificate)!r}")
            parts.append(f"not_valid_after={certificate.not_valid_after_utc.isoformat()!r}")
        else:
            parts.append(f"thumbprint={self._thumbprint!r}")
        return f"SigningKey({', '.join(parts)})"


# -- helpers ---------------------------------------------------------------------------------------


def _pem_bytes(data: str | bytes) -> bytes:
    if isinstance(data, str):
        # PEM is ASCII; anything else outside the blocks does not matter, inside them it fails.
        return data.encode("utf-8", errors="replace")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise KeyLoadError(f"PEM data must be str or bytes, not {type(data).__name__}")


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise KeyLoadError(
            f"algorithm {algorithm!r} is not supported; use one of {', '.join(ALGORITHMS)}"
        )


def _check_kid(kid: object) -> str | None:
    if kid is None or (isinstance(kid, str) and kid):
        return kid
    msg = "kid must be a non-empty string"
    raise KeyLoadError(msg)


def _password_bytes(password: bytes | str | None) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    if isinstance(password, str):
        return password.encode("utf-8")
    raise KeyLoadError(f"password must be str or bytes, not {type(password).__name__}")


def _read_file(path: str | os.PathLike[str], *, what: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise KeyLoadError(f"{what} {os.fspath(path)!r} does not exist") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KeyLoadError(f"cannot read {what} {os.fspath(path)!r}: {reason}") from exc


def _split_pem(data: bytes, source: str) -> tuple[bytes, bytes, list[bytes]]:
    """Find the one private key block (label and text) and the certificate blocks in ``data``."""
    key_blocks: list[tuple[bytes, bytes]] = []
    certificate_blocks: list[bytes] = []
    public_key_found = False
    for match in _PEM_BLOCK.finditer(data):
        label, block = match.group(1), match.group(0)
        if label in _PRIVATE_KEY_LABELS:
            key_blocks.append((label, block))
        elif label in _CERTIFICATE_LABELS:
            certificate_blocks.append(block)
        elif label in _PUBLIC_KEY_LABELS:
            public_key_found = True
        elif label == b"OPENSSH PRIVATE KEY":
            raise KeyLoadError(
                f"{source} holds an OpenSSH-format key, which is not supported; convert it "
                "with `ssh-keygen -p -m PKCS8 -f FILE`"
            )
        # Other blocks (EC PARAMETERS, CERTIFICATE REQUEST, ...) are not ours to judge.
    if len(key_blocks) == 1:
        return key_blocks[0][0], key_blocks[0][1], certificate_blocks
    if len(key_blocks) > 1:
        raise KeyLoadError(f"{source} holds {len(key_blocks)} private keys; give exactly one")
    if public_key_found:
        raise KeyLoadError(f"{source} holds a public key; signing needs the private key")
    if certificate_blocks:
        raise KeyLoadError(f"{source} holds only certificates; the private key is needed as well")
    # DER starts with a SEQUENCE tag; a .p12 given to the PEM loader is a likely slip.
    hint = (
        " (is it a PKCS#12 .p12/.pfx file? use SigningKey.from_pkcs12_file)"
        if data[:1] == b"\x30"
        else ""
    )
    raise KeyLoadError(f"{source} holds no PEM private key (-----BEGIN ...-----){hint}")


def _load_pem_private_key(
    label: bytes, block: bytes, password: bytes | str | None, source: str
) -> rsa.RSAPrivateKey:
    encrypted = label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and password is None:
        raise KeyLoadError(f"the private key in {source} is encrypted, and no password was given")
    # A password for a key that is not encrypted is ignored: one configuration may well carry a
    # password for every environment, and nothing is lost by not needing it.
    secret = _password_bytes(password) if encrypted else None
    try:
        private_key = serialization.load_pem_private_key(block, secret)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # cryptography's messages do not echo the data or the password.
        if encrypted:
            msg = f"could not decrypt the private key in {source}: wrong password?"
            raise KeyLoadError(msg) from exc
        raise KeyLoadError(f"the private key in {source} could not be read: {exc}") from exc
    return _require_rsa(private_key, source)


def _open_pkcs12(
    data: bytes, password: bytes | str | None, source: str
) -> tuple[object, x509.Certificate | None, list[x509.Certificate]]:
    secret = _password_bytes(password)
    try:
        return pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        failure = exc
    if secret is not None:
        # As for PEM, a password for a file without one is ignored rather than refused.
        try:
            return pkcs12.load_key_and_certificates(data, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
    # cryptography cannot tell a wrong password from damaged data; neither can we.
    if password is None:
        message = (
            f"could not open {source}: it is not PKCS#12, or it is password-protected "
            "(and no password was given)"
        )
    else:
        message = f"could not open {source}: wrong password, or not a PKCS#12 file"
    raise KeyLoadError(message) from failure


def _require_rsa(key: object, source: str) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyLoadError(
            f"{source} holds {_key_kind(key)} key; Maskinporten and ID-porten need an RSA key "
            f"({', '.join(ALGORITHMS)})"
        )
    if key.key_size < _MIN_RSA_BITS:
        raise _too_small(key.key_size, source)
    return key


def _too_small(bits: int, source: str) -> KeyLoadError:
    return KeyLoadError(f"the RSA key in {source} has {bits} bits; at least 2048 are required")


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC ({key.curve.name})"
    kinds: tuple[tuple[type, str], ...] = (
        (ed25519.Ed25519PrivateKey, "an Ed25519"),
        (ed448.Ed448PrivateKey, "an Ed448"),
        (x25519.X25519PrivateKey, "an X25519"),
        (x448.X448PrivateKey, "an X448"),
        (dsa.DSAPrivateKey, "a DSA"),
    )
    for kind, name in kinds:
        if isinstance(key, kind):
            return name
    return f"a {type(key).__name__}"


def _aware(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return _utcnow()
    if now.tzinfo is None or now.utcoffset() is None:
        msg = "now must be a timezone-aware datetime"
        raise ConfigurationError(msg)
    return now


def _describe(certificate: x509.Certificate) -> str:
    subject = certificate.subject.rfc4514_string(
        {_ORGANIZATION_IDENTIFIER: "organizationIdentifier"}
    )
    return subject or "(empty subject)"


def _check_validity(certificate: x509.Certificate, now: dt.datetime) -> None:
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if now > not_after:
        raise CertificateError(
            f"the certificate {_describe(certificate)!r} expired at {not_after.isoformat()} "
            f"(valid from {not_before.isoformat()})"
        )
    if now < not_before:
        raise CertificateError(
            f"the certificate {_describe(certificate)!r} is not valid before "
            f"{not_before.isoformat()} (until {not_after.isoformat()})"
        )


def _spki(key: rsa.RSAPublicKey | x509.Certificate) -> bytes | None:
    try:
        public = key.public_key() if isinstance(key, x509.Certificate) else key
    except (ValueError, UnsupportedAlgorithm):
        return None
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _build_chain(
    private_key: rsa.RSAPrivateKey,
    certificates: Iterable[x509.Certificate],
    *,
    source: str,
) -> tuple[x509.Certificate, ...]:
    """Order ``certificates`` into the path leaf → root; the leaf is the one holding the key."""
    pool = list(certificates)
    key_spki = _spki(private_key.public_key())
    leaves = [cert for cert in pool if _spki(cert) == key_spki]
    if not leaves:
        raise CertificateError(
            f"no certificate in {source} belongs to the private key "
            f"(found: {', '.join(repr(_describe(cert)) for cert in pool)})"
        )
    # A renewed certificate can reuse the key; the one that lasts longest is the one to send.
    leaf = max(leaves, key=lambda cert: cert.not_valid_after_utc)
    chain = [leaf]
    remaining = [cert for cert in pool if cert is not leaf]
    current = leaf
    while remaining and current.issuer != current.subject:
        candidates = [cert for cert in remaining if cert.subject == current.issuer]
        if not candidates:
            break
        issuer = next((cert for cert in candidates if _issued_by(current, cert)), candidates[0])
        chain.append(issuer)
        remaining = [cert for cert in remaining if cert is not issuer]
        current = issuer
    return tuple(chain)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    # Names can repeat (a re-keyed CA, cross-certificates); the signature settles which is right.
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _organization_number(certificate: x509.Certificate) -> str | None:
    subject = certificate.subject
    for attribute in subject.get_attributes_for_oid(_ORGANIZATION_IDENTIFIER):
        match = _NTRNO.fullmatch(str(attribute.value))
        if match:
            return match.group(1)
    for attribute in subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        value = str(attribute.value)
        if _ORG_NUMBER.fullmatch(value):
            return value
    return None


def _jwk_mapping(jwk: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(jwk, str | bytes):
        try:
            parsed = json.loads(jwk)
        except ValueError as exc:
            # The position is safe to show; the text around it (key material) is not.
            raise KeyLoadError(f"the JWK is not valid JSON ({type(exc).__name__})") from exc
        jwk = parsed
    if not isinstance(jwk, Mapping):
        raise KeyLoadError(f"the JWK must be a JSON object, not {type(jwk).__name__}")
    if "keys" in jwk and "kty" not in jwk:
        msg = "this is a JWK Set; pass one of its keys"
        raise KeyLoadError(msg)
    return jwk


def _check_jwk(data: Mapping[str, Any]) -> None:
    kty = data.get("kty")
    if kty is None:
        msg = 'the JWK has no "kty"; an RSA private key ("kty": "RSA") is needed'
        raise KeyLoadError(msg)
    if kty != "RSA":
        raise KeyLoadError(
            f"the JWK is a {kty!r} key; Maskinporten and ID-porten need an RSA key "
            f"({', '.join(ALGORITHMS)})"
        )
    if "d" not in data:
        msg = 'the JWK is a public key; signing needs the private key (with "d")'
        raise KeyLoadError(msg)
    use = data.get("use")
    if use is not None and use != "sig":
        raise KeyLoadError(f'the JWK is for "use": {use!r}; signing needs "sig"')
    key_ops = data.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list | tuple) or "sign" not in key_ops):
        msg = 'the JWK\'s "key_ops" does not allow "sign"'
        raise KeyLoadError(msg)


def _jwk_algorithm(data: Mapping[str, Any], algorithm: str | None) -> str:
    jwk_alg = data.get("alg")
    if jwk_alg is None:
        return "RS256" if algorithm is None else algorithm
    if jwk_alg not in ALGORITHMS:
        raise KeyLoadError(
            f"the JWK is for {jwk_alg!r}; Maskinporten and ID-porten need one of "
            f"{', '.join(ALGORITHMS)}"
        )
    if algorithm is not None and algorithm != jwk_alg:
        raise KeyLoadError(f"algorithm {algorithm!r} conflicts with the JWK's alg {jwk_alg!r}")
    return str(jwk_alg)


def _import_jwk(data: Mapping[str, Any]) -> tuple[RSAKey, rsa.RSAPrivateKey]:
    # joserfc warns (rather than fails) about keys under 2048 bits; refuse them before it does.
    bits = _jwk_modulus_bits(data.get("n"))
    if bits is not None and bits < _MIN_RSA_BITS:
        raise _too_small(bits, "the JWK")
    key_members = {name: data[name] for name in _JWK_KEY_MEMBERS if name in data}
    try:
        jwk_key = RSAKey.import_key(key_members)
    except (JoseError, ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:
        # Messages from joserfc and cryptography describe the problem, never the key values.
        raise KeyLoadError(f"the JWK is not a valid RSA private key: {exc}") from exc
    private_key = jwk_key.private_key
    if private_key is None:  # pragma: no cover - "d" was checked before
        msg = "the JWK is a public key; signing needs the private key"
        raise KeyLoadError(msg)
    if private_key.key_size < _MIN_RSA_BITS:
        raise _too_small(private_key.key_size, "the JWK")
    return jwk_key, private_key


def _jwk_modulus_bits(n: object) -> int | None:
    if not isinstance(n, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return None  # joserfc will say what is wrong with it
    return int.from_bytes(raw, "big").bit_length()


def _jwk_certificates(x5c: object) -> list[x509.Certificate]:
    if x5c is None:
        return []
    if not isinstance(x5c, list | tuple) or not all(isinstance(item, str) for item in x5c):
        msg = 'the JWK\'s "x5c" must be an array of base64 strings'
        raise CertificateError(msg)
    certificates = []
    for index, item in enumerate(x5c, start=1):
        try:
            certificates.append(
                x509.load_der_x509_certificate(base64.b64decode(item, validate=True))
            )
        except (binascii.Error, ValueError) as exc:
            raise CertificateError(
                f"certificate #{index} in the JWK's x5c could not be read: {exc}"
            ) from exc
    return certificates
