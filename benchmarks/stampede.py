"""The token stampede: token requests under N concurrent requests, ours against two peers.

N = 1, 100 and 1000 concurrent requests, first on a cold cache, then again just after the tokens
have expired, against an emulator of its own in another process whose Maskinporten and Altinn
tokens live `LIFETIME` seconds (so that the expiry comes within the run). The emulator counts the
requests it serves, and the counts are read from it before and after each burst.

- Ours: one ``AltinnExchangeAuth(MaskinportenAuth(...))`` chain on one ``httpx.AsyncClient``,
  ``N`` Storage instance lists (a cold cache each time N changes). Target: exactly one
  Maskinporten token request and one exchange per burst, however large N (one per cache key
  per lifetime); none is no pass either.
- authlib's ``AsyncAssertionClient`` doing the same Maskinporten JWT-bearer grant, and
  pymaskinporten's ``MaskinportenClient`` through ``asyncio.to_thread`` (as its README says):
  ``N`` concurrent GETs of the Altinn exchange (an endpoint that takes the Maskinporten token)
  with the token each hands out. Their token requests are recorded for information. Each runs
  in a virtual environment of its own under ``benchmarks/.venvs/`` (made on first use, reused
  after), through ``benchmarks/peers/stampede_driver.py``; pymaskinporten needs Python 3.13 or
  newer, and is skipped when there is none.

Every client gets a pool of `CONNECTIONS` connections; the token requests are made before a
request waits for one, so the pool's size does not change what is counted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from ._context import Context
from ._report import Figure, exactly, info, skipped
from ._served import Child, Served, limits, served

NAME = "stampede"
SUMMARY = (
    "token requests under 1, 100 and 1000 concurrent requests, cold and just past expiry: "
    "ours against authlib and pymaskinporten"
)

SIZES = (1, 100, 1000)
LIFETIME = 6
"""Seconds the emulator's Maskinporten and Altinn tokens live: long enough for a burst of 1000
to be sent with one token, short enough to wait for its expiry six times over."""
AFTER_EXPIRY = 0.25
"""Seconds past the expiry at which the second burst starts."""
CONNECTIONS = 10
PHASES = ("cold", "expired")
TOKEN = "maskinporten.token"
EXCHANGE = "authentication.exchange"

_ROOT = Path(__file__).resolve().parent
VENVS = _ROOT / ".venvs"
DRIVER = _ROOT / "peers" / "stampede_driver.py"
_REQUEST_TIMEOUT = 120.0
_BURST_TIMEOUT = 180.0
_PEER_START_TIMEOUT = 60.0
_PYTHON_313 = Path("/root/.pyenv/versions/3.13.0/bin/python")


@dataclass(frozen=True)
class Peer:
    """A peer measured in a virtual environment of its own.

    Attributes:
        name: its name, in the figures and its environment's folder.
        requirements: what to install there (pinned: the figures say which versions ran).
        minimum_python: the oldest Python it runs on.
        what: how it is set up, for the figures' notes.
    """

    name: str
    requirements: tuple[str, ...]
    minimum_python: tuple[int, int]
    what: str


PEERS = (
    Peer(
        "authlib",
        ("authlib==1.9.10", "httpx2==2.16.2"),
        (3, 10),
        "one AsyncAssertionClient, its own requests",
    ),
    Peer(
        "pymaskinporten",
        ("pymaskinporten==2.1.0",),
        (3, 13),
        "one MaskinportenClient via asyncio.to_thread, requests by httpx2",
    ),
)


def _say(message: str) -> None:
    print(f"   stampede: {message}", flush=True)


# -- ours ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """What one burst of N concurrent requests made the emulator serve, and how it went."""

    served: Counter[str]
    statuses: Counter[str]
    seconds: float
    errors: str = ""


def _delta(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter(
        {name: after[name] - before[name] for name in after if after[name] > before[name]}
    )


async def _burst(http: httpx.AsyncClient, url: str, n: int) -> tuple[Counter[str], float]:
    statuses: Counter[str] = Counter()

    async def one() -> None:
        response = await http.get(url)
        statuses[str(response.status_code)] += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(n):
            tasks.start_soon(one)
    return statuses, time.perf_counter() - started


async def _ours(emulator: Served, n: int) -> dict[str, Burst]:
    """A cold burst and one just past the expiry, through one new auth chain."""
    url = emulator.instances_url(size=1)
    bursts: dict[str, Burst] = {}
    async with (
        emulator.exchange_auth() as auth,
        httpx.AsyncClient(auth=auth, limits=limits(CONNECTIONS), timeout=_REQUEST_TIMEOUT) as http,
    ):
        # The counters are read between bursts, when nothing else is under way on this loop.
        before = emulator.requests()
        statuses, seconds = await _burst(http, url, n)
        middle = emulator.requests()
        bursts["cold"] = Burst(_delta(middle, before), statuses, seconds)
        # Wait until neither token can be used any more: the next burst finds none.
        cached = [auth.cache.peek(auth.cache_key), auth.cache.peek(auth.upstream.cache_key)]
        expiry = max((token.expires_at for token in cached if token is not None), default=0.0)
        await anyio.sleep(max(0.0, expiry + AFTER_EXPIRY - time.time()))
        statuses, seconds = await _burst(http, url, n)
        bursts["expired"] = Burst(_delta(emulator.requests(), middle), statuses, seconds)
    return bursts


def _our_figures(n: int, bursts: dict[str, Burst]) -> list[Figure]:
    figures = []
    for phase in PHASES:
        burst = bursts[phase]
        if burst.statuses != Counter({"200": n}):
            raise RuntimeError(
                f"ours, {phase}, N={n}: the Storage requests answered {dict(burst.statuses)}"
            )
        when = "on a cold cache" if phase == "cold" else "just after the tokens expired"
        sent = (
            f"{n} concurrent Storage requests {when} through one AltinnExchangeAuth"
            f"(MaskinportenAuth) on one httpx.AsyncClient, all answered 200 in "
            f"{burst.seconds:.1f} s"
        )
        medians = {"seconds": round(burst.seconds, 3), "requests": float(n)}
        figures.append(
            exactly(
                NAME,
                f"ours.{phase}.n{n}.token_requests",
                burst.served[TOKEN],
                target=1,
                medians=medians,
                note=f"Maskinporten token requests served; {sent}",
            )
        )
        figures.append(
            exactly(
                NAME,
                f"ours.{phase}.n{n}.exchanges",
                burst.served[EXCHANGE],
                target=1,
                medians=medians,
                note="Altinn token exchanges served, for the same requests",
            )
        )
    return figures


# -- the peers -----------------------------------------------------------------------------------


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        found = subprocess.run(  # noqa: S603 - an interpreter this module found
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = found.stdout.split()
    return int(major), int(minor)


def _interpreter(minimum: tuple[int, int]) -> str | None:
    """A Python at least ``minimum``: this one, pyenv's 3.13.0, or one on the PATH."""
    if sys.version_info >= minimum:
        return sys.executable
    candidates = [str(_PYTHON_313)] if _PYTHON_313.exists() else []
    for name in ("python3.13", "python3.14", "python3.15"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    for candidate in candidates:
        version = _python_version(candidate)
        if version is not None and version >= minimum:
            return candidate
    return None


def _environment(peer: Peer, python: str) -> Path:
    """The peer's virtual environment (its Python), made and installed the first time.

    Raises:
        RuntimeError: it could not be made.
    """
    folder = VENVS / peer.name
    marker = folder / ".stampede-requirements"
    wanted = "\n".join(peer.requirements) + "\n"
    venv_python = folder / "bin" / "python"
    if venv_python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return venv_python
    _say(f"making {folder.relative_to(_ROOT.parent)} ({' '.join(peer.requirements)}) ...")
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    steps = [
        [python, "-m", "venv", str(folder)],
        [
            str(venv_python),
            *("-m", "pip", "install", "-q", "--disable-pip-version-check"),
            *peer.requirements,
        ],
    ]
    for step in steps:
        done = subprocess.run(  # noqa: S603 - our own fixed command lines
            step, capture_output=True, text=True, check=False, timeout=900
        )
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            output = [
                line
                for line in (done.stderr or done.stdout).strip().splitlines()
                if not line.startswith("WARNING:")
            ]
            raise RuntimeError(f"{' '.join(step[:4])} failed: {' / '.join(output[-3:])}")
    marker.write_text(wanted, encoding="utf-8")
    _say(f"made it in {time.perf_counter() - started:.0f} s")
    return venv_python


def _driver_command(
    emulator: Served, peer: Peer, python: Path, key_file: Path, n: int
) -> list[str]:
    maskinporten = emulator.environment.maskinporten
    # pymaskinporten's refresh margin is 10 s for Maskinporten's 120 s tokens: the same share
    # of the short ones here (with 10 s, it would refetch on every call).
    margin = 10 / 120 * emulator.maskinporten_token_lifetime
    return [
        str(python),
        str(DRIVER),
        "--peer",
        peer.name,
        "--token-endpoint",
        maskinporten.token_endpoint,
        "--audience",
        maskinporten.issuer,
        "--client-id",
        emulator.client_id,
        "--kid",
        str(emulator.key.key_id),
        "--key-file",
        str(key_file),
        "--scope",
        " ".join(emulator.scopes),
        "--url",
        emulator.environment.exchange_url("maskinporten"),
        "-n",
        str(n),
        "--connections",
        str(CONNECTIONS),
        "--timeout",
        str(_REQUEST_TIMEOUT),
        "--after-expiry",
        str(AFTER_EXPIRY),
        "--refresh-margin",
        f"{margin:.3f}",
    ]


def _peer_bursts(
    emulator: Served, peer: Peer, python: Path, key_file: Path, n: int
) -> tuple[dict[str, Any], dict[str, Burst]]:
    """Run the driver for one N: its hello line, and its two bursts.

    Raises:
        RuntimeError: the driver failed, or did not answer in time.
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own driver, in the peer's environment
            _driver_command(emulator, peer, python, key_file, n),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        child = Child(process, name=f"the {peer.name} driver")
        try:
            hello = child.answer(_PEER_START_TIMEOUT, "start")
            before = emulator.requests()
            cold = child.answer(_BURST_TIMEOUT, "finish the cold burst")
            middle = emulator.requests()
            wait = LIFETIME + 1 + AFTER_EXPIRY
            expired = child.command("next", timeout=wait + _BURST_TIMEOUT)
            after = emulator.requests()
        except RuntimeError as exc:
            child.stop()
            stderr.seek(0)
            lines = [line for line in stderr.read().splitlines() if line.strip()]
            raise RuntimeError(f"{exc}: {' / '.join(lines[-3:])}" if lines else str(exc)) from exc
        child.stop()
    bursts = {
        "cold": _peer_burst(_delta(middle, before), cold),
        "expired": _peer_burst(_delta(after, middle), expired),
    }
    return hello, bursts


def _peer_burst(counts: Counter[str], line: dict[str, Any]) -> Burst:
    errors = ", ".join(f"{count} {name}" for name, count in dict(line["errors"]).items())
    if line.get("first_error"):
        errors += f" (the first: {line['first_error']})"
    return Burst(counts, Counter(dict(line["statuses"])), float(line["seconds"]), errors)


def _peer_figures(
    peer: Peer, n: int, hello: dict[str, Any], bursts: dict[str, Burst]
) -> list[Figure]:
    versions = ", ".join(f"{name} {v}" for name, v in dict(hello["versions"]).items() if v)
    figures = []
    for phase in PHASES:
        burst = bursts[phase]
        answered = ", ".join(
            f"{count} answered {status}" for status, count in burst.statuses.items()
        )
        note = (
            f"{n} concurrent requests, {peer.what} (Python {hello['python']}; {versions}); "
            f"{answered or 'none answered'} in {burst.seconds:.1f} s"
        )
        if burst.errors:
            note += f"; errors: {burst.errors}"
        if peer.name == "authlib" and phase == "expired":
            note += (
                "; its token check keeps a fixed leeway of 60 s, more than these tokens live, "
                "so it takes every token for expired: as past the 60 s mark of a 120 s token"
            )
        figures.append(
            info(
                NAME,
                f"{peer.name}.{phase}.n{n}.token_requests",
                burst.served[TOKEN],
                unit="count",
                medians={"seconds": round(burst.seconds, 3), "requests": float(n)},
                note=note,
            )
        )
    return figures


def _peer(emulator: Served, peer: Peer, key_file: Path) -> list[Figure]:
    def skip_all(reason: str) -> list[Figure]:
        return [
            skipped(NAME, f"{peer.name}.{phase}.n{n}.token_requests", reason)
            for n in SIZES
            for phase in PHASES
        ]

    python = _interpreter(peer.minimum_python)
    if python is None:
        wanted = ".".join(map(str, peer.minimum_python))
        return skip_all(f"{peer.name} needs Python {wanted} or newer, and none was found")
    try:
        venv_python = _environment(peer, python)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return skip_all(f"its virtual environment could not be made: {exc}")
    figures: list[Figure] = []
    for n in SIZES:
        _say(f"{peer.name}, N={n}")
        try:
            hello, bursts = _peer_bursts(emulator, peer, venv_python, key_file, n)
        except RuntimeError as exc:
            figures += [
                skipped(
                    NAME, f"{peer.name}.{phase}.n{n}.token_requests", f"the driver failed: {exc}"
                )
                for phase in PHASES
            ]
            continue
        figures += _peer_figures(peer, n, hello, bursts)
    return figures


def run(context: Context) -> list[Figure]:
    """Count the token requests of ours and of the peers."""
    figures: list[Figure] = []
    with (
        served(
            instances=1, maskinporten_token_lifetime=LIFETIME, altinn_token_lifetime=LIFETIME
        ) as emulator,
        tempfile.TemporaryDirectory(prefix="stampede-") as folder,
    ):
        for n in SIZES:
            _say(f"ours, N={n}")
            figures += _our_figures(n, anyio.run(_ours, emulator, n))
        key_file = Path(folder) / "client.pem"
        key_file.touch(mode=0o600)
        key_file.write_text(emulator.pem, encoding="utf-8")
        for peer in PEERS:
            figures += _peer(emulator, peer, key_file)
    return figures
