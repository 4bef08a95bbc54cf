"""The ASGI application: lifespan, routing, request counting, latency, injected faults, and the
answer (dated by the emulator's clock)."""

from __future__ import annotations

import dataclasses
import email.utils

import anyio

from .asgi import (
    BodyTooLargeError,
    ConnectionDropped,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    decode_headers,
    read_body,
    request_origin,
    send_response,
    truncated,
)
from .faults import Fault
from .responses import empty_response
from .router import Router
from .state import SharedState
from .transport import client_cert_chain


class Application:
    """An ASGI 3 application serving the routes of ``router``.

    Every request counts under its route's name (``"not_found"`` when no route matches), waits
    the shared latency, and then gets the fault queued or seeded for that name, if any.

    Every answer carries a ``Date`` header (RFC 9110 §6.6.1, the IMF-fixdate of RFC 7231) from
    the emulator's clock, as a real server's carries its own: a client that measures its clock
    against the server's (``altinn-async doctor``) sees an emulator given a skewed ``clock=`` as
    skewed.
    """

    def __init__(self, router: Router, shared: SharedState) -> None:
        self._router = router
        self._shared = shared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if kind != "http":
            return
        method = str(scope["method"]).upper()
        path = str(scope.get("path") or "/")
        matched, params, wrong_method = self._router.match(method, path)
        name = matched.name if matched is not None else (wrong_method or "not_found")
        with self._shared.lock:
            self._shared.requests[name] += 1
            fault = self._shared.faults.take(name) if matched is not None else None
        head = method == "HEAD"
        try:
            body = await read_body(receive)
        except BodyTooLargeError:
            await send_response(send, self._dated(empty_response(413)), head=head)
            return
        latency = self._shared.latency
        if latency > 0:
            # The network's round trip: an anyio sleep, so cancellation and timeouts apply.
            await anyio.sleep(latency)
        if fault is not None and fault.delay > 0:
            await anyio.sleep(fault.delay)
        if fault is not None and fault.drop:
            raise ConnectionDropped
        response: Response
        if fault is not None and fault.status:
            response = Response(fault.status, fault.body, list(fault.headers))
        elif matched is None:
            response = self._no_route(path, wrong_method)
        else:
            headers = decode_headers(scope.get("headers") or [])
            request = Request(
                method=method,
                path=path,
                query_string=bytes(scope.get("query_string") or b"").decode("latin-1"),
                headers=headers,
                body=body,
                origin=request_origin(scope, headers),
                path_params=params,
                client_cert_chain=client_cert_chain(scope),
            )
            response = await self._router.handle(matched, request)
        cut_after: int | None = None
        if fault is not None:
            response, cut_after = _mangled(response, fault)
        await send_response(send, self._dated(response), head=head, cut_after=cut_after)

    def _dated(self, response: Response) -> Response:
        """``response`` with a ``Date`` from the emulator's clock, unless it has one already."""
        if any(name.lower() == "date" for name, _ in response.headers):
            return response
        date = email.utils.formatdate(self._shared.clock(), usegmt=True)
        # A new response: a handler may hand out one it keeps.
        return dataclasses.replace(response, headers=[*response.headers, ("date", date)])

    def _no_route(self, path: str, wrong_method: str | None) -> Response:
        if wrong_method is not None:
            allow = ", ".join(self._router.allowed_methods(path))
            return empty_response(405, headers=[("allow", allow)])
        return empty_response(404)


def _mangled(response: Response, fault: Fault) -> tuple[Response, int | None]:
    """The response as the fault lets it through, and where the connection drops (if it does)."""
    cut_after = response.length // 2 if fault.cut_midway else fault.cut_after
    if fault.truncate:
        response = truncated(response, response.length // 2)
    return response, cut_after


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
