"""ID-porten's refusals: OAuth JSON on the back channel, an error page in the browser, or an
error redirect to a verified ``redirect_uri`` (RFC 6749 §4.1.2.1, §5.2)."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterable, Mapping

from .._toolkit.responses import JSON_UTF8, NO_STORE, html_response, json_response
from .._toolkit.responses import redirect_response as _redirect
from .._toolkit.router import Refusal


class OAuthError(Refusal):
    """A refused back-channel request: an OAuth JSON error body."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(
            json_response(
                {"error": error, "error_description": description},
                status,
                content_type=JSON_UTF8,
                headers=(*NO_STORE, *headers),
            )
        )
        self.error = error
        self.description = description


def invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    """401 ``invalid_client``; a client that tried HTTP Basic also gets the Basic challenge."""
    headers = (("www-authenticate", 'Basic realm="idporten"'),) if basic else ()
    return OAuthError("invalid_client", description, 401, headers)


def invalid_grant(description: str) -> OAuthError:
    """400 ``invalid_grant``."""
    return OAuthError("invalid_grant", description)


class RequestError(Exception):
    """An invalid authorization request, before it is known how to report it (to the client's
    redirect_uri, on a page, or as OAuth JSON from ``/par``)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class PageError(Refusal):
    """An error shown to the person in the browser (no trustworthy redirect_uri)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(html_response(error_page(error, description), status))
        self.error = error
        self.description = description


def with_params(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (an existing query stays, RFC 6749 §3.1.2)."""
    parts = urllib.parse.urlsplit(uri)
    extra = urllib.parse.urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


def error_redirect(
    redirect_uri: str, error: str, description: str, state: str | None, issuer: str
) -> Refusal:
    """The browser sent back to the client with ``error``, ``state`` and ``iss``."""
    params = {"error": error, "error_description": description}
    if state:
        params["state"] = state
    params["iss"] = issuer
    return Refusal(_redirect(with_params(redirect_uri, params)))


def error_page(error: str, description: str) -> str:
    """The HTML of an error page."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>ID-porten (emulator): error</title></head><body>"
        "<h1>Something went wrong</h1>"
        f'<p class="error" role="alert">{html.escape(error)}: {html.escape(description)}</p>'
        "</body></html>\n"
    )
