"""`altinn.diagnose`: every check against an emulator set up to fail it, and the all-green run.

Where a check predicts a refusal, the same grant (or exchange) is also sent as a plain client
would send it, to show the emulator really refuses it: the diagnosis says what the real rules do.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import attrs
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

import altinn_async as altinn
from altinn_async._doctor import Tier, _ca_tier
from altinn_async.testing import CertificateAuthority, Emulator, IssuedCertificate

from .helpers import Clock, fake_jwt, private_pem, signing_key

READ = "altinn:serviceowner/instances.read"
ORG = "405003309"
CUSTOMER = "310000001"
CLIENT = "doctor-client"
CERT_CLIENT = "doctor-cert-client"
KID = "doctor-kid"
# The frozen "now" of every test here: this machine's time when the module loads (a
# SigningKey checks its certificate against the real time when it signs).
T = float(int(time.time()))
NOW = dt.datetime.fromtimestamp(T, dt.UTC)


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca() -> CertificateAuthority:
    return CertificateAuthority("Buypass Class 3 Test4")


@pytest.fixture(scope="module")
def production_ca() -> CertificateAuthority:
    return CertificateAuthority("Buypass Class 3")


def enterprise(
    ca: CertificateAuthority,
    org: str = ORG,
    *,
    valid: tuple[dt.timedelta, dt.timedelta] = (dt.timedelta(days=-10), dt.timedelta(days=700)),
    key_size: int | None = None,
) -> IssuedCertificate:
    return ca.issue_enterprise_certificate(
        org, "DOKTOR AS", not_before=NOW + valid[0], not_after=NOW + valid[1], key_size=key_size
    )


def p12_key(issued: IssuedCertificate, *, include_chain: bool = True) -> altinn.SigningKey:
    # Loaded at the frozen now: the diagnosis judges the certificate by its own clock.
    return altinn.SigningKey.from_pkcs12(
        issued.pkcs12(None, include_chain=include_chain), None, now=NOW + dt.timedelta(days=1)
    )


@attrs.frozen
class RawSigner:
    """A `Signer` of our own (an HSM's stand-in): it signs with whatever key and chain it has."""

    private_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    algorithm: str = "RS256"
    key_id: str | None = None

    @property
    def certificate_chain(self) -> tuple[str, ...] | None:
        if not self.chain:
            return None
        return tuple(
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in self.chain
        )

    async def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())


