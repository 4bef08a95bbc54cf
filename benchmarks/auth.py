"""What the auth flow costs a request.

- **Overhead**: client CPU per request of an ``httpx.AsyncClient`` with the library's chain
  (``MaskinportenAuth`` → ``AltinnExchangeAuth``, token cached) against the same client with a
  fixed ``Authorization`` header, downloading data elements from the emulator served in another
  process, at concurrency 1 and 10, interleaved in blocks (target ≤ 1.05).
- **The warm path**, with no network: the auth flow alone (``async_auth_flow`` driven by hand,
  as httpx drives it), against a minimal ``httpx.Auth`` that sets a fixed header; and proof that
  on this path no lock is taken, no event waited on, no key parsed and nothing signed (counted
  by wrapping those functions while the path runs: every count must be 0). Its instruction
  count (callgrind) against the minimal flow is the stable figure.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import RSAKey

import altinn_async as altinn

from . import _callgrind
from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_most, info, skipped
from ._served import Served
from ._workload import data_urls, fetch_all, plain_get, requests_for, sized, steady

NAME = "auth"
SUMMARY = "the auth chain's cost per request (served, c1 and c10) and its warm path alone"

CONCURRENCY = (1, 10)
BLOCKS = 15
OVERHEAD_LIMIT = 1.05
WARM_REQUESTS = 2000
WARM_BLOCKS = 15


# -- the overhead against a fixed header, through real sockets --------------------------------


async def _overhead(emulator: Served) -> dict[str, list[Sample]]:
    urls = await data_urls(emulator)
    async with contextlib.AsyncExitStack() as stack:
        variants: dict[str, Callable[[], Awaitable[Sample]]] = {}
        for concurrency in CONCURRENCY:
            count = requests_for(concurrency, least=400)
            fixed = await stack.enter_async_context(emulator.client(concurrency))
            auth = await stack.enter_async_context(emulator.exchange_auth())
            flowing = await stack.enter_async_context(emulator.client(concurrency, auth=auth))
            for name, http in ((f"fixed c{concurrency}", fixed), (f"auth c{concurrency}", flowing)):
                get = plain_get(http)
                await fetch_all(get, sized(urls, 2 * concurrency), concurrency)  # pool, token
                variants[name] = steady(get, sized(urls, count), concurrency)
        return await interleave(variants, blocks=BLOCKS)


# -- the warm path alone -----------------------------------------------------------------------


class FixedHeader(httpx.Auth):
    """The least an auth flow can do: set a header it already has."""

    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self._value
        yield request


async def drive(auth: httpx.Auth, request: httpx.Request, response: httpx.Response) -> None:
    """One request through ``auth`` as httpx drives it: the request out, the answer back."""
    flow = auth.async_auth_flow(request)
    await flow.__anext__()
    try:
        await flow.asend(response)
    except StopAsyncIteration:
        return
    raise RuntimeError("the auth flow asked to send the request again")


def new_pem() -> bytes:
    """A new RSA key as PEM (made once and handed on: making one takes a random time)."""
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def warm_chain(pem: bytes | None = None) -> tuple[altinn.AltinnExchangeAuth, httpx.AsyncClient]:
    """A chain whose token endpoints answer from memory (its first request fetches both
    tokens)."""
    pem = pem or new_pem()
    environment = altinn.Environment(
        name="bench",
        maskinporten=altinn.AuthorizationServer(
            issuer="https://mp.bench.example/", token_endpoint="https://mp.bench.example/token"
        ),
        platform="https://platform.bench.example",
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mp.bench.example":
            body = {"access_token": "mp-token", "token_type": "Bearer", "expires_in": 120}
            return httpx.Response(200, json=body)
        return httpx.Response(200, text=ALTINN_TOKEN)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    chain = altinn.AltinnExchangeAuth(
        altinn.MaskinportenAuth(
            client_id="bench",
            key=altinn.SigningKey.from_pem(pem, kid="bench"),
            scopes=["altinn:serviceowner/instances.read"],
            environment=environment,
            http_client=http,
        )
    )
    return chain, http


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# What the exchange answers: a JWT the client reads only the expiry of (in 2100).
ALTINN_TOKEN = f"{_segment({'alg': 'RS256'})}.{_segment({'exp': 4102444800})}.c2ln"
REQUEST = httpx.Request("GET", "https://platform.bench.example/storage/api/v1/instances")
ANSWER = httpx.Response(200)


async def _warm() -> dict[str, list[Sample]]:
    chain, http = warm_chain()
    async with http, chain:
        await drive(chain, REQUEST, ANSWER)  # the tokens, fetched once
        minimal = FixedHeader("a-token")

        def runner(auth: httpx.Auth) -> Callable[[], Awaitable[Sample]]:
            async def many() -> None:
                for _ in range(WARM_REQUESTS):
                    await drive(auth, REQUEST, ANSWER)

            async def run() -> Sample:
                return await timed(WARM_REQUESTS, many)

            return run

        return await interleave(
            {"minimal": runner(minimal), "chain": runner(chain)}, blocks=WARM_BLOCKS
        )


@contextlib.contextmanager
def counting(targets: list[tuple[Any, str]]) -> Iterator[dict[str, int]]:
    """Count the calls of each ``(owner, attribute)`` while the block runs."""
    counts: dict[str, int] = {}
    saved = []
    for owner, attribute in targets:
        original = getattr(owner, attribute)
        name = f"{getattr(owner, '__name__', type(owner).__name__)}.{attribute}"
        counts[name] = 0

        def wrapper(*args: Any, __original: Any = original, __name: str = name, **kw: Any) -> Any:
            counts[__name] += 1
            return __original(*args, **kw)

        functools.update_wrapper(wrapper, original)
        saved.append((owner, attribute, original))
        setattr(owner, attribute, wrapper)
    try:
        yield counts
    finally:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)


async def _fast_path_counts() -> dict[str, int]:
    chain, http = warm_chain()
    async with http, chain:
        await drive(chain, REQUEST, ANSWER)
        targets: list[tuple[Any, str]] = [
            (anyio.Lock, "acquire"),
            (anyio.Lock, "__aenter__"),
            (anyio.Event, "wait"),
            (serialization, "load_pem_private_key"),
            (serialization, "load_der_private_key"),
            (RSAKey, "import_key"),
            (altinn.SigningKey, "sign"),
        ]
        with counting(targets) as counts:
            for _ in range(200):
                await drive(chain, REQUEST, ANSWER)
        return counts


_CALLGRIND_WARM = """
from pathlib import Path

