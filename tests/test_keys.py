"""SigningKey: loading every supported format, signing, certificate chains and refusals."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import pathlib
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from altinn_async._keys import Signer, SigningKey
from altinn_async.exceptions import CertificateError, ConfigurationError, KeyLoadError
from altinn_async.testing._certificates import CertificateAuthority, IssuedCertificate

ORG = "991825827"
PASSWORD = "correct horse battery staple"
WRONG_PASSWORD = "Tr0ub4dor&3-wrong"
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


# -- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="module")
def issued(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue_enterprise_certificate(ORG, "ACME AS")


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pem(key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


async def _compact(key: Signer, payload: bytes = b'{"iss":"client","scope":"a:b"}') -> str:
    """Build a compact JWS by hand, the way the grant builder does, with the key's signature."""
    header: dict[str, Any] = {"alg": key.algorithm}
    if key.key_id is not None:
        header["kid"] = key.key_id
    if key.certificate_chain is not None:
        header["x5c"] = list(key.certificate_chain)
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(payload)}"
    signature = await key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64url(signature)}"


def _verify(token: str, public_key: rsa.RSAPublicKey | RSAKey, algorithm: str) -> dict[str, Any]:
    verifier = public_key if isinstance(public_key, RSAKey) else RSAKey.import_key(public_key)
    # joserfc caps headers at 512 bytes by default; an x5c chain of three certificates is ~5 kB.
    registry = jws.JWSRegistry(algorithms=[algorithm])
    registry.max_header_length = 16_384
    result = jws.deserialize_compact(token, verifier, registry=registry)
    payload: dict[str, Any] = json.loads(result.payload)
    return payload


