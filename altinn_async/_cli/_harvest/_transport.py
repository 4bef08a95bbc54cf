"""The HTTP transport a harvest's API client uses: httpx's own, or aiohttp's (``--transport``)."""

from __future__ import annotations

import argparse
import ssl

import httpx

from ..._bulk import aiohttp_transport
from ...exceptions import ConfigurationError
from .._common import CLIError

__all__ = ["api_transport"]


def api_transport(
    args: argparse.Namespace, *, verify: ssl.SSLContext | str | bool = True, connections: int
) -> httpx.AsyncBaseTransport | None:
    """The transport ``--transport`` names (None: httpx's default, made by the client)."""
    if args.transport != "aiohttp":
        return None
    try:
        return aiohttp_transport(verify=verify, limits=httpx.Limits(max_connections=connections))
    except ConfigurationError as exc:
        raise CLIError(f"--transport aiohttp: {exc}") from exc
