"""Keys and scripted token endpoints shared by the client-side tests."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from altinn_async import AuthorizationServer, Environment, SigningKey


def private_pem(index: int = 0) -> bytes:
    """A 2048-bit RSA key as PKCS#8 PEM (made once per test session and index)."""
    return _private_pem(index)


@functools.cache
def _private_pem(index: int) -> bytes:
    # Cached on a positional-only call: functools.cache would key f() and f(0) apart.
    del index
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Clock:
    """The one test clock: settable, frozen at whole seconds of the real time unless told otherwise.

    ``now`` is seconds since the epoch; assign it or call `advance`. With ``ticking=True`` it
    follows the real time, shifted by what `advance` adds (for servers that keep real time).
    """

    def __init__(self, now: float | None = None, *, ticking: bool = False) -> None:
        self._ticking = ticking
        self._offset = 0.0
        self._now = float(int(time.time())) if now is None else float(now)

    @property
    def now(self) -> float:
        return time.time() + self._offset if self._ticking else self._now

    @now.setter
    def now(self, value: float) -> None:
        if self._ticking:
            self._offset = value - time.time()
        else:
            self._now = value

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def signing_key(kid: str = "test-kid", index: int = 0) -> SigningKey:
    return SigningKey.from_pem(private_pem(index), kid=kid)


MOCK_ENV = Environment(
    name="mock",
    maskinporten=AuthorizationServer(
        issuer="https://mp.example/", token_endpoint="https://mp.example/token"
    ),
    platform="https://platform.example",
)


def fake_jwt(claims: dict[str, Any]) -> str:
    """A JWT signed with a throwaway key (for endpoints whose signature the client never checks)."""
    return jwt.encode({"alg": "RS256"}, claims, RSAKey.import_key(private_pem(9)))


class ScriptedMaskinporten:
    """A token endpoint that records every grant and answers from a script.

    Each entry of ``script`` is a status code (an OAuth error body for 4xx, empty for 5xx, a token
    for 200) or a callable making the response; the last entry repeats.
    """

    def __init__(self, *script: int | Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = list(script) or [200]
        self.grants: list[str] = []
        self.tokens: list[str] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        form = urllib.parse.parse_qs(request.content.decode())
        self.grants.append(form["assertion"][0])
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if callable(step):
            return step(request)
        if step == 200:
            token = f"access-token-{len(self.requests)}"
            self.tokens.append(token)
            body = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": 120,
                "scope": "a:b",
            }
            return httpx.Response(200, json=body)
        if step >= 500:
            return httpx.Response(step)
        return httpx.Response(
            step,
            json={
                "error": "invalid_grant",
                "error_description": "Invalid assertion. Client authentication failed. Invalid "
                "JWT claim aud (trace_id: 0123456789abcdef0123456789abcdef)",
                "error_uri": "https://maskinporten.no/errors/MP-110",
            },
        )

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def decoded(self, index: int, key: SigningKey) -> tuple[dict[str, Any], dict[str, Any]]:
        """The header and verified claims of grant ``index``."""
        public = RSAKey.import_key(key.public_jwk)
        # An x5c chain of three certificates makes a header of about 5 kB; joserfc's default
        # limit is 512 bytes.
        registry = jws.JWSRegistry(algorithms=[key.algorithm])
        registry.max_header_length = 16_384
        token = jwt.decode(self.grants[index], public, registry=registry)
        return dict(token.header), dict(token.claims)


def unverified_header(compact: str) -> dict[str, Any]:
    return dict(jws.extract_compact(compact.encode()).headers())


def json_body(response: httpx.Response) -> Any:
    return json.loads(response.content)


@contextlib.contextmanager
def uvicorn_serving(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``make_app(url)`` (an ASGI app for its own URL) with uvicorn on 127.0.0.1, a free
    port, in a thread; yield the URL.

    The app's lifespan runs: it starts before the URL is yielded and stops when the block ends.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = uvicorn.Config(make_app(url), log_level="error", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            server.should_exit = True
            thread.join(timeout=10)
            raise RuntimeError("uvicorn did not start the app")
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
