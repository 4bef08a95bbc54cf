"""What the emulator served, on record: the grants Maskinporten accepted and the exchanges Altinn
authentication made (claims, never tokens), and the assertions over them."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anyio
import httpx
import pytest
from joserfc import jws
from joserfc.jwk import RSAKey

from altinn_async.testing import (
    Emulator,
    ExchangeRecord,
    GrantRecord,
    assert_exchanged,
    assert_granted,
    assert_served,
)
from altinn_async.testing._toolkit.records import RECORDS_KEPT, RecordLog

from .conftest import (
    CLIENT_ID,
    DIGDIR,
    EXCHANGE,
    READ,
    WRITE,
    Clock,
    add_idporten_clients,
    idporten_tokens,
    make_grant,
    request_token,
)

REFRESH = "/platform/authentication/api/v1/refresh"


def payload(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(jws.extract_compact(token.encode()).payload)
    return result


def everything_in(record: GrantRecord | ExchangeRecord) -> str:
    """Every value a record holds, as text, to look for secrets in."""
    return repr(record) + json.dumps(
        {f.name: getattr(record, f.name) for f in dataclasses.fields(record)},
        default=lambda value: dict(value) if hasattr(value, "items") else list(value),
    )


async def exchanged(http: httpx.AsyncClient, token: str, path: str = EXCHANGE) -> str:
    response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


# -- grants ------------------------------------------------------------------------------------


async def test_an_accepted_grant_is_recorded_with_its_claims_and_the_tokens(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    assert (emu.grants, emu.last_grant) == ((), None)
    assertion = make_grant(
        client_key, clock.now, scope=f"{READ} {WRITE}", resource=["https://api.example"]
    )
    response = await request_token(http, assertion)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    grant = emu.last_grant
    assert grant is not None
    assert emu.grants == (grant,)
    assert grant.client_id == CLIENT_ID
    assert grant.scopes == (READ, WRITE)
    assert grant.client_amr == "private_key_jwt"
    assert grant.kid == client_key.kid
    assert grant.algorithm == "RS256"
    assert grant.accepted_at == clock.now
    # JSON, read-only: arrays are tuples.
    sent = payload(assertion)
    assert dict(grant.claims) == {**sent, "resource": ("https://api.example",)}
    issued = payload(token)
    assert dict(grant.token_claims) == {**issued, "aud": "https://api.example"}
    assert grant.token_claims["consumer"] == {
        "authority": "iso6523-actorid-upis",
        "ID": f"0192:{DIGDIR}",
    }
    # Neither the grant nor the token is kept, and the repr stays short.
    held = everything_in(grant)
    assert assertion not in held
    assert token not in held
    assert token.rpartition(".")[2] not in held
    assert repr(grant) == (
        f"GrantRecord(client_id='{CLIENT_ID}', scopes=('{READ}', '{WRITE}'), "
        f"client_amr='private_key_jwt', kid='key-1', algorithm='RS256', "
        f"accepted_at={clock.now!r})"
    )


async def test_records_are_read_only(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    await request_token(http, make_grant(client_key, clock.now, resource=["https://a.example"]))
    grant = emu.last_grant
    assert grant is not None
    with pytest.raises(TypeError):
        grant.claims["scope"] = "altinn:everything"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        grant.client_id = "someone-else"  # type: ignore[misc]
    assert isinstance(grant.claims["resource"], tuple)
    # What a test holds is a copy: another grant does not change it.
    await request_token(http, make_grant(client_key, clock.now, scope=WRITE))
    assert grant.scopes == (READ,)
    assert [g.scopes for g in emu.grants] == [(READ,), (WRITE,)]


async def test_refused_grants_are_not_recorded_but_counted(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, other_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(http, make_grant(other_key, clock.now))
    assert response.status_code == 400
    response = await request_token(http, make_grant(client_key, clock.now, scope="not:granted"))
    assert response.status_code == 400
    assert emu.grants == ()
    assert emu.requests["maskinporten.token"] == 2


async def test_concurrent_grants_are_each_recorded(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grants = [make_grant(client_key, clock.now) for _ in range(12)]

    async def send(assertion: str) -> None:
        assert (await request_token(http, assertion)).status_code == 200

    async with anyio.create_task_group() as group:
        for assertion in grants:
            group.start_soon(send, assertion)
    assert sorted(g.claims["jti"] for g in emu.grants) == sorted(payload(a)["jti"] for a in grants)


def test_a_log_keeps_the_newest_records() -> None:
    log: RecordLog[int] = RecordLog()
    for number in range(RECORDS_KEPT + 5):
        log.add(number)
    kept = log.snapshot()
    assert len(kept) == RECORDS_KEPT
    assert kept[0] == 5
    assert kept[-1] == RECORDS_KEPT + 4
    assert log.total == RECORDS_KEPT + 5


# -- exchanges ---------------------------------------------------------------------------------


async def test_an_exchange_is_recorded_with_both_tokens_claims(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    assert (emu.exchanges, emu.last_exchange) == ((), None)
    token = (await request_token(http, make_grant(client_key, clock.now))).json()["access_token"]
    # The provider as the exchange knows it, however the path spells it.
    altinn = await exchanged(http, token, EXCHANGE.replace("maskinporten", "MaskinPorten"))
    exchange = emu.last_exchange
    assert exchange is not None
    assert emu.exchanges == (exchange,)
    assert exchange.provider == "maskinporten"
    assert dict(exchange.token_claims) == payload(token)
    assert dict(exchange.altinn_claims) == payload(altinn)
    assert exchange.altinn_claims["urn:altinn:org"] == "digdir"
    assert exchange.exchanged_at == clock.now
    held = everything_in(exchange)
    assert token not in held
    assert altinn not in held
    assert repr(exchange) == f"ExchangeRecord(provider='maskinporten', exchanged_at={clock.now!r})"


async def test_refused_exchanges_and_refreshes_are_not_recorded(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = (await request_token(http, make_grant(client_key, clock.now))).json()["access_token"]
    gone = await http.get(
        EXCHANGE,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Altinn-EnterpriseUser-Authentication": "x",
        },
    )
    assert gone.status_code == 410
    assert (await http.get(EXCHANGE, headers={"Authorization": "Bearer x.y.z"})).status_code == 401
    refused = emu.exchanges
    assert refused == ()
    altinn = await exchanged(http, token)
    refreshed = await http.get(REFRESH, headers={"Authorization": f"Bearer {altinn}"})
    assert refreshed.status_code == 200
    assert len(emu.exchanges) == 1
    assert emu.requests["authentication.exchange"] == 3


async def test_an_idporten_exchange_is_recorded(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    add_idporten_clients(emu, idp_key)
    token = str((await idporten_tokens(emu, http, idp_key, clock.now))["access_token"])
    altinn = await exchanged(http, token, EXCHANGE.replace("maskinporten", "id-porten"))
    exchange = emu.last_exchange
    assert exchange is not None
    assert exchange.provider == "id-porten"
    assert dict(exchange.token_claims) == payload(token)
    assert exchange.altinn_claims["urn:altinn:userid"] == "20000011"
    assert dict(exchange.altinn_claims) == payload(altinn)
    # Maskinporten granted nothing: the person's token came from ID-porten.
    assert emu.grants == ()


# -- the assertions ----------------------------------------------------------------------------


async def test_assert_served_passes_and_fails_with_what_was_served(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    with pytest.raises(AssertionError) as nothing:
        assert_served(emu, "maskinporten.token")
    assert str(nothing.value) == (
        "the emulator served 'maskinporten.token' 0 times, expected at least once; "
        "it served nothing"
    )
    await request_token(http, make_grant(client_key, clock.now))
    await request_token(http, make_grant(client_key, clock.now))
    await http.get("/nowhere")
    assert assert_served(emu, "maskinporten.token") == 2
    assert assert_served(emu, "maskinporten.token", times=2) == 2
    assert assert_served(emu, "storage.instances", times=0) == 0
    with pytest.raises(AssertionError) as wrong:
        assert_served(emu, "maskinporten.token", times=1)
    assert str(wrong.value) == (
        "the emulator served 'maskinporten.token' 2 times, expected once; "
        "it served: maskinporten.token 2 times, not_found once"
    )


def test_assert_served_refuses_an_unknown_endpoint() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'maskinporten\.token'"):
        assert_served(Emulator(), "maskinporten.tokens")
    with pytest.raises(ValueError, match="see ENDPOINTS"):
        assert_served(Emulator(), "zzz")
    with pytest.raises(ValueError, match="times must be"):
        assert_served(Emulator(), "maskinporten.token", times=-1)


async def test_assert_granted_checks_the_last_grant(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    with pytest.raises(AssertionError, match=r"^Maskinporten accepted no grant; it answered "):
        assert_granted(emu)
    await request_token(http, make_grant(client_key, clock.now, scope="bad:scope"))
    with pytest.raises(AssertionError) as refused:
        assert_granted(emu)
    assert "it answered 'maskinporten.token' once (refused grants count there" in str(refused.value)
    assertion = make_grant(
        client_key, clock.now, scope=f"{READ} {WRITE}", resource=["https://api.example"]
    )
    await request_token(http, assertion)
    grant = assert_granted(
        emu,
        client_id=CLIENT_ID,
        scopes=[WRITE, READ],  # in any order
        claims={
            "resource": ["https://api.example"],
            "aud": "http://altinn.localhost/maskinporten/",
        },
    )
    assert grant is emu.last_grant
    with pytest.raises(AssertionError) as mismatch:
        assert_granted(
            emu, client_id="other", scopes=[READ], claims={"resource": ["x"], "consumer_org": "1"}
        )
    message = str(mismatch.value)
    assert message.startswith(
        "the last grant Maskinporten accepted (of 1) does not match: "
        "client_id is 'client-1', expected 'other'; "
        f"scopes are ['{READ}', '{WRITE}'], expected ['{READ}']; "
        'resource is ["https://api.example"], expected ["x"]; '
        "the grant has no 'consumer_org' claim, expected \"1\". Its claims: {"
    )
    assert f'"jti": "{payload(assertion)["jti"]}"' in message
    assert assertion not in message


async def test_assert_exchanged_checks_the_last_exchange(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    with pytest.raises(AssertionError) as nothing:
        assert_exchanged(emu)
    assert str(nothing.value) == (
        "Altinn authentication exchanged no token; it answered 'authentication.exchange' "
        "0 times (refused exchanges count there)"
    )
    token = (await request_token(http, make_grant(client_key, clock.now))).json()["access_token"]
    altinn = await exchanged(http, token)
    exchange = assert_exchanged(
        emu, provider="Maskinporten", claims={"urn:altinn:org": "digdir", "scope": READ}
    )
    assert exchange is emu.last_exchange
    with pytest.raises(AssertionError) as mismatch:
        assert_exchanged(emu, provider="id-porten", claims={"urn:altinn:org": "ttd"})
    message = str(mismatch.value)
    assert message.startswith(
        "the last token exchange (of 1) does not match: the provider is 'maskinporten', "
        'expected \'id-porten\'; urn:altinn:org is "digdir", expected "ttd". '
        "The Altinn token's claims: {"
    )
    assert token not in message
    assert altinn not in message
