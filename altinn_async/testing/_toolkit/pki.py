"""X.509 as the emulated services use it: the trusted CAs, chain verification, and the
organisation number in a Norwegian enterprise certificate (virksomhetssertifikat).

Enterprise certificates carry the organisation number as the subject's ``serialNumber`` (SEID
v1) or as ``organizationIdentifier`` ``NTRNO-<orgno>`` (SEID v2).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_SHA256 = hashes.SHA256()


class TrustStore:
    """The CAs the emulator trusts: for ``x5c`` grants and for TLS client certificates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._certificates: list[x509.Certificate] = []

    def __repr__(self) -> str:
        return f"TrustStore(certificates={len(self._certificates)})"

    def add(self, certificates: Iterable[x509.Certificate]) -> None:
        """Trust these certificates as anchors."""
        with self._lock:
            self._certificates.extend(certificates)

    def anchors(self) -> list[x509.Certificate]:
        """A snapshot of the trusted certificates."""
        with self._lock:
            return list(self._certificates)

    def trusts(self, chain: Sequence[x509.Certificate], now: float) -> bool:
        """Whether ``chain`` (leaf first) leads to a trusted anchor, valid at ``now``."""
        return chain_is_trusted(chain, self.anchors(), now)

    def pem(self) -> bytes:
        """The trusted certificates as concatenated PEM (a TLS server's client-CA file)."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.anchors())


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


def chain_is_trusted(
    chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate], now: float
) -> bool:
    """Walk from the leaf: each certificate must be valid now and issued by the next one, until
    one is a trust anchor or is issued by one. Anchors may be roots or intermediates, so a
    leaf-only chain works when its issuing CA is trusted (as Maskinporten knows the Buypass and
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


def certificate_org_number(certificate: x509.Certificate) -> str | None:
    """The organisation number of an enterprise certificate, or None."""
    serial = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    if serial:
        return str(serial[0].value)
    for attribute in certificate.subject.get_attributes_for_oid(_ORGANIZATION_IDENTIFIER):
        value = str(attribute.value)
        if value.startswith("NTRNO-"):
            return value.removeprefix("NTRNO-")
    return None


@functools.lru_cache(maxsize=256)
def pem_org_number(pem: str) -> str | None:
    """`certificate_org_number` of a PEM certificate (cached: a TLS connection presents the same
    certificate on every request); None when it does not parse."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeError):
        return None
    return certificate_org_number(certificate)
