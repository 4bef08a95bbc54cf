"""Altinn tokens: how the authentication service issues them, and how the platform APIs
(Storage, Altinn 2) authenticate a request that carries one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .._toolkit.asgi import Request
from .._toolkit.claims import CLOCK_SKEW
from .._toolkit.jose import AltinnSigningCertificate, IssuedTokens

API = "/platform/authentication/api/v1"
RUNTIME_COOKIE = "AltinnStudioRuntime"


def altinn_issuer_for(origin: str) -> str:
    """The ``iss`` of Altinn tokens issued at ``origin``."""
    return f"{origin}{API}/openid/"


class AltinnTokens:
    """Altinn's token-signing certificate and the tokens it signs.

    Args:
        clock: the emulator's clock (the certificate's validity starts at its time).
        lifetime: seconds an issued token lives unless told otherwise.
    """

    def __init__(self, clock: Callable[[], float], *, lifetime: int) -> None:
        self.key = AltinnSigningCertificate(clock)
        self.issued = IssuedTokens(self.key, altinn_issuer_for, revoked=self._expired_early)
        self._lifetime = lifetime
        # Tokens issued since the last expire_all, and those it ended, by signature: exp. A
        # leaf lock (held for a dict operation, never while taking another), so token checks
        # work with or without the shared lock held.
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}
        self._ended: dict[str, int] = {}
        self._prune_at = 1024

    def __repr__(self) -> str:
        return f"AltinnTokens({self.key!r})"

    def issue(self, claims: dict[str, Any], now: float, *, expires: int | None = None) -> str:
        """A signed Altinn token: ``claims`` with ``nbf`` and ``iat`` now and ``exp`` after the
        configured lifetime (or at ``expires``)."""
        return self.issue_with_claims(claims, now, expires=expires)[0]

    def issue_with_claims(
        self, claims: dict[str, Any], now: float, *, expires: int | None = None
    ) -> tuple[str, dict[str, Any]]:
        """`issue`, and the claims the token was signed with."""
        issued_at = int(now)
        exp = issued_at + self._lifetime if expires is None else expires
        written = {**claims, "nbf": issued_at, "exp": exp, "iat": issued_at}
        token = self.key.sign(written)
        with self._lock:
            self._live[_signature(token)] = exp
            if len(self._live) > self._prune_at:
                self._live = _unexpired(self._live, now)
                self._prune_at = max(1024, 2 * len(self._live))
        return token, written

    def expire_all(self, now: float) -> None:
        """End every token issued so far: from now on each is refused as an expired one is."""
        with self._lock:
            self._ended = _unexpired({**self._ended, **self._live}, now)
            self._live = {}

    def _expired_early(self, token: str) -> bool:
        with self._lock:
            return _signature(token) in self._ended

    def authenticate(self, request: Request, now: float) -> dict[str, Any] | None:
        """The claims of the request's valid Altinn token, or None.

        The token is read as Altinn's ``JwtCookieHandler`` reads it: ``Authorization: Bearer``
        first, then the ``AltinnStudioRuntime`` cookie. Like that handler (``ValidateIssuer =
        false``), the issuer is not compared with the request's origin.
        """
        token = request.bearer_token() or request.cookies().get(RUNTIME_COOKIE)
        if not token:
            return None
        return self.issued.claims(token, now=now)


def _signature(token: str) -> str:
    return token.rpartition(".")[2]


def _unexpired(tokens: dict[str, int], now: float) -> dict[str, int]:
    # What has expired (clock skew included) is refused anyway and need not be remembered.
    return {signature: exp for signature, exp in tokens.items() if exp + CLOCK_SKEW >= now}