def _certificate(
    ca: CertificateAuthority,
    key: rsa.RSAPrivateKey,
    attributes: list[x509.NameAttribute[str]],
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(hours=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .sign(ca.intermediate_key, hashes.SHA256())
    )


# -- loading and signing ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
async def test_pkcs8_pem_signs_a_verifiable_jws(issued: IssuedCertificate, algorithm: str) -> None:
    key = SigningKey.from_pem(issued.private_key_pem(), kid="key-1", algorithm=algorithm)

    token = await _compact(key)

    assert key.algorithm == algorithm
    assert key.key_id == "key-1"
    assert key.certificate_chain is None
    assert key.certificate is None
    assert _verify(token, issued.private_key.public_key(), algorithm)["iss"] == "client"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": algorithm, "kid": "key-1"}


async def test_a_signature_does_not_verify_with_another_key(
    issued: IssuedCertificate, other_key: rsa.RSAPrivateKey
) -> None:
    key = SigningKey.from_pem(issued.private_key_pem(), kid="k")
    token = await _compact(key)
    with pytest.raises(BadSignatureError):
        _verify(token, other_key.public_key(), "RS256")


async def test_pkcs1_pem(issued: IssuedCertificate) -> None:
    pem = _pem(issued.private_key, serialization.PrivateFormat.TraditionalOpenSSL, None)
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")

    key = SigningKey.from_pem(pem.decode("ascii"), kid="k")

    _verify(await _compact(key), issued.private_key.public_key(), "RS256")


@pytest.mark.parametrize("password", [PASSWORD, PASSWORD.encode()])
async def test_encrypted_pkcs8_pem(issued: IssuedCertificate, password: str | bytes) -> None:
    pem = issued.private_key_pem(PASSWORD.encode())
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")

    key = SigningKey.from_pem(pem, kid="k", password=password)

    _verify(await _compact(key), issued.private_key.public_key(), "RS256")


async def test_encrypted_pkcs1_pem(issued: IssuedCertificate) -> None:
    pem = _pem(
        issued.private_key, serialization.PrivateFormat.TraditionalOpenSSL, PASSWORD.encode()
    )
    assert b"Proc-Type: 4,ENCRYPTED" in pem

    key = SigningKey.from_pem(pem, kid="k", password=PASSWORD)

    _verify(await _compact(key), issued.private_key.public_key(), "RS256")


def test_a_password_for_an_unencrypted_key_is_ignored(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pem(issued.private_key_pem(), kid="k", password="unused")
    assert key.public_jwk["n"] == SigningKey.from_pem(issued.private_key_pem()).public_jwk["n"]


async def test_pem_with_key_and_chain(issued: IssuedCertificate, ca: CertificateAuthority) -> None:
    key = SigningKey.from_pem(issued.private_key_pem() + issued.chain_pem())

    token = await _compact(key)

    _verify(token, issued.private_key.public_key(), "RS256")
    assert key.key_id is None
    assert key.certificate == issued.certificate
    assert key.organization_number == ORG
    chain = key.certificate_chain
    assert chain is not None
    assert [base64.b64decode(c) for c in chain] == [
        _der(issued.certificate),
        _der(ca.intermediate),
        _der(ca.root),
    ]


def test_pem_chain_is_ordered_by_issuer_and_strays_are_dropped(
    issued: IssuedCertificate, ca: CertificateAuthority, other_key: rsa.RSAPrivateKey
) -> None:
    stray = _certificate(ca, other_key, [x509.NameAttribute(NameOID.COMMON_NAME, "stray")])
    pieces = [
        ca.root.public_bytes(serialization.Encoding.PEM),
        stray.public_bytes(serialization.Encoding.PEM),
        issued.private_key_pem(),
        issued.certificate_pem(),
        ca.intermediate.public_bytes(serialization.Encoding.PEM),
    ]

    key = SigningKey.from_pem(b"\n".join(pieces))

    assert key.certificate_chain == tuple(
        base64.b64encode(_der(cert)).decode() for cert in (issued.certificate, *issued.chain)
    )


def test_pem_with_key_and_leaf_only(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pem(
        issued.certificate_pem() + issued.private_key_pem(PASSWORD.encode()), password=PASSWORD
    )
    assert key.certificate_chain == (base64.b64encode(_der(issued.certificate)).decode(),)


def test_x5c_is_standard_base64_not_base64url(ca: CertificateAuthority) -> None:
    # Standard and URL-safe base64 differ in "+" and "/"; a few certificates are sure to hold one.
    seen = set()
    for _ in range(4):
        issued = ca.issue_enterprise_certificate(ORG)
        chain = SigningKey.from_pkcs12(issued.pkcs12(None), None).certificate_chain
        assert chain is not None
        for item in chain:
            assert "-" not in item
            assert "_" not in item
            seen.update(set(item) & {"+", "/"})
    assert seen


async def test_jwk_dict(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    jwk["kid"] = "from-jwk"

    key = SigningKey.from_jwk(jwk)

    assert key.key_id == "from-jwk"
    assert key.algorithm == "RS256"
    _verify(await _compact(key), issued.private_key.public_key(), "RS256")


async def test_jwk_json_string_with_alg(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    jwk.update({"kid": "from-jwk", "alg": "RS512", "use": "sig", "key_ops": ["sign"]})

    key = SigningKey.from_jwk(json.dumps(jwk), kid="override")

    assert key.key_id == "override"
    assert key.algorithm == "RS512"
    _verify(await _compact(key), issued.private_key.public_key(), "RS512")


def test_jwk_algorithm_argument_is_used_when_the_jwk_has_none(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    assert SigningKey.from_jwk(jwk, algorithm="RS384").algorithm == "RS384"


def test_jwk_with_only_d_and_no_primes(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    minimal = {name: jwk[name] for name in ("kty", "n", "e", "d")}
    assert SigningKey.from_jwk(minimal, kid="k").public_jwk["n"] == jwk["n"]


async def test_jwk_with_x5c(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    x5c = [base64.b64encode(_der(cert)).decode() for cert in (issued.certificate, *issued.chain)]
    jwk["x5c"] = x5c

    key = SigningKey.from_jwk(jwk)

    assert key.certificate_chain == tuple(x5c)
    assert key.organization_number == ORG
    _verify(await _compact(key), issued.private_key.public_key(), "RS256")


def test_jwk_whose_first_x5c_certificate_is_not_the_key(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    jwk["x5c"] = [base64.b64encode(_der(c)).decode() for c in (*issued.chain, issued.certificate)]
    with pytest.raises(CertificateError, match="first certificate"):
        SigningKey.from_jwk(jwk)


async def test_pkcs12_with_chain(issued: IssuedCertificate, ca: CertificateAuthority) -> None:
    key = SigningKey.from_pkcs12(issued.pkcs12(PASSWORD.encode()), PASSWORD)

    token = await _compact(key)

    _verify(token, issued.private_key.public_key(), "RS256")
    chain = key.certificate_chain
    assert chain is not None
    assert [base64.b64decode(item, validate=True) for item in chain] == [
        _der(issued.certificate),
        _der(ca.intermediate),
        _der(ca.root),
    ]
    assert key.certificate == issued.certificate
    assert key.organization_number == ORG
    assert key.not_valid_after == issued.certificate.not_valid_after_utc
    assert key.key_id is None
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["x5c"] == list(chain)


def test_pkcs12_without_chain(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pkcs12(
        issued.pkcs12(PASSWORD.encode(), include_chain=False), PASSWORD.encode(), kid="also"
    )
    assert key.certificate_chain == (base64.b64encode(_der(issued.certificate)).decode(),)
    assert key.key_id == "also"


def test_pkcs12_without_password(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pkcs12(issued.pkcs12(None), None)
    assert key.organization_number == ORG
    # A password for a file that has none is ignored, as for PEM.
    assert SigningKey.from_pkcs12(issued.pkcs12(None), "unused").organization_number == ORG


def test_pkcs12_without_certificate(issued: IssuedCertificate) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"bare", issued.private_key, None, None, serialization.NoEncryption()
    )
    key = SigningKey.from_pkcs12(data, None, kid="k")
    assert key.certificate is None
    assert key.certificate_chain is None


async def test_files(issued: IssuedCertificate, tmp_path: pathlib.Path) -> None:
    pem_path = tmp_path / "key.pem"
    pem_path.write_bytes(issued.private_key_pem(PASSWORD.encode()) + issued.chain_pem())
    p12_path = tmp_path / "cert.p12"
    p12_path.write_bytes(issued.pkcs12(PASSWORD.encode()))

    from_pem = SigningKey.from_pem_file(str(pem_path), password=PASSWORD)
    from_p12 = SigningKey.from_pkcs12_file(p12_path, PASSWORD, algorithm="RS384")

    assert from_pem.certificate_chain == from_p12.certificate_chain
    assert from_p12.algorithm == "RS384"
    _verify(await _compact(from_pem), issued.private_key.public_key(), "RS256")
    _verify(await _compact(from_p12), issued.private_key.public_key(), "RS384")


# -- what the key tells about itself ---------------------------------------------------------------


def test_signing_key_is_a_signer(issued: IssuedCertificate) -> None:
    assert isinstance(SigningKey.from_pem(issued.private_key_pem()), Signer)


async def test_a_custom_signer_satisfies_the_protocol(issued: IssuedCertificate) -> None:
    inner = SigningKey.from_pem(issued.private_key_pem(), kid="vault-key")

    class VaultSigner:
        algorithm = "RS256"
        key_id = "vault-key"
        certificate_chain = None

        async def sign(self, message: bytes) -> bytes:
            return await inner.sign(message)

    signer = VaultSigner()
    assert isinstance(signer, Signer)
    _verify(await _compact(signer), issued.private_key.public_key(), "RS256")


async def test_public_jwk_verifies_and_has_no_private_members(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pem(issued.private_key_pem(), kid="k1", algorithm="RS384")

    public = key.public_jwk

    assert public["kty"] == "RSA"
    assert public["kid"] == "k1"
    assert public["use"] == "sig"
    assert public["alg"] == "RS384"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(public)
    _verify(await _compact(key), RSAKey.import_key(public), "RS384")
    public["kid"] = "changed"
    assert key.public_jwk["kid"] == "k1"


def test_public_jwk_without_kid(issued: IssuedCertificate) -> None:
    assert "kid" not in SigningKey.from_pem(issued.private_key_pem()).public_jwk


def test_thumbprint_is_rfc7638(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pem(issued.private_key_pem())
    public = key.public_jwk
    canonical = json.dumps(
        {"e": public["e"], "kty": "RSA", "n": public["n"]}, separators=(",", ":"), sort_keys=True
    )
    assert key.thumbprint == _b64url(hashlib.sha256(canonical.encode()).digest())


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ([x509.NameAttribute(ORGANIZATION_IDENTIFIER, "NTRNO-912345678")], "912345678"),
        ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "923456789")], "923456789"),
        (
            [
                x509.NameAttribute(NameOID.SERIAL_NUMBER, "UN:NO-9578-4050-1234"),
                x509.NameAttribute(ORGANIZATION_IDENTIFIER, "NTRNO-934567890"),
            ],
            "934567890",
        ),
        ([x509.NameAttribute(NameOID.SERIAL_NUMBER, "UN:NO-9578-4050-1234")], None),
        ([x509.NameAttribute(NameOID.COMMON_NAME, "no number")], None),
    ],
)
def test_organization_number(
    ca: CertificateAuthority,
    other_key: rsa.RSAPrivateKey,
    attributes: list[x509.NameAttribute[str]],
    expected: str | None,
) -> None:
    certificate = _certificate(ca, other_key, attributes)
    pem = _pem(other_key, serialization.PrivateFormat.PKCS8, None) + certificate.public_bytes(
        serialization.Encoding.PEM
    )
    assert SigningKey.from_pem(pem).organization_number == expected


def test_bare_key_has_no_certificate_facts(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pem(issued.private_key_pem())
    assert key.organization_number is None
    assert key.not_valid_after is None
    assert key.key_id is None
    assert key.certificate_chain is None
    key.check_valid()  # nothing to be invalid


# -- certificate validity --------------------------------------------------------------------------


def test_expired_certificate(ca: CertificateAuthority) -> None:
    now = _now()
    expired = ca.issue_enterprise_certificate(
        ORG, not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1)
    )
    with pytest.raises(CertificateError, match="expired at") as info:
        SigningKey.from_pkcs12(expired.pkcs12(None), None)
    assert expired.certificate.not_valid_after_utc.isoformat() in str(info.value)
    assert expired.certificate.not_valid_before_utc.isoformat() in str(info.value)
    with pytest.raises(CertificateError):
        SigningKey.from_pem(expired.private_key_pem() + expired.certificate_pem())


def test_certificate_not_yet_valid(ca: CertificateAuthority) -> None:
    now = _now()
    future = ca.issue_enterprise_certificate(
        ORG, not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=400)
    )
    with pytest.raises(CertificateError, match="not valid before") as info:
        SigningKey.from_pkcs12(future.pkcs12(None), None)
    assert future.certificate.not_valid_before_utc.isoformat() in str(info.value)


async def test_sign_refuses_once_the_certificate_has_expired(ca: CertificateAuthority) -> None:
    now = _now()
    expired = ca.issue_enterprise_certificate(
        ORG, not_before=now - dt.timedelta(days=10), not_after=now - dt.timedelta(days=1)
    )
    # Loaded "in the past", while it was valid; signing now must still refuse it.
    key = SigningKey.from_pkcs12(expired.pkcs12(None), None, now=now - dt.timedelta(days=5))

    with pytest.raises(CertificateError, match="expired"):
        await key.sign(b"a.b")
    with pytest.raises(CertificateError):
        key.check_valid()
    key.check_valid(now - dt.timedelta(days=5))


def test_check_valid_at_a_later_time(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pkcs12(issued.pkcs12(None), None)
    key.check_valid()
    with pytest.raises(CertificateError, match="expired"):
        key.check_valid(issued.certificate.not_valid_after_utc + dt.timedelta(seconds=1))
    with pytest.raises(CertificateError, match="not valid before"):
        key.check_valid(issued.certificate.not_valid_before_utc - dt.timedelta(seconds=1))


def test_check_valid_needs_an_aware_datetime(issued: IssuedCertificate) -> None:
    key = SigningKey.from_pkcs12(issued.pkcs12(None), None)
    naive = dt.datetime(2030, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        key.check_valid(naive)


def test_certificate_of_another_key(
    issued: IssuedCertificate, other_key: rsa.RSAPrivateKey
) -> None:
    pem = _pem(other_key, serialization.PrivateFormat.PKCS8, None) + issued.chain_pem()
    with pytest.raises(CertificateError, match="belongs to the private key"):
        SigningKey.from_pem(pem)


def test_unreadable_certificate(issued: IssuedCertificate) -> None:
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError, match="certificate #1"):
        SigningKey.from_pem(issued.private_key_pem() + broken)


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "EC"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
    ],
)
def test_non_rsa_keys_are_refused(make: Callable[[], Any], kind: str) -> None:
    key = make()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyLoadError, match=f"{kind}.*RSA"):
        SigningKey.from_pem(pem, kid="k")
    data = pkcs12.serialize_key_and_certificates(
        b"x", key, None, None, serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match=f"{kind}.*RSA"):
        SigningKey.from_pkcs12(data, None)


def test_non_rsa_jwk_is_refused() -> None:
    jwk = {"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}
    with pytest.raises(KeyLoadError, match=r"'EC'.*RSA"):
        SigningKey.from_jwk(jwk)


def test_small_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    with pytest.raises(KeyLoadError, match="1024 bits"):
        SigningKey.from_pem(_pem(small, serialization.PrivateFormat.PKCS8, None))
    jwk = RSAKey(small, small).as_dict(private=True)  # the constructor does not warn about size
    with pytest.raises(KeyLoadError, match="1024 bits"):
        SigningKey.from_jwk(jwk)
    data = pkcs12.serialize_key_and_certificates(
        b"x", small, None, None, serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match="1024 bits"):
        SigningKey.from_pkcs12(data, None)


@pytest.mark.parametrize("algorithm", ["HS256", "PS256", "ES256", "none", "rs256", ""])
def test_unsupported_algorithms_are_refused(issued: IssuedCertificate, algorithm: str) -> None:
    with pytest.raises(KeyLoadError, match="not supported"):
        SigningKey.from_pem(issued.private_key_pem(), algorithm=algorithm)
    with pytest.raises(KeyLoadError, match="not supported"):
        SigningKey.from_pkcs12(issued.pkcs12(None), None, algorithm=algorithm)
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    with pytest.raises(KeyLoadError, match="not supported"):
        SigningKey.from_jwk(jwk, algorithm=algorithm)


def test_jwk_alg_that_is_not_rsa_pkcs1_is_refused(issued: IssuedCertificate) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    with pytest.raises(KeyLoadError, match="'PS256'"):
        SigningKey.from_jwk({**jwk, "alg": "PS256"})
    with pytest.raises(KeyLoadError, match="conflicts"):
        SigningKey.from_jwk({**jwk, "alg": "RS256"}, algorithm="RS512")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"use": "enc"}, "use"),
        ({"key_ops": ["decrypt"]}, "key_ops"),
        ({"kid": 5}, "kid"),
        ({"kid": ""}, "kid"),
    ],
)
def test_jwk_not_meant_for_signing(
    issued: IssuedCertificate, extra: dict[str, Any], message: str
) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    with pytest.raises(KeyLoadError, match=message):
        SigningKey.from_jwk({**jwk, **extra})


def test_public_keys_are_refused(issued: IssuedCertificate) -> None:
    public = issued.private_key.public_key()
    for fmt in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        pem = public.public_bytes(serialization.Encoding.PEM, fmt)
        with pytest.raises(KeyLoadError, match="public key"):
            SigningKey.from_pem(pem, kid="k")
    with pytest.raises(KeyLoadError, match="public key"):
        SigningKey.from_jwk(RSAKey.import_key(public).as_dict())


def test_certificates_alone_are_refused(issued: IssuedCertificate) -> None:
    with pytest.raises(KeyLoadError, match="only certificates"):
        SigningKey.from_pem(issued.chain_pem())
    data = pkcs12.serialize_key_and_certificates(
        b"x", None, None, [issued.certificate], serialization.NoEncryption()
    )
    with pytest.raises(KeyLoadError, match="no private key"):
        SigningKey.from_pkcs12(data, None)


def test_two_private_keys_are_refused(
    issued: IssuedCertificate, other_key: rsa.RSAPrivateKey
) -> None:
    pem = issued.private_key_pem() + _pem(other_key, serialization.PrivateFormat.PKCS8, None)
    with pytest.raises(KeyLoadError, match="2 private keys"):
        SigningKey.from_pem(pem)


def test_openssh_keys_are_refused(issued: IssuedCertificate) -> None:
    pem = _pem(issued.private_key, serialization.PrivateFormat.OpenSSH, None)
    with pytest.raises(KeyLoadError, match="OpenSSH"):
        SigningKey.from_pem(pem)


def test_encrypted_key_without_password(issued: IssuedCertificate) -> None:
    with pytest.raises(KeyLoadError, match=r"encrypted, and no password was given"):
        SigningKey.from_pem(issued.private_key_pem(PASSWORD.encode()))


def test_wrong_password_pem(issued: IssuedCertificate, tmp_path: pathlib.Path) -> None:
    pem = issued.private_key_pem(PASSWORD.encode())
    with pytest.raises(KeyLoadError, match="wrong password") as info:
        SigningKey.from_pem(pem, password=WRONG_PASSWORD)
    assert isinstance(info.value.__cause__, ValueError)

    path = tmp_path / "secret-key.pem"
    path.write_bytes(pem)
    with pytest.raises(KeyLoadError, match="wrong password") as info:
        SigningKey.from_pem_file(path, password=WRONG_PASSWORD)
    assert str(path) in str(info.value)


def test_wrong_password_pkcs12(issued: IssuedCertificate, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "virksomhet.p12"
    path.write_bytes(issued.pkcs12(PASSWORD.encode()))
    with pytest.raises(KeyLoadError, match="wrong password") as info:
        SigningKey.from_pkcs12_file(path, WRONG_PASSWORD)
    assert str(path) in str(info.value)
    with pytest.raises(KeyLoadError, match="password-protected"):
        SigningKey.from_pkcs12_file(path, None)


@pytest.mark.parametrize("loader", ["pem", "pkcs12"])
def test_missing_file(tmp_path: pathlib.Path, loader: str) -> None:
    path = tmp_path / "nowhere" / "key.file"
    load: Callable[[], object] = (
        (lambda: SigningKey.from_pem_file(path))
        if loader == "pem"
        else (lambda: SigningKey.from_pkcs12_file(path, None))
    )
    with pytest.raises(KeyLoadError, match="does not exist") as info:
        load()
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_unreadable_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(KeyLoadError, match="cannot read") as info:
        SigningKey.from_pem_file(tmp_path)  # a directory
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key at all",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\n!!!!\n-----END RSA PRIVATE KEY-----\n",
        b"\x00\xff" * 50,
    ],
)
def test_garbage_pem(data: str | bytes) -> None:
    with pytest.raises(KeyLoadError):
        SigningKey.from_pem(data)


