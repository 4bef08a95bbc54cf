"""``altinn-async harvest storage`` and ``harvest events`` as an operator runs them: the summary,
``--json``, plain progress lines in a log, the live bar on a terminal, and wrong input."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from altinn_async._cli import main
from altinn_async._cli._harvest import _progress
from altinn_async.testing import Emulator

from .helpers import private_pem, signing_key

CLIENT = "cli-harvester"
COUNT = 60


@attrs.define
class Served:
    emulator: Emulator
    url: str
    tmp: Path
    key_file: Path

    def args(self, *extra: str, source: str = "storage") -> list[str]:
        environment = self.emulator.environment_for(self.url)
        return [
            "harvest", source,
            "--env", environment.maskinporten.issuer, "--platform", environment.platform,
            "--client-id", CLIENT, "--key", str(self.key_file), "--kid", "cli-kid",
            *extra,
        ]  # fmt: skip

    def lines(self, name: str) -> list[dict[str, object]]:
        return [json.loads(line) for line in (self.tmp / name).read_text().splitlines()]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emulator = Emulator()
    key = signing_key("cli-kid")
    emulator.add_maskinporten_client(
        CLIENT,
        org_number="405003309",
        scopes=[
            "altinn:serviceowner/instances.read",
            "altinn:serviceowner/instances.write",
            "altinn:events.subscribe",
        ],
        jwks=[key.public_jwk],
    )
    emulator.add_instances("ttd", "app", COUNT, seed=4)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_pem())
    with emulator.serve() as url:
        yield Served(emulator, url, tmp_path, key_file)


def test_json_prints_the_summary_for_machines(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    out = served.tmp / "out.jsonl"
    assert main(served.args("--org", "ttd", "--out", str(out), "--json")) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["items"] == summary["total"] == COUNT
    assert summary["complete"] is True
    assert summary["checkpoint"] == f"{out}.checkpoint"
    assert captured.err == ""  # no progress, no summary for people


def test_the_download_queue_confirms_and_the_next_run_finds_nothing_new(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    out = served.tmp / "out.jsonl"
    queue = ["--org", "ttd", "--exclude-confirmed", "--complete", "--out", str(out)]
    assert main(served.args(*queue, "--files", str(served.tmp / "data"))) == 0
    assert served.emulator.requests["storage.complete"] == COUNT
    assert "harvest complete: 60 items" in capsys.readouterr().err
    out.unlink()
    Path(f"{out}.checkpoint").unlink()
    assert main(served.args(*queue)) == 0
    assert "harvest complete: 0 items" in capsys.readouterr().err


def test_plain_lines_in_a_log(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "LINE_INTERVAL", 0.1)
    served.emulator.inject_fault("storage.instances", status=0, delay=0.3, times=100)
    out = served.tmp / "out.jsonl"
    assert main(served.args("--org", "ttd", "--size", "20", "--out", str(out))) == 0
    err = capsys.readouterr().err.splitlines()
    progress = [line for line in err if line.startswith("harvest: ")]
    assert len(progress) >= 3
    assert "items" in progress[-1]
    assert "pages" in progress[-1]
    assert err[-4].startswith("harvest complete: 60 items")
    assert "\x1b[" not in "\n".join(err)  # no colours or cursor moves in a log


def test_a_live_bar_on_a_terminal(served: Served) -> None:
    served.emulator.inject_fault("storage.instances", status=0, delay=0.4, times=100)
    leader, follower = pty.openpty()
    out = served.tmp / "out.jsonl"
    harvest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "altinn_async",
            *served.args("--org", "ttd", "--size", "20", "--out", str(out), "--max", "50"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
        elif harvest.poll() is not None:
            break
    harvest.wait(timeout=30)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert harvest.returncode == 0, text
    assert "\x1b[" in text  # drawn and redrawn in place
    assert "harvest" in text
    assert "50 items" in text
    assert "━" in text  # a bar: --max gives a total
    assert "harvest stopped before the end" in text


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--org", "ttd", "--since", "yesterday"], ["--since yesterday", "ISO 8601"]),
        (["--org", "ttd", "--since", "2024-01-01T00:00:00"], ["--since", "zone"]),
        (["--org", "ttd", "--until", "2024-01-01T00:00:00Z"], ["--until goes with --since"]),
        (["--org", "ttd", "--param", "lastChanged"], ["--param lastChanged", "NAME=VALUE"]),
        (["--org", "ttd", "--retry-complete"], ["--retry-complete goes with --complete"]),
        (["--org", "ttd", "--size", "0"], ["--size"]),
        (["--org", "ttd", "--concurrency", "0"], ["--concurrency"]),
        (
            ["--org", "ttd", "--since", "2024-01-01T00:00:00Z", "--windows", "0"],
            ["--windows"],
        ),
    ],
)
def test_wrong_input_is_one_line_naming_the_flag(
    served: Served, capsys: pytest.CaptureFixture[str], extra: list[str], words: list[str]
) -> None:
    out = served.tmp / "out.jsonl"
    assert main(served.args(*extra, "--out", str(out))) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("altinn-async:")]
    for word in words:
        assert word in line


def test_events_needs_a_feed(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    out = served.tmp / "events.jsonl"
    assert main(served.args("--org", "ttd", "--out", str(out), source="events")) == 2
    assert "--org and --app" in capsys.readouterr().err


def test_the_aiohttp_transport_harvests_the_same(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    out = served.tmp / "out.jsonl"
    files = served.tmp / "data"
    args = ["--org", "ttd", "--transport", "aiohttp", "--out", str(out), "--files", str(files)]
    assert main(served.args(*args)) == 0
    ids = [line["id"] for line in served.lines("out.jsonl")]
    assert len(ids) == len(set(ids)) == COUNT
    assert len([p for p in files.rglob("*") if p.is_file()]) == COUNT
    assert "harvest complete: 60 items" in capsys.readouterr().err
