"""The playground the documentation's examples run against: an emulator served on 127.0.0.1,
seeded with the clients, keys, users and data the examples name, with ``altinn.TEST`` pointed at
it. Used by ``test_readme.py`` (the README's examples) and ``test_docs.py`` (the pages under
``docs/``), a playground per test, and by ``test_docstrings.py`` (the library's docstring
examples), one served for the module (`serving`) and pointed at per test (`point_at`).

The examples are run as written: only ``altinn.TEST`` (and, for ``altinn-async`` commands,
``--env test``) mean the emulator here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import altinn_async as altinn
from altinn_async._cli import _token
from altinn_async.testing import DEFAULT_PID, Emulator

__all__ = [
    "MAILBOX", "MAILBOX_SCOPES", "Playground", "opened", "playground", "point_at", "run", "serving",
]  # fmt: skip

MAILBOX = 14
MAILBOX_SCOPES = [
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
]


@attrs.define
class Playground:
    emulator: Emulator
    url: str
    environment: altinn.Environment


@pytest.fixture
def playground(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Playground]:
    with serving(tmp_path) as served:
        point_at(served, tmp_path, monkeypatch)
        yield served


def _pem() -> bytes:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[Playground]:
    """The seeded emulator, served on 127.0.0.1 while the block runs; its keys' PEM files
    (``client.pem``, ``admin.pem``, ``client-2.pem``) written to ``folder``."""
    for name in ("client.pem", "admin.pem", "client-2.pem"):
        (folder / name).write_bytes(_pem())
    key = altinn.SigningKey.from_pem((folder / "client.pem").read_bytes(), kid="my-key-id")
    emulator = Emulator()
    emulator.add_maskinporten_client(
        "my-client-id", org_number="405003309", scopes=["altinn:serviceowner/instances.read",
        *MAILBOX_SCOPES], jwks=[key.public_jwk],
    )  # fmt: skip
    # The self-service client's example: an admin client of the same organisation, and the
    # scope in Digdir's registry (Altinn's), which the organisation has access to.
    admin = altinn.SigningKey.from_pem((folder / "admin.pem").read_bytes(), kid="admin-key-id")
    emulator.add_maskinporten_client(
        "my-admin-client-id", org_number="405003309", scopes=altinn.ADMIN_SCOPES,
        jwks=[admin.public_jwk],
    )  # fmt: skip
    emulator.add_api_scope("altinn:serviceowner/instances.read", owner_org="991825827")
    emulator.grant_scope_access("altinn:serviceowner/instances.read", "405003309")
    emulator.add_organization("310000001", name="MOTTAKER AS")
    emulator.add_organization("310000002", parent="310000001")
    emulator.add_system_user(client_id="my-client-id", customer_org="310000001")
    now = time.time()
    emulator.generate_mailbox(
        "310000001", MAILBOX, seed=5, start=now - 5 * 86_400, attachments_per=(1, 1)
    )
    emulator.add_instances("ttd", "app", 30)
    person = emulator.person(DEFAULT_PID)
    for _ in range(3):
        emulator.add_instance("ttd", "app", party_id=person.party_id)
    emulator.add_idporten_client(
        "my-web-client",
        redirect_uris=["https://app.example/callback", "https://app.example/auth/callback"],
        client_secret="my-client-secret", scopes=["openid", "altinn:instances.read"],
        post_logout_redirect_uris=["https://app.example/logged-out"],
    )  # fmt: skip
    emulator.add_api_key("the-api-key")
    emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    emulator.add_altinn2_message(
        DEFAULT_PID, subject="Vedtak", service_owner="NAV",
        attachments=[("../../vedtak.pdf", b"%PDF-1.4", "application/pdf")],
    )  # fmt: skip
    with emulator.serve() as url:
        yield Playground(emulator, url, emulator.environment_for(url))


def point_at(served: Playground, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``altinn.TEST`` (and ``--env test``) at the served emulator, set the examples'
    environment variables, and make ``folder`` the working directory."""
    monkeypatch.setenv("ALTINN_USER", "ola")
    monkeypatch.setenv("ALTINN_PASSWORD", "Passord1")
    monkeypatch.setenv("ALTINN_API_KEY", "the-api-key")
    monkeypatch.setenv("SESSION_SECRET", "a-session-secret-of-at-least-32-bytes")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(altinn, "TEST", served.environment)
    # `altinn-async ... --env test` (and tt02) is the same emulator.
    for name in ("test", "tt02"):
        monkeypatch.setitem(_token._NAMED, name, served.environment)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[httpx.AsyncClient]:
    """Every httpx.AsyncClient made while the example runs."""
    made: list[httpx.AsyncClient] = []
    original = httpx.AsyncClient.__init__

    def tracking(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", tracking)
    return made


def run(code: str, filename: str | Path) -> dict[str, Any]:
    """Run an example's code as a module of its own; its namespace."""
    namespace: dict[str, Any] = {"__name__": "__example__"}
    exec(compile(code, str(filename), "exec"), namespace)  # noqa: S102 - the docs' own code
    return namespace
