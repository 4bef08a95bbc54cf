"""A minimal HTTP/1.1 client on asyncio streams: the physical limit for the benchmarks.

`RawClient` sends ``GET`` requests to one plain-HTTP origin (no TLS) with fixed headers (the
served emulator's ``Authorization``) over a pool of at most ``concurrency`` keep-alive
connections, and reads each response whole: the status line, the headers, and a body delimited
by ``Content-Length``, by ``Transfer-Encoding: chunked`` or by the end of the connection. It does
nothing else: no redirects, no retries, no decoding, no cookies, no timeouts, no URL parsing
beyond checking the origin. What it costs per request is the least a request can cost in Python
on this machine, the bar httpx and the library are measured against (`benchmarks.limits`).

`RawClient.get` checks that the answer is a 200 (anything else raises `RawStatusError`, after
the body was read), so a run cannot look fast by failing.

Example::

    async with RawClient(emulator.url, concurrency=10, headers=emulator.headers) as raw:
        body = await raw.get(emulator.instances_url())
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["KEEPALIVE_EXPIRY", "RawClient", "RawError", "RawResponse", "RawStatusError"]

KEEPALIVE_EXPIRY = 3.0
"""Seconds an idle connection is kept (the emulator's server closes one after 5: see
`benchmarks._served.KEEPALIVE_EXPIRY`, the same figure httpx is given)."""

_HEAD_END = b"\r\n\r\n"
_LINE_END = b"\r\n"
_HEX = b"0123456789abcdefABCDEF"
_NO_BODY = frozenset({204, 304})


class RawError(Exception):
    """The server's answer was not HTTP/1.1 as this client reads it, or the connection broke."""


class RawStatusError(RawError):
    """A response other than 200 (its body was read; the connection stays usable)."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"GET {url} answered {status}")
        self.url = url
        self.status = status


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A response read whole.

    Attributes:
        status: the status code.
        headers: the header fields, names in lower case (repeated fields joined by ``", "``).
        body: the body, unchunked.
    """

    status: int
    headers: dict[str, str]
    body: bytes


class _Connection:
    """One keep-alive connection and when it last went idle."""

    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    async def exchange(self, request: bytes) -> tuple[RawResponse, bool]:
        """Send one request, read its response; also whether the connection can be reused."""
        writer, reader = self.writer, self.reader
        writer.write(request)
        await writer.drain()
        try:
            while True:
                head = await reader.readuntil(_HEAD_END)
                status, headers, persistent = _parse_head(head)
                if not 100 <= status < 200:
                    break  # an interim 1xx response is followed by the real one
            if status in _NO_BODY:
                return RawResponse(status, headers, b""), persistent
            coding = headers.get("transfer-encoding")
            if coding is not None:
                if coding.rsplit(",", 1)[-1].strip().lower() != "chunked":
                    raise RawError(f"a transfer coding this client does not read: {coding!r}")
                return RawResponse(status, headers, await _read_chunked(reader)), persistent
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit():
                    raise RawError(f"a bad Content-Length: {length!r}")
                body = await reader.readexactly(int(length))
                return RawResponse(status, headers, body), persistent
            return RawResponse(status, headers, await reader.read()), False  # until it closes
        except asyncio.IncompleteReadError as exc:
            raise RawError("the server closed the connection mid-response") from exc
        except asyncio.LimitOverrunError as exc:
            raise RawError("a response head or chunk line too long") from exc

    def close(self) -> None:
        self.writer.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """The status, the headers and whether the connection persists, from a response head."""
    lines = head[: -len(_HEAD_END)].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise RawError(f"not an HTTP/1.x status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise RawError(f"a bad header line: {line!r}")
        name = name.lower()
        value = value.strip()
        known = headers.get(name)
        headers[name] = value if known is None else f"{known}, {value}"
    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told to close it, HTTP/1.0 only when told to keep it.
    persistent = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return int(code), headers, persistent


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        line = await reader.readuntil(_LINE_END)
        size = line[:-2].split(b";", 1)[0].strip()
        if not size or size.strip(_HEX):
            raise RawError(f"a bad chunk size line: {line!r}")
        length = int(size, 16)
        if length == 0:
            break
        chunk = await reader.readexactly(length + 2)
        if chunk[-2:] != _LINE_END:
            raise RawError("a chunk not followed by CRLF")
        chunks.append(chunk[:-2])
    while await reader.readuntil(_LINE_END) != _LINE_END:  # trailer fields, ignored
        pass
    return b"".join(chunks)


class RawClient:
    """``GET`` on one ``http://`` origin over at most ``concurrency`` keep-alive connections.

    Args:
        origin: ``http://host:port`` (a path, if any, is ignored; every URL must start with the
            origin).
        concurrency: the most connections open at once (and so requests in flight).
        headers: fields sent with every request (after ``Host``).

    Attributes:
        requests: requests sent.
        opened: connections opened.
    """

    def __init__(
        self, origin: str, *, concurrency: int, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"a plain http:// origin is needed, not {origin!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._origin = f"http://{parts.netloc}"
        self._prefix = f"{self._origin}/"
        fields = {"Host": parts.netloc, **(headers or {})}
        head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
        self._tail = f" HTTP/1.1\r\n{head}\r\n".encode("latin-1")
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.requests = 0
        self.opened = 0

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        connections = list(self._open)
        self._open.clear()
        self._idle.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()

    async def _connection(self) -> _Connection:
        idle = self._idle
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be alive
            if (
                time.monotonic() - connection.idle_since < KEEPALIVE_EXPIRY
                and not connection.reader.at_eof()
            ):
                return connection
            self._discard(connection)
        reader, writer = await asyncio.open_connection(self._host, self._port)
        connection = _Connection(reader, writer)
        self._open.add(connection)
        self.opened += 1
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def fetch(self, url: str) -> RawResponse:
        """``GET url`` and the response, whatever its status."""
        if not url.startswith(self._prefix):
            raise ValueError(f"{url!r} is not on {self._origin}")
        request = b"GET " + url[len(self._origin) :].encode("ascii") + self._tail
        async with self._slots:
            connection = await self._connection()
            self.requests += 1
            try:
                response, persistent = await connection.exchange(request)
            except BaseException:
                self._discard(connection)
                raise
            if persistent:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                self._discard(connection)
        return response

    async def get(self, url: str) -> bytes:
        """``GET url``: the body of its 200 response.

        Raises:
            RawStatusError: another status.
            RawError: the response could not be read.
        """
        response = await self.fetch(url)
        if response.status != 200:
            raise RawStatusError(url, response.status)
        return response.body