class Recorder(httpx.AsyncBaseTransport):
    """The emulator's transport, keeping every secret that passes: grants and tokens."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.secrets: list[str] = []
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.paths.append(request.url.path)
        form = urllib.parse.parse_qs(request.content.decode("latin-1"))
        self.secrets.extend(form.get("assertion", []))
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer:
            self.secrets.append(bearer)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if request.url.path.endswith("/token") and response.status_code == 200:
            self.secrets.append(json.loads(body)["access_token"])
        if "/exchange/" in request.url.path and response.status_code == 200:
            self.secrets.append(body.decode().strip().strip('"'))
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def emulator(
    *, offset: float = 0.0, base_url: str = "http://altinn.localhost", **kwargs: Any
) -> Emulator:
    """An emulator whose clock is the frozen now plus ``offset``, with a kid client and a
    certificate client of organisation ORG."""
    emu = Emulator(clock=lambda: T + offset, base_url=base_url, **kwargs)
    emu.add_maskinporten_client(
        CLIENT, org_number=ORG, scopes=[READ], jwks=[signing_key(KID).public_jwk]
    )
    emu.add_maskinporten_client(CERT_CLIENT, org_number=ORG, scopes=[READ])
    return emu


async def diagnose(
    emu: Emulator,
    *,
    key: altinn.Signer | altinn.KeyLoadError | None = None,
    client_id: str | None = None,
    environment: altinn.Environment | None = None,
    scopes: Iterable[str] = (READ,),
    recorder: list[Recorder] | None = None,
    **kwargs: Any,
) -> altinn.Diagnosis:
    transport = Recorder(emu.transport())
    if recorder is not None:
        recorder.append(transport)
    if key is None:
        key = signing_key(KID)
    if client_id is None:
        client_id = CLIENT if isinstance(key, altinn.SigningKey) and key.key_id else CERT_CLIENT
    async with httpx.AsyncClient(transport=transport) as http:
        return await altinn.diagnose(
            client_id=client_id,
            key=key,
            scopes=scopes,
            environment=environment or emu.environment,
            http_client=http,
            clock=Clock(T),
            **kwargs,
        )


async def plain_grant(
    emu: Emulator,
    key: altinn.Signer,
    *,
    client_id: str = CERT_CLIENT,
    environment: altinn.Environment | None = None,
    **kwargs: Any,
) -> altinn.AccessToken:
    """The token a plain client gets for this grant (or its refusal, raised)."""
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        auth = altinn.MaskinportenAuth(
            client_id=client_id,
            key=key,
            scopes=[READ],
            environment=environment or emu.environment,
            http_client=http,
            clock=Clock(T),
            retry=altinn.RetryPolicy.NEVER,
            **kwargs,
        )
        return await auth.get_token()


def verdicts(diagnosis: altinn.Diagnosis) -> dict[str, str]:
    return {check.name: check.verdict for check in diagnosis.checks}


NAMES = [
    "clock",
    "key",
    "certificate",
    "chain",
    "organisation",
    "ca",
    "key_match",
    "environment",
    "token",
    "grant",
    "delegation",
    "exchange",
]


# -- the all-green runs ---------------------------------------------------------------------------


async def test_all_green_with_a_registered_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu = emulator()
    emu.add_service_owner("ttd", CUSTOMER)
    emu.add_delegation(consumer_org=CUSTOMER, supplier_org=ORG, scope=READ)
    token = (await plain_grant(emu, signing_key(KID), client_id=CLIENT)).access_token
    recorded: list[Recorder] = []
    diagnosis = await diagnose(
        emu, consumer_org=CUSTOMER, exchange=True, token=token, recorder=recorded
    )

    assert [check.name for check in diagnosis.checks] == NAMES
    assert diagnosis.ok
    assert diagnosis.failures == ()
    assert verdicts(diagnosis) == {
        "clock": "ok",
        "key": "ok",
        # A registered key has no certificate to check.
        "certificate": "skipped",
        "chain": "skipped",
        "organisation": "skipped",
        "ca": "skipped",
        "key_match": "skipped",
        "environment": "ok",
        "token": "ok",
        "grant": "ok",
        "delegation": "ok",
        "exchange": "ok",
    }
    assert diagnosis.counts() == {"ok": 7, "warn": 0, "fail": 0, "skipped": 5}
    assert diagnosis["certificate"].detail == "a registered key (kid), no certificate"
    assert f"kid {KID!r}" in diagnosis["key"].detail
    assert diagnosis["key"].facts["bits"] == 2048
    assert diagnosis["key"].facts["thumbprint"] == signing_key(KID).thumbprint
    assert abs(diagnosis["clock"].facts["offset_seconds"]) <= 1.0
    assert diagnosis["token"].facts["kind"] == "Maskinporten"

    grant = diagnosis["grant"].facts["claims"]
    assert grant["scope"] == READ
    assert grant["client_id"] == CLIENT
    assert grant["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{ORG}"}
    assert grant["iss"] == emu.maskinporten_issuer_for()
    assert diagnosis["grant"].facts["expires_in"] == 120
    assert "jti" not in grant  # claims are shown, not identifiers of the token
    delegated = diagnosis["delegation"].facts["claims"]
    assert delegated["consumer"]["ID"] == f"0192:{CUSTOMER}"
    assert delegated["supplier"]["ID"] == f"0192:{ORG}"
    # The exchange exchanged the delegated token: the customer's Altinn token.
    exchanged = diagnosis["exchange"].facts["claims"]
    assert exchanged["urn:altinn:orgNumber"] == CUSTOMER
    assert exchanged["urn:altinn:org"] == "ttd"
    assert exchanged["iss"] == emu.altinn_issuer_for()

    # Nothing secret anywhere: not the token given, the grants sent, or the tokens received.
    secrets = [token, *recorded[0].secrets]
    assert len(secrets) >= 6  # 2 grants, 2 tokens, the exchange's bearer and its answer
    shown = repr(diagnosis) + str(diagnosis) + json.dumps(diagnosis.as_dict()) + caplog.text
    for secret in secrets:
        assert secret not in shown
    assert "PRIVATE KEY" not in shown


async def test_all_green_with_an_enterprise_certificate(test_ca: CertificateAuthority) -> None:
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    diagnosis = await diagnose(emu, key=p12_key(enterprise(test_ca)), exchange=True, tier="test")

    assert diagnosis.ok
    assert set(verdicts(diagnosis).values()) == {"ok", "skipped"}
    assert verdicts(diagnosis)["certificate"] == verdicts(diagnosis)["key_match"] == "ok"
    assert [name for name, v in verdicts(diagnosis).items() if v == "skipped"] == [
        "token",
        "delegation",
    ]
    assert diagnosis.tier == "test"
    assert diagnosis["certificate"].facts["days_left"] == 700
    assert diagnosis["chain"].facts["certificates"][-1].startswith("CN=Buypass Class 3 Test4 Root")
    assert diagnosis["organisation"].facts["org_number"] == ORG
    assert diagnosis["ca"].facts["vendor"] == "Buypass"
    assert diagnosis["ca"].facts["ca_tier"] == "test"
    assert diagnosis["grant"].facts["claims"]["client_amr"] == "virksomhetssertifikat"
    assert diagnosis["exchange"].facts["claims"]["urn:altinn:authenticatemethod"] == "maskinporten"


# -- clock ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "clock", "refused"),
    [
        (0, "ok", None),
        (-9, "warn", None),  # this machine 9 s ahead: within Maskinporten's 10 s
        (-12, "fail", "Issue time is after now"),  # 12 s ahead: the grant is from the future
        (65, "warn", None),  # 65 s behind: a 60 s grant still ends after Maskinporten's now - 10
        (75, "fail", "MP-130"),  # 75 s behind: the grant has expired when it arrives
    ],
)
async def test_the_clock_verdict_is_what_maskinporten_does_with_the_grant(
    offset: float, clock: str, refused: str | None
) -> None:
    emu = emulator(offset=offset)  # Maskinporten's clock, against this machine's T
    diagnosis = await diagnose(emu)
    check = diagnosis["clock"]
    assert check.verdict == clock
    # The Date header has whole seconds: the estimate is off by at most its uncertainty.
    assert abs(check.facts["offset_seconds"] - offset) <= check.facts["uncertainty_seconds"]
    if refused is None:
        assert diagnosis["grant"].verdict == "ok"
        await plain_grant(emu, signing_key(KID), client_id=CLIENT)
    else:
        assert "NTP" in (check.hint or "")
        assert diagnosis["grant"].verdict == "skipped"
        assert diagnosis["grant"].detail == "needs clock, which did not pass"
        with pytest.raises(altinn.MaskinportenError, match=refused):
            await plain_grant(emu, signing_key(KID), client_id=CLIENT)


async def test_the_clock_fails_when_maskinporten_cannot_be_reached() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        diagnosis = await altinn.diagnose(
            client_id=CLIENT,
            key=signing_key(KID),
            scopes=[READ],
            environment=altinn.TEST,
            http_client=http,
            exchange=True,
        )
    assert diagnosis["clock"].verdict == "fail"
    assert "could not reach Maskinporten" in diagnosis["clock"].detail
    assert "Connection refused" in diagnosis["clock"].detail
    assert verdicts(diagnosis)["grant"] == verdicts(diagnosis)["exchange"] == "skipped"


class RefusingAuth(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> NoReturn:
        raise AssertionError(f"the client's own auth was used for {request.url}")


async def test_the_clients_own_auth_is_not_used() -> None:
    # A service's client may carry a flow of its own; the diagnosis's requests do without it.
    emu = emulator()
    async with httpx.AsyncClient(transport=emu.transport(), auth=RefusingAuth()) as http:
        diagnosis = await altinn.diagnose(
            client_id=CLIENT,
            key=signing_key(KID),
            scopes=[READ],
            environment=emu.environment,
            http_client=http,
            exchange=True,
            clock=Clock(T),
        )
    assert diagnosis.ok
    assert verdicts(diagnosis)["clock"] == verdicts(diagnosis)["exchange"] == "ok"


async def test_an_answer_without_a_date_is_a_warning() -> None:
    emu = emulator()
    emu.inject_fault("maskinporten.metadata", status=503, headers={"Date": "not a date"})
    diagnosis = await diagnose(emu)
    assert diagnosis["clock"].verdict == "warn"
    assert "no readable Date" in diagnosis["clock"].detail
    assert diagnosis["grant"].verdict == "ok"  # a warning does not stop the grant


# -- the key --------------------------------------------------------------------------------------


def _small_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose


async def test_a_key_that_would_not_load_fails_the_key_and_what_needs_it() -> None:
    small = _small_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(altinn.KeyLoadError) as raised:
        altinn.SigningKey.from_pem(small, kid=KID)
    diagnosis = await diagnose(emulator(), key=raised.value, client_id=CLIENT, exchange=True)
    assert diagnosis["key"].verdict == "fail"
    assert "1024 bits" in diagnosis["key"].detail
    assert "2048" in (diagnosis["key"].hint or "")
    for name in ("certificate", "chain", "organisation", "ca", "key_match", "grant", "exchange"):
        assert diagnosis[name].verdict == "skipped", name
    assert diagnosis["certificate"].detail == "needs key, which did not pass"
    assert diagnosis["grant"].detail == "needs key, certificate and key_match, which did not pass"
    # What does not need the key still ran.
    assert verdicts(diagnosis)["clock"] == verdicts(diagnosis)["environment"] == "ok"


async def test_a_signer_with_a_small_key_fails(test_ca: CertificateAuthority) -> None:
    issued = enterprise(test_ca, key_size=1024)
    signer = RawSigner(issued.private_key, (issued.certificate, *issued.chain))
    diagnosis = await diagnose(emulator(), key=signer)
    assert diagnosis["key"].verdict == "fail"
    assert diagnosis["key"].detail == "an RSA key of 1024 bits"
    assert diagnosis["grant"].verdict == "skipped"


async def test_a_signer_of_another_algorithm_fails(test_ca: CertificateAuthority) -> None:
    issued = enterprise(test_ca)
    signer = RawSigner(issued.private_key, (issued.certificate,), algorithm="ES256")
    diagnosis = await diagnose(emulator(), key=signer)
    assert diagnosis["key"].verdict == "fail"
    assert "'ES256'" in diagnosis["key"].detail
    assert "RS256" in (diagnosis["key"].hint or "")


async def test_a_key_without_kid_or_certificate_fails() -> None:
    key = altinn.SigningKey.from_pem(private_pem())
    diagnosis = await diagnose(emulator(), key=key, client_id=CLIENT)
    assert diagnosis["key"].verdict == "fail"
    assert "neither a kid nor a certificate" in diagnosis["key"].detail
    assert "kid" in (diagnosis["key"].hint or "")
    assert diagnosis["grant"].verdict == "skipped"


# -- the certificate ------------------------------------------------------------------------------


async def test_an_expired_certificate_fails_and_maskinporten_refuses_it(
    test_ca: CertificateAuthority,
) -> None:
    issued = enterprise(test_ca, valid=(dt.timedelta(days=-400), dt.timedelta(days=-2)))
    key = altinn.SigningKey.from_pkcs12(issued.pkcs12(None), None, now=NOW - dt.timedelta(days=9))
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    diagnosis = await diagnose(emu, key=key)
    check = diagnosis["certificate"]
    assert check.verdict == "fail"
    assert check.detail.startswith("'DOKTOR AS' expired ")
    assert check.facts["days_left"] == -2
    assert "MP-120" in (check.hint or "")
    # What the certificate still tells is told; what needs a valid one is skipped.
    assert verdicts(diagnosis)["organisation"] == verdicts(diagnosis)["ca"] == "ok"
    assert verdicts(diagnosis)["key_match"] == verdicts(diagnosis)["grant"] == "skipped"
    # The emulator refuses a grant with it, as Maskinporten does.
    signer = RawSigner(issued.private_key, (issued.certificate, *issued.chain))
    with pytest.raises(altinn.MaskinportenError) as refused:
        await plain_grant(emu, signer)
    assert refused.value.code == "MP-120"


async def test_a_certificate_not_yet_valid_fails(test_ca: CertificateAuthority) -> None:
    issued = enterprise(test_ca, valid=(dt.timedelta(days=3), dt.timedelta(days=700)))
    key = altinn.SigningKey.from_pkcs12(issued.pkcs12(None), None, now=NOW + dt.timedelta(days=5))
    diagnosis = await diagnose(emulator(), key=key)
    assert diagnosis["certificate"].verdict == "fail"
    assert "is not valid before" in diagnosis["certificate"].detail


async def test_a_certificate_expiring_within_30_days_is_a_warning(
    test_ca: CertificateAuthority,
) -> None:
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    issued = enterprise(test_ca, valid=(dt.timedelta(days=-300), dt.timedelta(days=20)))
    diagnosis = await diagnose(emu, key=p12_key(issued))
    assert diagnosis["certificate"].verdict == "warn"
    assert "(20 days)" in diagnosis["certificate"].detail
    assert "renew it before" in (diagnosis["certificate"].hint or "")
    assert diagnosis["grant"].verdict == "ok"
    assert diagnosis.ok  # a warning is not a failure


async def test_a_leaf_only_chain_is_a_warning(test_ca: CertificateAuthority) -> None:
    emu = emulator()
    emu.trust_certificate_authority(test_ca)  # Maskinporten knows the intermediates
    diagnosis = await diagnose(emu, key=p12_key(enterprise(test_ca), include_chain=False))
    assert diagnosis["chain"].verdict == "warn"
    assert diagnosis["chain"].detail == "the leaf only: x5c carries no CA certificate"
    assert diagnosis["grant"].verdict == "ok"


async def test_a_chain_out_of_order_is_a_warning(test_ca: CertificateAuthority) -> None:
    issued = enterprise(test_ca)
    root, intermediate = issued.chain[1], issued.chain[0]
    signer = RawSigner(issued.private_key, (issued.certificate, root, intermediate))
    diagnosis = await diagnose(emulator(), key=signer)
    assert diagnosis["chain"].verdict == "warn"
    assert "is not issued by the next certificate" in diagnosis["chain"].detail


async def test_a_certificate_without_an_organisation_number_fails(
    test_ca: CertificateAuthority,
) -> None:
    server = test_ca.issue_server_certificate(("doctor.localhost",))
    key = altinn.SigningKey.from_pem(server.private_key_pem() + server.chain_pem())
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    diagnosis = await diagnose(emu, key=key)
    assert diagnosis["organisation"].verdict == "fail"
    assert "no organisation number" in diagnosis["organisation"].detail
    assert "virksomhetssertifikat" in (diagnosis["organisation"].hint or "")
    # Maskinporten, sent the grant all the same, cannot match it to the client's organisation.
    assert diagnosis["grant"].verdict == "fail"
    assert diagnosis["grant"].facts["code"] == "MP-122"


async def test_another_organisations_certificate_fails_the_grant(
    test_ca: CertificateAuthority,
) -> None:
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    diagnosis = await diagnose(emu, key=p12_key(enterprise(test_ca, "999888777")))
    assert diagnosis["organisation"].verdict == "ok"
    assert diagnosis["organisation"].facts["org_number"] == "999888777"
    grant = diagnosis["grant"]
    assert grant.verdict == "fail"
    assert grant.facts["code"] == "MP-122"
    assert grant.hint == "the certificate belongs to another organisation than the client"


@pytest.mark.parametrize(
    ("ca_tier", "tier"),
    [("test", "production"), ("production", "test")],
)
async def test_a_certificate_of_the_other_tier_fails(
    ca_tier: str, tier: Tier, test_ca: CertificateAuthority, production_ca: CertificateAuthority
) -> None:
    ours, theirs = (test_ca, production_ca) if ca_tier == "test" else (production_ca, test_ca)
    emu = emulator()
    emu.trust_certificate_authority(theirs)  # Maskinporten of that tier trusts its own CAs only
    diagnosis = await diagnose(emu, key=p12_key(enterprise(ours)), tier=tier)
    check = diagnosis["ca"]
    assert check.verdict == "fail"
    assert check.detail.startswith(f"a {ca_tier} certificate against {tier}: issued by Buypass")
    assert check.facts["ca_tier"] == ca_tier
    assert tier in (check.hint or "")
    # The grant is still sent: Maskinporten's own answer confirms it.
    assert diagnosis["grant"].verdict == "fail"
    assert diagnosis["grant"].facts["code"] == "MP-120"
    assert "see ca" in (diagnosis["grant"].hint or "")


async def test_a_certificate_from_an_untrusted_ca_fails_the_grant(
    test_ca: CertificateAuthority,
) -> None:
    diagnosis = await diagnose(emulator(), key=p12_key(enterprise(test_ca)))  # trusts no CA
    assert diagnosis["ca"].verdict == "ok"  # the emulator's tier is not known
    grant = diagnosis["grant"]
    assert grant.verdict == "fail"
    assert grant.facts["code"] == "MP-120"
    assert grant.facts["error"] == "invalid_grant"
    assert len(grant.facts["trace_id"]) == 32
    assert "The JWT is signed with an invalid certificate" in grant.detail
    assert "a CA it does not trust" in (grant.hint or "")


async def test_a_ca_other_than_buypass_or_commfides_is_a_warning() -> None:
    other = CertificateAuthority("Example Trust Services")
    emu = emulator()
    emu.trust_certificate_authority(other)
    diagnosis = await diagnose(emu, key=p12_key(enterprise(other)), tier="test")
    assert diagnosis["ca"].verdict == "warn"
    assert "not Buypass or Commfides" in diagnosis["ca"].detail


def _issuer(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@pytest.mark.parametrize(
    ("common_name", "organization", "expected"),
    [
        # The CAs' real names (Buypass's and Commfides' published issuer DNs).
        ("Buypass Class 3 Test4 CA 3", "Buypass AS-983163327", ("Buypass", "test")),
        ("Buypass Class 3 Test4 CA G2 ST Business", "Buypass AS", ("Buypass", "test")),
        ("Buypass Class 3 CA 3", "Buypass AS-983163327", ("Buypass", "production")),
        ("Buypass Class 3 CA G2 ST Business", "Buypass AS", ("Buypass", "production")),
        ("Commfides Legal Person - G3 - TEST", "Commfides Norge AS", ("Commfides", "test")),
        ("Commfides Legal Person - G3", "Commfides Norge AS", ("Commfides", "production")),
        (
            "CPN Enterprise SHA256 CLASS 3",
            "Commfides Norge AS - 988 312 495",
            ("Commfides", "production"),
        ),
        ("altinn-async Test CA Class 3 CA", "altinn-async Test CA", (None, "test")),
        ("Example Issuing CA", "Example AS", (None, None)),
    ],
)
def test_the_ca_tier_is_read_from_its_name(
    common_name: str, organization: str, expected: tuple[str | None, str | None]
) -> None:
    assert _ca_tier(_issuer(common_name, organization)) == expected


async def test_a_private_key_that_is_not_the_certificates_fails(
    test_ca: CertificateAuthority,
) -> None:
    issued = enterprise(test_ca)
    signer = RawSigner(_other_key(), (issued.certificate, *issued.chain))
    emu = emulator()
    emu.trust_certificate_authority(test_ca)
    diagnosis = await diagnose(emu, key=signer)
    assert diagnosis["key_match"].verdict == "fail"
    assert "does not belong to the certificate" in diagnosis["key_match"].detail
    assert diagnosis["grant"].detail == "needs key_match, which did not pass"
    with pytest.raises(altinn.MaskinportenError) as refused:
        await plain_grant(emu, signer)
    assert refused.value.code == "MP-124"


def _other_key() -> rsa.RSAPrivateKey:
    loaded = serialization.load_pem_private_key(private_pem(3), None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


# -- the environment ------------------------------------------------------------------------------


async def test_test_maskinporten_with_the_production_platform_fails() -> None:
    emu = emulator(base_url="https://test.maskinporten.no")
    mixed = altinn.Environment(
        name="mixed",
        maskinporten=emu.environment.maskinporten,  # test.maskinporten.no
        platform=emu.environment_for("https://platform.altinn.no").platform,
    )
    diagnosis = await diagnose(emu, environment=mixed, exchange=True)
    check = diagnosis["environment"]
    assert check.verdict == "fail"
    assert check.detail.startswith("test Maskinporten with the production platform")
    assert diagnosis.tier == "test"
    assert diagnosis["grant"].verdict == "ok"
    assert diagnosis["exchange"].detail == "needs environment, which did not pass"
    # Altinn refuses the token, as the diagnosis said it would.
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        upstream = altinn.MaskinportenAuth(
            client_id=CLIENT,
            key=signing_key(KID),
            scopes=[READ],
            environment=mixed,
            http_client=http,
            clock=Clock(T),
        )
        with pytest.raises(altinn.ExchangeError) as refused:
            await altinn.AltinnExchangeAuth(upstream).get_token()
    assert refused.value.status_code == 401


async def test_an_issuer_without_its_trailing_slash_fails() -> None:
    emu = emulator()
    issuer = emu.maskinporten_issuer_for()
    env = attrs.evolve(
        emu.environment,
        maskinporten=altinn.AuthorizationServer(
            issuer=issuer.rstrip("/"), token_endpoint=f"{issuer}token"
        ),
    )
    diagnosis = await diagnose(emu, environment=env)
    assert diagnosis["environment"].verdict == "fail"
    assert "MP-110" in (diagnosis["environment"].hint or "")
    assert diagnosis["grant"].verdict == "fail"
    assert diagnosis["grant"].facts["code"] == "MP-110"


async def test_a_tier_the_hosts_contradict_fails() -> None:
    emu = emulator(base_url="https://test.maskinporten.no")
    diagnosis = await diagnose(emu, tier="production")
    assert diagnosis["environment"].verdict == "fail"
    assert "given as production, but these are test hosts" in diagnosis["environment"].detail


# -- a token handed in ----------------------------------------------------------------------------


async def test_a_test_token_sent_to_production_fails() -> None:
    test = emulator(base_url="https://test.maskinporten.no")
    token = (await plain_grant(test, signing_key(KID), client_id=CLIENT)).access_token
    production = emulator(base_url="https://maskinporten.no")
    diagnosis = await diagnose(production, token=token)
    check = diagnosis["token"]
    assert check.verdict == "fail"
    assert check.detail == (
        "a test token from 'https://test.maskinporten.no/maskinporten/' sent to emulator "
        "(production)"
    )
    assert check.facts["issuer_tier"] == "test"
    assert check.facts["claims"]["scope"] == READ
    assert token not in json.dumps(diagnosis.as_dict()) + repr(diagnosis)
    # And production's Altinn refuses it.
    async with httpx.AsyncClient(transport=production.transport()) as http:
        refused = await http.get(
            production.environment.exchange_url("maskinporten"),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert refused.status_code == 401


async def test_a_tt02_altinn_token_sent_to_production_fails() -> None:
    tt02 = emulator(base_url="https://platform.tt02.altinn.no")
    async with httpx.AsyncClient(transport=tt02.transport()) as http:
        upstream = altinn.MaskinportenAuth(
            client_id=CLIENT,
            key=signing_key(KID),
            scopes=[READ],
            environment=tt02.environment,
            http_client=http,
            clock=Clock(T),
        )
        token = (await altinn.AltinnExchangeAuth(upstream).get_token()).access_token
    diagnosis = await diagnose(emulator(base_url="https://maskinporten.no"), token=token)
    assert diagnosis["token"].verdict == "fail"
    assert diagnosis["token"].detail.startswith(
        "a test token from 'https://platform.tt02.altinn.no"
    )


@pytest.mark.parametrize(
    ("iss", "tier", "detail"),
    [
        ("https://test.maskinporten.no/", "production", "a test Maskinporten token from"),
        ("https://maskinporten.no/", "test", "a production Maskinporten token from"),
        (
            "https://platform.tt02.altinn.no/authentication/api/v1/openid/",
            "production",
            "a test Altinn token from",
        ),
        ("https://ver2.maskinporten.no/", "test", "issued by 'https://ver2.maskinporten.no/', "),
        ("https://elsewhere.example/", "test", "a token from 'https://elsewhere.example/'"),
    ],
)
async def test_tokens_of_other_issuers_fail(iss: str, tier: Tier, detail: str) -> None:
    token = fake_jwt({"iss": iss, "scope": READ, "exp": int(T) + 100})
    diagnosis = await diagnose(emulator(), token=token, tier=tier)
    assert diagnosis["token"].verdict == "fail"
    assert diagnosis["token"].detail.startswith(detail)


async def test_an_expired_token_of_this_environment_is_a_warning() -> None:
    emu = emulator()
    token = fake_jwt({"iss": emu.maskinporten_issuer_for(), "exp": int(T) - 30})
    diagnosis = await diagnose(emu, token=token)
    assert diagnosis["token"].verdict == "warn"
    assert diagnosis["token"].detail == "a Maskinporten token of emulator, expired 30 s ago"


async def test_a_token_that_is_no_jwt_fails() -> None:
    diagnosis = await diagnose(emulator(), token="not-a-token")
    assert diagnosis["token"].verdict == "fail"
    assert diagnosis["token"].detail == "the given token is not a readable JWT"
    assert "not-a-token" not in json.dumps(diagnosis.as_dict())


# -- the grant, the delegation, the exchange -----------------------------------------------------


async def test_a_scope_not_on_the_client_fails_the_grant(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recorded: list[Recorder] = []
    scopes = [READ, "altinn:serviceowner/instances.write"]
    diagnosis = await diagnose(emulator(), scopes=scopes, exchange=True, recorder=recorded)
    grant = diagnosis["grant"]
    assert grant.verdict == "fail"
    assert grant.facts["code"] == "MP-200"
    assert grant.facts["error"] == "invalid_scope"
    assert grant.facts["status"] == 400
    assert "altinn:serviceowner/instances.write" in grant.detail
    assert grant.hint is not None
    assert "Samarbeidsportalen" in grant.hint
    assert diagnosis["exchange"].detail == "needs grant, which did not pass"
    assert not diagnosis.ok
    shown = json.dumps(diagnosis.as_dict()) + repr(diagnosis) + caplog.text
    assert recorded[0].secrets  # the grant that was refused
    for secret in recorded[0].secrets:
        assert secret not in shown


async def test_an_unknown_kid_fails_the_grant_with_the_keys_thumbprint() -> None:
    key = signing_key("not-registered")
    diagnosis = await diagnose(emulator(), key=key, client_id=CLIENT)
    grant = diagnosis["grant"]
    assert grant.verdict == "fail"
    assert grant.facts["code"] == "MP-124"
    assert key.thumbprint in (grant.hint or "")


async def test_an_unknown_client_fails_the_grant() -> None:
    diagnosis = await diagnose(emulator(), client_id="nobody")
    assert diagnosis["grant"].facts["code"] == "MP-100"
    # What was not asked for says so, whatever failed before it.
    assert diagnosis["delegation"].detail == "no consumer organisation given"
    assert diagnosis["exchange"].detail == "not asked for"
    assert "'nobody' is not known at http://altinn.localhost/maskinporten/" in (
        diagnosis["grant"].hint or ""
    )


async def test_a_missing_delegation_fails() -> None:
    diagnosis = await diagnose(emulator(), consumer_org=CUSTOMER, exchange=True)
    assert diagnosis["grant"].verdict == "ok"
    delegation = diagnosis["delegation"]
    assert delegation.verdict == "fail"
    assert delegation.facts["code"] == "MP-251"
    assert delegation.facts["status"] == 403
    assert f"Consumer {CUSTOMER} has not delegated access" in delegation.detail
    assert "delegated the scope to your organisation" in (delegation.hint or "")
    assert diagnosis["exchange"].detail == "needs delegation, which did not pass"


async def test_a_delegation_from_oneself_fails() -> None:
    diagnosis = await diagnose(emulator(), consumer_org=ORG)
    assert diagnosis["delegation"].verdict == "fail"
    assert diagnosis["delegation"].facts["error"] == "invalid_request"


async def test_a_refused_exchange_fails() -> None:
    # Maskinporten of one emulator origin, the platform of another: Altinn does not know the
    # token's issuer, and says 401.
    emu = emulator()
    env = altinn.Environment(
        name="split",
        maskinporten=emu.environment_for("http://other.localhost").maskinporten,
        platform=emu.environment.platform,
    )
    diagnosis = await diagnose(emu, environment=env, exchange=True)
    assert diagnosis["grant"].verdict == "ok"
    exchange = diagnosis["exchange"]
    assert exchange.verdict == "fail"
    assert exchange.facts["status"] == 401
    assert exchange.facts["problem"]["title"] == "Unauthorized"
    assert "same environment as Maskinporten" in (exchange.hint or "")


async def test_checks_not_asked_for_are_skipped_with_the_reason() -> None:
    diagnosis = await diagnose(emulator())
    assert diagnosis["token"].detail == "no token given to inspect"
    assert diagnosis["delegation"].detail == "no consumer organisation given"
    assert diagnosis["exchange"].detail == "not asked for"
    assert diagnosis.ok


# -- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda kw: kw.update(client_id=" "), "client_id"),
        (lambda kw: kw.update(scopes=[]), "at least one scope"),
        (lambda kw: kw.update(scopes=["not a scope"]), "invalid scope"),
        (lambda kw: kw.update(consumer_org="123"), "consumer_org"),
        (lambda kw: kw.update(tier="staging"), "tier"),
        (lambda kw: kw.update(key="a key"), "key must be"),
        (lambda kw: kw.update(environment="test"), "environment"),
    ],
)
async def test_wrong_arguments_raise_before_anything_is_sent(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    emu = emulator()
    arguments: dict[str, Any] = {
        "client_id": CLIENT,
        "key": signing_key(KID),
        "scopes": [READ],
        "environment": emu.environment,
    }
    change(arguments)
    with pytest.raises(altinn.ConfigurationError, match=message):
        await altinn.diagnose(**arguments)
    assert sum(emu.requests.values()) == 0


async def test_the_diagnosis_as_json() -> None:
    diagnosis = await diagnose(emulator(), scopes=["altinn:nope"])
    document = json.loads(json.dumps(diagnosis.as_dict()))
    assert document["ok"] is False
    assert document["client_id"] == CLIENT
    assert document["environment"] == "emulator"
    assert document["tier"] is None
    assert document["counts"] == diagnosis.counts()
    assert [check["name"] for check in document["checks"]] == NAMES
    assert document["checks"][NAMES.index("grant")]["facts"]["code"] == "MP-200"
    with pytest.raises(KeyError):
        diagnosis["nothing"]


def test_a_check_refuses_an_unknown_verdict() -> None:
    with pytest.raises(altinn.ConfigurationError, match="verdict"):
        altinn.Check("clock", "maybe", "?")  # type: ignore[arg-type]
