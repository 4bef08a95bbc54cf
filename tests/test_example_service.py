"""The example service in ``examples/service.py``, served by uvicorn on 127.0.0.1 against its
emulator: it validates the Altinn tokens it receives, calls Altinn as its organisation, and lets
a person log in and see their own instances. (`test_example_browser` does the last in Chromium.)"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import altinn_async as altinn
from examples import service

from .helpers import signing_key, uvicorn_serving

ROOT = Path(__file__).parent.parent


@attrs.define
class Running:
    example: service.Example
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    with contextlib.ExitStack() as stack:
        made: list[service.Example] = []

        def build(url: str) -> Any:
            made.append(stack.enter_context(service.emulated(url)))
            return made[0].app

        with uvicorn_serving(build) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                yield Running(made[0], url, http)


async def caller_token(running: Running, *scopes: str) -> str:
    """An Altinn token of another organisation that calls the service."""
    key = signing_key()
    running.example.emulator.add_maskinporten_client(
        "a-caller", org_number="991825827", scopes=list(scopes), jwks=[key.public_jwk]
    )
    async with (
        httpx.AsyncClient() as http,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id="a-caller",
                key=key,
                scopes=list(scopes),
                environment=running.example.environment,
                http_client=http,
            )
        ) as auth,
    ):
        return (await auth.get_token()).access_token


async def test_it_validates_the_altinn_tokens_it_receives(running: Running) -> None:
    assert (await running.http.get("/api/caller")).status_code == 401
    weak = await caller_token(running, "altinn:instances.read")
    refused = await running.http.get("/api/caller", headers={"Authorization": f"Bearer {weak}"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    token = await caller_token(running, service.SERVICE_OWNER_READ)
    answer = await running.http.get("/api/caller", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json()["org"] == "digdir"
    assert answer.json()["org_number"] == "991825827"


async def test_it_calls_altinn_as_its_organisation_with_one_token(running: Running) -> None:
    emulator = running.example.emulator
    for _ in range(3):
        answer = await running.http.get("/api/org/instances")
        assert answer.status_code == 200
        assert answer.json()["instances"] == 45
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 1


async def test_a_person_logs_in_and_sees_their_own_instances(running: Running) -> None:
    emulator = running.example.emulator
    home = await running.http.get("/")
    assert 'id="login"' in home.text
    start = await running.http.get("/auth/login", params={"next": "/me"})
    assert start.status_code == 303
    login_cookie = start.headers["set-cookie"].split(";")[0]
    callback = await emulator.idporten_login(start.headers["location"])
    assert urllib.parse.urlsplit(callback).path == "/auth/callback"
    done = await running.http.get(callback, headers={"cookie": login_cookie})
    assert (done.status_code, done.headers["location"]) == (303, "/me")
    cookie = next(
        h for h in done.headers.get_list("set-cookie") if h.startswith("altinn_session=")
    ).split(";")[0]
    page = await running.http.get("/me", headers={"cookie": cookie})
    assert page.status_code == 200
    party = emulator.person().party_id
    assert f"Party {party}, authentication level 3" in page.text
    assert re.search(r"<span id=count>(\d+)</span>", page.text)[1] == "5"  # type: ignore[index]
    assert page.text.count("class=instance") == 5


def test_the_readme_command_serves_and_a_busy_port_is_a_message() -> None:
    """``python examples/service.py --port N`` with N taken: one line, no traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "service.py"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_that_is_no_port_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "service.py"), "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "is not a port" in result.stderr
    assert "Traceback" not in result.stderr
