"""The pytest plugin: a seeded emulator, a signing key, a Maskinporten client and its auth as
fixtures, for teams that test their own code against `altinn_async.testing.Emulator`.

Example::

    @pytest.mark.anyio
    @pytest.mark.altinn_instances("ttd", "app", 3)
    async def test_my_job(altinn_emulator, altinn_http):
        assert len(await my_job(altinn_http)) == 3
        assert_served(altinn_emulator, "maskinporten.token", times=1)

The plugin is the ``pytest11`` entry point ``altinn_async`` (the module ``_altinn_async_pytest``
beside the package): pytest loads it wherever altinn-async is installed (an entry point cannot
depend on an extra), and ``-p no:altinn_async`` turns it off. Loading it imports pytest only; the
fixtures import this module, and with it the library, when a test first uses one. The functions
below are what the fixtures do, for fixtures of your own (a session-wide emulator, say).

Only `altinn_emulator_url` needs the ``emulator`` extra (uvicorn): it is imported when that
fixture runs, and a test using it is skipped, saying what to install, without it.

Fixtures (function-scoped, but for the key):

- ``altinn_emulator``: an `Emulator`, built with the ``altinn_emulator`` marker's arguments and
  seeded by the other markers.
- ``altinn_emulator_url``: the same emulator served on ``127.0.0.1`` (a free port); its URL.
- ``altinn_environment``: the `Environment` the test's code should use: the served one if the
  test (or any fixture it uses) asks for ``altinn_emulator_url``, else the in-process one.
- ``altinn_signing_key``: an RSA `SigningKey` with a ``kid``, made once per session.
- ``altinn_maskinporten_client``: a Maskinporten client registered on the emulator with that key
  (a `SeededMaskinportenClient`; configure it with the ``altinn_maskinporten_client`` marker).
- ``altinn_maskinporten_auth``, ``altinn_exchange_auth``: a ready `MaskinportenAuth` for the
  client, and an `AltinnExchangeAuth` over it, bound to the emulator (in-process or served).
- ``altinn_http``: an ``httpx.AsyncClient`` on the emulator with ``altinn_exchange_auth`` and
  ``base_url=altinn_environment.platform``.

The first five are synchronous and work with any test runner. The last three are async (they
close what they open on the test's event loop): they run through anyio's pytest plugin on asyncio
and trio (tests marked ``@pytest.mark.anyio``, or ``anyio_mode = "auto"``); with pytest-asyncio
they need ``asyncio_mode = "auto"``, or build the auth from ``altinn_maskinporten_client``.

Markers:

- ``@pytest.mark.altinn_emulator(**kwargs)``: `Emulator` keyword arguments (``clock=``,
  ``altinn_token_lifetime=``, ``events_delay=``, ...).
- ``@pytest.mark.altinn_maskinporten_client(*scopes, client_id=..., org_number=...)``.
- ``@pytest.mark.altinn_instances(org, app, count, seed=0)``: `Emulator.add_instances`.
- ``@pytest.mark.altinn_person(pid, name=..., party_id=..., user_id=..., username=...)``:
  `Emulator.add_person`.
- ``@pytest.mark.altinn_mailbox(recipient, count, **kwargs)``: `Emulator.generate_mailbox`.

The seeding markers may be given several times, and on a module or class too (those are seeded
first); of ``altinn_emulator`` and ``altinn_maskinporten_client`` the closest one counts.

What the emulator served: `Emulator.requests`, `Emulator.grants`, `Emulator.last_grant`,
`Emulator.exchanges`, `Emulator.last_exchange`, and `assert_served`, `assert_granted` and
`assert_exchanged` from `altinn_async.testing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import attrs
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import altinn_async as altinn
from _altinn_async_pytest import MARKERS

from ._emulator import Emulator

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_KID",
    "DEFAULT_ORG_NUMBER",
    "DEFAULT_SCOPES",
    "EMULATOR_EXTRA",
    "MARKERS",
    "SeededMaskinportenClient",
    "Target",
    "exchange_auth",
    "http_client",
    "maskinporten_auth",
    "registered_client",
    "seeded_emulator",
    "served",
    "signing_key",
    "target",
]

DEFAULT_CLIENT_ID = "altinn-test-client"
"""The client id of ``altinn_maskinporten_client`` unless its marker says otherwise."""

DEFAULT_ORG_NUMBER = "405003309"
"""The client's organisation unless the marker says otherwise: ``ttd``'s (Altinn's test service
owner), so a service-owner scope exchanges for an Altinn token of org ``ttd``."""

DEFAULT_SCOPES = ("altinn:serviceowner/instances.read",)
"""The client's scopes unless the marker names others."""

