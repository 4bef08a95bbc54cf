"""Personal data in reprs, messages and log lines: national identity numbers show their birth
date only."""

from __future__ import annotations

import re

import httpx

__all__ = ["mask_pid", "mask_pids", "safe_url"]

# An 11-digit run is a national identity number (fødselsnummer, d-nummer) more often than not:
# Altinn 2's service-owner lists take one as ?subject=, and it is an Altinn 2 username.
_PID = re.compile(r"(?<!\d)(\d{6})\d{5}(?!\d)")


def mask_pid(pid: str) -> str:
    """``24917298544`` as ``249172*****`` (anything that is not 11 digits as it is)."""
    return _PID.sub(r"\1*****", pid) if len(pid) == 11 else pid


def mask_pids(text: str) -> str:
    """``text`` with every 11-digit run masked."""
    return _PID.sub(r"\1*****", text)


def safe_url(url: str | httpx.URL) -> str:
    """``url`` for a message or a log line: national identity numbers in it masked."""
    return mask_pids(str(url))
