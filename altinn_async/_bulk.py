"""An opt-in transport for bulk jobs: httpx over aiohttp (``pip install 'altinn-async[bulk]'``).

httpx's own pool costs more CPU per request the more connections it holds (it scans them all on
every request); aiohttp's does not. Measured in ``benchmarks/aiohttp_transport.py`` on a 2-core
machine: 2-4x less client CPU per request at 10 concurrent downloads, 4-7x at 100. It runs on
asyncio only.

One thing is put right on the way: httpx-aiohttp reports every aiohttp connection error as
``httpx.ConnectTimeout``, a server that drops the connection after the request was sent too.
The retry policy takes a ``ConnectTimeout`` to mean "never sent" (safe to send again even for a
``POST``), so here only a connection that could not be made stays a connect error; one that
broke after it was made becomes ``httpx.RemoteProtocolError`` (which may have reached the
server).
"""

from __future__ import annotations

import ssl
from types import TracebackType

import httpx
import sniffio

from .exceptions import ConfigurationError

__all__ = ["aiohttp_transport"]


def aiohttp_transport(
    *,
    verify: ssl.SSLContext | str | bool = True,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncBaseTransport:
    """An httpx transport on aiohttp, for bulk downloads on asyncio.

    For an ``httpx.AsyncClient`` only: httpx-aiohttp builds on httpx's classes, and an
    ``httpx2.AsyncClient`` takes transports of httpx2 alone.

    Example::

        async with httpx.AsyncClient(transport=altinn.aiohttp_transport(), auth=auth,
                                     base_url=altinn.TEST.platform) as http:
            ...

    Args:
        verify: as httpx's ``verify``: True, a CA bundle path, or an SSL context.
        limits: the pool's limits (default: 100 connections).

    Raises:
        ConfigurationError: httpx-aiohttp is not installed.
    """
    try:
        import httpx_aiohttp  # noqa: PLC0415 - optional, asked for here
    except ImportError as exc:
        raise ConfigurationError(
            "the aiohttp transport needs httpx-aiohttp: pip install 'altinn-async[bulk]'"
        ) from exc
    inner = httpx_aiohttp.AiohttpTransport(
        verify=verify, limits=limits or httpx.Limits(max_connections=100)
    )
    return _Transport(inner)


def _connect_failed(exc: BaseException) -> bool:
    """Whether aiohttp's error beneath ``exc`` says the connection was never made."""
    cause = exc.__cause__
    # aiohttp.ClientConnectorError (and its certificate and SSL subclasses): no connection.
    return any(type(c).__name__.startswith("ClientConnector") for c in _chain(cause))


def _chain(exc: BaseException | None) -> list[BaseException]:
    found: list[BaseException] = []
    while exc is not None and len(found) < 16:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


class _Transport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    def __repr__(self) -> str:
        return "aiohttp_transport()"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if sniffio.current_async_library() != "asyncio":
            raise ConfigurationError("the aiohttp transport runs on asyncio only")
        try:
            return await self._inner.handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            if _connect_failed(exc):
                raise httpx.ConnectError(str(exc), request=request) from exc
            raise httpx.RemoteProtocolError(
                f"the connection broke after the request was sent: {exc}", request=request
            ) from exc

    async def __aenter__(self) -> _Transport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._inner.__aexit__(kind, exc, traceback)

    async def aclose(self) -> None:
        await self._inner.aclose()