def test_wrong_types_are_key_load_errors(issued: IssuedCertificate) -> None:
    with pytest.raises(KeyLoadError, match="str or bytes"):
        SigningKey.from_pem(12345)  # type: ignore[arg-type]
    with pytest.raises(KeyLoadError, match="must be bytes"):
        SigningKey.from_pkcs12("text", None)  # type: ignore[arg-type]
    with pytest.raises(KeyLoadError, match="password must be"):
        SigningKey.from_pem(issued.private_key_pem(PASSWORD.encode()), password=42)  # type: ignore[arg-type]
    with pytest.raises(KeyLoadError, match="kid"):
        SigningKey.from_pem(issued.private_key_pem(), kid="")


def test_pkcs12_given_to_pem_loader_gets_a_hint(issued: IssuedCertificate) -> None:
    with pytest.raises(KeyLoadError, match="from_pkcs12_file"):
        SigningKey.from_pem(issued.pkcs12(None))


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x00"])
def test_garbage_pkcs12(data: bytes) -> None:
    with pytest.raises(KeyLoadError, match="could not open"):
        SigningKey.from_pkcs12(data, "pw")


def test_pem_given_to_pkcs12_loader_gets_a_hint(issued: IssuedCertificate) -> None:
    with pytest.raises(KeyLoadError, match="from_pem"):
        SigningKey.from_pkcs12(issued.private_key_pem(), None)


