"""A one-shot HTTP listener on the loopback address, for the login of a command-line program."""

from __future__ import annotations

import urllib.parse
import webbrowser
from collections.abc import Callable

import anyio
import anyio.abc
import anyio.to_thread

from .exceptions import ConfigurationError

__all__ = ["receive_callback"]

_DONE_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Logged in</title>"
    b"<p>You can close this window and return to the program.</p></html>"
)
_MAX_REQUEST = 16 * 1024


def _loopback_target(redirect_uri: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(redirect_uri)
    host = parts.hostname or ""
    if parts.scheme != "http" or host not in ("127.0.0.1", "localhost", "::1") or not parts.port:
        raise ConfigurationError(
            "a browser login needs a loopback redirect_uri such as http://127.0.0.1:8765/callback "
            f"(registered on the client), not {redirect_uri!r}"
        )
    return ("127.0.0.1" if host == "localhost" else host), parts.port, parts.path or "/"


async def _read_request_line(stream: anyio.abc.ByteStream) -> str | None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_REQUEST:
        try:
            chunk = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
        data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    method, _, rest = line.partition(" ")
    target = rest.rpartition(" ")[0]
    return target if method == "GET" and target else None


async def receive_callback(
    login_url: str,
    redirect_uri: str,
    *,
    open_browser: bool,
    timeout: float,  # noqa: ASYNC109 - a deadline for a person, not for I/O
    announce: Callable[[str], object],
) -> str:
    """Show ``login_url``, wait for the browser to come back to ``redirect_uri``, and return the
    callback URL it came back with."""
    host, port, path = _loopback_target(redirect_uri)
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    callback: str | None = None
    done = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        nonlocal callback
        async with stream:
            target = await _read_request_line(stream)
            if target is None or urllib.parse.urlsplit(target).path != path or done.is_set():
                await stream.send(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            header = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(_DONE_PAGE)}\r\nConnection: close\r\n\r\n"
            )
            await stream.send(header.encode() + _DONE_PAGE)
            callback = urllib.parse.urljoin(redirect_uri, target)
            done.set()

    announce(f"Log in with ID-porten: {login_url}")
    if open_browser:
        await anyio.to_thread.run_sync(webbrowser.open, login_url)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        with anyio.fail_after(timeout):
            await done.wait()
        group.cancel_scope.cancel()
    assert callback is not None  # noqa: S101 - set together with done
    return callback
