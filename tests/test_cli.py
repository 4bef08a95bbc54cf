"""The altinn-async command: the demo, the token command, and clean errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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
    assert main(["demo", "--concurrency", "0"]) == 1
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
    assert code == 1
    assert "password" in err
    assert "wrong" not in err.replace("wrong password", "")
