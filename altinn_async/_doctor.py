"""Why does Maskinporten say no? A diagnosis of a Maskinporten client's configuration.

`diagnose` runs a checklist against the real services (or the emulator) and returns a
`Diagnosis`: one `Check` per line, each with a verdict (``ok``, ``warn``, ``fail`` or
``skipped``), what was found, and a one-line hint. The common causes each have their line:

* ``clock``: this machine's clock against Maskinporten's, from the ``Date`` of its answer and
  the round trip (a grant's ``iat`` may be at most 10 s ahead of Maskinporten's clock, its
  ``exp`` at most 10 s behind; ``altinn-protocol.md`` §1.3 and §1.7);
* ``key``, ``certificate``, ``chain``, ``organisation``, ``ca``, ``key_match``: the signing key
  (RSA of at least 2048 bits, a ``kid`` or a certificate) and the enterprise certificate (expiry,
  the chain sent as ``x5c``, the organisation number in its subject, a test CA against
  production or a production CA against test, the private key belonging to it);
* ``environment``, ``token``: the environment's hosts (test and production not mixed), and a
  token handed in to inspect (a TT02 token sent to production);
* ``grant``, ``delegation``, ``exchange``: a real grant signed and sent (the token's decoded
  claims, or Maskinporten's decoded refusal with its MP-xxx code, trace id and a hint), the
  grant for a customer (``consumer_org``), and the exchange for an Altinn token.

A check that needs an earlier one which failed is skipped, with the reason. No token, grant or
key material appears in a check, its ``repr`` or a log line: tokens are shown by their claims.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import re
import time
import urllib.parse
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, Literal, get_args

import attrs
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ._auth import TokenAuth
from ._context import DEFAULT_TIMEOUT
from ._environment import PRODUCTION, TEST, Environment
from ._exchange import AltinnExchangeAuth
from ._http import describe_transport_error
from ._httpcompat import TRANSPORT_ERRORS, AsyncClient, as_httpx
from ._jwt import unverified_claims
from ._keys import ALGORITHMS, Signer, SigningKey
from ._maskinporten import MaskinportenAuth
from ._retry import RetryPolicy
from ._scopes import check_scopes
from ._tokens import Clock
from .exceptions import (
    AltinnError,
    ConfigurationError,
    ExchangeError,
    KeyLoadError,
    MaskinportenError,
    NetworkError,
    TokenError,
)

__all__ = ["Check", "Diagnosis", "Tier", "Verdict", "diagnose"]

Verdict = Literal["ok", "warn", "fail", "skipped"]
"""A check's outcome: ``fail`` means Maskinporten or Altinn will (or did) say no."""

Tier = Literal["test", "production"]
"""Digdir's two environments: ``test`` (test.maskinporten.no, TT02) and ``production``."""

_VERDICTS: tuple[str, ...] = get_args(Verdict)
_TIERS: tuple[str, ...] = get_args(Tier)

#: Maskinporten accepts a grant's ``iat`` at most this far ahead of its clock, and its ``exp`` at
#: most this far behind (``altinn-protocol.md`` §1.3, §1.7).
CLOCK_SKEW = 10.0
#: An offset above this is worth a warning: it eats into the skew Maskinporten allows.
CLOCK_WARNING = 3.0
#: A certificate that expires sooner than this is worth a warning.
EXPIRY_WARNING = dt.timedelta(days=30)
#: The lifetime of the grants the library signs (`MaskinportenAuth`'s default).
GRANT_LIFETIME = 60

_MIN_RSA_BITS = 2048
_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")
_NTRNO = re.compile(r"NTRNO-(\d{9})")
_ORG_NUMBER = re.compile(r"\d{9}")
# Digdir's test CAs say so in their names: "Buypass Class 3 Test4 CA 3", "Buypass Class 3 Test4
# CA G2 ST Business", "Commfides Legal Person - G3 - TEST", "... SHA256 CA - TEST2".
_TEST_CA = re.compile(r"\btest\d*\b", re.IGNORECASE)
_PROBE = b"altinn-async doctor: does the private key belong to the certificate?"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}

# Hosts whose environment is known: Digdir's and Altinn's, test and production.
_HOST_TIERS: dict[str, Tier] = {
    "maskinporten.no": "production",
    "platform.altinn.no": "production",
    "www.altinn.no": "production",
    "test.maskinporten.no": "test",
    "ver1.maskinporten.no": "test",
    "ver2.maskinporten.no": "test",
    "oidc-ver1.difi.no": "test",
    "oidc-ver2.difi.no": "test",
    "platform.tt02.altinn.no": "test",
    "tt02.altinn.no": "test",
}
# Issuers retired by Digdir: their tokens are refused everywhere.
_RETIRED_ISSUERS = frozenset(
    {
        "https://ver1.maskinporten.no/",
        "https://ver2.maskinporten.no/",
        "https://oidc-ver1.difi.no/idporten-oidc-provider/",
        "https://oidc-ver2.difi.no/idporten-oidc-provider/",
    }
)
# The claims of a token that are shown; never the token, and not its jti.
_SHOWN_CLAIMS = (
    "iss",
    "client_id",
    "client_amr",
    "scope",
    "consumer",
    "supplier",
    "delegation_source",
    "aud",
    "iat",
    "exp",
    "urn:altinn:org",
    "urn:altinn:orgNumber",
    "urn:altinn:authenticatemethod",
    "urn:altinn:authlevel",
)


