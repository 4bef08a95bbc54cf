"""A seeded emulator served by another process on a free loopback port, for the benchmarks.

The emulator runs in a child process (``python -m benchmarks._serve``), so the client's
``time.process_time()`` counts the client alone. `served` starts it on port 0, waits for the JSON
line it prints once it accepts connections (with the port it got), fetches one Altinn token
through the library's own chain (``MaskinportenAuth`` → ``AltinnExchangeAuth``) over the socket,
and stops the process when the ``with`` block ends, on an error or on Ctrl-C. The child also
stops by itself when its standard input closes, so it never outlives a parent that was killed.

Example::

    with served(instances=1000) as emulator:
        async with emulator.client(concurrency=10) as http:  # a fixed Authorization header
            page = (await http.get(emulator.instances_url())).json()
        emulator.set_latency(0.025)  # every Storage read now waits 25 ms on the server
        emulator.requests()["maskinporten.token"]  # token requests it served so far
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import httpx

import altinn_async as altinn

__all__ = ["KEEPALIVE_EXPIRY", "STORAGE_API", "Child", "Served", "limits", "served"]

STORAGE_API = "/storage/api/v1"
"""The Storage API's path under the platform URL."""

KEEPALIVE_EXPIRY = 3.0
"""Seconds a client keeps an idle connection. The emulator's server (uvicorn) closes one after 5
seconds, and so would httpx by default: a connection reused right then races the server's close
and fails with "Server disconnected without sending a response". Closing first avoids that."""

_ROOT = Path(__file__).resolve().parent.parent
_STARTUP_TIMEOUT = 60.0
_COMMAND_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def limits(concurrency: int) -> httpx.Limits:
    """A pool of ``concurrency`` connections, all kept alive, for `KEEPALIVE_EXPIRY` seconds."""
    return httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )


