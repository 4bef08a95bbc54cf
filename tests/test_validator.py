"""`AltinnTokenValidator` against the emulator served by uvicorn on 127.0.0.1: valid tokens and
every way a token can be wrong or forged, key rotation, and the refetch limit under a burst."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import httpx
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey

import altinn_async as altinn
from altinn_async.testing import DEFAULT_PID, Emulator

from .helpers import Clock, signing_key

CLIENT = "validator-client"
ORG_NUMBER = "405003309"
READ = "altinn:serviceowner/instances.read"


@attrs.define
class World:
    emulator: Emulator
    environment: altinn.Environment
    http: httpx.AsyncClient
    clock: Clock
    auth: altinn.AltinnExchangeAuth

    async def altinn_token(self) -> str:
        return (await self.auth.get_token()).access_token

    def validator(self, **options: Any) -> altinn.AltinnTokenValidator:
        return altinn.AltinnTokenValidator(
            self.environment, http_client=self.http, clock=self.clock, **options
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock(ticking=True)
    emulator = Emulator(clock=clock)
    key = signing_key()
    emulator.add_maskinporten_client(
        CLIENT, org_number=ORG_NUMBER, scopes=[READ], jwks=[key.public_jwk]
    )
    with emulator.serve() as url:
        environment = emulator.environment_for(url)
        async with (
            httpx.AsyncClient() as http,
            altinn.AltinnExchangeAuth(
                altinn.MaskinportenAuth(
                    client_id=CLIENT,
                    key=key,
                    scopes=[READ],
                    environment=environment,
                    http_client=http,
                    clock=clock,
                )
            ) as auth,
        ):
            yield World(emulator, environment, http, clock, auth)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    def decode(part: str) -> Any:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    header, payload, signature = token.split(".")
    return decode(header), decode(payload), signature


def encode(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_valid_altinn_token_gives_its_typed_claims(world: World) -> None:
    validator = world.validator()
    principal = await validator.validate(await world.altinn_token(), scopes=[READ])
    assert principal.kind == "altinn"
    assert principal.org == "ttd"
    assert principal.org_number == ORG_NUMBER
    assert principal.consumer_org == ORG_NUMBER
    assert principal.authentication_level == 3
    assert principal.authentication_method == "maskinporten"
    assert principal.has_scopes(READ)
    assert principal.issuer == validator.issuer
    assert world.emulator.requests["authentication.jwks"] == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": -3600}, "expired"),
        ({"nbf": 3600}, "not yet valid"),
        ({"iss": "https://platform.altinn.no/authentication/api/v1/openid/"}, "issuer"),
    ],
)
async def test_a_token_signed_right_but_out_of_time_or_from_elsewhere_is_refused(
    world: World, change: dict[str, Any], reason: str
) -> None:
    token = await world.altinn_token()
    header, claims, _ = parts(token)
    for name, value in change.items():
        claims[name] = claims[name] + value if isinstance(value, int) else value
    forged = world.emulator._authentication.tokens.key.sign(claims)
    with pytest.raises(altinn.TokenValidationError) as refused:
        await world.validator().validate(forged)
    assert refused.value.reason == reason
    assert forged not in str(refused.value)
    del header


async def test_tampered_tokens_and_forged_headers_are_refused(world: World) -> None:
    token = await world.altinn_token()
    header, claims, signature = parts(token)
    head, body, _ = token.split(".")
    validator = world.validator()
    # The HS256 attack: the issuer's public key (PEM) as the HMAC secret.
    public = world.emulator._authentication.tokens.key.key
    attacker = RSAKey.generate_key(2048)
    hs_head = encode({**header, "alg": "HS256"})
    mac = hmac.new(public.as_pem(private=False), f"{hs_head}.{body}".encode(), hashlib.sha256)
    hs256 = f"{hs_head}.{body}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"
    cases: dict[str, str] = {
        "payload": f"{head}.{encode({**claims, 'urn:altinn:org': 'digdir'})}.{signature}",
        "signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "none": f"{encode({**header, 'alg': 'none'})}.{body}.",
        "hs256": hs256,  # by hand: joserfc itself refuses a public key as an HMAC secret
        "embedded jwk": jws.serialize_compact(
            {"alg": "RS256", "kid": header["kid"], "jwk": attacker.as_dict(private=False)},
            json.dumps(claims).encode(),
            attacker,
        ),
        "path kid": jws.serialize_compact(
            {"alg": "RS256", "kid": "../../etc/passwd"}, json.dumps(claims).encode(), attacker
        ),
        "sql kid": jws.serialize_compact(
            {"alg": "RS256", "kid": "x' OR '1'='1"}, json.dumps(claims).encode(), attacker
        ),
        "attacker's key": jws.serialize_compact(
            {"alg": "RS256", "kid": header["kid"]}, json.dumps(claims).encode(), attacker
        ),
        "garbage": "not.a.token",
        "two parts": f"{head}.{body}",
        # An unencoded payload (RFC 7797) would change what the signature covers.
        "extension": f"{encode({**header, 'crit': ['b64'], 'b64': False})}.{body}.{signature}",
    }
    reasons = {}
    for name, forged in cases.items():
        with pytest.raises(altinn.TokenValidationError) as refused:
            await validator.validate(forged)
        reasons[name] = refused.value.reason
        assert forged not in str(refused.value)
    assert reasons == {
        "payload": "signature",
        "signature": "signature",
        "none": "algorithm",
        "hs256": "algorithm",
        "embedded jwk": "header",
        "path kid": "key",  # a key id like any other, never a path: not published
        "sql kid": "header",
        "attacker's key": "signature",
        "garbage": "malformed",
        "two parts": "malformed",
        "extension": "header",
    }
    # The keys, and one refetch for the unknown kid; none for what is refused before.
    assert world.emulator.requests["authentication.jwks"] == 2


async def test_a_missing_scope_is_its_own_error(world: World) -> None:
    with pytest.raises(altinn.InsufficientScopeError) as refused:
        await world.validator(scopes=["altinn:serviceowner/instances.write"]).validate(
            await world.altinn_token()
        )
    assert refused.value.missing == ("altinn:serviceowner/instances.write",)


async def test_a_rotated_key_is_fetched_once_and_old_tokens_stay_valid(world: World) -> None:
    validator = world.validator(min_refetch_interval=60)
    before = await world.altinn_token()
    await validator.validate(before)
    world.emulator.rotate_altinn_signing_key()
    tokens = world.emulator._authentication.tokens
    after = tokens.issue(parts(before)[1], world.clock.now)  # what the exchange now signs
    assert parts(after)[0]["kid"] != parts(before)[0]["kid"]
    await validator.validate(after)  # an unknown kid: one refetch, then valid
    assert world.emulator.requests["authentication.jwks"] == 2
    assert (await validator.validate(after)).org == "ttd"
    assert world.emulator.requests["authentication.jwks"] == 2


async def test_a_burst_of_unknown_kids_fetches_the_keys_at_most_once_per_interval(
    world: World,
) -> None:
    validator = world.validator(min_refetch_interval=60)
    token = await world.altinn_token()
    await validator.validate(token)
    _, claims, _ = parts(token)
    attacker = RSAKey.generate_key(2048)
    forged = [
        jws.serialize_compact(
            {"alg": "RS256", "kid": f"forged-{n}"}, json.dumps(claims).encode(), attacker
        )
        for n in range(1000)
    ]
    refused = 0

    async def attempt(candidate: str) -> None:
        nonlocal refused
        with pytest.raises(altinn.TokenValidationError):
            await validator.validate(candidate)
        refused += 1

    async with anyio.create_task_group() as group:
        for candidate in forged:
            group.start_soon(attempt, candidate)
    assert refused == 1000
    assert world.emulator.requests["authentication.jwks"] == 2  # the first, and one refetch
    world.clock.advance(61)
    with pytest.raises(altinn.TokenValidationError):
        await validator.validate(forged[0])
    assert world.emulator.requests["authentication.jwks"] == 3


async def test_maskinporten_access_tokens_against_maskinporten(world: World) -> None:
    upstream = world.auth.upstream
    token = (await upstream.get_token()).access_token
    async with altinn.AltinnTokenValidator(
        world.environment, kind="maskinporten", clock=world.clock
    ) as validator:
        principal = await validator.validate(token, scopes=[READ])
        assert principal.kind == "maskinporten"
        assert principal.consumer_org == ORG_NUMBER
        assert principal.client_id == CLIENT
        # An Altinn token is not a Maskinporten token.
        with pytest.raises(altinn.TokenValidationError):
            await validator.validate(await world.altinn_token())


async def test_idporten_access_tokens_against_idporten(world: World) -> None:
    world.emulator.add_idporten_client(
        "web", redirect_uris=["https://app.example/cb"], client_secret="s",
        scopes=["openid", "altinn:instances.read"],
    )  # fmt: skip
    async with altinn.IDPortenClient(
        client_id="web",
        client_secret="s",
        redirect_uri="https://app.example/cb",
        scopes=["openid", "altinn:instances.read"],
        environment=world.environment,
        acr_values="idporten-loa-high",
        http_client=world.http,
        clock=world.clock,
    ) as idporten:
        login = idporten.start_login()
        callback = await world.emulator.idporten_login(login.url)
        await idporten.complete_login(callback, login)
        token = (await idporten.session().get_token()).access_token
    async with altinn.AltinnTokenValidator(
        world.environment, kind="idporten", http_client=world.http, clock=world.clock
    ) as validator:
        principal = await validator.validate(token, scopes=["altinn:instances.read"])
        assert principal.kind == "idporten"
        assert principal.pid == DEFAULT_PID
        assert DEFAULT_PID not in repr(principal)
        assert (principal.acr, principal.authentication_level) == ("idporten-loa-high", 4)
        assert principal.client_id == "web"
        with pytest.raises(altinn.InsufficientScopeError):
            await validator.validate(token, scopes=["altinn:instances.write"])
        # An Altinn token is not an ID-porten token.
        with pytest.raises(altinn.TokenValidationError):
            await validator.validate(await world.altinn_token())


def test_an_hmac_or_none_is_never_allowed() -> None:
    for algorithms in (["HS256"], ["RS256", "none"], []):
        with pytest.raises(altinn.ConfigurationError):
            altinn.AltinnTokenValidator(altinn.TEST, algorithms=algorithms)


def test_the_principal_masks_a_pid_and_reads_numbers_as_altinn_writes_them() -> None:
    principal = altinn.AltinnPrincipal.from_claims(
        {
            "iss": "x",
            "exp": 1,
            "pid": "24917298544",
            "urn:altinn:orgNumber": 405003309,
            "urn:altinn:partyid": 50002119,
            "urn:altinn:authlevel": "3",
            "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"},
            "authorization_details": [
                {
                    "type": "urn:altinn:systemuser",
                    "systemuser_id": ["a1"],
                    "systemuser_org": {"ID": "0192:310000001"},
                    "system_id": "s1",
                }
            ],
        },
        kind="altinn",
    )
    assert principal.org_number == "405003309"
    assert principal.consumer_org == "991825827"
    assert principal.party_id == "50002119"
    assert principal.authentication_level == 3
    assert principal.system_user == altinn.SystemUserClaims(("a1",), "310000001", "s1")
    assert "24917298544" not in repr(principal)
    assert "249172*****" in repr(principal)
    assert principal.pid == "24917298544"  # the value itself, for the service to use
    # Read-only, and equal by what it was made of.
    with pytest.raises(AttributeError):
        principal.org_number = "999999999"
    assert principal.org_number == "405003309"
    same = altinn.AltinnPrincipal(dict(principal.claims), kind="altinn")
    assert same == principal
    assert hash(same) == hash(principal)
    assert same != altinn.AltinnPrincipal(dict(principal.claims), kind="idporten")


async def test_a_cold_burst_discovers_and_fetches_the_keys_once(world: World) -> None:
    validator = world.validator()
    token = await world.altinn_token()
    before = world.emulator.requests["authentication.openid_configuration"]

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(validator.validate, token)
    assert world.emulator.requests["authentication.openid_configuration"] - before == 1
    assert world.emulator.requests["authentication.jwks"] == 1