@attrs.frozen
class Check:
    """One line of a `Diagnosis`.

    Attributes:
        name: what was checked: ``clock``, ``key``, ``certificate``, ``chain``,
            ``organisation``, ``ca``, ``key_match``, ``environment``, ``token``, ``grant``,
            ``delegation`` or ``exchange``.
        verdict: ``ok``, ``warn``, ``fail`` or ``skipped``.
        detail: what was found, in one line (for ``skipped``: why).
        hint: what to do about it, in one line, or ``None``.
        facts: what was found, for machines (JSON-ready: numbers, strings, decoded claims);
            never a token, grant or key.
    """

    name: str
    verdict: Verdict
    detail: str
    hint: str | None = None
    facts: Mapping[str, Any] = attrs.field(factory=dict, hash=False)

    def __attrs_post_init__(self) -> None:
        if self.verdict not in _VERDICTS:
            raise ConfigurationError(f"verdict must be one of {_VERDICTS}, got {self.verdict!r}")

    def as_dict(self) -> dict[str, Any]:
        """The check as a JSON-ready dictionary."""
        return {
            "name": self.name,
            "verdict": self.verdict,
            "detail": self.detail,
            "hint": self.hint,
            "facts": dict(self.facts),
        }


@attrs.frozen
class Diagnosis:
    """The checklist `diagnose` returns.

    Attributes:
        client_id: the Maskinporten client diagnosed.
        environment: the environment's name.
        tier: ``test``, ``production``, or ``None`` when the environment's hosts do not tell
            (an emulator or a compatible server) and none was given.
        checks: the checks, in the order they ran.
    """

    client_id: str
    environment: str
    tier: Tier | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Whether no check failed (warnings and skipped checks allowed)."""
        return not self.failures

    @property
    def failures(self) -> tuple[Check, ...]:
        """The checks that failed."""
        return tuple(check for check in self.checks if check.verdict == "fail")

    def __getitem__(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: there is no such check.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        """How many checks had each verdict."""
        return {verdict: sum(c.verdict == verdict for c in self.checks) for verdict in _VERDICTS}

    def as_dict(self) -> dict[str, Any]:
        """The diagnosis as a JSON-ready dictionary."""
        return {
            "ok": self.ok,
            "client_id": self.client_id,
            "environment": self.environment,
            "tier": self.tier,
            "counts": self.counts(),
            "checks": [check.as_dict() for check in self.checks],
        }


async def diagnose(
    *,
    client_id: str,
    key: Signer | KeyLoadError,
    scopes: Iterable[str],
    environment: Environment,
    consumer_org: str | None = None,
    exchange: bool = False,
    token: str | None = None,
    tier: Tier | None = None,
    http_client: AsyncClient | None = None,
    clock: Clock | None = None,
) -> Diagnosis:
    """Diagnose a Maskinporten client: why does Maskinporten (or Altinn) say no?

    Sends a few requests: the Maskinporten metadata (for the clock), one grant, one grant for
    ``consumer_org`` when given, and one token exchange when ``exchange`` is set; each once,
    without retries. A service can run it at startup and log the failures.

    Example::

        diagnosis = await altinn.diagnose(
            client_id="...", key=key, scopes=["altinn:serviceowner/instances.read"],
            environment=altinn.TEST, exchange=True)
        for check in diagnosis.failures:
            logger.error("%s: %s (hint: %s)", check.name, check.detail, check.hint)

    Args:
        client_id: the Maskinporten client (integration) id.
        key: the signing key (a `SigningKey` or any `Signer`), or the `KeyLoadError` loading it
            raised (the ``key`` check then fails with it, and what needs a key is skipped).
        scopes: the scopes to ask for in the grant.
        environment: where the client is registered.
        consumer_org: a customer's organisation number, to check its delegation to you.
        exchange: also exchange the token for an Altinn token.
        token: a Maskinporten or Altinn access token to inspect (its claims, never the token,
            end up in the diagnosis); it is not sent anywhere.
        tier: which of Digdir's environments ``environment`` is (``test`` or ``production``),
            for an environment whose Maskinporten host does not tell (`TEST` and `PRODUCTION`
            do); a tier its hosts contradict fails the ``environment`` check.
        http_client: the client for the requests (one is made and closed if omitted).
        clock: this machine's time (``time.time``), as the grants use it.

    Returns:
        The `Diagnosis`. It does not raise for what it diagnoses: a refusal, an unreachable
        server or an expired certificate is a failed check.

    Raises:
        ConfigurationError: an argument is malformed (an empty client id, an invalid scope, a
            ``consumer_org`` that is not 9 digits, an unknown ``tier``).
    """
    if not client_id.strip():
        raise ConfigurationError("client_id must be a non-empty string")
    if not isinstance(environment, Environment):
        raise ConfigurationError(
            f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
        )
    checked_scopes = check_scopes(scopes)
    if not checked_scopes:
        raise ConfigurationError("give at least one scope to ask for in the grant")
    if consumer_org is not None and not _ORG_NUMBER.fullmatch(consumer_org):
        raise ConfigurationError(f"consumer_org must be 9 digits, got {consumer_org!r}")
    if tier is not None and tier not in _TIERS:
        raise ConfigurationError(f"tier must be 'test' or 'production', got {tier!r}")
    if not isinstance(key, KeyLoadError | Signer):
        raise ConfigurationError(
            "key must be an altinn_async.SigningKey, a Signer, or the KeyLoadError loading it "
            "raised"
        )
    doctor = _Doctor(
        client_id=client_id,
        key=key,
        scopes=checked_scopes,
        environment=environment,
        consumer_org=consumer_org,
        tier=tier,
        clock=clock or time.time,
    )
    owned = http_client is None
    http = (
        httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) if http_client is None else as_httpx(http_client)
    )
    try:
        checks = await doctor.run(http, exchange=exchange, token=token)
    finally:
        if owned:
            await http.aclose()
    return Diagnosis(
        client_id=client_id,
        environment=environment.name,
        tier=doctor.tier,
        checks=tuple(checks),
    )


# -- the checks -----------------------------------------------------------------------------------


class _Doctor:
    """One diagnosis: the checks in order, each knowing which earlier ones it needs."""

    def __init__(
        self,
        *,
        client_id: str,
        key: Signer | KeyLoadError,
        scopes: tuple[str, ...],
        environment: Environment,
        consumer_org: str | None,
        tier: Tier | None,
        clock: Clock,
    ) -> None:
        self.client_id = client_id
        self.key = key
        self.scopes = scopes
        self.environment = environment
        self.consumer_org = consumer_org
        self.clock = clock
        self.given_tier = tier
        self.maskinporten_tier = _url_tier(environment.maskinporten.issuer)
        self.platform_tier = _url_tier(environment.platform)
        # The grants go to Maskinporten: its hosts say which tier this is (a platform URL may be
        # a placeholder when no exchange is made).
        self.tier: Tier | None = tier or self.maskinporten_tier
        self.checks: list[Check] = []
        # Checks that failed, or were skipped because one they need failed.
        self._broken: set[str] = set()
        self._chain: list[x509.Certificate] = []
        self._metadata_issuer: str | None = None
        self._grant_auth: MaskinportenAuth | None = None
        self._delegated_auth: MaskinportenAuth | None = None

    async def run(
        self, http: httpx.AsyncClient, *, exchange: bool, token: str | None
    ) -> list[Check]:
        auths: list[TokenAuth] = []
        try:
            await self._step("clock", (), self._clock(http))
            await self._step("key", (), self._key())
            await self._step("certificate", ("key",), self._certificate())
            # An expired certificate still tells its chain, organisation and CA.
            await self._step("chain", ("key",), self._chain_check())
            await self._step("organisation", ("key",), self._organisation())
            await self._step("ca", ("key",), self._ca())
            await self._step("key_match", ("key", "certificate"), self._key_match())
            await self._step("environment", (), self._environment())
            await self._step("token", (), self._token(token))
            await self._step(
                "grant",
                ("clock", "key", "certificate", "key_match"),
                self._grant(http, auths),
            )
            await self._step(
                "delegation",
                ("grant",),
                self._delegation(http, auths),
                unasked=None if self.consumer_org else "no consumer organisation given",
            )
            upstream = "delegation" if self.consumer_org is not None else "grant"
            await self._step(
                "exchange",
                (upstream, "environment"),
                self._exchange(),
                unasked=None if exchange else "not asked for",
            )
        finally:
            for auth in auths:
                await auth.aclose()
        return self.checks

    async def _step(
        self,
        name: str,
        needs: tuple[str, ...],
        work: Coroutine[Any, Any, Check],
        *,
        unasked: str | None = None,
    ) -> None:
        """Run ``work`` unless it was not asked for (``unasked`` says why) or a check it needs
        did not pass."""
        broken = [need for need in needs if need in self._broken]
        if unasked is not None:
            work.close()  # the coroutine is not run
            self.checks.append(Check(name, "skipped", unasked))
            return
        if broken:
            work.close()  # the coroutine is not run
            self._broken.add(name)
            self.checks.append(
                Check(name, "skipped", f"needs {_listing(broken)}, which did not pass")
            )
            return
        check: Check = await work
        if check.verdict == "fail":
            self._broken.add(name)
        self.checks.append(check)

    # -- clock --------------------------------------------------------------------------------

    async def _clock(self, http: httpx.AsyncClient) -> Check:
        url = _metadata_url(self.environment.maskinporten.issuer)
        sent_at = self.clock()
        started = time.perf_counter()
        try:
            # Without the client's own auth, as token requests go: it may carry a flow.
            response = await http.get(url, headers={"Accept": "application/json"}, auth=None)
        except TRANSPORT_ERRORS as exc:
            return Check(
                "clock",
                "fail",
                f"could not reach Maskinporten at {url}: {describe_transport_error(exc)}",
                "check the network, a proxy or firewall, and the environment's URL",
                {"url": url},
            )
        round_trip = time.perf_counter() - started
        self._remember_metadata(response)
        date = response.headers.get("date")
        server_time = _http_date(date)
        if server_time is None:
            return Check(
                "clock",
                "warn",
                "Maskinporten's answer has no readable Date header: the clock offset cannot be "
                "measured",
                None,
                {"url": url, "status": response.status_code},
            )
        # Date has whole seconds: the server's time was within [date, date + 1) somewhere in the
        # round trip. Its middle against the round trip's middle, give or take half of each.
        local = sent_at + round_trip / 2
        offset = server_time + 0.5 - local
        uncertainty = 0.5 + round_trip / 2
        facts = {
            "url": url,
            "server_date": date,
            "offset_seconds": round(offset, 3),
            "uncertainty_seconds": round(uncertainty, 3),
            "round_trip_ms": round(round_trip * 1000, 1),
        }
        detail = (
            f"this machine is {_offset_words(offset)} Maskinporten's clock "
            f"(± {uncertainty:.1f} s, round trip {round_trip * 1000:.0f} ms)"
        )
        ahead, behind = -offset, offset
        if ahead - uncertainty > CLOCK_SKEW:
            return Check(
                "clock",
                "fail",
                detail,
                f"grants would be issued more than {CLOCK_SKEW:.0f} s in Maskinporten's future "
                '("Issue time is after now"): set the clock right (NTP)',
                facts,
            )
        if behind - uncertainty > GRANT_LIFETIME + CLOCK_SKEW:
            return Check(
                "clock",
                "fail",
                detail,
                f"grants ({GRANT_LIFETIME} s) would have expired by Maskinporten's clock when "
                "they arrive (MP-130): set the clock right (NTP)",
                facts,
            )
        if abs(offset) > CLOCK_WARNING:
            return Check(
                "clock",
                "warn",
                detail,
                f"Maskinporten allows {CLOCK_SKEW:.0f} s of skew; keep the clock in step (NTP)",
                facts,
            )
        return Check("clock", "ok", detail, None, facts)

    def _remember_metadata(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            return
        try:
            document = response.json()
        except ValueError:
            return
        if isinstance(document, dict) and isinstance(document.get("issuer"), str):
            self._metadata_issuer = document["issuer"]

    # -- the key and the certificate ----------------------------------------------------------

    async def _key(self) -> Check:  # noqa: PLR0911 - one verdict per finding
        key = self.key
        if isinstance(key, KeyLoadError):
            return Check("key", "fail", str(key), _key_load_hint(key))
        facts: dict[str, Any] = {"algorithm": key.algorithm, "kid": key.key_id}
        if key.algorithm not in ALGORITHMS:
            return Check(
                "key",
                "fail",
                f"the key signs {key.algorithm!r}",
                f"Maskinporten accepts {', '.join(ALGORITHMS)} grants only",
                facts,
            )
        try:
            self._chain = _decode_chain(key.certificate_chain)
        except ValueError as exc:
            return Check(
                "key",
                "fail",
                f"the key's x5c cannot be read: {exc}",
                "x5c must be the certificates' base64 DER, leaf first (MP-123)",
                facts,
            )
        kind, bits = _key_kind(key, self._chain)
        facts.update(type=kind, bits=bits)
        if isinstance(key, SigningKey):
            facts["thumbprint"] = key.thumbprint
        described = f"{kind} {bits} bits" if bits is not None else f"{kind} (size unknown)"
        if kind != "RSA":
            return Check(
                "key",
                "fail",
                f"a {described} key",
                "Maskinporten needs an RSA key (RS256, RS384 or RS512)",
                facts,
            )
        if bits is not None and bits < _MIN_RSA_BITS:
            return Check(
                "key",
                "fail",
                f"an RSA key of {bits} bits",
                "Maskinporten needs RSA keys of at least 2048 bits: make a new key and register "
                "it (or use the enterprise certificate)",
                facts,
            )
        if key.key_id is None and not self._chain:
            return Check(
                "key",
                "fail",
                f"{described}, {key.algorithm}, with neither a kid nor a certificate",
                "give the registered key's id (kid), or sign with the enterprise certificate",
                facts,
            )
        if key.key_id is not None:
            how = f"registered key kid {key.key_id!r}"
            if "thumbprint" in facts:
                how += f" (thumbprint {facts['thumbprint']})"
            if self._chain:
                how += "; its certificate is not sent (a grant with kid names the registered key)"
        else:
            how = "enterprise certificate, sent as x5c"
        return Check("key", "ok", f"{described}, {key.algorithm}, {how}", None, facts)

    def _leaf(self) -> x509.Certificate | None:
        return self._chain[0] if self._chain else None

    def _not_applicable(self, name: str) -> Check:
        return Check(name, "skipped", "a registered key (kid), no certificate")

    async def _certificate(self) -> Check:
        leaf = self._leaf()
        if leaf is None:
            return self._not_applicable("certificate")
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        facts = {
            "subject": _name(leaf.subject),
            "issuer": _name(leaf.issuer),
            "not_valid_before": not_before.isoformat(),
            "not_valid_after": not_after.isoformat(),
            "days_left": (not_after - now).days,
        }
        subject = _common_name(leaf.subject)
        if now > not_after:
            return Check(
                "certificate",
                "fail",
                f"{subject!r} expired {not_after:%Y-%m-%d %H:%M} UTC",
                "grants signed with it are refused (MP-120): get a new enterprise certificate "
                "from Buypass or Commfides",
                facts,
            )
        if now < not_before:
            return Check(
                "certificate",
                "fail",
                f"{subject!r} is not valid before {not_before:%Y-%m-%d %H:%M} UTC",
                "use it from then on, or check this machine's clock",
                facts,
            )
        left = not_after - now
        detail = f"{subject!r}, valid until {not_after:%Y-%m-%d} ({left.days} days)"
        if left < EXPIRY_WARNING:
            return Check(
                "certificate",
                "warn",
                detail,
                f"renew it before {not_after:%Y-%m-%d}: an expired certificate is refused (MP-120)",
                facts,
            )
        return Check("certificate", "ok", detail, None, facts)

    async def _chain_check(self) -> Check:
        if self._leaf() is None:
            return self._not_applicable("chain")
        facts = {"certificates": [_name(cert.subject) for cert in self._chain]}
        for lower, upper in zip(self._chain, self._chain[1:], strict=False):
            if not _issued_by(lower, upper):
                return Check(
                    "chain",
                    "warn",
                    f"{_name(lower.subject)!r} is not issued by the next certificate, "
                    f"{_name(upper.subject)!r}",
                    "x5c must run leaf first, then each certificate's issuer: Maskinporten may "
                    "refuse it (MP-123 or MP-120)",
                    facts,
                )
        if len(self._chain) == 1:
            return Check(
                "chain",
                "warn",
                "the leaf only: x5c carries no CA certificate",
                "Maskinporten's documentation asks for the whole chain (leaf first); a .p12 "
                "with the CA certificates in it gives it",
                facts,
            )
        top = self._chain[-1]
        return Check(
            "chain",
            "ok",
            f"leaf and {len(self._chain) - 1} CA certificate(s), up to {_name(top.subject)!r}",
            None,
            facts,
        )

    async def _organisation(self) -> Check:
        leaf = self._leaf()
        if leaf is None:
            return self._not_applicable("organisation")
        found = _organisation_numbers(leaf)
        facts = {"organization_identifier": found[0], "serial_number": found[1]}
        identifier, serial = found
        if identifier is None and serial is None:
            return Check(
                "organisation",
                "fail",
                f"no organisation number in the subject {_name(leaf.subject)!r}",
                "Maskinporten reads it from organizationIdentifier NTRNO-<orgno> or serialNumber: "
                "is this an enterprise certificate (virksomhetssertifikat)?",
                facts,
            )
        if identifier is not None and serial is not None and identifier != serial:
            return Check(
                "organisation",
                "warn",
                f"organizationIdentifier NTRNO-{identifier} and serialNumber {serial} differ",
                "which one Maskinporten reads is not documented: get a consistent certificate",
                facts,
            )
        number = identifier or serial
        where = "organizationIdentifier" if identifier else "serialNumber"
        return Check(
            "organisation",
            "ok",
            f"organisation {number} ({where}); the client must belong to it (else MP-122)",
            None,
            {**facts, "org_number": number},
        )

    async def _ca(self) -> Check:
        leaf = self._leaf()
        if leaf is None:
            return self._not_applicable("ca")
        vendor, ca_tier = _ca_tier(leaf.issuer)
        issuer = _name(leaf.issuer)
        facts = {"issuer": issuer, "vendor": vendor, "ca_tier": ca_tier, "tier": self.tier}
        what = f"{ca_tier} CA" if ca_tier else "CA"
        found = f"issued by {vendor + ' ' if vendor else ''}{what} {_common_name(leaf.issuer)!r}"
        if self.tier is not None and ca_tier is not None and ca_tier != self.tier:
            hint = (
                "Maskinporten production trusts production CAs only: use the production "
                "enterprise certificate there (Buypass Test4 and Commfides TEST certificates "
                "work in test only)"
                if self.tier == "production"
                else "Maskinporten test refuses production certificates: use a test enterprise "
                "certificate (Buypass Test4, Commfides TEST)"
            )
            return Check(
                "ca", "fail", f"a {ca_tier} certificate against {self.tier}: {found}", hint, facts
            )
        if vendor is None and self.tier is not None:
            return Check(
                "ca",
                "warn",
                f"{found}: not Buypass or Commfides",
                "Maskinporten accepts enterprise certificates from Buypass and Commfides",
                facts,
            )
        if self.tier is None:
            return Check("ca", "ok", f"{found} (the environment's tier is not known)", None, facts)
        return Check("ca", "ok", f"{found}, for {self.tier}", None, facts)

    async def _key_match(self) -> Check:
        leaf = self._leaf()
        key = self.key
        if leaf is None or isinstance(key, KeyLoadError):  # the key check let it through
            return self._not_applicable("key_match")
        public = leaf.public_key()
        try:
            signature = await key.sign(_PROBE)
            if not isinstance(public, rsa.RSAPublicKey):
                raise InvalidSignature  # noqa: TRY301 - one failure path for both
            public.verify(signature, _PROBE, padding.PKCS1v15(), _HASHES[key.algorithm]())
        except InvalidSignature:
            return Check(
                "key_match",
                "fail",
                "the private key does not belong to the certificate: its signatures do not "
                "verify with the certificate's public key",
                "Maskinporten refuses such grants (MP-124): check that the file holds the "
                "certificate's own key",
            )
        except AltinnError as exc:
            return Check("key_match", "fail", f"the key could not sign: {exc}", None)
        return Check(
            "key_match",
            "ok",
            "the private key belongs to the certificate (a test signature verifies)",
        )

    # -- the environment and a given token ----------------------------------------------------

    async def _environment(self) -> Check:
        env = self.environment
        facts = {
            "name": env.name,
            "maskinporten": env.maskinporten.issuer,
            "platform": env.platform,
            "tier": self.tier,
            "metadata_issuer": self._metadata_issuer,
        }
        where = f"Maskinporten {env.maskinporten.issuer}, platform {env.platform}"
        mp, platform = self.maskinporten_tier, self.platform_tier
        if mp is not None and platform is not None and mp != platform:
            return Check(
                "environment",
                "fail",
                f"{mp} Maskinporten with the {platform} platform: {where}",
                "Altinn accepts tokens only from its own environment's Maskinporten "
                "(test.maskinporten.no with TT02, maskinporten.no with production)",
                facts,
            )
        known = mp or platform
        if self.given_tier is not None and known is not None and known != self.given_tier:
            return Check(
                "environment",
                "fail",
                f"given as {self.given_tier}, but these are {known} hosts: {where}",
                f"use the {self.given_tier} environment, or drop the tier",
                facts,
            )
        issuer = self._metadata_issuer
        if issuer is not None and issuer != env.maskinporten.issuer:
            return Check(
                "environment",
                "fail",
                f"Maskinporten's metadata names issuer {issuer!r}, but grants are sent with "
                f"aud {env.maskinporten.issuer!r}",
                "the grant's aud must be exactly the issuer (MP-110): fix the environment's "
                "issuer URL (mind the trailing slash)",
                facts,
            )
        label = self.tier or "tier not known"
        return Check("environment", "ok", f"{env.name} ({label}): {where}", None, facts)

    async def _token(self, token: str | None) -> Check:
        if token is None:
            return Check("token", "skipped", "no token given to inspect")
        try:
            claims = unverified_claims(token.strip(), what="the given token")
        except TokenError as exc:
            return Check(
                "token", "fail", str(exc), "give an access token (a JWT: three dot-separated parts)"
            )
        shown = _shown(claims)
        issuer = claims.get("iss")
        kind, issuer_tier = self._issuer_kind(issuer)
        facts: dict[str, Any] = {"claims": shown, "kind": kind, "issuer_tier": issuer_tier}
        lifetime = _expiry_words(claims.get("exp"), self.clock())
        if issuer in _RETIRED_ISSUERS:
            return Check(
                "token",
                "fail",
                f"issued by {issuer!r}, which Digdir has retired",
                "get tokens from test.maskinporten.no (test) or maskinporten.no (production)",
                facts,
            )
        env = self.environment
        if issuer not in (env.maskinporten.issuer, env.altinn_issuer):
            what = " ".join(word for word in ("a", issuer_tier, kind or "") if word)
            where = f"{env.name} ({self.tier})" if self.tier else env.name
            return Check(
                "token",
                "fail",
                f"{what} token from {issuer!r} sent to {where}",
                f"{env.name} accepts tokens of {env.maskinporten.issuer} (Maskinporten) and "
                f"{env.altinn_issuer} (Altinn): get the token in the same environment",
                facts,
            )
        scope = shown.get("scope")
        detail = f"a {kind} token of {env.name}" + (f", scope {scope!r}" if scope else "")
        if lifetime is not None:
            detail += f", {lifetime[0]}"
        if lifetime is not None and lifetime[1] <= 0:
            return Check("token", "warn", detail, "get a new token: this one has expired", facts)
        return Check("token", "ok", detail, None, facts)

    def _issuer_kind(  # noqa: PLR0911 - one answer per issuer
        self, issuer: object
    ) -> tuple[str | None, Tier | None]:
        """``Maskinporten`` or ``Altinn`` (or None) for a token's ``iss``, and its tier."""
        if not isinstance(issuer, str):
            return None, None
        env = self.environment
        if issuer == env.maskinporten.issuer:
            return "Maskinporten", self.tier
        if issuer == env.altinn_issuer:
            return "Altinn", self.tier
        for preset in (TEST, PRODUCTION):
            tier: Tier = "test" if preset is TEST else "production"
            if issuer == preset.maskinporten.issuer:
                return "Maskinporten", tier
            if issuer == preset.altinn_issuer:
                return "Altinn", tier
        if issuer in _RETIRED_ISSUERS:
            return "Maskinporten", "test"
        host = urllib.parse.urlsplit(issuer).hostname or ""
        if host.endswith(".altinn.cloud"):
            return "Altinn", "test"
        return None, _url_tier(issuer)

    # -- the real requests --------------------------------------------------------------------

    def _auth(self, http: httpx.AsyncClient, consumer_org: str | None) -> MaskinportenAuth:
        assert not isinstance(self.key, KeyLoadError)  # the key check passed  # noqa: S101
        return MaskinportenAuth(
            client_id=self.client_id,
            key=self.key,
            scopes=self.scopes,
            environment=self.environment,
            consumer_org=consumer_org,
            grant_lifetime=GRANT_LIFETIME,
            http_client=http,
            clock=self.clock,
            retry=RetryPolicy.NEVER,
        )

    async def _grant(self, http: httpx.AsyncClient, auths: list[TokenAuth]) -> Check:
        try:
            auth = self._auth(http, None)
        except ConfigurationError as exc:
            return Check("grant", "fail", f"no grant can be made: {exc}", None)
        auths.append(auth)
        check = await self._maskinporten("grant", auth)
        if check.verdict != "fail":
            self._grant_auth = auth
        return check

    async def _delegation(self, http: httpx.AsyncClient, auths: list[TokenAuth]) -> Check:
        auth = self._auth(http, self.consumer_org)
        auths.append(auth)
        check = await self._maskinporten("delegation", auth)
        if check.verdict != "fail":
            self._delegated_auth = auth
        return check

    async def _maskinporten(self, name: str, auth: MaskinportenAuth) -> Check:
        try:
            token = await auth.get_token()
        except MaskinportenError as exc:
            return _refusal(name, exc, self._refusal_hint(name, exc))
        except (TokenError, NetworkError, KeyLoadError) as exc:
            return Check(name, "fail", str(exc), _unreachable_hint(exc))
        claims = _shown(_claims_of(token.access_token))
        now = self.clock()
        facts = {"claims": claims, "expires_in": round(token.expires_in(now))}
        granted = set(token.scopes or str(claims.get("scope", "")).split())
        consumer = _org_of(claims.get("consumer"))
        detail = (
            f"a token for scope {' '.join(sorted(granted))!r}, consumer {consumer}, "
            f"client_amr {claims.get('client_amr')}, expires in {round(token.expires_in(now))} s"
        )
        if name == "delegation":
            supplier = _org_of(claims.get("supplier"))
            detail = f"{self.consumer_org} delegated to {supplier}: {detail}"
            if consumer != self.consumer_org:
                return Check(
                    name,
                    "fail",
                    f"the token names consumer {consumer}, not {self.consumer_org}",
                    None,
                    facts,
                )
        issuer = claims.get("iss")
        if issuer != self.environment.maskinporten.issuer:
            return Check(
                name,
                "warn",
                f"{detail}; but issued by {issuer!r}, not {self.environment.maskinporten.issuer!r}",
                "Altinn checks a token's issuer: is the environment's issuer right?",
                facts,
            )
        missing = sorted(set(self.scopes) - granted)
        if missing:
            return Check(
                name,
                "warn",
                f"{detail}; without {' '.join(missing)}",
                "Maskinporten left out scopes asked for: check the client's scopes",
                facts,
            )
        return Check(name, "ok", detail, None, facts)

    def _refusal_hint(self, name: str, error: MaskinportenError) -> str | None:
        hint = error.hint
        code = error.code
        leaf = self._leaf()
        if code == "MP-120" and leaf is not None:
            hint = (
                f"Maskinporten does not accept the certificate of {_common_name(leaf.issuer)!r} "
                "(see ca): expired or revoked, from a CA it does not trust, or a test certificate "
                "in production (or the other way round)"
            )
        if code == "MP-124" and isinstance(self.key, SigningKey) and self.key.key_id:
            hint = _joined(
                hint,
                f"this key's thumbprint is {self.key.thumbprint}: compare it with the key "
                "registered as that kid",
            )
        if code == "MP-100":
            hint = _joined(
                hint,
                f"the client id {self.client_id!r} is not known at "
                f"{self.environment.maskinporten.issuer}",
            )
        if name == "delegation" and error.status_code == 403 and hint is None:
            hint = "the customer has not delegated the scope to your organisation in Altinn"
        return hint

    async def _exchange(self) -> Check:
        upstream = self._delegated_auth or self._grant_auth
        if upstream is None:  # pragma: no cover - the grant passed
            return Check("exchange", "skipped", "no Maskinporten token")
        exchange = AltinnExchangeAuth(upstream)
        endpoint = self.environment.exchange_url("maskinporten")
        try:
            token = await exchange.get_token()
        except ExchangeError as exc:
            facts: dict[str, Any] = {"status": exc.status_code, "endpoint": endpoint}
            if exc.problem:
                facts["problem"] = exc.problem
            return Check("exchange", "fail", str(exc), _exchange_hint(exc), facts)
        except (TokenError, NetworkError) as exc:
            return Check(
                "exchange", "fail", str(exc), _unreachable_hint(exc), {"endpoint": endpoint}
            )
        claims = _shown(_claims_of(token.access_token))
        now = self.clock()
        expires_in = round(token.expires_in(now))
        facts = {"claims": claims, "expires_in": expires_in, "endpoint": endpoint}
        org = claims.get("urn:altinn:org")
        detail = (
            f"an Altinn token for organisation {claims.get('urn:altinn:orgNumber')}"
            + (f" (service owner {org})" if org else "")
            + f", expires in {expires_in} s"
        )
        if claims.get("iss") != self.environment.altinn_issuer:
            return Check(
                "exchange",
                "warn",
                f"{detail}; but issued by {claims.get('iss')!r}, not "
                f"{self.environment.altinn_issuer!r}",
                "services validate the issuer: is the environment's platform URL right?",
                facts,
            )
        return Check("exchange", "ok", detail, None, facts)


