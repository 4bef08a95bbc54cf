"""``altinn-async doctor`` against the served emulator: the checklist, --json, colour only on a
terminal, exit statuses, and no secret in any output."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from altinn_async._cli import main
from altinn_async.testing import CertificateAuthority, Emulator

from .helpers import private_pem, signing_key

READ = "altinn:serviceowner/instances.read"
ORG = "405003309"
CUSTOMER = "310000001"
ANSI = "\x1b["
# A compact JWS (a grant or a token), or the start of a PEM private key.
SECRET = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}|PRIVATE KEY")


def start(emulator: Emulator) -> Emulator:
    """``emulator`` with a client of a registered key, a certificate client and a delegation."""
    emulator.add_maskinporten_client(
        "cli-doctor", org_number=ORG, scopes=[READ], jwks=[signing_key("cli-kid").public_jwk]
    )
    emulator.add_maskinporten_client("cli-cert", org_number=ORG, scopes=[READ])
    emulator.add_delegation(consumer_org=CUSTOMER, supplier_org=ORG, scope=READ)
    return emulator


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "client.pem"
    path.write_bytes(private_pem())
    return path


@pytest.fixture
def served() -> Iterator[str]:
    emulator = start(Emulator())
    with emulator.serve() as base_url:
        yield base_url


def env_args(base_url: str) -> list[str]:
    return ["--env", f"{base_url}/maskinporten/", "--platform", f"{base_url}/platform"]


def doctor(base_url: str, pem: Path, *more: str) -> list[str]:
    return [
        "doctor", *env_args(base_url), "--client-id", "cli-doctor", "--key", str(pem),
        "--kid", "cli-kid", "--scope", READ, *more,
    ]  # fmt: skip


def lines(out: str) -> dict[str, str]:
    """The checklist's lines by check name, spaces collapsed: ``{"clock": "ok clock ...", ...}``."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "warn", "FAIL", "skip"):
            found[parts[1]] = " ".join(parts)
    return found


def no_secrets(*outputs: str) -> None:
    for output in outputs:
        assert SECRET.search(output) is None, output
        assert "Traceback" not in output


