"""The one place that knows there are two httpx: ``httpx`` and its continuation ``httpx2``.

The two packages have the same API, but not the same classes: every check httpx2 makes is an
``isinstance`` against its own (``Auth``, ``URL``, the byte streams, ``USE_CLIENT_DEFAULT``),
and its exceptions do not derive from httpx's. So the library keeps writing ``import httpx``,
and where it meets a client, request, response or exception that may be either, it asks here:

- the auth flows derive from `AuthBase`, which is ``httpx.Auth`` *and* ``httpx2.Auth`` when
  httpx2 is installed, so one flow object works on a client of either;
- ``except TRANSPORT_ERRORS`` (and the others) catches the failure of either;
- `url_argument` hands a URL to a client in a form that client takes, `httpx_url` brings a URL
  of either back to an ``httpx.URL``, `use_client_default` is the sentinel of the client's own;
- ``isinstance(x, RESPONSES)`` and `is_client`, `is_replayable` are the checks over both.

Under ``httpx2.alias_httpx()`` (``import httpx`` *is* httpx2) there is one package, and all of
this falls back to it. The annotations keep saying ``httpx``: the API is the same.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator, Generator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard, cast

import httpx

__all__ = [
    "CONNECT_ERRORS",
    "INVALID_URL",
    "REMOTE_PROTOCOL_ERRORS",
    "RESPONSES",
    "TRANSPORT_ERRORS",
    "AsyncClient",
    "Auth",
    "AuthBase",
    "FlowRequest",
    "FlowResponse",
    "as_httpx",
    "as_httpx_auth",
    "flavour",
    "flavours",
    "httpx_url",
    "is_client",
    "is_replayable",
    "new_request",
    "url_argument",
    "use_client_default",
]


def _load_httpx2() -> ModuleType | None:
    try:
        return importlib.import_module("httpx2")
    except ImportError:
        return None


_httpx2 = _load_httpx2()

FLAVOURS: tuple[ModuleType, ...] = (
    (httpx,) if _httpx2 is None or _httpx2 is httpx else (httpx, _httpx2)
)
"""The httpx packages this process has: ``httpx``, and ``httpx2`` when it is installed."""


def flavours() -> tuple[ModuleType, ...]:
    """The httpx packages this process has (`FLAVOURS`)."""
    return FLAVOURS


def _classes(name: str) -> tuple[type[Any], ...]:
    return tuple(getattr(module, name) for module in FLAVOURS)


if TYPE_CHECKING:
    import httpx2

    class AuthBase(httpx.Auth, httpx2.Auth):
        """Both packages' ``Auth``: a flow takes the request of either package's client."""

        def auth_flow(self, request: Any) -> Generator[Any, Any, None]: ...
        def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]: ...
        def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]: ...

    AsyncClient: TypeAlias = httpx.AsyncClient | httpx2.AsyncClient
    """What the library's ``http`` and ``http_client`` parameters take."""
    Auth: TypeAlias = httpx.Auth | httpx2.Auth
    """What the library's ``auth`` parameters take."""
    TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...]
    CONNECT_ERRORS: tuple[type[httpx.TransportError], ...]
    REMOTE_PROTOCOL_ERRORS: tuple[type[httpx.RemoteProtocolError], ...]
    INVALID_URL: tuple[type[httpx.InvalidURL], ...]
    RESPONSES: tuple[type[httpx.Response], ...]
else:
    _AUTH_DOC = "Both packages' ``Auth``: a flow takes the request of either package's client."
    # Both are plain classes with the same five attributes and no __init__: a class may derive
    # from both, and httpx's (first in the MRO) gives the defaults.
    AuthBase = (
        httpx.Auth
        if len(FLAVOURS) == 1
        else type("AuthBase", _classes("Auth"), {"__module__": __name__, "__doc__": _AUTH_DOC})
    )
    TRANSPORT_ERRORS = _classes("TransportError")
    # These happen before the request left, so even a POST may be sent again.
    CONNECT_ERRORS = _classes("ConnectError") + _classes("ConnectTimeout") + _classes("PoolTimeout")
    REMOTE_PROTOCOL_ERRORS = _classes("RemoteProtocolError")
    INVALID_URL = _classes("InvalidURL")
    RESPONSES = _classes("Response")

    AsyncClient = httpx.AsyncClient
    Auth = httpx.Auth

FlowRequest: TypeAlias = Any
"""The request an auth flow gets: an ``httpx.Request`` or an ``httpx2.Request`` (one API; ``Any``
because a flow method's signature must fit both packages' ``Auth``)."""
FlowResponse: TypeAlias = Any
"""The response an auth flow is sent back: an ``httpx.Response`` or an ``httpx2.Response``."""

_CLIENTS = _classes("AsyncClient")
_URLS = _classes("URL")
_BYTE_STREAMS = _classes("ByteStream")


def flavour(obj: object) -> ModuleType:
    """The httpx package ``obj`` (a client, request, response or URL) belongs to.

    Anything else is taken for httpx's.
    """
    for module in reversed(FLAVOURS):
        if isinstance(obj, module.AsyncClient | module.Request | module.Response | module.URL):
            return module
    return httpx


def is_client(obj: object) -> TypeGuard[httpx.AsyncClient]:
    """Whether ``obj`` is an ``AsyncClient`` of httpx or httpx2."""
    return isinstance(obj, _CLIENTS)


def is_replayable(request: httpx.Request) -> bool:
    """Whether ``request``'s body is bytes in memory (so it can be sent again), not a stream."""
    return isinstance(request.stream, _BYTE_STREAMS)


def new_request(
    like: object,
    method: str,
    url: str | httpx.URL,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    """A new request of ``like``'s package (``like``: the request an auth flow was given, or a
    client). A flow may yield only requests of its client's own package: httpx2 refuses an
    ``httpx.Request`` (its stream is not an ``httpx2.AsyncByteStream``)."""
    module = flavour(like)
    target = url if isinstance(url, str | module.URL) else str(url)
    return cast("httpx.Request", module.Request(method, target, content=content, headers=headers))


def as_httpx(http: AsyncClient) -> httpx.AsyncClient:
    """``http`` as the library's code sees it: typed as httpx's client, which has the same API
    (the checks and conversions above are what differs at run time)."""
    return cast("httpx.AsyncClient", http)


def as_httpx_auth(auth: Auth | None) -> httpx.Auth | None:
    """``auth`` (an ``Auth`` of either package) as the library's code sees it (`as_httpx`)."""
    return cast("httpx.Auth | None", auth)


def use_client_default(http: httpx.AsyncClient) -> Any:
    """The ``USE_CLIENT_DEFAULT`` sentinel of ``http``'s own package (another's is refused)."""
    return flavour(http).USE_CLIENT_DEFAULT


def url_argument(http: httpx.AsyncClient, url: str | httpx.URL) -> str | httpx.URL:
    """``url`` as ``http`` takes it: a URL of its own package as it is, any other as a string."""
    if isinstance(url, str | flavour(http).URL):
        return url
    return str(url)


def httpx_url(url: str | httpx.URL) -> httpx.URL:
    """``url`` (a string, or a URL of either package) as an ``httpx.URL``."""
    if isinstance(url, httpx.URL):
        return url
    if isinstance(url, _URLS):
        return httpx.URL(str(url))
    return httpx.URL(url)