DEFAULT_KID = "altinn-test-key"
"""The ``kid`` of ``altinn_signing_key``, registered on the client."""

EMULATOR_EXTRA = "pip install 'altinn-async[emulator]'"
"""What installs uvicorn, which serving the emulator on a port needs."""

Result = TypeVar("Result")

# The seeding markers, in the order they are applied, and what each calls.
_SEEDING: dict[str, Callable[[Emulator], Callable[..., Any]]] = {
    "altinn_person": lambda emulator: emulator.add_person,
    "altinn_instances": lambda emulator: emulator.add_instances,
    "altinn_mailbox": lambda emulator: emulator.generate_mailbox,
}


@attrs.frozen
class SeededMaskinportenClient:
    """The Maskinporten client ``altinn_maskinporten_client`` registered on the emulator.

    Build your own flow from it when the ready ones do not fit (another runner, other options)::

        auth = altinn.MaskinportenAuth(client_id=client.client_id, key=client.key,
                                       scopes=client.scopes, environment=altinn_environment,
                                       http_client=http)

    Attributes:
        client_id: the client id.
        org_number: the organisation that owns it (the token's ``consumer``).
        scopes: the scopes it may ask for.
        key: its signing key (`altinn_signing_key`; the public key is registered with its
            ``kid``).
    """

    client_id: str
    org_number: str
    scopes: tuple[str, ...]
    key: altinn.SigningKey


@attrs.frozen
class Target:
    """The emulator a test talks to: in-process (``url`` None), or served at ``url``."""

    emulator: Emulator
    url: str | None

    @property
    def environment(self) -> altinn.Environment:
        """The `Environment` that points at it."""
        if self.url is None:
            return self.emulator.environment
        return self.emulator.environment_for(self.url)

    def transport(self) -> httpx.AsyncBaseTransport | None:
        """The in-process transport, or None (the network) when served."""
        return self.emulator.transport() if self.url is None else None


# -- the emulator ----------------------------------------------------------------------------


def seeded_emulator(request: pytest.FixtureRequest) -> Emulator:
    """``altinn_emulator``: an `Emulator` built with the closest ``altinn_emulator`` marker's
    arguments and seeded by the seeding markers of the test, its class and its module."""
    marker = request.node.get_closest_marker("altinn_emulator")
    options: dict[str, Any] = {}
    if marker is not None:
        if marker.args:
            _misused(marker, "takes the Emulator's keyword arguments only")
        options = dict(marker.kwargs)
    emulator = _called(marker, Emulator, **options)
    for name, method in _SEEDING.items():
        # iter_markers yields the closest first: seed the module's, then the class's, then the
        # test's own.
        for seeding in reversed(list(request.node.iter_markers(name))):
            _called(seeding, method(emulator), *seeding.args, **seeding.kwargs)
    return emulator


@contextlib.contextmanager
def served(emulator: Emulator) -> Iterator[str]:
    """``altinn_emulator_url``: the emulator served on ``127.0.0.1`` while the block runs; its
    URL. Skips the test, saying what to install, without uvicorn."""
    try:
        import uvicorn  # noqa: F401, PLC0415 - optional: only this fixture needs it
    except ImportError:
        pytest.skip(
            "altinn_emulator_url serves the emulator on a port, which needs uvicorn: "
            f"{EMULATOR_EXTRA}"
        )
    with emulator.serve() as url:
        yield url


def target(request: pytest.FixtureRequest, emulator: Emulator) -> Target:
    """The emulator the test talks to: served if the test, or a fixture it uses, asks for
    ``altinn_emulator_url``, else in-process."""
    url = (
        request.getfixturevalue("altinn_emulator_url")
        if "altinn_emulator_url" in request.fixturenames
        else None
    )
    return Target(emulator, url)


# -- a key and a client ----------------------------------------------------------------------


