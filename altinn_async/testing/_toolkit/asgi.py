"""Raw ASGI: the request and response values, reading a request body and sending a response.

The emulator deliberately avoids web frameworks: it has to run inside any event loop (asyncio or
trio, through anyio) and inside uvicorn, and a framework would add startup cost and opinions about
error bodies that the real services do not share.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REASON_HEADER = "x-altinn-async-reason-phrase"
"""Carries a custom HTTP reason phrase from the app to the server or transport.

ASGI has no field for the reason phrase. The emulator's uvicorn protocol and its in-process
transport turn this header into the status line's reason phrase (and drop the header); other ASGI
servers pass it through as an ordinary header.
"""

FORM_URLENCODED = "application/x-www-form-urlencoded"

# Request bodies are small form posts; anything larger is a misbehaving client.
MAX_BODY = 1024 * 1024


class BodyTooLargeError(Exception):
    """The request body exceeded `MAX_BODY`."""


class ConnectionDropped(Exception):  # noqa: N818 - an event, not an error of the app
    """Raised by the app to make the server drop the connection at this point.

    ASGI cannot say "close the socket now", so the emulator's own uvicorn protocol and its
    in-process transport recognise this exception: before ``http.response.start`` the client sees
    a server that disconnected without a response, after it a body cut short. Other ASGI servers
    treat it as an application error (and close the connection, or answer 500).
    """


class FormError(ValueError):
    """A form post the OAuth endpoints refuse: the message is the ``error_description``."""


@dataclass(slots=True)
class Request:
    """One HTTP request, fully read."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    origin: str
    path_params: dict[str, str] = field(default_factory=dict)
    # The verified TLS client certificate chain (PEM, leaf first), from the ASGI TLS extension.
    client_cert_chain: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The header's value (repeated headers joined with ``", "``), or None."""
        return self.headers.get(name.lower())

    def query(self) -> list[tuple[str, str]]:
        """The query parameters in order, decoded once (``+`` is a space, as in ASP.NET)."""
        return urllib.parse.parse_qsl(self.query_string, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, its name matched case-insensitively (as ASP.NET
        model binding does), or None."""
        lowered = name.lower()
        for key, value in self.query():
            if key.lower() == lowered:
                return value
        return None

    def has_param(self, name: str) -> bool:
        """Whether the query names ``name`` at all (a bare ``?ForceEIAuthentication`` counts)."""
        lowered = name.lower()
        return any(key.lower() == lowered for key, _ in self.query())

    def cookies(self) -> dict[str, str]:
        """The request cookies (first value wins)."""
        cookies: dict[str, str] = {}
        raw = self.header("cookie")
        if not raw:
            return cookies
        for part in raw.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in cookies:
                cookies[name] = value.strip().strip('"')
        return cookies

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, or None."""
        value = self.header("authorization")
        if value and value[:7].lower() == "bearer ":
            token = value[7:].strip()
            return token or None
        return None

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body; a repeated parameter is an error
        (RFC 6749 §3.2).

        Raises:
            FormError: another content type, a body that is not UTF-8, or a repeated parameter.
        """
        content_type = (self.header("content-type") or "").split(";", maxsplit=1)[0]
        if content_type.strip().lower() != FORM_URLENCODED:
            raise FormError(f"Content-Type must be {FORM_URLENCODED}")
        try:
            pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise FormError("The request body is not UTF-8") from None
        return unique_params(pairs)


def unique_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters as a dict.

    Raises:
        FormError: a parameter is repeated (RFC 6749 §3.1).
    """
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise FormError(f"Duplicate parameter: {name}")
        params[name] = value
    return params


@dataclass(slots=True)
class Response:
    """One HTTP response.

    ``reason`` replaces the standard reason phrase (see `REASON_HEADER`). ``stream``, when given,
    is sent in chunks after ``body`` and its total size must be ``stream_length``.
    """

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    reason: str | None = None
    stream: Iterable[bytes] | None = None
    stream_length: int = 0

    @property
    def length(self) -> int:
        """The body's full length (what Content-Length says)."""
        return len(self.body) + (self.stream_length if self.stream is not None else 0)

    def chunks(self) -> Iterable[bytes]:
        """The body, then the stream, in the chunks they come in."""
        if self.body:
            yield self.body
        if self.stream is not None:
            yield from self.stream


def truncated(response: Response, length: int) -> Response:
    """``response`` with only the first ``length`` bytes of its body, as a complete message (its
    Content-Length says ``length``): what a broken proxy passes on."""
    if length >= response.length:
        return response
    if length <= len(response.body) or response.stream is None:
        return Response(response.status, response.body[:length], response.headers, response.reason)
    stream, wanted = response.stream, length - len(response.body)

    def head_of_stream() -> Iterable[bytes]:
        budget = wanted
        for chunk in stream:
            if budget <= 0:
                return
            yield chunk[:budget]
            budget -= len(chunk)

    return Response(
        response.status,
        response.body,
        response.headers,
        response.reason,
        stream=head_of_stream(),
        stream_length=wanted,
    )


def request_origin(scope: Scope, headers: Mapping[str, str]) -> str:
    """``scheme://host[:port]`` from the scope and the Host header, as the client addressed us."""
    scheme = str(scope.get("scheme") or "http")
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        if server:
            server_host, server_port = server[0], server[1]
            default = (scheme == "http" and server_port == 80) or (
                scheme == "https" and server_port == 443
            )
            if ":" in str(server_host):
                server_host = f"[{server_host}]"
            host = str(server_host)
            if not default and server_port is not None:
                host = f"{host}:{server_port}"
        else:
            host = "localhost"
    return f"{scheme}://{host}"


def decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header pairs to a dict with lower-case names; repeated headers are comma-joined."""
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1").lower()
        value = value_bytes.decode("latin-1")
        if name in headers:
            separator = "; " if name == "cookie" else ", "
            headers[name] = f"{headers[name]}{separator}{value}"
        else:
            headers[name] = value
    return headers


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body, refusing more than `MAX_BODY` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        else:
            # Keep draining (and dropping) so the sender is not left mid-stream.
            chunks.clear()
        if not message.get("more_body", False):
            break
    if size > MAX_BODY:
        raise BodyTooLargeError
    return b"".join(chunks)


def safe_reason(text: str) -> str:
    """A reason phrase that fits a status line: printable Latin-1, one line, at most 512 chars."""
    cleaned = "".join(
        c if (" " <= c <= "~") or ("\xa0" <= c <= "\xff") else "?" for c in text.replace("\t", " ")
    )
    return cleaned[:512]


async def send_response(
    send: Send, response: Response, *, head: bool = False, cut_after: int | None = None
) -> None:
    """Send ``response`` (headers as given, plus Content-Length and the reason carrier).

    With ``cut_after``, at most that many bytes of the body follow the headers (which still
    announce the full length), and then `ConnectionDropped` is raised, so the server drops the
    connection the way a crashed or unplugged server would.
    """
    headers = [(name.encode("latin-1"), val.encode("latin-1")) for name, val in response.headers]
    if response.reason:
        headers.append((REASON_HEADER.encode(), safe_reason(response.reason).encode("latin-1")))
    headers.append((b"content-length", str(response.length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if head:
        await send({"type": "http.response.body", "body": b""})
        return
    budget = cut_after
    for chunk in response.chunks():
        if budget is not None:
            chunk = chunk[:budget]  # noqa: PLW2901 - the part that still fits
            budget -= len(chunk)
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if budget == 0:
            break
    if cut_after is not None and cut_after < response.length:
        raise ConnectionDropped
    await send({"type": "http.response.body", "body": b""})
