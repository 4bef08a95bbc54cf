"""A tiny raw-ASGI toolkit: request parsing, a regex router and response helpers.

The emulator deliberately avoids web frameworks: it has to run inside any event loop (asyncio or
trio, through anyio) and inside uvicorn, and a framework would add startup cost and opinions about
error bodies that the real services do not share.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_UTF8 = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
TEXT_UTF8 = "text/plain; charset=utf-8"
HTML_UTF8 = "text/html; charset=utf-8"

REASON_HEADER = "x-altinn-async-reason-phrase"
"""Carries a custom HTTP reason phrase from the app to the server or transport.

ASGI has no field for the reason phrase. The emulator's uvicorn protocol and its in-process
transport turn this header into the status line's reason phrase (and drop the header); other ASGI
servers pass it through as an ordinary header.
"""

# Request bodies are small form posts; anything larger is a misbehaving client.
MAX_BODY = 1024 * 1024


class BodyTooLargeError(Exception):
    """The request body exceeded `MAX_BODY`."""


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


def json_response(
    document: Any,
    status: int = 200,
    *,
    content_type: str = JSON_UTF8,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A JSON response (compact separators, as the .NET and Java serializers write)."""
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, [("content-type", content_type), *headers])


def text_response(text: str, status: int = 200, *, content_type: str = TEXT_UTF8) -> Response:
    """A plain-text response."""
    return Response(status, text.encode(), [("content-type", content_type)])


def html_response(
    html: str, status: int = 200, *, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """An HTML page (never cached: login and error pages carry per-request state)."""
    return Response(
        status,
        html.encode(),
        [("content-type", HTML_UTF8), ("cache-control", "no-store"), *headers],
    )


def redirect_response(location: str, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A 302 redirect to ``location``."""
    return Response(302, b"", [("location", location), ("cache-control", "no-store"), *headers])


def empty_response(status: int, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A response without a body."""
    return Response(status, b"", list(headers))


def aspnet_trace_id() -> str:
    """A W3C trace-context id, the form ASP.NET Core puts in ProblemDetails ``traceId``."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


_PROBLEM_TYPES = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
}


def problem_response(
    status: int, *, extra: Mapping[str, Any] | None = None, problem: Mapping[str, Any] | None = None
) -> Response:
    """An RFC 7807 ProblemDetails response as ASP.NET Core's ``[ApiController]`` writes it.

    ``problem`` replaces the generated type/title/status; ``extra`` adds members before
    ``traceId``.
    """
    if problem is None:
        type_, title = _PROBLEM_TYPES.get(status, ("about:blank", "Error"))
        document: dict[str, Any] = {"type": type_, "title": title, "status": status}
    else:
        document = dict(problem)
    if extra:
        document.update(extra)
    document["traceId"] = aspnet_trace_id()
    return json_response(document, status, content_type=PROBLEM_JSON)


def media_types(accept: str | None) -> list[str]:
    """The media types of an Accept header, highest quality first (stable for ties)."""
    if not accept:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, media))
    ranked.sort()
    return [media for _, _, media in ranked]


def negotiated_string(request: Request, value: str, status: int = 200) -> Response:
    """A string result negotiated the way ASP.NET Core MVC does for ``Ok(string)``.

    The string formatter (``text/plain``) comes before the JSON formatter, so it wins for a missing
    Accept, ``*/*`` anywhere in Accept (browser rule), ``text/*`` and anything no formatter
    serves; ``application/json``, ``text/json`` and ``application/*+json`` get a JSON string.
    """
    accepted = media_types(request.header("accept"))
    if "*/*" not in accepted:
        for media in accepted:
            if media in ("text/plain", "text/*"):
                break
            if media in ("application/json", "text/json", "application/*") or (
                media.startswith("application/") and media.endswith("+json")
            ):
                return json_response(value, status)
    return text_response(value, status)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    """One route: methods, a compiled path pattern with named groups, a name and a handler."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    name: str
    handler: Handler


class Router:
    """Matches a method and path to a route; reports the allowed methods on a method mismatch."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, methods: Iterable[str], pattern: str, name: str, handler: Handler) -> None:
        """Register ``handler`` for a full-match regular expression with named groups."""
        self._routes.append(
            Route(frozenset(m.upper() for m in methods), re.compile(pattern), name, handler)
        )

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], str | None]:
        """Return ``(route, params, None)``, or ``(None, {}, name)`` when only the method is wrong
        (``name`` is the route's name), or ``(None, {}, None)`` when nothing matches."""
        wrong_method: str | None = None
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                return route, found.groupdict(), None
            wrong_method = wrong_method or route.name
        return None, {}, wrong_method

    def allowed_methods(self, path: str) -> list[str]:
        """Every method some route accepts for ``path``."""
        methods: set[str] = set()
        for route in self._routes:
            if route.pattern.fullmatch(path):
                methods |= route.methods
        return sorted(methods)


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


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    """Send ``response`` (headers as given, plus Content-Length and the reason carrier)."""
    headers = [(name.encode("latin-1"), val.encode("latin-1")) for name, val in response.headers]
    if response.reason:
        headers.append((REASON_HEADER.encode(), safe_reason(response.reason).encode("latin-1")))
    length = len(response.body) + (response.stream_length if response.stream is not None else 0)
    headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if head or response.stream is None:
        await send({"type": "http.response.body", "body": b"" if head else response.body})
        return
    if response.body:
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
    for chunk in response.stream:
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
