"""``python -m benchmarks._serve``: a seeded emulator on a loopback port, in its own process.

The benchmarks start this with `benchmarks._served.served`, so that the emulator's CPU is not
counted in the client's ``time.process_time()``. It seeds a Maskinporten client (a new key),
``--instances`` instances of ``--org`` (each with one small XML data element) spread over
``--apps`` apps, binds ``--port`` (0: a free one) and, once it accepts connections, prints one
JSON line on stdout::

    {"url": "http://127.0.0.1:41234", "issuer": "...", "token_endpoint": "...",
     "platform": "http://127.0.0.1:41234/platform", "client_id": "...", "kid": "...", "pem": "...",
     "scopes": [...], "org": "ttd", "instances": 2000, "apps": 1, "latency": 0.0,
     "maskinporten_token_lifetime": 120, "altinn_token_lifetime": 21600}

Then it reads commands, one a line, from its standard input and answers each with a JSON line:

- ``latency SECONDS``: every Storage read waits that long before it is answered, from now on (0:
  none), as if the server were far away; the server is idle meanwhile. Answers
  ``{"ok": "latency", "latency": SECONDS}``.
- ``requests``: the requests served so far per endpoint name (``Emulator.requests``, refused ones
  included), as ``{"ok": "requests", "requests": {"maskinporten.token": 3, ...}}``.

It stops when its standard input closes (the parent is gone, however it went), on SIGTERM or on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from types import FrameType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import altinn_async as altinn
from altinn_async.testing import Emulator

CLIENT_ID = "altinn-async-bench"
ORG_NUMBERS = {"ttd": "405003309", "digdir": "991825827"}  # the emulator's own service owners
SCOPES = ("altinn:serviceowner/instances.read",)
ALTINN_TOKEN_LIFETIME = 6 * 3600
STORAGE_READS = ("storage.instances", "storage.instance", "storage.dataelements", "storage.data")
_STARTUP_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=1)
    parser.add_argument(
        "--generated",
        action="store_true",
        help="make the instances lazily (Emulator.generate_instances): a million cost nothing",
    )
    parser.add_argument("--org", default="ttd", choices=sorted(ORG_NUMBERS))
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds every Storage read waits before it is answered (a far-away server)",
    )
    parser.add_argument(
        "--maskinporten-token-lifetime",
        type=int,
        default=120,
        help="expires_in of Maskinporten tokens, in seconds (Maskinporten's own default: 120)",
    )
    parser.add_argument(
        "--altinn-token-lifetime",
        type=int,
        default=ALTINN_TOKEN_LIFETIME,
        help="lifetime of exchanged Altinn tokens, in seconds (default: 6 hours, longer than "
        "any run, so that no benchmark measures a refresh by accident)",
    )
    return parser


def _set_latency(emulator: Emulator, seconds: float) -> None:
    emulator.clear_faults()
    if seconds > 0:
        for endpoint in STORAGE_READS:
            emulator.inject_fault(endpoint, status=0, delay=seconds, times=10**12)


def _answer(line: str, emulator: Emulator) -> dict[str, object]:
    command, _, argument = line.strip().partition(" ")
    if command == "latency":
        try:
            seconds = float(argument)
        except ValueError:
            return {"error": f"latency {argument!r}: not a number of seconds"}
        if not seconds >= 0:
            return {"error": f"latency {argument!r}: must be 0 or more"}
        _set_latency(emulator, seconds)
        return {"ok": "latency", "latency": seconds}
    if command == "requests" and not argument:
        return {"ok": "requests", "requests": dict(emulator.requests)}
    return {"error": f"unknown command {command!r}"}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.instances < 0 or args.apps < 1 or args.latency < 0:
        raise SystemExit("--instances must be 0 or more, --apps at least 1, --latency not < 0")
    if args.maskinporten_token_lifetime < 1 or args.altinn_token_lifetime < 1:
        raise SystemExit("token lifetimes must be at least 1 second")
    signal.signal(signal.SIGTERM, _terminate)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = altinn.SigningKey.from_pem(pem, kid=f"{CLIENT_ID}-key")
    emulator = Emulator(
        maskinporten_token_lifetime=args.maskinporten_token_lifetime,
        altinn_token_lifetime=args.altinn_token_lifetime,
    )
    emulator.add_maskinporten_client(
        CLIENT_ID, org_number=ORG_NUMBERS[args.org], scopes=SCOPES, jwks=[key.public_jwk]
    )
    per_app, extra = divmod(args.instances, args.apps)
    for index in range(args.apps):
        count = per_app + (1 if index < extra else 0)
        if count and args.generated:
            emulator.generate_instances(args.org, f"app-{index + 1}", count, seed=index)
        elif count:
            emulator.add_instances(args.org, f"app-{index + 1}", count, seed=index)
    _set_latency(emulator, args.latency)
    with emulator.server(args.host, args.port) as server:
        thread = server.run_in_thread(_STARTUP_TIMEOUT)
        environment = server.environment
        ready = {
            "url": server.url,
            "issuer": environment.maskinporten.issuer,
            "token_endpoint": environment.maskinporten.token_endpoint,
            "platform": environment.platform,
            "client_id": CLIENT_ID,
            "kid": key.key_id,
            "pem": pem.decode(),
            "scopes": list(SCOPES),
            "org": args.org,
            "instances": args.instances,
            "apps": args.apps,
            "latency": args.latency,
            "maskinporten_token_lifetime": args.maskinporten_token_lifetime,
            "altinn_token_lifetime": args.altinn_token_lifetime,
        }
        print(json.dumps(ready), flush=True)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                for line in sys.stdin:  # until the parent closes it, or goes away
                    if line.strip():
                        print(json.dumps(_answer(line, emulator)), flush=True)
        finally:
            server.stop()
            thread.join(_STOP_TIMEOUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
