"""The example service in a real browser: the command of docs/getting-started/fastapi-backend.md
starts it (with its emulator), headless Chromium (Debian's ``chromium``, driven by Playwright)
logs a person in on the emulator's TestID page, lands on their page, and logs out; then Ctrl-C
stops the command cleanly.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; `.ci/run` installs it): skipped
without it locally, failed without it under ``CI``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium keeps calling Google's hosts, which this
# closed network refuses; root needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    missing = []
    if CHROMIUM is None:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401, PLC0415
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def service() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python examples/service.py --port 0``, as the docs run it (with a free port)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "service.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.match(r"service:\s+(http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "the example did not say where it serves"
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_a_person_logs_in_in_chromium_and_lands_on_their_page(
    service: tuple[subprocess.Popen[str], str],
) -> None:
    _need_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    process, url = service
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.click("#login")
            # The emulator's TestID page: a person number, then "Log in".
            page.wait_for_selector("#pid")
            assert "TestID" in page.title()
            page.fill("#pid", "24917298544")
            page.click("button[value=login]")
            page.wait_for_url(f"{url}/me")
            assert page.text_content("#count") == "5"
            assert page.locator("li.instance").count() == 5
            assert "authentication level 3" in (page.text_content("#party") or "")
            cookies = {c["name"]: c for c in page.context.cookies(url)}
            session = cookies["altinn_session"]
            assert session["httpOnly"]
            assert session["secure"]
            assert session["sameSite"] == "Lax"
            assert "altinn_session_login" not in cookies
            # Logging out goes through ID-porten and back home, logged out.
            page.click("#logout")
            page.wait_for_url(f"{url}/")
            assert page.locator("#login").count() == 1
            assert "altinn_session" not in {c["name"] for c in page.context.cookies(url)}
            page.goto(f"{url}/me")
            page.wait_for_selector("#pid")  # not logged in: sent to log in again
        finally:
            browser.close()
    # Ctrl-C stops the command: a clean exit, no traceback.
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode in (0, 130), stderr
    assert "Traceback" not in stderr
