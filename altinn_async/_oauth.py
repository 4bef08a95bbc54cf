"""The OAuth 2.0 token endpoint (RFC 6749 §3.2, §5.1, §5.2): one request path, one response
parser and one error parser, for Maskinporten and ID-porten alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import httpx

from . import _telemetry as telemetry
from ._context import TokenContext
from ._http import describe_transport_error
from ._httpcompat import TRANSPORT_ERRORS
from ._retry import send
from ._tokens import AccessToken
from .exceptions import TokenRequestError

__all__ = [
    "OAuthError",
    "TokenEndpoint",
    "TokenResponse",
    "get_with_token",
    "oauth_request_error",
    "parse_oauth_error",
    "parse_token_response",
]

logger = logging.getLogger("altinn_async")

Form = tuple[dict[str, str], dict[str, str]]
"""A form body and the extra headers to send it with."""
FormFactory = Callable[[], Awaitable[Form]]
ErrorFactory = Callable[[httpx.Response, "OAuthError | None", str], TokenRequestError]


@attrs.frozen
class TokenResponse:
    """A successful token response (RFC 6749 §5.1), its secrets out of ``repr``.

    Attributes:
        access_token: the access token (a secret).
        token_type: ``Bearer``.
        expires_in: seconds the access token lives, from when the request was sent.
        sent_at: when the request was sent (seconds since the epoch): expiry counts from here,
            which errs on the early side by the round trip.
        refresh_token: the refresh token, if one was issued (a secret).
        id_token: the OpenID Connect id_token, if one was issued (a secret until it expires).
        scopes: the scopes granted, when the server said (``scope``).
        extra: every other member of the response.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str
    expires_in: float
    sent_at: float
    refresh_token: str | None = attrs.field(default=None, repr=False)
    id_token: str | None = attrs.field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def expires_at(self) -> float:
        """When the access token expires (seconds since the epoch)."""
        return self.sent_at + self.expires_in

    def token(self) -> AccessToken:
        """The access token as an `AccessToken`."""
        return AccessToken(
            access_token=self.access_token,
            expires_at=self.expires_at,
            issued_at=self.sent_at,
            scopes=self.scopes,
        )


@attrs.frozen
class OAuthError:
    """An OAuth error response's body (RFC 6749 §5.2).

    Attributes:
        error: the error code (``invalid_grant``, ...).
        description: ``error_description``, if any.
        uri: ``error_uri``, if any.
    """

    error: str
    description: str | None = None
    uri: str | None = None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


def parse_oauth_error(response: httpx.Response) -> OAuthError | None:
    """The OAuth error in a (read) response's body, or ``None`` if it has none."""
    body = _json_object(response)
    if body is None or not isinstance(body.get("error"), str) or not body["error"]:
        return None
    return OAuthError(
        error=body["error"],
        description=_optional_text(body, "error_description"),
        uri=_optional_text(body, "error_uri"),
    )


def _expires_in(value: object) -> float | None:
    # RFC 6749 says a number; some servers send a string of digits.
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def parse_token_response(
    response: httpx.Response, *, endpoint: str, server: str, sent_at: float
) -> TokenResponse:
    """Read a 200 token response.

    Raises:
        TokenRequestError: the body is not a Bearer token response with a usable ``expires_in``.
    """

    def refuse(reason: str) -> TokenRequestError:
        return TokenRequestError(
            f"{server} answered the token request with {reason}",
            endpoint=endpoint,
            status_code=response.status_code,
        )

    body = _json_object(response)
    if body is None:
        raise refuse("a body that is not a JSON object")
    access_token = _optional_text(body, "access_token")
    if access_token is None:
        raise refuse("no access_token")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise refuse(f"a token of type {token_type!r}, not Bearer")
    expires_in = _expires_in(body.get("expires_in"))
    if expires_in is None:
        raise refuse("no usable expires_in")
    scope = body.get("scope")
    known = {"access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"}
    return TokenResponse(
        access_token=access_token,
        token_type="Bearer",
        expires_in=expires_in,
        sent_at=sent_at,
        refresh_token=_optional_text(body, "refresh_token"),
        id_token=_optional_text(body, "id_token"),
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        extra={k: v for k, v in body.items() if k not in known},
    )


