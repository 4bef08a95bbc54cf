"""``POST /api/authentication/authenticatewithpassword``: the password login and its session
cookie, named per environment (``.AspxAuthTT02`` and so on since release 25.4); with
``?ForceEIAuthentication`` an enterprise user's login with the organisation's certificate.
Ten failures within two hours lock the account for an hour (release 22.4)."""

from __future__ import annotations

import hmac
import json
import secrets
from collections import deque

from .._toolkit.asgi import Request, Response
from .._toolkit.router import route
from .gate import FORCE_EI, NO_ORGANIZATION, PREFIX, Handlers, refuse, sha
from .model import Session

FAILED_LOGINS = 10  # failures within FAILURE_WINDOW lock the account for LOCKOUT seconds
FAILURE_WINDOW = 7200.0
LOCKOUT = 3600.0

# Reason phrases the sources do not give; the emulator's own wording.
WRONG_PASSWORD = "Authentication failed: wrong username or password."
ACCOUNT_LOCKED = "Authentication failed: the account is locked after too many failed logins."


def _credentials(body: bytes) -> tuple[str, str] | None:
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeError):
        return None
    if not isinstance(document, dict):
        return None
    name, password = document.get("UserName"), document.get("UserPassword")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return None
    return name, password


class PasswordLogin(Handlers):
    """The login endpoint."""

    @route(
        "POST",
        rf"(?i){PREFIX}/authentication/authenticatewithpassword",
        "altinn2.authenticate",
    )
    async def authenticate(self, request: Request) -> Response:
        """A session cookie for a correct username (or person number) and password."""
        self._gate.check_api_key(request, service_owner=False)
        credentials = _credentials(request.body)
        if credentials is None:
            raise refuse(400, 'The request body must be {"UserName":…,"UserPassword":…}')
        flagged = request.has_param(FORCE_EI)
        certificate_org = self._gate.certificate_org(request) if flagged else None
        if flagged and certificate_org is None:
            raise refuse(401, NO_ORGANIZATION)
        with self._shared.lock:
            cookie = self._login(*credentials, flagged=flagged, certificate_org=certificate_org)
        secure = "; secure" if request.origin.startswith("https:") else ""
        header = f"{self._gate.sessions.cookie_name}={cookie}; path=/{secure}; HttpOnly"
        return Response(200, b"", [("set-cookie", header)])

    def _login(
        self, name: str, password: str, *, flagged: bool, certificate_org: str | None
    ) -> str:
        """Check a password login (lock held); the new session's cookie."""
        now = self._shared.clock()
        store = self._store
        user = store.users.get(name.lower()) or store.users_by_pid.get(name.strip())
        if user is None:
            raise refuse(401, WRONG_PASSWORD)
        if user.enterprise_org is not None and not flagged:
            # Enterprise users log in only with their organisation's certificate.
            raise refuse(401, NO_ORGANIZATION)
        if store.locked_until.get(user.key, 0.0) > now:
            raise refuse(401, ACCOUNT_LOCKED)
        correct = hmac.compare_digest(password.encode(), user.password.encode())
        if not correct or (flagged and user.enterprise_org != certificate_org):
            failures = store.failures.setdefault(user.key, deque())
            failures.append(now)
            while failures and failures[0] <= now - FAILURE_WINDOW:
                failures.popleft()
            if len(failures) >= FAILED_LOGINS:
                store.locked_until[user.key] = now + LOCKOUT
                failures.clear()
            raise refuse(401, WRONG_PASSWORD)
        store.failures.pop(user.key, None)
        lifetime = self._gate.sessions.lifetime
        expired = [k for k, v in store.sessions.items() if now - v.last_seen > lifetime]
        for key in expired:
            del store.sessions[key]
        cookie = secrets.token_hex(64).upper()
        store.sessions[sha(cookie)] = Session(user.key, user.enterprise_org, now)
        return cookie
