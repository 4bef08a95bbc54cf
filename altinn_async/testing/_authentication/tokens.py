"""Altinn tokens: how the authentication service issues them, and how the platform APIs
(Storage, Altinn 2) authenticate a request that carries one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._toolkit.asgi import Request
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
        self.issued = IssuedTokens(self.key, altinn_issuer_for)
        self._lifetime = lifetime

    def __repr__(self) -> str:
        return f"AltinnTokens({self.key!r})"

    def issue(self, claims: dict[str, Any], now: float, *, expires: int | None = None) -> str:
        """A signed Altinn token: ``claims`` with ``nbf`` and ``iat`` now and ``exp`` after the
        configured lifetime (or at ``expires``)."""
        issued_at = int(now)
        return self.key.sign(
            {
                **claims,
                "nbf": issued_at,
                "exp": issued_at + self._lifetime if expires is None else expires,
                "iat": issued_at,
            }
        )

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