def test_all_green(served: str, pem: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(doctor(served, pem, "--consumer-org", CUSTOMER, "--exchange"))
    captured = capsys.readouterr()
    assert code == 0, captured.out
    checks = lines(captured.out)
    assert checks["clock"].startswith("ok clock ")
    assert checks["grant"].startswith("ok grant ")
    assert f"consumer {CUSTOMER}" in checks["delegation"]
    assert checks["exchange"].startswith("ok exchange ")
    # The four checks of a certificate go on one line for a registered key.
    assert checks["certificate"].endswith(
        "a registered key (kid), no certificate (also chain, organisation, ca, key_match)"
    )
    assert captured.out.rstrip().endswith("6 ok, 0 warnings, 0 failed, 6 skipped")
    assert ANSI not in captured.out  # not a terminal
    no_secrets(captured.out, captured.err)


def test_json_is_one_document(served: str, pem: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(doctor(served, pem, "--scope", "altinn:serviceowner/instances.write", "--json"))
    captured = capsys.readouterr()
    assert code == 1  # the grant failed
    document = json.loads(captured.out)
    assert document["ok"] is False
    assert document["client_id"] == "cli-doctor"
    assert document["counts"]["fail"] == 1
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["clock"]["verdict"] == "ok"
    assert isinstance(checks["clock"]["facts"]["offset_seconds"], float)
    grant = checks["grant"]
    assert grant["verdict"] == "fail"
    assert grant["facts"]["code"] == "MP-200"
    assert "Samarbeidsportalen" in grant["hint"]
    assert ANSI not in captured.out
    no_secrets(captured.out, captured.err)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color", [None, "1"])
def test_colour_on_a_terminal_only_and_not_with_no_color(
    served: str,
    pem: Path,
    no_color: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal = Terminal()
    monkeypatch.setenv("TERM", "xterm-256color")
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr("sys.stdout", terminal)
    assert main(doctor(served, pem)) == 0
    out = terminal.getvalue()
    assert "clock" in out
    assert (ANSI in out) is (no_color is None)
    no_secrets(out, capsys.readouterr().err)


def test_a_skewed_served_emulator_fails_the_clock(
    pem: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = start(Emulator(clock=lambda: time.time() - 60))  # this machine is 60 s ahead
    with emulator.serve() as base_url:
        code = main(doctor(base_url, pem))
    captured = capsys.readouterr()
    assert code == 1
    checks = lines(captured.out)
    assert re.match(r"FAIL clock this machine is (59|60)\.\d s ahead of", checks["clock"])
    assert "hint: grants would be issued more than 10 s in Maskinporten's future" in captured.out
    assert checks["grant"].endswith("needs clock, which did not pass")


def test_a_token_is_inspected_and_never_printed(
    served: str,
    pem: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token_args = [
        "token", *env_args(served), "--client-id", "cli-doctor", "--key", str(pem),
        "--kid", "cli-kid", "--scope", READ,
    ]  # fmt: skip
    assert main(token_args) == 0
    token = capsys.readouterr().out.strip()
    saved = tmp_path / "token.txt"
    saved.write_text(token + "\n")
    monkeypatch.setenv("THE_TOKEN", token)
    monkeypatch.setattr("sys.stdin", io.StringIO(token))
    for given in (["--token", str(saved)], ["--token", "-"], ["--token-env", "THE_TOKEN"]):
        code = main(doctor(served, pem, *given, "--json"))
        captured = capsys.readouterr()
        assert code == 0
        check = next(c for c in json.loads(captured.out)["checks"] if c["name"] == "token")
        assert check["verdict"] == "ok"
        assert check["detail"].startswith("a Maskinporten token of custom, scope")
        assert token not in captured.out + captured.err
        no_secrets(captured.out, captured.err)


def test_a_key_too_small_fails_the_key_check(
    served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - on purpose
    small.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code = main(doctor(served, small))
    captured = capsys.readouterr()
    assert code == 1
    checks = lines(captured.out)
    assert checks["key"].startswith("FAIL key")
    assert "has 1024 bits; at least 2048 are required" in checks["key"]
    assert checks["grant"].startswith("skip grant")
    no_secrets(captured.out, captured.err)


def test_an_expired_certificate_is_diagnosed(
    served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    issued = CertificateAuthority("Buypass Class 3 Test4").issue_enterprise_certificate(
        ORG,
        "UTGATT AS",
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=3),
    )
    p12 = tmp_path / "expired.p12"
    p12.write_bytes(issued.pkcs12(None))
    code = main(
        ["doctor", *env_args(served), "--client-id", "cli-cert", "--p12", str(p12),
         "--scope", READ, "--tier", "test"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    checks = lines(captured.out)
    assert checks["certificate"].startswith("FAIL certificate 'UTGATT AS' expired ")
    assert checks["organisation"].startswith(f"ok organisation organisation {ORG}")
    assert checks["ca"].startswith("ok ca issued by Buypass test CA")
    assert checks["grant"].endswith("needs certificate and key_match, which did not pass")
    no_secrets(captured.out, captured.err)


@pytest.mark.parametrize(
    ("make_args", "words"),
    [
        (lambda pem: ["--key", str(pem.parent / "missing.pem")], ["--key", "does not exist"]),
        (lambda pem: ["--key", str(pem.parent)], ["--key", "a folder"]),
        (lambda pem: ["--key", str(_write(pem, b"not a key"))], ["holds no PEM private key"]),
        (lambda pem: ["--key", str(pem), "--env", "staging"], ["--env staging", "production"]),
        (
            lambda pem: ["--key", str(pem), "--consumer-org", "12"],
            ["--consumer-org 12", "9 digits"],
        ),
        (lambda pem: ["--key", str(pem), "--scope", "no scope"], ["--scope", "invalid scope"]),
        (
            lambda pem: ["--key", str(pem), "--env", "http://127.0.0.1:9/mp/", "--exchange"],
            ["--exchange needs the platform"],
        ),
        (lambda pem: ["--key", str(pem), "--token", str(pem.parent / "none")], ["--token", "read"]),
        (lambda pem: ["--key", str(pem), "--token-env", "NO_SUCH_VAR"], ["NO_SUCH_VAR", "not set"]),
        (
            lambda pem: ["--key", str(pem), "--platform", "http://127.0.0.1:9/platform"],
            ["--platform goes with an issuer URL"],
        ),
    ],
)
def test_wrong_input_is_one_line_and_exit_status_2(
    make_args: Callable[[Path], list[str]],
    words: list[str],
    pem: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    code = main(["doctor", "--client-id", "c", "--kid", "k", "--scope", READ, *make_args(pem)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    error = captured.err.strip().splitlines()
    assert len(error) == 1, captured.err
    assert error[0].startswith("altinn-async: error: ")
    for word in words:
        assert word in error[0]
    no_secrets(captured.err)


def _write(pem: Path, data: bytes) -> Path:
    path = pem.parent / "bad.pem"
    path.write_bytes(data)
    return path


def test_a_wrong_p12_password_is_wrong_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    issued = CertificateAuthority().issue_enterprise_certificate(ORG)
    p12 = tmp_path / "virksomhet.p12"
    p12.write_bytes(issued.pkcs12(b"riktig-passord"))
    monkeypatch.setenv("P12_PASSWORD", "galt-passord")
    code = main(
        ["doctor", "--client-id", "c", "--p12", str(p12), "--password-env", "P12_PASSWORD",
         "--scope", READ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "wrong password" in err
    assert "galt-passord" not in err


def test_usage_errors_of_argparse_are_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--client-id", "c", "--key", "k.pem"])  # no --scope
    assert exited.value.code == 2
    assert "--scope" in capsys.readouterr().err
