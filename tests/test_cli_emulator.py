"""``altinn-async emulator`` as a newcomer uses it: start it, copy what it prints, stop it.

Defect 13 of the request-path issue: with its port in use it printed the banner and overwrote
its key file before failing; ``--port 0`` printed port 0; it ran plain uvicorn (Altinn 2's
reason phrases were lost); it seeded nothing for Altinn 2 or system users; ``::1`` built an
invalid URL and ``0.0.0.0`` was refused.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from altinn_async._cli._common import CLIError
from altinn_async._cli._emulator import parse_faults
from altinn_async._cli._playground import DEMO_MAILBOX_DIALOGS
from altinn_async.testing import DEFAULT_PID, FAULT_KINDS

PROGRAM = [sys.executable, "-m", "altinn_async"]


@attrs.define
class Running:
    process: subprocess.Popen[str]
    banner: str
    cwd: Path

    @property
    def url(self) -> str:
        found = re.match(r"altinn-async emulator on (\S+)", self.banner)
        assert found, self.banner
        return found.group(1)

    def command(self, name: str) -> tuple[dict[str, str], list[str]]:
        """The environment assignments and the argument list of a printed command."""
        line = next(
            line.strip() for line in self.banner.splitlines() if f"altinn-async {name} " in line
        )
        words = shlex.split(line)
        assignments = {}
        while "=" in words[0] and not words[0].startswith("-"):
            key, _, value = words.pop(0).partition("=")
            assignments[key] = value
        assert words[0] == "altinn-async"
        return assignments, words[1:]

    def snippet(self) -> str:
        lines = self.banner.splitlines()
        start = lines.index("  python - <<'PY'")
        end = lines.index("  PY", start)
        return textwrap.dedent("\n".join(lines[start + 1 : end]))

    def run(
        self, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PROGRAM, *args],
            cwd=self.cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def start(cwd: Path, *args: str) -> Running:
    process = subprocess.Popen(
        [*PROGRAM, "emulator", "--instances", "40", "--messages", "12", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=10)
            raise AssertionError(f"the emulator stopped: {err}")
        lines.append(line.rstrip("\n"))
        if lines[-1] == "  PY":
            return Running(process, "\n".join(lines), cwd)
    process.kill()
    raise AssertionError("no banner")


def stop(running: Running) -> tuple[int, str, float]:
    started = time.monotonic()
    running.process.send_signal(signal.SIGINT)
    _, err = running.process.communicate(timeout=30)
    return running.process.returncode, err, time.monotonic() - started


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Running]:
    running = start(tmp_path, "--port", "0")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.communicate()


def test_port_0_prints_the_real_port_and_the_key_file_is_private(emulator: Running) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
    assert not emulator.url.endswith(":0")
    key = emulator.cwd / "emulator-client.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_it_prints_every_credential_it_seeded(emulator: Running) -> None:
    banner = emulator.banner
    for expected in (
        "client id:            altinn-async-demo",
        "key id (kid):         altinn-async-demo-key",
        "system user:",
        "web client:           altinn-async-demo-web  (secret demo-web-secret",
        f"TestID person:        pid {DEFAULT_PID}",
        "ApiKey:               demo-api-key",
        "user:                 demo / demo-password",
    ):
        assert expected in banner


def test_the_printed_token_command_works(emulator: Running) -> None:
    env, args = emulator.command("token")
    result = emulator.run(args, env)
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stderr)
    assert view["claims"]["urn:altinn:org"] == "ttd"
    assert result.stdout.strip().count(".") == 2


def test_a_system_user_token_can_be_had(emulator: Running) -> None:
    env, args = emulator.command("token")
    org = re.search(r"token --system-user (\d{9})", emulator.banner)
    assert org is not None
    result = emulator.run([*args, "--system-user", org.group(1)], env)
    assert result.returncode == 0, result.stderr
    claims = json.loads(result.stderr)["claims"]
    # Exchanged, a one-entry list comes back as the entry (as Altinn's .NET claims do).
    details = claims["authorization_details"]
    assert details["type"] == "urn:altinn:systemuser"
    assert details["systemuser_org"]["ID"].endswith(org.group(1))


def test_the_printed_harvest_command_works(emulator: Running) -> None:
    env, args = emulator.command("harvest altinn2")
    result = emulator.run(args, env)
    assert result.returncode == 0, result.stderr
    lines = (emulator.cwd / "messages.jsonl").read_text().splitlines()
    assert len(lines) == 12
    assert "harvest complete: 12 items" in result.stderr


def test_the_printed_mailbox_harvest_command_works(emulator: Running) -> None:
    env, args = emulator.command("harvest dialogporten")
    result = emulator.run(args, env)
    assert result.returncode == 0, result.stderr
    lines = (emulator.cwd / "mailbox.jsonl").read_text().splitlines()
    assert len(lines) == DEMO_MAILBOX_DIALOGS
    assert f"harvest complete: {DEMO_MAILBOX_DIALOGS} items" in result.stderr


def test_the_printed_python_program_works(emulator: Running) -> None:
    result = subprocess.run(
        [sys.executable, "-c", emulator.snippet()],
        cwd=emulator.cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip().splitlines()
    assert len(printed) == 5
    assert all(line.split()[1] == "ttd/app-1" for line in printed)


def test_altinn2_reason_phrases_survive_serving(emulator: Running) -> None:
    response = httpx.get(f"{emulator.url}/altinn2/api/my/messages")
    assert response.status_code == 400
    assert response.reason_phrase == "Required header 'ApiKey' is missing."


def test_ctrl_c_stops_it_at_once(emulator: Running) -> None:
    httpx.get(f"{emulator.url}/maskinporten/.well-known/oauth-authorization-server")
    code, err, took = stop(emulator)
    assert code == 130
    assert took < 3.0
    assert "Traceback" not in err


def test_a_busy_port_fails_before_anything_is_printed_or_written(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    key = tmp_path / "emulator-client.pem"
    key.write_text("the key of the emulator that already runs")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*PROGRAM, "emulator", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("altinn-async: error: --host 127.0.0.1 --port")
    assert "in use" in line
    assert key.read_text() == "the key of the emulator that already runs"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_on_the_ipv6_loopback(tmp_path: Path) -> None:
    running = start(tmp_path, "--host", "::1", "--port", "0")
    try:
        assert re.fullmatch(r"http://\[::1\]:\d+", running.url)
        env, args = running.command("token")
        result = running.run(args, env)
        assert result.returncode == 0, result.stderr
    finally:
        stop(running)


def test_on_every_address_with_a_public_url(tmp_path: Path, free_port: Callable[[], int]) -> None:
    refused = subprocess.run(
        [*PROGRAM, "emulator", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "--public-url" in refused.stderr
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    running = start(tmp_path, "--host", "0.0.0.0", "--port", str(port), "--public-url", public)  # noqa: S104
    try:
        assert running.url == public
        env, args = running.command("token")
        assert running.run(args, env).returncode == 0
    finally:
        stop(running)


def test_the_printed_doctor_command_finds_nothing_wrong(emulator: Running) -> None:
    env, args = emulator.command("doctor")
    result = emulator.run(args, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^  ok +grant ", result.stdout, re.MULTILINE)
    assert re.search(r"^  ok +exchange ", result.stdout, re.MULTILINE)
    assert " 0 failed," in result.stdout


def test_the_printed_clients_command_lists_the_demo_clients(emulator: Running) -> None:
    env, args = emulator.command("clients list")
    result = emulator.run([*args, "--json"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {client["client_id"] for client in json.loads(result.stdout)}
    assert listed == {"altinn-async-demo", "altinn-async-demo-admin"}


def test_the_printed_storage_harvest_command_works(emulator: Running) -> None:
    env, args = emulator.command("harvest storage")
    result = emulator.run(args, env)
    assert result.returncode == 0, result.stderr
    lines = [
        json.loads(line) for line in (emulator.cwd / "instances.jsonl").read_text().splitlines()
    ]
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids))
    assert {line["org"] for line in lines} == {"ttd"}
    elements = sum(len(line.get("data", [])) for line in lines)
    files = [p for p in (emulator.cwd / "data").rglob("*") if p.is_file()]
    assert len(files) == elements > 0
    assert f"harvest complete: {len(ids)} items" in result.stderr
    again = emulator.run(args, env)
    assert again.returncode == 1
    assert "--resume" in again.stderr


# -- the network flags and large seeds -----------------------------------------------------------


def test_the_fault_kinds_the_help_names_are_the_emulators() -> None:
    from altinn_async._cli._emulator import _KINDS  # noqa: PLC0415

    assert _KINDS == FAULT_KINDS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7:0.05", (7, 0.05, FAULT_KINDS)),
        ("-3:1:429,503", (-3, 1.0, ("429", "503"))),
        ("0:0:drop, cut", (0, 0.0, ("drop", "cut"))),
    ],
)
def test_faults_values(value: str, expected: tuple[int, float, tuple[str, ...]]) -> None:
    assert parse_faults(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7", "give SEED:RATE[:KIND,...]"),
        ("7:0.1:429:503", "give SEED:RATE[:KIND,...]"),
        ("seven:0.1", "give SEED:RATE[:KIND,...]"),
        ("7:1.5", "a RATE from 0 to 1"),
        ("7:nan", "a RATE from 0 to 1"),
        ("7:0.1:404", "unknown fault kind '404'; the kinds are 429, 500, 503, slow"),
        ("7:0.1:429,", "unknown fault kind ''"),
    ],
)
def test_bad_faults_values(value: str, message: str) -> None:
    with pytest.raises(CLIError, match=re.escape(message)) as caught:
        parse_faults(value)
    assert str(caught.value).startswith(f"--faults {value}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "start"),
    [
        (["--faults", "7:2"], "--faults 7:2: give SEED:RATE"),
        (["--latency", "-1"], "--latency -1.0: give 0 or more seconds"),
        (["--altinn-token-lifetime", "0"], "--altinn-token-lifetime 0: give 1 or more seconds"),
    ],
)
def test_bad_network_flags_fail_in_one_line(tmp_path: Path, flags: list[str], start: str) -> None:
    result = subprocess.run(
        [*PROGRAM, "emulator", "--port", "0", *flags],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"altinn-async: error: {start}")
    assert not (tmp_path / "emulator-client.pem").exists()


def test_a_million_instances_start_at_once_and_what_it_prints_works(tmp_path: Path) -> None:
    running = start(tmp_path, "--port", "0", "--instances", "1000000")
    try:
        assert "1000000 of ttd/app-1 (generated lazily)" in running.banner
        result = subprocess.run(
            [sys.executable, "-c", running.snippet()],
            cwd=running.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        printed = result.stdout.strip().splitlines()
        assert len(printed) == 5
        assert all(line.split()[1] == "ttd/app-1" for line in printed)
        env, args = running.command("token")
        assert running.run(args, env).returncode == 0
    finally:
        stop(running)


def test_latency_and_a_short_token_lifetime(tmp_path: Path) -> None:
    running = start(tmp_path, "--port", "0", "--latency", "0.2", "--altinn-token-lifetime", "5")
    try:
        assert "latency:              0.2 s before every answer" in running.banner
        assert "Altinn tokens:        live 5 s" in running.banner
        with httpx.Client(base_url=running.url) as http:
            http.get("/maskinporten/jwk")  # connected before timing
            started = time.monotonic()
            assert http.get("/maskinporten/jwk").status_code == 200
            assert time.monotonic() - started >= 0.2
        env, args = running.command("token")
        result = running.run(args, env)
        assert result.returncode == 0, result.stderr
        claims = json.loads(result.stderr)["claims"]
        assert claims["exp"] - claims["iat"] == 5
    finally:
        stop(running)


def test_seeded_faults(tmp_path: Path) -> None:
    running = start(tmp_path, "--port", "0", "--faults", "3:1:503")
    try:
        assert "faults:               100.0% of requests (seed 3: 503)" in running.banner
        statuses = {httpx.get(f"{running.url}/maskinporten/jwk").status_code for _ in range(3)}
        assert statuses == {503}
    finally:
        stop(running)