# -- helpers --------------------------------------------------------------------------------------


def _joined(hint: str | None, more: str) -> str:
    return f"{hint}; {more}" if hint else more


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _metadata_url(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server"


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)  # HTTP dates are GMT (RFC 9110 §5.6.7)
    return parsed.timestamp()


def _offset_words(offset: float) -> str:
    """``offset`` is the server's clock minus ours."""
    if abs(offset) < 0.05:
        return "in step with"
    side = "behind" if offset > 0 else "ahead of"
    return f"{abs(offset):.1f} s {side}"


def _url_tier(url: str) -> Tier | None:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in _HOST_TIERS:
        return _HOST_TIERS[host]
    if host.endswith(".altinn.cloud"):
        return "test"
    return None


def _decode_chain(x5c: tuple[str, ...] | None) -> list[x509.Certificate]:
    chain = []
    for index, item in enumerate(x5c or (), start=1):
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(item, validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"certificate #{index} is not base64 DER") from exc
    return chain


def _key_kind(key: Signer, chain: list[x509.Certificate]) -> tuple[str, int | None]:
    """The key's type and size: from a `SigningKey`'s public JWK, else the certificate's key."""
    if isinstance(key, SigningKey):
        n = key.public_jwk.get("n", "")
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
        return "RSA", int.from_bytes(raw, "big").bit_length()
    if chain:
        try:
            public = chain[0].public_key()
        except (ValueError, UnsupportedAlgorithm):
            return "unknown", None
        if isinstance(public, rsa.RSAPublicKey):
            return "RSA", public.key_size
        return type(public).__name__.removeprefix("_").removesuffix("PublicKey") or "unknown", None
    return "RSA", None  # a custom signer of RS* without a certificate: its size is its own


