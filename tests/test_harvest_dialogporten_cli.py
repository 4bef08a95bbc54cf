"""``altinn-async harvest dialogporten`` as an operator runs it: a system user's mailbox to its
end, killed with SIGKILL at random instants and resumed, wrong input, and what --help promises."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from altinn_async._cli import main
from altinn_async.testing import Emulator

from .helpers import private_pem, signing_key

CLIENT = "mailbox-harvester"
CUSTOMER = "310000001"
SUBUNIT = "310000002"
COUNT = 120
SCOPES = [
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
]


@attrs.define
class Served:
    emulator: Emulator
    url: str
    dialogs: set[str]
    tmp: Path
    key_file: Path

    def args(self, *extra: str) -> list[str]:
        environment = self.emulator.environment_for(self.url)
        return [
            "harvest", "dialogporten",
            "--env", environment.maskinporten.issuer, "--platform", environment.platform,
            "--client-id", CLIENT, "--key", str(self.key_file), "--kid", "mailbox-kid",
            "--system-user", CUSTOMER, "--page-size", "15",
            "--out", str(self.tmp / "mailbox.jsonl"), "--files", str(self.tmp / "files"),
            *extra,
        ]  # fmt: skip

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "altinn_async", *self.args("--quiet", *extra)]

    def written(self) -> list[tuple[str, str]]:
        text = (self.tmp / "mailbox.jsonl").read_text()
        return [
            (line["dialog"]["id"], line["dialog"]["revision"])
            for line in map(json.loads, text.splitlines())
        ]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emulator = Emulator()
    key = signing_key("mailbox-kid")
    emulator.add_maskinporten_client(
        CLIENT, org_number="991825827", scopes=SCOPES, jwks=[key.public_jwk]
    )
    emulator.add_organization(CUSTOMER)
    emulator.add_organization(SUBUNIT, parent=CUSTOMER)
    emulator.add_system_user(client_id=CLIENT, customer_org=CUSTOMER)
    now = dt.datetime.now(dt.UTC).timestamp()
    dialogs = set(
        emulator.generate_mailbox(
            CUSTOMER, COUNT - 20, seed=3, start=now - 86_400 * 10, attachments_per=(1, 2)
        )
    )
    dialogs |= set(emulator.generate_mailbox(SUBUNIT, 20, seed=4, start=now - 86_400 * 10))
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_pem())
    with emulator.serve() as url:
        yield Served(emulator, url, dialogs, tmp_path, key_file)


def test_a_mailbox_to_its_end_then_only_what_changed(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(served.args("--json")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == COUNT
    assert summary["complete"] is True
    assert {dialog for dialog, _ in served.written()} == served.dialogs
    assert summary["files"] > 0
    for name in ("correspondence.markasread", "correspondence.content", "correspondence.confirm"):
        assert served.emulator.requests[name] == 0
    changed = sorted(served.dialogs)[0]
    served.emulator.update_dialog(changed, status="Completed")
    assert main(served.args("--resume", "--json")) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["items"] == 1
    revisions = served.written()
    assert len(revisions) == len(set(revisions)) == COUNT + 1


def test_sigkill_at_random_instants_then_resume_gives_exactly_the_full_mailbox(
    served: Served,
) -> None:
    # Slow downloads, so that a kill lands anywhere: in a page, between a download and its
    # line, in a commit. Slow enough that the kills land before the harvest can finish on any
    # machine: some 180 downloads of 0.15 s, two at a time, are over 13 s of work, and a run
    # lives at most 1.5 s (at 0.02 s a download, four at a time, a fast machine finished the
    # mailbox in three runs).
    served.emulator.inject_fault("correspondence.download", status=0, delay=0.15, times=10**6)
    rng = random.Random(9)  # noqa: S311 - test timing, not security
    kills = 0
    for _ in range(10):
        harvest = subprocess.Popen(
            served.command("--resume", "--concurrency", "2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(rng.uniform(0.5, 1.5))
            if harvest.poll() is None:
                os.kill(harvest.pid, signal.SIGKILL)
                kills += 1
            harvest.wait(timeout=30)
        finally:
            if harvest.poll() is None:
                harvest.kill()
        stderr = harvest.stderr.read().decode() if harvest.stderr else ""
        if harvest.stderr:
            harvest.stderr.close()
        if harvest.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"the harvest failed on its own: {stderr}")
        path = served.tmp / "mailbox.jsonl"
        written = served.written() if path.exists() else []
        assert len(written) == len(set(written))
    assert kills >= 8
    served.emulator.clear_faults()  # the rest at full speed
    final = subprocess.run(served.command("--resume"), capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    written = served.written()
    assert len(written) == len(set(written)) == COUNT
    assert {dialog for dialog, _ in written} == served.dialogs
    files = [p for p in (served.tmp / "files").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".")]  # no half-written file left


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--system-user", "12345"], ["--system-user", "9 digits"]),
        (["--page-size", "0"], ["--page-size"]),
        (["--overlap", "-1"], ["--overlap"]),
        (["--party", "nobody"], ["party", "organisation number"]),
    ],
)
def test_wrong_input_is_one_line_naming_what_is_wrong(
    served: Served, capsys: pytest.CaptureFixture[str], extra: list[str], words: list[str]
) -> None:
    assert main(served.args(*extra)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("altinn-async:")]
    for word in words:
        assert word in line


def test_help_says_what_it_never_marks_and_what_the_apis_record_anyway(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["harvest", "dialogporten", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "never marks anything read or confirmed" in text
    assert "seen" in text
    assert "Fetched" in text