@pytest.mark.parametrize(
    "jwk",
    [
        "{not json",
        "[1, 2]",
        {"keys": []},
        {"n": "x"},
        {"kty": "RSA", "n": "!!!", "e": "AQAB", "d": "!!!"},
        {"kty": "RSA", "e": "AQAB", "d": "AQAB"},
    ],
)
def test_garbage_jwk(jwk: Any) -> None:
    with pytest.raises(KeyLoadError):
        SigningKey.from_jwk(jwk)


def test_jwk_with_inconsistent_numbers(
    issued: IssuedCertificate, other_key: rsa.RSAPrivateKey
) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    foreign = RSAKey.import_key(other_key).as_dict(private=True)
    with pytest.raises(KeyLoadError, match="not a valid RSA private key"):
        SigningKey.from_jwk({**jwk, "d": foreign["d"]})


# -- secrets stay secret ---------------------------------------------------------------------------


def _pem_body_lines(pem: bytes) -> list[str]:
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


def test_repr_and_str_hold_no_secrets(issued: IssuedCertificate) -> None:
    pem = issued.private_key_pem()
    private_jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    keys = [
        SigningKey.from_pem(pem, kid="kid-1"),
        SigningKey.from_pkcs12(issued.pkcs12(PASSWORD.encode()), PASSWORD),
        SigningKey.from_jwk(private_jwk),
    ]
    secrets = [PASSWORD, *(str(private_jwk[m]) for m in ("d", "p", "q", "dp", "dq", "qi"))]
    secrets += _pem_body_lines(pem)
    for key in keys:
        for text in (repr(key), str(key), f"{key}"):
            assert text.startswith("SigningKey(algorithm='RS256'")
            for secret in secrets:
                assert secret not in text
            # Not even a fragment of the private exponent.
            assert str(private_jwk["d"])[:16] not in text