def _name(name: x509.Name) -> str:
    names = {
        _ORGANIZATION_IDENTIFIER: "organizationIdentifier",
        NameOID.SERIAL_NUMBER: "serialNumber",
    }
    return name.rfc4514_string(names) or "(empty)"


def _common_name(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else _name(name)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _organisation_numbers(certificate: x509.Certificate) -> tuple[str | None, str | None]:
    """The organisation number in ``organizationIdentifier`` (NTRNO-) and in ``serialNumber``."""
    identifier = None
    for attribute in certificate.subject.get_attributes_for_oid(_ORGANIZATION_IDENTIFIER):
        match = _NTRNO.fullmatch(str(attribute.value))
        if match:
            identifier = match.group(1)
            break
    serial = None
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        if _ORG_NUMBER.fullmatch(str(attribute.value)):
            serial = str(attribute.value)
            break
    return identifier, serial


def _ca_tier(issuer: x509.Name) -> tuple[str | None, Tier | None]:
    """Which CA issued a certificate (``Buypass``, ``Commfides`` or None) and for which tier.

    Buypass and Commfides name their test CAs so ("Buypass Class 3 Test4 CA 3", "Commfides Legal
    Person - G3 - TEST"); a CA of theirs without "test" in its name is a production CA. Another
    CA's tier is known only when its name says test.
    """
    parts = [
        str(attribute.value)
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for attribute in issuer.get_attributes_for_oid(oid)
    ]
    text = " ".join(parts)
    lowered = text.lower()
    vendor = (
        "Buypass"
        if "buypass" in lowered
        else "Commfides"
        if "commfides" in lowered or _common_name(issuer).startswith("CPN ")
        else None
    )
    if _TEST_CA.search(text):
        return vendor, "test"
    return vendor, "production" if vendor is not None else None


def _claims_of(token: str) -> dict[str, Any]:
    try:
        return unverified_claims(token, what="the token")
    except TokenError:
        return {}


def _shown(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: claims[name] for name in _SHOWN_CLAIMS if name in claims}


def _org_of(party: object) -> str | None:
    if isinstance(party, Mapping):
        value = party.get("ID")
        if isinstance(value, str):
            return value.removeprefix("0192:")
    return None


def _expiry_words(exp: object, now: float) -> tuple[str, float] | None:
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    left = float(exp) - now
    if left <= 0:
        return f"expired {round(-left)} s ago", left
    return f"expires in {round(left)} s", left


def _key_load_hint(error: KeyLoadError) -> str:
    text = str(error)
    if "bits" in text:
        return "Maskinporten needs RSA keys of at least 2048 bits: make a new key and register it"
    if "RSA key" in text:
        return "Maskinporten needs an RSA key (RS256, RS384 or RS512)"
    if "expired" in text or "not valid before" in text:
        return "get a new enterprise certificate from Buypass or Commfides"
    if "belong" in text:
        return "the certificate is not the key's: check that the file holds the pair"
    return "fix the key (see the message) and run again"


def _refusal(name: str, error: MaskinportenError, hint: str | None) -> Check:
    facts = {
        "status": error.status_code,
        "error": error.error,
        "code": error.code,
        "error_description": error.error_description,
        "trace_id": error.trace_id,
        "endpoint": error.endpoint,
    }
    said = error.error or f"HTTP {error.status_code}"
    if error.code:
        said += f" {error.code}"
    if error.error_description:
        said += f": {error.error_description}"
    return Check(name, "fail", f"Maskinporten refused: {said}", hint, facts)


def _unreachable_hint(error: AltinnError) -> str | None:
    if isinstance(error, NetworkError):
        return "check the network, a proxy or firewall, and the environment's URL"
    return None


def _exchange_hint(error: ExchangeError) -> str | None:
    if error.status_code == 401:
        return (
            "Altinn did not accept the Maskinporten token: is the platform in the same "
            "environment as Maskinporten (TT02 with test.maskinporten.no, platform.altinn.no with "
            "maskinporten.no), and this machine's clock right?"
        )
    if error.status_code == 403:
        return "the token lacks a scope Altinn accepts: ask for an altinn: scope"
    if error.status_code is None:
        return "check the network and the platform URL"
    return None
