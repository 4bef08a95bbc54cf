"""The ``pytest11`` entry point ``altinn_async``: altinn-async's pytest plugin, as pytest loads it.

pytest imports every installed plugin when it starts, in every test session on the machine,
whether the session uses the plugin or not. So this module imports pytest and nothing else: the
markers are registered from here, and each fixture imports the library (and httpx) only when a
test first uses it, through `altinn_async.testing.pytest_plugin`, which documents the fixtures
and markers and holds what they do. A session that never uses them pays nothing, and an
application's ``httpx2.alias_httpx()`` in its conftest still comes before anything imports httpx.

(Like Hypothesis's ``_hypothesis_pytestplugin``, a module beside the package, not in it: importing
anything inside ``altinn_async`` would run the package's ``__init__`` first.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    import altinn_async as altinn
    from altinn_async.testing import Emulator
    from altinn_async.testing.pytest_plugin import SeededMaskinportenClient, Target

__all__ = [
    "MARKERS",
    "altinn_emulator",
    "altinn_emulator_url",
    "altinn_environment",
    "altinn_exchange_auth",
    "altinn_http",
    "altinn_maskinporten_auth",
    "altinn_maskinporten_client",
    "altinn_signing_key",
]

MARKERS: dict[str, str] = {
    "altinn_emulator": (
        "altinn_emulator(**kwargs): the keyword arguments of the altinn_async.testing.Emulator "
        "the altinn_emulator fixture makes"
    ),
    "altinn_maskinporten_client": (
        "altinn_maskinporten_client(*scopes, client_id=None, org_number=None): the scopes and "
        "owner of the Maskinporten client the altinn_maskinporten_client fixture registers"
    ),
    "altinn_instances": (
        "altinn_instances(org, app, count, seed=0): Storage instances the altinn_emulator "
        "fixture is seeded with (Emulator.add_instances)"
    ),
    "altinn_person": (
        "altinn_person(pid, name=None, party_id=None, user_id=None, username=''): a person in "
        "the emulator's Register (Emulator.add_person)"
    ),
    "altinn_mailbox": (
        "altinn_mailbox(recipient, count, **kwargs): a generated Altinn 3 mailbox "
        "(Emulator.generate_mailbox)"
    ),
}
"""The markers the plugin registers (for ``--strict-markers``), by name: their ``--markers``
lines."""


def _plugin() -> ModuleType:
    """What the fixtures do; imported (with the library) when the first of them runs."""
    import altinn_async.testing.pytest_plugin as plugin  # noqa: PLC0415 - the point of this module

    return plugin


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so that ``--strict-markers`` knows them."""
    for description in MARKERS.values():
        config.addinivalue_line("markers", description)


# The fixtures' docstrings are what ``pytest --fixtures`` shows.


@pytest.fixture
def altinn_emulator(request: pytest.FixtureRequest) -> Emulator:
    """An ``altinn_async.testing.Emulator`` of the test's own, built with the
    ``altinn_emulator`` marker's arguments and seeded by the ``altinn_instances``,
    ``altinn_person`` and ``altinn_mailbox`` markers."""
    emulator: Emulator = _plugin().seeded_emulator(request)
    return emulator


@pytest.fixture
def altinn_emulator_url(altinn_emulator: Emulator) -> Iterator[str]:
    """``altinn_emulator`` served on ``127.0.0.1`` (a free port) while the test runs: its base
    URL. Needs uvicorn (the ``emulator`` extra); the test is skipped without it."""
    with _plugin().served(altinn_emulator) as url:
        yield url


@pytest.fixture
def _altinn_target(request: pytest.FixtureRequest, altinn_emulator: Emulator) -> Target:
    target: Target = _plugin().target(request, altinn_emulator)
    return target


@pytest.fixture
def altinn_environment(_altinn_target: Target) -> altinn.Environment:
    """The ``Environment`` of the emulator the test talks to: ``emulator.environment_for(url)``
    when the test uses ``altinn_emulator_url``, else ``emulator.environment`` (in-process, with
    ``emulator.transport()``)."""
    return _altinn_target.environment


@pytest.fixture(scope="session")
def altinn_signing_key() -> altinn.SigningKey:
    """A 2048-bit RSA ``SigningKey`` with the ``kid`` ``altinn-test-key``, made once per
    session (making RSA keys is slow)."""
    key: altinn.SigningKey = _plugin().signing_key()
    return key


@pytest.fixture
def altinn_maskinporten_client(
    request: pytest.FixtureRequest,
    altinn_emulator: Emulator,
    altinn_signing_key: altinn.SigningKey,
) -> SeededMaskinportenClient:
    """A Maskinporten client registered on ``altinn_emulator`` with ``altinn_signing_key``'s
    public key: ``altinn-test-client`` of ``ttd``'s organisation (405003309) with the scope
    ``altinn:serviceowner/instances.read``, unless the ``altinn_maskinporten_client`` marker
    says otherwise."""
    client: SeededMaskinportenClient = _plugin().registered_client(
        request, altinn_emulator, altinn_signing_key
    )
    return client


@pytest.fixture
async def altinn_maskinporten_auth(
    altinn_maskinporten_client: SeededMaskinportenClient, _altinn_target: Target
) -> AsyncIterator[altinn.MaskinportenAuth]:
    """A ``MaskinportenAuth`` for ``altinn_maskinporten_client`` and all its scopes, getting its
    tokens from the emulator the test talks to; closed after the test."""
    async with _plugin().maskinporten_auth(altinn_maskinporten_client, _altinn_target) as auth:
        yield auth


@pytest.fixture
async def altinn_exchange_auth(
    altinn_maskinporten_auth: altinn.MaskinportenAuth,
) -> AsyncIterator[altinn.AltinnExchangeAuth]:
    """An ``AltinnExchangeAuth`` over ``altinn_maskinporten_auth``: Altinn tokens, for the
    platform APIs (Storage, Events, Dialogporten, ...)."""
    async with _plugin().exchange_auth(altinn_maskinporten_auth) as auth:
        yield auth


@pytest.fixture
async def altinn_http(
    altinn_exchange_auth: altinn.AltinnExchangeAuth, _altinn_target: Target
) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the emulator the test talks to, with ``altinn_exchange_auth``
    and ``base_url`` the environment's platform (``StorageClient(altinn_http)`` works as is)."""
    async with _plugin().http_client(altinn_exchange_auth, _altinn_target) as http:
        yield http
