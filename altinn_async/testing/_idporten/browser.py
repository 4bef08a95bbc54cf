"""The person in the browser: ``Emulator.idporten_login`` opens an authorization URL and logs in
on the TestID page, exactly as a browser would send the requests."""

from __future__ import annotations

import html
import re
import urllib.parse

import httpx

from .core import LOGIN_PATH

_HIDDEN_TRANSACTION = re.compile(r'<input type="hidden" name="transaction" value="([^"]*)">')
_PAGE_ERROR = re.compile(r'<p class="error"[^>]*>(.*?)</p>', re.DOTALL)


def _failure(step: str, response: httpx.Response) -> str:
    found = _PAGE_ERROR.search(response.text)
    detail = html.unescape(found.group(1)) if found else response.text[:200]
    return f"ID-porten refused {step} (HTTP {response.status_code}): {detail}"


async def testid_login(
    transport: httpx.AsyncBaseTransport, authorization_url: str, *, pid: str, deny: bool
) -> str:
    """``GET`` the authorization URL, then submit the TestID form (or cancel it); return the URL
    ID-porten redirects the browser to.

    Raises:
        ValueError: the URL is not absolute, or ID-porten showed an error page instead of
            redirecting, or answered something unexpected.
    """
    parts = urllib.parse.urlsplit(authorization_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"authorization_url must be an absolute URL, got {authorization_url!r}")
    origin = f"{parts.scheme}://{parts.netloc}"
    async with httpx.AsyncClient(transport=transport) as http:
        response = await http.get(authorization_url)
        if response.status_code == 302:
            return response.headers["location"]
        found = _HIDDEN_TRANSACTION.search(response.text)
        if response.status_code != 200 or found is None:
            raise ValueError(_failure("the authorization request", response))
        form = {"transaction": html.unescape(found.group(1))}
        if deny:
            form["action"] = "cancel"
        else:
            form.update(action="login", pid=pid)
        response = await http.post(f"{origin}{LOGIN_PATH}", data=form)
        if response.status_code == 302:
            return response.headers["location"]
        raise ValueError(_failure("the TestID login", response))
