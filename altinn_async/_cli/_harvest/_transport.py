"""The API client of a harvest: Maskinporten, exchanged for an Altinn token, on httpx's own
transport or aiohttp's (``--transport``)."""

from __future__ import annotations

import argparse
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence

import httpx

from ..._bulk import aiohttp_transport
from ..._context import DEFAULT_TIMEOUT
from ..._exchange import AltinnExchangeAuth
from ..._maskinporten import MaskinportenAuth, SystemUser
from ...exceptions import ConfigurationError
from .._common import UsageError
from .._token import environment, load_key, named_environment

__all__ = ["api_transport", "platform_client"]


def api_transport(
    args: argparse.Namespace, *, verify: ssl.SSLContext | str | bool = True, connections: int
) -> httpx.AsyncBaseTransport | None:
    """The transport ``--transport`` names (None: httpx's default, made by the client)."""
    if args.transport != "aiohttp":
        return None
    try:
        return aiohttp_transport(verify=verify, limits=httpx.Limits(max_connections=connections))
    except ConfigurationError as exc:
        raise UsageError(f"--transport aiohttp: {exc}") from exc


@contextlib.asynccontextmanager
async def platform_client(
    args: argparse.Namespace,
    *,
    scopes: Sequence[str],
    connections: int,
    system_user: SystemUser | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the platform with an Altinn token exchanged from the client flags'
    Maskinporten token (a system user's, with ``system_user``), ``connections`` wide."""
    named_environment(args.env)  # a wrong --env is said before the key is read
    key = load_key(args)
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as token_http:
        found = await environment(args, token_http, needs_platform=True)
        maskinporten = MaskinportenAuth(
            client_id=args.client_id,
            key=key,
            scopes=list(scopes),
            environment=found,
            http_client=token_http,
            authorization_details=system_user,
        )
        async with (
            AltinnExchangeAuth(maskinporten, test=getattr(args, "test_org", False)) as auth,
            httpx.AsyncClient(
                auth=auth,
                base_url=found.platform,
                timeout=httpx.Timeout(60.0, connect=10.0),
                limits=httpx.Limits(max_connections=connections),
                transport=api_transport(args, connections=connections),
            ) as http,
        ):
            yield http
