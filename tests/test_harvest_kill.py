"""``altinn-async harvest storage`` killed with SIGKILL at 20 random instants, resumed each time:
the output ends with every instance exactly once and every data file complete."""

from __future__ import annotations

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

from altinn_async.testing import Emulator

from .helpers import private_pem, signing_key

CLIENT = "kill-harvester"
COUNT = 240


@attrs.define
class Served:
    emulator: Emulator
    url: str
    ids: list[str]
    tmp: Path
    key_file: Path

    def command(self, *extra: str) -> list[str]:
        environment = self.emulator.environment_for(self.url)
        return [
            sys.executable, "-m", "altinn_async", "harvest", "storage",
            "--env", environment.maskinporten.issuer, "--platform", environment.platform,
            "--client-id", CLIENT, "--key", str(self.key_file), "--kid", "kill-kid",
            "--org", "ttd", "--size", "20", "--since", "2020-01-01T00:00:00Z",
            "--until", "2030-01-01T00:00:00Z", "--windows", "4",
            "--out", str(self.tmp / "out.jsonl"), "--files", str(self.tmp / "data"),
            "--concurrency", "6", "--quiet", *extra,
        ]  # fmt: skip

    def written(self, *, killed: bool = False) -> list[str]:
        """The ids in the output. After a kill its last line may be cut short: what was written
        after the last commit, which the next run truncates; else every line is whole."""
        *lines, tail = (self.tmp / "out.jsonl").read_text().split("\n")
        assert killed or tail == "", f"a line cut short: {tail[:80]!r}"
        return [json.loads(line)["id"] for line in lines]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emulator = Emulator()
    key = signing_key("kill-kid")
    emulator.add_maskinporten_client(
        CLIENT,
        org_number="405003309",
        scopes=["altinn:serviceowner/instances.read"],
        jwks=[key.public_jwk],
    )
    seeded = emulator.add_instances("ttd", "app", COUNT, seed=11)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_pem())
    # Slow downloads, so that a kill lands anywhere in the run: in a page, between a download
    # and its line, in a commit.
    emulator.inject_fault("storage.data", status=0, delay=0.03, times=1_000_000)
    with emulator.serve() as url:
        yield Served(emulator, url, [i["id"] for i in seeded], tmp_path, key_file)


def test_sigkill_at_20_random_instants_then_resume_gives_exactly_the_full_set(
    served: Served,
) -> None:
    rng = random.Random(20)  # noqa: S311 - test timing, not security
    kills = 0
    # Slow enough that 20 kills land before the harvest could finish, however fast the machine
    # starts Python: 240 downloads of 0.25 s, two at a time, are 30 s of work; a run lives at
    # most 1.8 s. (At 0.03 s a download a fast machine finished the list in three runs.)
    served.emulator.clear_faults()
    served.emulator.inject_fault("storage.data", status=0, delay=0.25, times=1_000_000)
    for _ in range(20):
        harvest = subprocess.Popen(
            served.command("--resume", "--concurrency", "2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(rng.uniform(0.4, 1.8))
            if harvest.poll() is None:
                os.kill(harvest.pid, signal.SIGKILL)
                kills += 1
            harvest.wait(timeout=30)
        finally:
            if harvest.poll() is None:
                harvest.kill()
        if harvest.returncode not in (0, -signal.SIGKILL):
            stderr = harvest.stderr.read().decode() if harvest.stderr else ""
            pytest.fail(f"the harvest failed on its own: {stderr}")
        if harvest.stderr:
            harvest.stderr.close()
        written = served.written(killed=True) if (served.tmp / "out.jsonl").exists() else []
        # What is written so far never repeats, however the run ended.
        assert len(written) == len(set(written))
    assert kills >= 15  # most runs were killed, not finished
    served.emulator.clear_faults()  # the rest at full speed
    final = subprocess.run(served.command("--resume"), capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    written = served.written()
    assert sorted(written) == sorted(served.ids)  # every instance, exactly once
    files = [p for p in (served.tmp / "data").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".")]  # no half-written file left
    assert len(files) == COUNT  # one data element each
    for path in files:
        assert path.read_bytes().endswith(b"</Skjema>\n"), path  # each one complete


def test_ctrl_c_stops_at_once_commits_and_the_resume_ends_exactly_once(served: Served) -> None:
    harvest = subprocess.Popen(
        served.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    checkpoint = served.tmp / "out.jsonl.checkpoint"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not checkpoint.exists():
        time.sleep(0.05)
    time.sleep(0.8)
    interrupted = time.monotonic()
    harvest.send_signal(signal.SIGINT)
    _, err = harvest.communicate(timeout=30)
    assert time.monotonic() - interrupted < 3
    assert harvest.returncode == 130
    assert err.strip().splitlines()[-1] == "altinn-async: interrupted"
    assert "Traceback" not in err
    kept = served.written()
    assert 0 < len(kept) < COUNT  # what was done when Ctrl-C came was committed
    final = subprocess.run(served.command("--resume"), capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    assert sorted(served.written()) == sorted(served.ids)