import anyio
from benchmarks.auth import ANSWER, REQUEST, FixedHeader, drive, warm_chain

CHAIN, HTTP = warm_chain(Path({pem_file!r}).read_bytes())
MINIMAL = FixedHeader("a-token")
AUTH = {which}


async def _many(n):
    await drive(CHAIN, REQUEST, ANSWER)
    for _ in range(n):
        await drive(AUTH, REQUEST, ANSWER)


def work(n):
    anyio.run(_many, n)
"""


def _instructions() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        pem_file = Path(directory) / "key.pem"
        pem_file.write_bytes(new_pem())
        counts = [
            _callgrind.per_operation(
                _CALLGRIND_WARM.format(which=which, pem_file=str(pem_file)),
                small=100,
                large=5100,
            )
            for which in ("CHAIN", "MINIMAL")
        ]
    return counts[0], counts[1]


def run(context: Context) -> list[Figure]:
    """Measure the overhead (served), the warm path (in memory) and count the fast path."""
    emulator = context.served()
    samples = anyio.run(_overhead, emulator)
    figures: list[Figure] = []
    for concurrency in CONCURRENCY:
        fixed = median(samples[f"fixed c{concurrency}"], lambda s: s.cpu_per_item) * 1e6
        auth = median(samples[f"auth c{concurrency}"], lambda s: s.cpu_per_item) * 1e6
        figures.append(
            at_most(
                NAME,
                f"overhead_vs_fixed_header.c{concurrency}",
                auth / fixed,
                limit=OVERHEAD_LIMIT,
                medians={
                    "auth.cpu_us_per_request": round(auth, 1),
                    "fixed.cpu_us_per_request": round(fixed, 1),
                },
                note=f"client CPU per download, served emulator, median of {BLOCKS} blocks",
            )
        )
    warm = anyio.run(_warm)
    chain = median(warm["chain"], lambda s: s.cpu_per_item) * 1e6
    minimal = median(warm["minimal"], lambda s: s.cpu_per_item) * 1e6
    figures.append(
        info(
            NAME,
            "warm_path_us",
            chain,
            unit="µs",
            medians={"chain.cpu_us": round(chain, 2), "minimal.cpu_us": round(minimal, 2)},
            note="the auth flow alone per request, token cached, no network",
        )
    )
    figures.append(info(NAME, "warm_path_vs_minimal_flow", chain / minimal, unit="ratio"))
    counts = anyio.run(_fast_path_counts)
    figures.append(
        at_most(
            NAME,
            "fast_path_locks_parses_signatures",
            sum(counts.values()),
            limit=0,
            unit="count",
            medians={name: float(count) for name, count in counts.items()},
            note="calls over 200 warm requests of each lock, event, key parser and signer",
        )
    )
    if not _callgrind.available():
        figures.append(skipped(NAME, "warm_path_instructions", "valgrind is not installed"))
        return figures
    ours, theirs = _instructions()
    figures.append(
        info(
            NAME,
            "warm_path_instructions_vs_minimal_flow",
            ours / theirs,
            unit="ratio",
            medians={"chain.instructions": round(ours), "minimal.instructions": round(theirs)},
            note="callgrind, per request: the same count run after run",
        )
    )
    return figures
