"""The altinn-async command: the demo, the token command, and clean errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from altinn_async._cli import main
from altinn_async.testing import Emulator

from .helpers import private_pem, signing_key

SCOPE = "altinn:serviceowner/instances.read"


@pytest.mark.parametrize("backend", [[], ["--trio"]], ids=["asyncio", "trio"])
def test_demo_pages_everything_with_one_token(
    backend: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--instances", "420", "--apps", "3", "--page-size", "50", *backend]) == 0
    out = capsys.readouterr().out
    assert re.search(r"instances listed:\s+432\b", out)  # and the person's 12
    assert re.search(r"data downloaded:\s+420 elements", out)
    assert re.search(r"Maskinporten /token:\s+1\n", out)
    assert re.search(r"Altinn exchanges:\s+1\n", out)
    # 3 apps of 140 instances in pages of 50: 3 pages each (app-1 has 152).
    assert re.search(r"pages fetched:\s+10\b", out)
    assert re.search(r"person logged in:\s+pid \d{6}\*{5}, idporten-loa-substantial", out)
    assert re.search(r"their instances:\s+12\b", out)
    assert re.search(r"ID-porten /token:\s+1\n", out)


def test_demo_refuses_bad_options_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--concurrency", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("altinn-async: error:")
    assert "Traceback" not in err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    emulator = Emulator()
    key = signing_key("cli-kid")
    emulator.add_maskinporten_client(
        "cli-client", org_number="405003309", scopes=[SCOPE], jwks=[key.public_jwk]
    )
    pem = tmp_path / "client.pem"
    pem.write_bytes(private_pem())
    with emulator.serve(host="127.0.0.1", port=0) as base_url:
        yield base_url, pem


def test_token_exchange_and_decode(
    served: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, pem = served
    args = [
        "token", "--env", f"{base_url}/maskinporten/", "--platform", f"{base_url}/platform",
        "--client-id", "cli-client", "--key", str(pem), "--kid", "cli-kid", "--scope", SCOPE,
    ]  # fmt: skip
    assert main(args) == 0
    maskinporten_token = capsys.readouterr().out.strip()
    assert maskinporten_token.count(".") == 2
    assert main([*args, "--exchange", "--decode"]) == 0
    captured = capsys.readouterr()
    view = json.loads(captured.err)
    assert view["claims"]["urn:altinn:org"] == "ttd"
    assert view["claims"]["iss"] == f"{base_url}/platform/authentication/api/v1/openid/"
    assert 0 < view["expires_in"] <= 1800
    assert captured.out.strip().count(".") == 2


def test_token_error_is_one_line_with_the_code(
    served: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, pem = served
    code = main(
        ["token", "--env", f"{base_url}/maskinporten/", "--client-id", "nobody",
         "--key", str(pem), "--kid", "cli-kid", "--scope", SCOPE]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "MP-100" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_p12_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from altinn_async.testing import CertificateAuthority  # noqa: PLC0415

    issued = CertificateAuthority().issue_enterprise_certificate("405003309")
    p12 = tmp_path / "virksomhet.p12"
    p12.write_bytes(issued.pkcs12(b"hemmelig"))
    monkeypatch.setenv("P12_PASSWORD", "wrong")
    code = main(
        ["token", "--client-id", "c", "--p12", str(p12), "--password-env", "P12_PASSWORD",
         "--scope", SCOPE]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "password" in err
    assert "wrong" not in err.replace("wrong password", "")


# --- every failure is one line ---------------------------------------------------------------


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # The served emulator's own server may log what it was sent; the command says one line.
    lines = [line for line in err.strip().splitlines() if not line.startswith("WARNING:  ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("altinn-async: error: ")
    return lines[0]


@pytest.fixture
def harvest_env(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("KEY", "k")
    monkeypatch.setenv("PASSWORD", "pw")
    return ["--api-key-env", "KEY", "--username", "ola", "--password-env", "PASSWORD"]


def test_harvest_where_nothing_listens(
    harvest_env: list[str],
    tmp_path: Path,
    free_port: Callable[[], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        ["harvest", "altinn2", "--env", url, *harvest_env, "--out", str(tmp_path / "o.jsonl")]
    )
    line = error_line(capsys)
    assert code == 1
    assert "Connection refused" in line
    assert "is anything listening there" in line


def test_harvest_over_tls_with_an_untrusted_certificate(
    harvest_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from altinn_async.testing import CertificateAuthority  # noqa: PLC0415

    emulator = Emulator()
    with emulator.serve(certificate_authority=CertificateAuthority()) as url:
        code = main(
            [
                "harvest",
                "altinn2",
                "--env",
                f"{url}/altinn2",
                *harvest_env,
                "--out",
                str(tmp_path / "o"),
            ]
        )
    line = error_line(capsys)
    assert code == 1
    assert "certificate" in line
    assert "--ca" in line


def test_harvest_speaking_http_to_https(
    harvest_env: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator().serve() as url:
        https = url.replace("http://", "https://")
        code = main(
            ["harvest", "altinn2", "--env", https, *harvest_env, "--out", str(tmp_path / "o")]
        )
    assert code == 1
    assert "https" in error_line(capsys)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["harvest", "--env", "staging"], ["--env staging", "test", "production"]),
        (["harvest", "--out", "{missing}/out.jsonl"], ["--out", "does not exist"]),
        (["harvest", "--concurrency", "0"], ["--concurrency"]),
        (["harvest", "--max", "-1"], ["--max"]),
        (["harvest", "--files", "{missing}/files"], ["--files", "does not exist"]),
        (["harvest", "--rate-limit", "0"], ["--rate-limit"]),
    ],
)
def test_harvest_input_errors_name_the_flag(
    harvest_env: list[str],
    tmp_path: Path,
    args: list[str],
    words: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = str(tmp_path / "no" / "such" / "dir")
    full = [*harvest_env, "--out", str(tmp_path / "o.jsonl"), *args[1:]]
    code = main([args[0], "altinn2", *(a.replace("{missing}", missing) for a in full)])
    line = error_line(capsys)
    assert code == 2
    for word in words:
        assert word in line
    assert "=" not in line.split("error: ", 1)[1].split(":")[0]  # flags, not Python keywords


def test_token_with_an_unknown_environment_lists_the_valid_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(private_pem())
    code = main(
        ["token", "--env", "staging", "--client-id", "c", "--key", str(pem), "--kid", "k",
         "--scope", SCOPE]
    )  # fmt: skip
    line = error_line(capsys)
    assert code == 2
    for word in ("staging", "test", "production", "https://"):
        assert word in line


def test_token_with_an_encrypted_key_and_no_password_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_pem_private_key(private_pem(), None)
    pem = tmp_path / "encrypted.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    code = main(
        ["token", "--client-id", "c", "--key", str(pem), "--kid", "k", "--scope", SCOPE]
    )  # fmt: skip
    line = error_line(capsys)
    assert code == 2
    assert "--password-env" in line
    assert "password=" not in line


@pytest.mark.parametrize("flag", ["--consumer-org", "--system-user"])
def test_token_checks_organisation_numbers(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(private_pem())
    code = main(
        ["token", "--client-id", "c", "--key", str(pem), "--kid", "k", "--scope", SCOPE,
         flag, "12345"]
    )  # fmt: skip
    assert code == 2
    assert f"{flag} 12345" in error_line(capsys)


def test_the_emulator_refuses_a_key_file_in_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["emulator", "--port", "0", "--key-out", str(tmp_path / "no" / "key.pem")])
    line = error_line(capsys)
    assert code == 2
    assert "--key-out" in line


def test_usage_errors_are_argparse_one_liners(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["harvest"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: the following arguments are required" in err


# --- Ctrl-C ------------------------------------------------------------------------------------


def _interrupt(
    args: list[str], *, after: float, again: float | None = None
) -> tuple[int, str, float]:
    process = subprocess.Popen(
        [sys.executable, "-m", "altinn_async", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # it started (the demo prints what it seeded first)
    time.sleep(after)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    if again is not None:
        time.sleep(again)
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    return process.returncode, err, time.monotonic() - interrupted


def test_ctrl_c_stops_the_demo_within_a_second() -> None:
    code, err, took = _interrupt(["demo", "--instances", "20000"], after=0.5)
    assert code == 130
    # Within a second, plus what the process takes to exit on a busy CI machine; it was 8-14 s.
    assert took < 3.0
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["altinn-async: interrupted"]


def test_a_second_ctrl_c_is_at_once_and_quiet() -> None:
    code, err, took = _interrupt(["demo", "--instances", "20000", "--serve"], after=0.5, again=0.05)
    assert code == 130
    assert took < 3.0
    assert "Traceback" not in err
    assert "ExceptionGroup" not in err


# One rule for the exit status of every command: 2 for wrong input, 1 for a command that ran and
# failed. (Wrong input exited 1 in token, harvest and clients but 2 in doctor.)
KEY_FLAGS = ["--key", "{key}", "--kid", "k"]


PLATFORM = ["--platform", "http://127.0.0.1:9"]
FEED = ["--org", "ttd", "--app", "a", "--out", "{out}"]


@pytest.mark.parametrize(
    ("command", "site"),
    [
        (["token", "--client-id", "c", *KEY_FLAGS, "--scope", "a:b"], PLATFORM),
        (["harvest", "storage", "--client-id", "c", *KEY_FLAGS, *FEED], PLATFORM),
        (["harvest", "events", "--client-id", "c", *KEY_FLAGS, *FEED], PLATFORM),
        (
            ["clients", "list", "--admin-client-id", "c", *KEY_FLAGS],
            ["--selfservice", "http://127.0.0.1:9"],
        ),
        (["doctor", "--client-id", "c", *KEY_FLAGS, "--scope", "a:b"], PLATFORM),
    ],
    ids=lambda value: " ".join(value[:2]) if value[0] != "--platform" else "",
)
def test_every_command_exits_2_for_wrong_input_and_1_for_a_failure(
    command: list[str], site: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key.pem"
    key.write_bytes(private_pem())
    filled = [
        part.replace("{key}", str(key)).replace("{out}", str(tmp_path / "o.jsonl"))
        for part in command
    ]
    assert main([*filled, "--env", "staging"]) == 2  # an unknown environment
    assert "--env staging" in error_line(capsys)
    missing = [str(tmp_path / "none.pem") if part == str(key) else part for part in filled]
    assert main([*missing, "--env", "test"]) == 2  # a key file that is not there
    assert "none.pem" in error_line(capsys)
    # Nothing listens at this issuer: the command runs, and fails.
    assert main([*filled, "--env", "http://127.0.0.1:9/", *site]) == 1
    assert error_line(capsys)