async def get_with_token(
    context: TokenContext,
    url: str,
    token: str,
    *,
    accept: str,
    failure: Callable[[str], Exception],
    params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """GET ``url`` with a bearer ``token`` through the chain's client (without its own auth),
    with retries: Altinn's token exchange, ID-porten's userinfo.

    Raises:
        Exception: ``failure(reason)`` when no answer came.
    """
    client = context.client()

    async def build() -> httpx.Request:
        return client.build_request(
            "GET",
            url,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Accept": accept},
        )

    try:
        return await send(client, build, policy=context.retry, use_client_auth=False)
    except TRANSPORT_ERRORS as exc:
        raise failure(describe_transport_error(exc)) from exc


class TokenEndpoint:
    """An authorization server's form endpoints (token, PAR, revocation), with retries.

    Each try builds its form anew (a Maskinporten grant and a client assertion are single-use).
    Requests go out through the chain's HTTP client without its auth: a client that carries one
    of this library's flows cannot deadlock waiting for its own token, and no other flow's
    credentials reach the authorization server.

    Args:
        context: the chain's client, clock and retry policy.
        server: the server's name for messages (``Maskinporten``, ``ID-porten``).
        error_factory: turns an error response into the exception to raise (a
            `MaskinportenError` with hints, say); a plain `TokenRequestError` by default.
    """

    def __init__(
        self,
        context: TokenContext,
        *,
        server: str,
        error_factory: ErrorFactory | None = None,
    ) -> None:
        self._context = context
        self._server = server
        self._error_factory = error_factory or self._default_error

    async def post(
        self,
        url: str,
        form: FormFactory,
        *,
        what: str,
        idempotent: bool,
        expect: tuple[int, ...] = (200,),
    ) -> tuple[httpx.Response, float]:
        """POST a form; return the (read) response with a status in ``expect`` and when it
        was sent.

        Raises:
            TokenRequestError: no answer after the retries, or another status (with the OAuth
                error fields when the body had them).
        """
        client = self._context.client()
        sent_at = self._context.clock()

        async def build() -> httpx.Request:
            nonlocal sent_at
            data, headers = await form()
            sent_at = self._context.clock()
            return client.build_request(
                "POST", url, data=data, headers={"Accept": "application/json", **headers}
            )

        name = "altinn.oauth." + what.replace(" ", "_")
        attributes = {"altinn.oauth.server": self._server, "altinn.oauth.operation": what}
        with telemetry.span(name, attributes) as span:
            try:
                response = await send(
                    client,
                    build,
                    policy=self._context.retry,
                    idempotent=idempotent,
                    use_client_auth=False,
                )
            except TRANSPORT_ERRORS as exc:
                raise TokenRequestError(
                    f"could not reach {self._server} for the {what} at {url}: "
                    f"{describe_transport_error(exc)}",
                    endpoint=url,
                ) from exc
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code not in expect:
                error = parse_oauth_error(response)
                if error is not None:
                    span.set_attribute("altinn.oauth.error", error.error)
                raise self._error_factory(response, error, what)
        return response, sent_at

    async def token(
        self, url: str, form: FormFactory, *, what: str, idempotent: bool
    ) -> TokenResponse:
        """POST a token request and read the token response.

        Raises:
            TokenRequestError: as for `post`, or the answer is not a token response.
        """
        response, sent_at = await self.post(url, form, what=what, idempotent=idempotent)
        return parse_token_response(response, endpoint=url, server=self._server, sent_at=sent_at)

    def _default_error(
        self, response: httpx.Response, error: OAuthError | None, what: str
    ) -> TokenRequestError:
        return oauth_request_error(response, error, server=self._server, what=what)


def oauth_request_error(
    response: httpx.Response, error: OAuthError | None, *, server: str, what: str
) -> TokenRequestError:
    """A `TokenRequestError` for an error response to ``what`` (e.g. ``token refresh``)."""
    message = f"{server} answered the {what} with HTTP {response.status_code}"
    if error is None:
        message += " without an OAuth error body"
    else:
        message += f": {error.error}"
        if error.description:
            message += f": {error.description}"
    return TokenRequestError(
        message,
        endpoint=str(response.request.url),
        status_code=response.status_code,
        error=None if error is None else error.error,
        error_description=None if error is None else error.description,
        error_uri=None if error is None else error.uri,
    )