def signing_key() -> altinn.SigningKey:
    """``altinn_signing_key``: a new 2048-bit RSA `SigningKey` with ``kid`` `DEFAULT_KID`."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return altinn.SigningKey.from_pem(pem, kid=DEFAULT_KID)


def registered_client(
    request: pytest.FixtureRequest, emulator: Emulator, key: altinn.SigningKey
) -> SeededMaskinportenClient:
    """``altinn_maskinporten_client``: a Maskinporten client registered on ``emulator`` with
    ``key``'s public key: `DEFAULT_CLIENT_ID`, `DEFAULT_ORG_NUMBER` and `DEFAULT_SCOPES` unless
    the closest ``altinn_maskinporten_client`` marker says otherwise."""
    marker = request.node.get_closest_marker("altinn_maskinporten_client")
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    client_id, org_number = DEFAULT_CLIENT_ID, DEFAULT_ORG_NUMBER
    if marker is not None:
        unknown = set(marker.kwargs) - {"client_id", "org_number"}
        if unknown:
            _misused(marker, f"takes scopes, client_id= and org_number=, not {sorted(unknown)}")
        if not all(isinstance(scope, str) for scope in marker.args):
            _misused(marker, "takes the scopes as strings, one argument each")
        scopes = tuple(marker.args) or DEFAULT_SCOPES
        client_id = marker.kwargs.get("client_id", client_id)
        org_number = marker.kwargs.get("org_number", org_number)
    _called(
        marker,
        emulator.add_maskinporten_client,
        client_id,
        org_number=org_number,
        scopes=scopes,
        jwks=[key.public_jwk],
    )
    return SeededMaskinportenClient(client_id, org_number, scopes, key)


# -- ready flows (async: they close on the test's event loop) --------------------------------


@contextlib.asynccontextmanager
async def maskinporten_auth(
    client: SeededMaskinportenClient, target: Target
) -> AsyncIterator[altinn.MaskinportenAuth]:
    """``altinn_maskinporten_auth``: a `MaskinportenAuth` for ``client`` and all its scopes,
    getting its tokens from ``target``; closed on leaving."""
    async with contextlib.AsyncExitStack() as stack:
        transport = target.transport()
        # In-process, token requests go through the emulator's transport; served, the flow
        # makes its own client (closed with it), as in production.
        token_http = (
            None
            if transport is None
            else await stack.enter_async_context(httpx.AsyncClient(transport=transport))
        )
        auth = altinn.MaskinportenAuth(
            client_id=client.client_id,
            key=client.key,
            scopes=client.scopes,
            environment=target.environment,
            http_client=token_http,
        )
        async with auth:
            yield auth


@contextlib.asynccontextmanager
async def exchange_auth(
    auth: altinn.MaskinportenAuth,
) -> AsyncIterator[altinn.AltinnExchangeAuth]:
    """``altinn_exchange_auth``: an `AltinnExchangeAuth` over ``auth``; closed on leaving."""
    async with altinn.AltinnExchangeAuth(auth) as exchange:
        yield exchange


@contextlib.asynccontextmanager
async def http_client(
    auth: altinn.AltinnExchangeAuth, target: Target
) -> AsyncIterator[httpx.AsyncClient]:
    """``altinn_http``: an ``httpx.AsyncClient`` on ``target`` with ``auth`` and ``base_url``
    its platform; closed on leaving."""
    async with httpx.AsyncClient(
        transport=target.transport(), auth=auth, base_url=target.environment.platform
    ) as http:
        yield http


def _called(
    marker: pytest.Mark | None, call: Callable[..., Result], *args: Any, **kwargs: Any
) -> Result:
    """``call(*args, **kwargs)`` for a marker; what it refuses fails the test's setup."""
    __tracebackhide__ = True
    try:
        return call(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    # Outside the except block, so the report is the one line, not a chain of tracebacks.
    return _misused(marker, problem)


def _misused(marker: pytest.Mark | None, problem: str) -> NoReturn:
    """Fail the test's setup with what was wrong with a marker (or the emulator's options)."""
    __tracebackhide__ = True
    where = f"@pytest.mark.{marker.name}" if marker is not None else "altinn_emulator"
    pytest.fail(f"{where}: {problem}", pytrace=False)