def test_repr_shows_what_identifies_the_key(issued: IssuedCertificate) -> None:
    with_certificate = SigningKey.from_pkcs12(issued.pkcs12(None), None, kid="kid-2")
    text = repr(with_certificate)
    assert "kid='kid-2'" in text
    assert f"organization_number='{ORG}'" in text
    assert "CN=ACME AS" in text
    assert f"organizationIdentifier=NTRNO-{ORG}" in text
    assert issued.certificate.not_valid_after_utc.isoformat() in text

    bare = SigningKey.from_pem(issued.private_key_pem())
    assert bare.thumbprint in repr(bare)


def test_error_messages_hold_no_secrets(issued: IssuedCertificate, tmp_path: pathlib.Path) -> None:
    encrypted = issued.private_key_pem(PASSWORD.encode())
    plain = issued.private_key_pem()
    p12 = issued.pkcs12(PASSWORD.encode())
    pem_path = tmp_path / "k.pem"
    pem_path.write_bytes(encrypted)
    p12_path = tmp_path / "k.p12"
    p12_path.write_bytes(p12)
    secrets = [PASSWORD, WRONG_PASSWORD, *_pem_body_lines(encrypted), *_pem_body_lines(plain)]

    attempts: list[Callable[[], object]] = [
        lambda: SigningKey.from_pem(encrypted, password=WRONG_PASSWORD),
        lambda: SigningKey.from_pem(encrypted),
        lambda: SigningKey.from_pem_file(pem_path, password=WRONG_PASSWORD),
        lambda: SigningKey.from_pkcs12(p12, WRONG_PASSWORD),
        lambda: SigningKey.from_pkcs12_file(p12_path, WRONG_PASSWORD),
        lambda: SigningKey.from_pem(plain, algorithm="HS256"),
        lambda: SigningKey.from_pem(plain[:-60] + b"\n-----END PRIVATE KEY-----\n"),
        lambda: SigningKey.from_jwk(
            json.dumps({"kty": "RSA", "n": WRONG_PASSWORD, "e": "AQAB", "d": WRONG_PASSWORD})
        ),
        lambda: SigningKey.from_jwk("{" + PASSWORD),
    ]
    for attempt in attempts:
        with pytest.raises(KeyLoadError) as info:
            attempt()
        error = info.value
        texts = [str(error), repr(error)]
        cause = error.__cause__
        while cause is not None:
            texts += [str(cause), repr(cause)]
            cause = cause.__cause__
        for text in texts:
            for secret in secrets:
                assert secret not in text, (text, secret)