class Child:
    """A child process that answers in JSON lines on its standard output, and the lines it
    prints (read by a thread, so reads can time out).

    Args:
        process: the child, started with ``stdin`` and ``stdout`` pipes in text mode.
        name: what it is, for errors (``the served emulator``).
    """

    def __init__(self, process: subprocess.Popen[str], name: str = "the served emulator") -> None:
        assert process.stdout is not None
        self.process = process
        self.name = name
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process.stdout,), name=name, daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def answer(self, timeout: float, what: str) -> dict[str, Any]:
        """The next JSON line the child prints (other lines are skipped).

        Raises:
            RuntimeError: none came within ``timeout`` seconds, or the child exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name} did not {what} within {timeout:.0f} s")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                status = self.process.wait()
                raise RuntimeError(f"{self.name} exited (status {status}) before {what}")
            if line.startswith("{"):
                answer: dict[str, Any] = json.loads(line)
                return answer

    def command(self, line: str, timeout: float = _COMMAND_TIMEOUT) -> dict[str, Any]:
        """Send one command line and return the answer (within ``timeout`` seconds)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.answer(timeout, f"answer {line!r}")
        if "error" in answer:
            raise RuntimeError(f"{self.name} refused {line!r}: {answer['error']}")
        return answer

    def stop(self) -> None:
        """Close its standard input (its signal to stop), then insist if it does not."""
        process = self.process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Served:
    """What a client needs to reach a served emulator.

    Attributes:
        url: the origin, ``http://127.0.0.1:<port>``.
        environment: the `altinn.Environment` for it (``environment.platform`` is the platform
            base URL, under which the Storage API lives).
        org: the service owner whose instances were seeded.
        instances: how many instances (each with one data element).
        apps: how many apps they are spread over (``{org}/app-1`` …).
        client_id: the seeded Maskinporten client.
        key: its signing key.
        pem: the same key as PKCS #8 PEM text, for clients that are not this library.
        scopes: the scopes it may ask for.
        token: an Altinn token for ``org``, valid for hours (unless ``altinn_token_lifetime``
            was set shorter): a fixed ``Authorization`` header measures httpx alone, with no
            auth flow in the way.
        pid: the child's process id.
        maskinporten_token_lifetime: ``expires_in`` of the Maskinporten tokens it issues.
        altinn_token_lifetime: the lifetime of the Altinn tokens it exchanges.
    """

    url: str
    environment: altinn.Environment
    org: str
    instances: int
    apps: int
    client_id: str
    key: altinn.SigningKey = field(repr=False)
    pem: str = field(repr=False)
    scopes: tuple[str, ...]
    token: str = field(repr=False)
    pid: int
    maskinporten_token_lifetime: int
    altinn_token_lifetime: int
    _child: Child = field(repr=False, compare=False)

    @property
    def platform(self) -> str:
        """The platform base URL, ``{url}/platform``."""
        return self.environment.platform

    @property
    def headers(self) -> dict[str, str]:
        """The fixed ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.token}"}

    def instances_url(self, *, size: int = 100) -> str:
        """The first page of ``org``'s instances."""
        return f"{self.platform}{STORAGE_API}/instances?org={self.org}&size={size}"

    def client(self, concurrency: int, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the platform with the fixed token and its pool sized to
        ``concurrency`` (see `limits`). Keyword arguments go to the client; with ``auth=`` it
        sends no fixed header."""
        headers = {} if "auth" in kwargs else self.headers
        kwargs.setdefault("limits", limits(concurrency))
        return httpx.AsyncClient(base_url=self.platform, headers=headers, **kwargs)

    def exchange_auth(
        self, http_client: httpx.AsyncClient | None = None
    ) -> altinn.AltinnExchangeAuth:
        """A new ``MaskinportenAuth`` → ``AltinnExchangeAuth`` chain for the seeded client, as
        a user of the library authenticates (close it, or use it with ``async with``)."""
        return altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id=self.client_id,
                key=self.key,
                scopes=list(self.scopes),
                environment=self.environment,
                http_client=http_client,
            )
        )

    def set_latency(self, seconds: float) -> None:
        """Make every Storage read wait ``seconds`` on the server from now on (0: none), as if
        it were far away. The server is idle while a request waits, as it would be."""
        self._child.command(f"latency {seconds!r}")

    def requests(self) -> Counter[str]:
        """The requests the emulator has served so far, per endpoint name (the emulator's
        ``requests``: ``maskinporten.token``, ``authentication.exchange``, ``storage.instances``
        …), refused ones included."""
        counts = self._child.command("requests")["requests"]
        return Counter({str(name): int(count) for name, count in counts.items()})


async def _fetch_token(emulator: Served) -> str:
    async with emulator.exchange_auth() as auth:
        token = await auth.get_token()
    return token.access_token


@contextlib.contextmanager
def served(
    *,
    instances: int,
    apps: int = 1,
    org: str = "ttd",
    generated: bool = False,
    maskinporten_token_lifetime: int = 120,
    altinn_token_lifetime: int = 6 * 3600,
) -> Iterator[Served]:
    """Serve a seeded emulator in a child process while the block runs. Call it outside an
    event loop: it runs one itself to fetch the token.

    Args:
        instances: instances of ``org`` to seed, each with one data element.
        apps: apps to spread them over.
        org: the service owner (``ttd`` or ``digdir``).
        generated: make the instances lazily (for sets of millions).
        maskinporten_token_lifetime: ``expires_in`` of its Maskinporten tokens, in seconds.
        altinn_token_lifetime: the lifetime of its exchanged Altinn tokens, in seconds (hours
            by default, so that no benchmark measures a refresh by accident).

    Raises:
        RuntimeError: the child did not start, or exited early.
    """
    command = [sys.executable, "-m", "benchmarks._serve", "--port", "0"]
    command += ["--instances", str(instances), "--apps", str(apps), "--org", org]
    if generated:
        command.append("--generated")
    command += ["--maskinporten-token-lifetime", str(maskinporten_token_lifetime)]
    command += ["--altinn-token-lifetime", str(altinn_token_lifetime)]
    process = subprocess.Popen(  # noqa: S603 - our own module, by the running interpreter
        command, cwd=_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    child = Child(process)
    try:
        ready = child.answer(_STARTUP_TIMEOUT, "it was ready")
        emulator = Served(
            url=str(ready["url"]),
            environment=altinn.Environment(
                name="emulator",
                maskinporten=altinn.AuthorizationServer(
                    issuer=str(ready["issuer"]), token_endpoint=str(ready["token_endpoint"])
                ),
                platform=str(ready["platform"]),
            ),
            org=str(ready["org"]),
            instances=int(ready["instances"]),
            apps=int(ready["apps"]),
            client_id=str(ready["client_id"]),
            key=altinn.SigningKey.from_pem(str(ready["pem"]).encode(), kid=str(ready["kid"])),
            pem=str(ready["pem"]),
            scopes=tuple(ready["scopes"]),
            token="",
            pid=process.pid,
            maskinporten_token_lifetime=int(ready["maskinporten_token_lifetime"]),
            altinn_token_lifetime=int(ready["altinn_token_lifetime"]),
            _child=child,
        )
        token = anyio.run(_fetch_token, emulator)
        yield dataclasses.replace(emulator, token=token)
    finally:
        child.stop()
