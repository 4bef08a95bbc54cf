"""A peer's token stampede, run by `benchmarks.stampede` in the peer's own virtual environment.

``python stampede_driver.py --peer authlib|pymaskinporten --token-endpoint URL
--audience ISSUER --client-id ID --kid KID --key-file PEM --scope SCOPE --url API_URL -n N``

Makes one client of the peer and sends ``N`` concurrent requests to ``API_URL`` (an endpoint that
takes the Maskinporten token as ``Bearer``), each with the token the peer hands out, on a cold
cache. It prints one JSON line for that phase (``"phase": "cold"``), then waits for a line on its
standard input (the parent reads the server's counters meanwhile), sleeps until the token it got
has expired (a second past its ``exp``, and ``--after-expiry`` more), sends ``N`` concurrent
requests again (``"phase": "expired"``), prints that line and exits. Its first line names the
peer's versions. Each phase line says what the driver saw: the statuses of its requests, their
errors by type (with the first one's text), how long the burst took, and when the token it got
expires. The token requests themselves are counted by the server.

The peers:

- ``authlib``: ``authlib.integrations.httpx_client.AsyncAssertionClient``, the RFC 7523
  JWT-bearer grant with Maskinporten's claims (``scope`` in the grant, ``aud`` the issuer, ``kid``
  in the header, a grant lifetime of 60 s), its requests sent through the client itself (which
  fetches a token when it has none that is fresh). authlib adds a ``jti`` to the ``claims`` dict
  it is given and so would send the first grant's ``jti`` in every later grant (Maskinporten
  refuses the replays, MP-012); the driver gives it a new dict for every grant, unless
  ``--reuse-claims``.
- ``pymaskinporten``: one ``MaskinportenClient`` (which locks, so that concurrent threads share
  one token request), called through ``asyncio.to_thread`` as its README says, pointed at the
  server with its ``token_url`` and ``audience`` options; ``--refresh-margin`` is its
  ``refresh_margin``. The requests go out through one ``httpx2.AsyncClient``.

Standard library only, besides the peer (this file runs in the peer's environment, not the
project's).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

Send = Callable[[], Awaitable[int]]
"""One request through the peer: its HTTP status."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stampede_driver.py", description=__doc__)
    parser.add_argument("--peer", required=True, choices=("authlib", "pymaskinporten"))
    parser.add_argument("--token-endpoint", required=True)
    parser.add_argument("--audience", required=True, help="Maskinporten's issuer: the grant's aud")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--kid", required=True)
    parser.add_argument("--key-file", required=True, type=Path, help="the private key, PEM")
    parser.add_argument("--scope", required=True, help="space-separated scopes")
    parser.add_argument("--url", required=True, help="what each request GETs with the token")
    parser.add_argument("-n", type=int, required=True, help="concurrent requests per phase")
    parser.add_argument("--connections", type=int, default=10, help="the HTTP pool's size")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--after-expiry", type=float, default=0.25, help="seconds past the expiry to wait"
    )
    parser.add_argument(
        "--refresh-margin", type=float, default=10.0, help="pymaskinporten's refresh_margin"
    )
    parser.add_argument(
        "--reuse-claims",
        action="store_true",
        help="authlib: give it one claims dict for every grant, as its API invites",
    )
    return parser