# -- the key is parsed once ------------------------------------------------------------------------


async def test_signing_does_not_parse_the_key_again(issued: IssuedCertificate) -> None:
    with (
        mock.patch.object(
            serialization, "load_pem_private_key", wraps=serialization.load_pem_private_key
        ) as load_pem,
        mock.patch.object(
            serialization, "load_der_private_key", wraps=serialization.load_der_private_key
        ) as load_der,
        mock.patch.object(
            pkcs12, "load_key_and_certificates", wraps=pkcs12.load_key_and_certificates
        ) as load_p12,
        mock.patch.object(RSAKey, "import_key", wraps=RSAKey.import_key) as import_key,
    ):
        from_pem = SigningKey.from_pem(issued.private_key_pem(PASSWORD.encode()), password=PASSWORD)
        from_p12 = SigningKey.from_pkcs12(issued.pkcs12(None), None)
        assert load_pem.call_count == 1
        assert load_p12.call_count == 1
        loads = (load_pem.call_count, load_der.call_count, load_p12.call_count)
        imports = import_key.call_count

        for key in (from_pem, from_p12):
            for i in range(100):
                signature = await key.sign(b"message %d" % i)
                issued.private_key.public_key().verify(
                    signature,
                    b"message %d" % i,
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )

        assert (load_pem.call_count, load_der.call_count, load_p12.call_count) == loads
        assert import_key.call_count == imports


