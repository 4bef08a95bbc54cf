"""A throwaway certificate authority for tests: enterprise-like certificates and TLS certificates.

Norwegian enterprise certificates (virksomhetssertifikat) carry the organisation number in the
subject, as ``serialNumber`` (SEID v1) and as ``organizationIdentifier`` ``NTRNO-<orgno>``
(SEID v2).
The certificates made here do both, so code that reads either finds it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._toolkit.pki import certificate_org_number

__all__ = ["CertificateAuthority", "IssuedCertificate"]

_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def _encryption(password: bytes | None) -> serialization.KeySerializationEncryption:
    if password:
        return serialization.BestAvailableEncryption(password)
    return serialization.NoEncryption()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


@attrs.frozen
class IssuedCertificate:
    """A private key with its certificate and the chain above it.

    Attributes:
        private_key: the RSA private key (never shown in ``repr``).
        certificate: the leaf certificate.
        chain: the issuing certificates, nearest first (intermediate, then root).
    """

    private_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def organization_number(self) -> str | None:
        """The organisation number in the subject, if this is an enterprise certificate."""
        return certificate_org_number(self.certificate)

    def private_key_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when a password is given."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(password)
        )

    def certificate_pem(self) -> bytes:
        """The leaf certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        """Leaf first, then the chain, as concatenated PEM (what a TLS server or client sends)."""
        return b"".join(
            cert.public_bytes(serialization.Encoding.PEM)
            for cert in (self.certificate, *self.chain)
        )

    def pkcs12(self, password: bytes | None, *, include_chain: bool = True) -> bytes:
        """The key, certificate and (by default) chain as a PKCS#12 (``.p12``) file's bytes."""
        return pkcs12.serialize_key_and_certificates(
            b"altinn-async test certificate",
            self.private_key,
            self.certificate,
            list(self.chain) if include_chain else None,
            _encryption(password),
        )


class CertificateAuthority:
    """A root CA with one intermediate, issuing enterprise-like and TLS certificates.

    Example::

        from pathlib import Path

        ca = CertificateAuthority()
        cert = ca.issue_enterprise_certificate("991825827", "ACME AS")
        Path("acme.p12").write_bytes(cert.pkcs12(b"secret"))
    """

    def __init__(self, name: str = "altinn-async Test CA", *, key_size: int = 2048) -> None:
        now = _now()
        self._key_size = key_size
        self.root_key = _new_key(key_size)
        root_name = _ca_name(name, f"{name} Root")
        self.root = _ca_certificate(
            root_name,
            self.root_key,
            root_name,
            self.root_key,
            now,
            path_length=1,
            identifier=x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()),
        )
        self.intermediate_key = _new_key(key_size)
        self.intermediate = _ca_certificate(
            _ca_name(name, f"{name} Class 3 CA"),
            self.intermediate_key,
            root_name,
            self.root_key,
            now,
            path_length=0,
            identifier=x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.root_key.public_key()
            ),
        )

    def ca_pem(self) -> bytes:
        """The root certificate as PEM: what a verifier trusts."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue_enterprise_certificate(
        self,
        org_number: str,
        organization_name: str = "TEST ORGANISASJON AS",
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        key_size: int | None = None,
    ) -> IssuedCertificate:
        """Issue a certificate shaped like a Norwegian enterprise certificate for ``org_number``.

        It is valid for signing and for TLS client authentication.
        """
        now = _now()
        key = _new_key(key_size or self._key_size)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name),
                x509.NameAttribute(NameOID.COMMON_NAME, organization_name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, org_number),
                x509.NameAttribute(_ORGANIZATION_IDENTIFIER, f"NTRNO-{org_number}"),
            ]
        )
        cert = (
            self._leaf_builder(key, subject, not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=3 * 365))
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return IssuedCertificate(key, cert, (self.intermediate, self.root))

    def issue_server_certificate(
        self, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
    ) -> IssuedCertificate:
        """Issue a TLS server certificate for the given host names and IP addresses."""
        now = _now()
        key = _new_key(self._key_size)
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
        cert = (
            self._leaf_builder(key, subject, now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return IssuedCertificate(key, cert, (self.intermediate, self.root))

    def _leaf_builder(
        self, key: rsa.RSAPrivateKey, subject: x509.Name, not_before: dt.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
        )


def _ca_name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    signer: rsa.RSAPrivateKey,
    now: dt.datetime,
    *,
    path_length: int,
    identifier: x509.SubjectKeyIdentifier | x509.AuthorityKeyIdentifier,
) -> x509.Certificate:
    """A CA certificate valid for ten years, issued by ``issuer`` (itself for the root)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(identifier, critical=False)
        .sign(signer, hashes.SHA256())
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
