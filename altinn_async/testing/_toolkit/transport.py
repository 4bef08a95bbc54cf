"""The in-process transport, and the ASGI TLS extension the emulator reads client certificates
from.

ASGI has no reason-phrase field and the TLS extension
(https://asgi.readthedocs.io/en/latest/specs/tls.html) is optional, so the emulator brings both
itself: `EmulatorTransport` (in-process) and the uvicorn protocol in ``uvicorn_glue.py``
(served) turn the `REASON_HEADER` into the status line's reason phrase and put the TLS client
certificate into ``scope["extensions"]["tls"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .asgi import REASON_HEADER, ASGIApp, Receive, Scope, Send

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(
    chain: Iterable[x509.Certificate | bytes],
    *,
    tls_version: str | None = None,
    server_cert: str | None = None,
) -> dict[str, Any]:
    """The ``scope["extensions"]["tls"]`` entry for a connection whose client presented
    ``chain`` (leaf first; certificates or DER bytes) and passed verification."""
    certificates = [
        c if isinstance(c, x509.Certificate) else x509.load_der_x509_certificate(c) for c in chain
    ]
    pems = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates]
    return {
        "server_cert": server_cert,
        "client_cert_chain": pems,
        "client_cert_name": certificates[0].subject.rfc4514_string() if certificates else None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(tls_version or ""),
        "cipher_suite": None,
    }


def with_tls_extension(app: ASGIApp, extension: Mapping[str, Any]) -> ASGIApp:
    """Wrap ``app`` so every HTTP scope carries ``extension`` as its TLS extension."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": dict(extension)}
        await app(scope, receive, send)

    return wrapped


def client_cert_chain(scope: Scope) -> tuple[str, ...]:
    """The verified client certificate chain (PEM strings) of a scope, or ``()``."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    if not isinstance(tls, Mapping) or tls.get("client_cert_error") is not None:
        return ()
    chain = tls.get("client_cert_chain") or ()
    return tuple(str(pem) for pem in chain)


class EmulatorTransport(httpx.ASGITransport):
    """`httpx.ASGITransport` that shows the emulator's custom reason phrases, and optionally
    plays a TLS connection that presented a client certificate.

    ``refuse`` makes every request fail as a refused TLS handshake would (`httpx.ConnectError`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tls: Mapping[str, Any] | None = None,
        refuse: str | None = None,
    ) -> None:
        super().__init__(app=app if tls is None else with_tls_extension(app, tls))
        self._refuse = refuse

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._refuse is not None:
            raise httpx.ConnectError(self._refuse, request=request)
        response = await super().handle_async_request(request)
        reason = response.headers.get(REASON_HEADER)
        if reason is not None:
            del response.headers[REASON_HEADER]
            response.extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return response
