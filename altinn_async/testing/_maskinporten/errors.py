"""Maskinporten's refusals: OAuth JSON with ``error``, ``error_description`` ending in a trace id,
and ``error_uri`` naming the MP-xxx code (``altinn-protocol.md`` §1.6)."""

from __future__ import annotations

import secrets

from .._toolkit.responses import NO_STORE, json_response
from .._toolkit.router import Refusal

AUTH_FAILED = "Invalid assertion. Client authentication failed."


class GrantError(Refusal):
    """A refused token request, answered with Maskinporten's error body."""

    def __init__(
        self, error: str, description: str, code: str | None = None, status: int = 400
    ) -> None:
        body: dict[str, str] = {
            "error": error,
            "error_description": f"{description} (trace_id: {secrets.token_hex(16)})",
        }
        if code is not None:
            body["error_uri"] = f"https://maskinporten.no/errors/{code}"
        super().__init__(
            json_response(body, status, content_type="application/json", headers=NO_STORE)
        )
        self.error = error
        self.code = code


def invalid_grant(description: str, code: str | None = None) -> GrantError:
    """``invalid_grant``: the grant (or the client it authenticates) is refused."""
    return GrantError("invalid_grant", description, code)


def authentication_failed(reason: str, code: str | None = None) -> GrantError:
    """``invalid_grant`` for a client that could not be authenticated."""
    return invalid_grant(f"{AUTH_FAILED} {reason}", code)


def invalid_parameter() -> GrantError:
    """MP-011: a claim of the wrong type or shape."""
    return GrantError("invalid_request", "Invalid assertion. Invalid parameter value", "MP-011")


def invalid_scope(description: str, code: str) -> GrantError:
    """MP-200 / MP-201."""
    return GrantError("invalid_scope", description, code)


def invalid_details(code: str, description: str) -> GrantError:
    """MP-301 / MP-302 / MP-303: ``authorization_details`` refused."""
    return GrantError("invalid_authorization_details", description, code)