def _expiry(access_token: str) -> float | None:
    """The ``exp`` of a JWT, unverified (the driver only needs to know when to wait for)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def _versions(*distributions: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


class _Seen:
    """The last token the peer handed out (to know when it expires)."""

    def __init__(self) -> None:
        self.token: str | None = None

    def expires_at(self) -> float | None:
        return None if self.token is None else _expiry(self.token)


async def _authlib(
    args: argparse.Namespace, seen: _Seen, pem: str
) -> tuple[Send, Callable[[], Awaitable[None]], dict[str, str | None]]:
    from authlib.integrations.httpx_client import AsyncAssertionClient  # noqa: PLC0415
    from joserfc.jwk import RSAKey  # noqa: PLC0415

    # What authlib uses: httpx2 when it is there.
    try:
        httpx: Any = importlib.import_module("httpx2")
    except ImportError:
        httpx = importlib.import_module("httpx")

    scope = args.scope
    reuse = args.reuse_claims

    class Client(AsyncAssertionClient):  # type: ignore[misc]
        def refresh_token(self) -> Any:
            if not reuse:
                # authlib writes its jti into this dict, then keeps it: a new one per grant.
                self.claims = {"scope": scope}
            return super().refresh_token()

    client = Client(
        token_endpoint=args.token_endpoint,
        issuer=args.client_id,
        subject=None,
        audience=args.audience,
        claims={"scope": scope},
        key=RSAKey.import_key(pem),
        alg="RS256",
        header={"kid": args.kid},
        expires_in=60,
        limits=httpx.Limits(
            max_connections=args.connections, max_keepalive_connections=args.connections
        ),
        timeout=args.timeout,
    )

    async def send() -> int:
        response = await client.get(args.url)
        sent = response.request.headers.get("Authorization", "")
        seen.token = sent.removeprefix("Bearer ") or seen.token
        return int(response.status_code)

    async def close() -> None:
        await client.aclose()

    versions = _versions("authlib", "httpx2", "httpx", "joserfc", "cryptography")
    return send, close, versions


async def _pymaskinporten(
    args: argparse.Namespace, seen: _Seen, pem: str
) -> tuple[Send, Callable[[], Awaitable[None]], dict[str, str | None]]:
    import httpx2  # noqa: PLC0415
    from pymaskinporten import MaskinportenClient, MaskinportenSecrets  # noqa: PLC0415

    secrets = MaskinportenSecrets(
        PRIVATE_KEY=pem, MASKINPORTEN_CLIENT_ID=args.client_id, KID=args.kid, SCOPE=args.scope
    )
    tokens = MaskinportenClient(
        secrets,
        refresh_margin=args.refresh_margin,
        token_url=args.token_endpoint,
        audience=args.audience,
    )
    http = httpx2.AsyncClient(
        limits=httpx2.Limits(
            max_connections=args.connections, max_keepalive_connections=args.connections
        ),
        timeout=args.timeout,
    )

    async def send() -> int:
        token = await asyncio.to_thread(tokens.get_token)
        seen.token = token
        response = await http.get(args.url, headers={"Authorization": f"Bearer {token}"})
        return int(response.status_code)

    async def close() -> None:
        await http.aclose()

    versions = _versions("pymaskinporten", "httpx2", "pyjwt", "pydantic", "cryptography")
    return send, close, versions


async def _burst(send: Send, n: int) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    first_error: list[str] = []

    async def one() -> None:
        try:
            statuses[str(await send())] += 1
        except Exception as exc:  # noqa: BLE001 - what went wrong is the finding
            errors[type(exc).__name__] += 1
            if not first_error:
                first_error.append(f"{type(exc).__name__}: {exc}"[:300])

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return {
        "statuses": dict(statuses),
        "errors": dict(errors),
        "first_error": first_error[0] if first_error else None,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _say(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)  # the parent reads these lines


async def _main(args: argparse.Namespace) -> int:
    pem = args.key_file.read_text(encoding="utf-8")
    seen = _Seen()
    make = _authlib if args.peer == "authlib" else _pymaskinporten
    send, close, versions = await make(args, seen, pem)
    _say({"peer": args.peer, "versions": versions, "python": sys.version.split()[0]})
    try:
        cold = await _burst(send, args.n)
        expires_at = seen.expires_at()
        _say({"phase": "cold", "n": args.n, "expires_at": expires_at, **cold})
        if not await asyncio.to_thread(sys.stdin.readline):
            return 0  # the parent is gone
        if expires_at is not None:
            # A second more: the server rounds iat down to the second, so a client that counts
            # expires_in from when it got the token may hold it for up to a second past exp.
            await asyncio.sleep(max(0.0, expires_at + 1.0 + args.after_expiry - time.time()))
        seen.token = None
        expired = await _burst(send, args.n)
        _say({"phase": "expired", "n": args.n, "expires_at": seen.expires_at(), **expired})
    finally:
        await close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(_parser().parse_args())))