def test_chain_prefers_the_issuer_whose_key_signed(
    issued: IssuedCertificate, ca: CertificateAuthority, other_key: rsa.RSAPrivateKey
) -> None:
    # Same subject name as the real intermediate (a re-keyed CA), but it did not sign the leaf.
    impostor = (
        x509.CertificateBuilder()
        .subject_name(ca.intermediate.subject)
        .issuer_name(ca.root.subject)
        .public_key(other_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=30))
        .sign(ca.root_key, hashes.SHA256())
    )
    pem = (
        issued.private_key_pem()
        + issued.certificate_pem()
        + impostor.public_bytes(serialization.Encoding.PEM)
        + ca.intermediate.public_bytes(serialization.Encoding.PEM)
        + ca.root.public_bytes(serialization.Encoding.PEM)
    )

    chain = SigningKey.from_pem(pem).certificate_chain

    assert chain is not None
    assert [base64.b64decode(item) for item in chain] == [
        _der(issued.certificate),
        _der(ca.intermediate),
        _der(ca.root),
    ]


@pytest.mark.parametrize("x5c", ["MIIB", ["not base64!"], ["AAAA"], [1]])
def test_jwk_with_bad_x5c(issued: IssuedCertificate, x5c: Any) -> None:
    jwk = RSAKey.import_key(issued.private_key).as_dict(private=True)
    with pytest.raises(CertificateError, match="x5c"):
        SigningKey.from_jwk({**jwk, "x5c": x5c})
