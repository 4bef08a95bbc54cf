"""The emulator served by uvicorn on 127.0.0.1, spoken to over a real socket."""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import EXCHANGE, INSTANCES, READ, WRITE, Clock, make_grant, request_token


async def test_full_flow_over_a_socket(emu: Emulator, client_key: RSAKey, clock: Clock) -> None:
    emu.add_instances("digdir", "app", 5)
    with emu.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        port = int(base_url.rsplit(":", 1)[1])
        assert port > 0
        env = emu.environment_for(base_url)
        async with httpx.AsyncClient(base_url=base_url) as http:
            metadata = await http.get("/maskinporten/.well-known/oauth-authorization-server")
            assert metadata.json()["issuer"] == env.maskinporten.issuer
            assert metadata.json()["token_endpoint"] == env.maskinporten.token_endpoint

            grant = make_grant(
                client_key, clock.now, aud=env.maskinporten.issuer, scope=f"{READ} {WRITE}"
            )
            token = await request_token(http, grant)
            assert token.status_code == 200, token.text
            access_token = token.json()["access_token"]

            exchanged = await http.get(
                EXCHANGE, headers={"Authorization": f"Bearer {access_token}"}
            )
            assert exchanged.status_code == 200
            auth = {"Authorization": f"Bearer {exchanged.text}"}

            page = await http.get(INSTANCES, params={"org": "digdir", "size": "3"}, headers=auth)
            body = page.json()
            assert body["next"].startswith(f"{base_url}/platform/storage/api/v1/instances?")
            second = await http.get(body["next"], headers=auth)
            assert second.json()["count"] == 2
            instance = body["instances"][0]
            data_url = instance["data"][0]["selfLinks"]["platform"]
            assert data_url.startswith(base_url)
            data = await http.get(data_url, headers=auth)
            assert data.content.startswith(b"<?xml")
    assert emu.requests["maskinporten.token"] == 1
    assert emu.requests["storage.instances"] == 2
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as after:
            await after.get(f"{base_url}/maskinporten/jwk")


async def test_grant_for_the_in_process_issuer_is_refused_when_served(
    emu: Emulator, client_key: RSAKey, clock: Clock
) -> None:
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            # aud is http://altinn.localhost/maskinporten/, but this origin is 127.0.0.1:port.
            response = await request_token(http, make_grant(client_key, clock.now))
    assert response.status_code == 400
    assert response.json()["error_uri"] == "https://maskinporten.no/errors/MP-110"


async def test_faults_apply_when_served(emu: Emulator) -> None:
    emu.inject_fault("maskinporten.jwk", status=503, body=b"down")
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            first = await http.get("/maskinporten/jwk")
            second = await http.get("/maskinporten/jwk")
    assert (first.status_code, first.text) == (503, "down")
    assert second.status_code == 200


def test_two_servers_at_once() -> None:
    emu = Emulator()
    with emu.serve() as first, emu.serve() as second:
        assert first != second
        with httpx.Client() as http:
            one = http.get(f"{first}/maskinporten/jwk").json()
            two = http.get(f"{second}/maskinporten/jwk").json()
    # One emulator, one signing key, whatever the origin.
    assert one == two
