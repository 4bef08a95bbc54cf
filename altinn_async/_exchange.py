"""Altinn's token exchange: a Maskinporten or ID-porten token in, an Altinn token out."""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterable

import httpx

from . import _telemetry as telemetry
from ._auth import TokenAuth, TokenSource, origin_policy
from ._context import TokenContext
from ._environment import Environment
from ._http import read_error_body
from ._httpcompat import AsyncClient
from ._jwt import unverified_claims
from ._oauth import get_with_token
from ._origins import ForeignOrigins
from ._retry import RetryPolicy
from ._tokens import AccessToken, TokenCache
from .exceptions import ConfigurationError, ExchangeError, TokenError

__all__ = ["AltinnExchangeAuth"]

logger = logging.getLogger("altinn_async")

_PROVIDERS = frozenset({"maskinporten", "id-porten", "altinnstudio"})


class AltinnExchangeAuth(TokenAuth):
    """Altinn 3 tokens, exchanged from any upstream token source, as an ``httpx.Auth``.

    Calls ``GET {platform}/authentication/api/v1/exchange/{provider}`` with the upstream token and
    caches the Altinn token by its own ``exp`` (30 minutes for Maskinporten, the upstream expiry
    for ID-porten), not by the upstream token's lifetime. The cache key is the upstream *source*
    (its client, scopes and environment), so a refreshed upstream token does not force a new
    exchange while the Altinn token is still good.

    The exchange belongs to its upstream's chain: it uses the upstream's token cache and HTTP
    client, so an exchanged token dies with the upstream session (a logout, another person's
    login under the same session key), and an exchange made anew for every request (a web
    handler's ``AltinnExchangeAuth(idporten.session(key))``) still exchanges once. `aclose`
    closes the upstream flow too, and with it what the chain made.

    If the exchange refuses the upstream token with 401, that upstream token is dropped and the
    exchange tried once more with a new one.

    Example::

        auth = altinn.AltinnExchangeAuth(maskinporten)
        async with httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform) as http:
            r = await http.get("/storage/api/v1/instances", params={"org": "ttd"})

    Args:
        upstream: the token source to exchange (`MaskinportenAuth`, an `IDPortenSession`,
            `StaticToken`).
        environment: the Altinn environment (the upstream's by default).
        provider: ``maskinporten``, ``id-porten`` or ``altinnstudio`` (the upstream's by default).
        test: send ``test=true``: Altinn then maps Digdir's organisation to ``ttd``.
        http_client: a client for exchange requests instead of the upstream's.
        cache: the `TokenCache`, for an upstream that has none of its own (`StaticToken`); a
            flow of this library always shares its upstream's.
        retry: the `RetryPolicy` for exchange requests (the upstream's by default).
        allowed_origins: more origins to send the Altinn token to.
        foreign_origins: ``"refuse"`` (the default) or ``"omit"``: what a request to any other
            origin gets.
    """

    _flow = "exchange"

    def __init__(
        self,
        upstream: TokenSource,
        *,
        environment: Environment | None = None,
        provider: str | None = None,
        test: bool = False,
        http_client: AsyncClient | None = None,
        cache: TokenCache | None = None,
        retry: RetryPolicy | None = None,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
    ) -> None:
        if not isinstance(upstream, TokenSource):
            raise ConfigurationError(
                "upstream must be a token source such as MaskinportenAuth or an IDPortenSession"
            )
        environment = environment or upstream.environment
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        if isinstance(upstream, TokenAuth):
            if cache is not None and cache is not upstream.cache:
                raise ConfigurationError(
                    "an exchange shares its upstream's TokenCache (so that its tokens end with "
                    "the upstream's session): give the cache to the upstream instead"
                )
            context = upstream.context.derive(http_client=http_client, retry=retry)
            owns = False  # closing the upstream closes the chain
        else:
            context = TokenContext(http_client=http_client, cache=cache, retry=retry)
            owns = True
        super().__init__(
            environment=environment,
            context=context,
            owns_context=owns,
            origins=origin_policy(
                environment,
                allowed_origins=allowed_origins,
                foreign_origins=foreign_origins,
                what="the Altinn token",
            ),
        )
        provider = (provider or upstream.exchange_provider).lower()
        if provider not in _PROVIDERS:
            raise ConfigurationError(
                f"provider must be one of {sorted(_PROVIDERS)}, got {provider!r}"
            )
        self._upstream = upstream
        self._provider = provider
        self._test = test
        # Worked out once: the per-request path only looks them up.
        self._upstream_key = upstream.cache_key
        self._key = ("altinn-exchange", environment.platform, provider, test, self._upstream_key)

    def __repr__(self) -> str:
        return (
            f"AltinnExchangeAuth({self._upstream!r}, provider={self._provider!r}, "
            f"environment={self.environment.name!r})"
        )

    @property
    def upstream(self) -> TokenSource:
        """The token source whose tokens are exchanged."""
        return self._upstream

    @property
    def cache_key(self) -> Hashable:
        return self._key

    def _derived_from(self) -> Hashable | None:
        return self._upstream_key

    def _shares_tokens(self) -> bool:
        # An exchange of a person's session stays in the process, as the session's tokens do.
        upstream = self._upstream
        return not isinstance(upstream, TokenAuth) or upstream._shares_tokens()  # noqa: SLF001

    @property
    def exchange_provider(self) -> str:
        # An Altinn token can itself be exchanged again only as "altinnstudio"; say what it is.
        return "altinnstudio"

    def _describe(self) -> str:
        return f"Altinn exchange ({self._provider})"

    async def aclose(self) -> None:
        """Close what the chain made: the upstream flow's HTTP client, or this one's own."""
        await super().aclose()
        close = getattr(self._upstream, "aclose", None)
        if close is not None:
            await close()

    async def _fetch(self) -> AccessToken:
        endpoint = self.environment.exchange_url(self._provider)
        upstream_token = await self._upstream.get_token()
        try:
            return await self._exchange(endpoint, upstream_token)
        except ExchangeError as exc:
            if exc.status_code != 401:
                raise
            refused = exc
        # The upstream token was refused (revoked, or expired early by clock skew): drop it and
        # try once more with a new one.
        logger.info(
            "the exchange refused the upstream token; fetching a new one and retrying",
            extra={"altinn_flow": self._flow, "altinn_provider": self._provider},
        )
        await self._upstream.invalidate(upstream_token)
        try:
            renewed = await self._upstream.get_token()
        except TokenError as exc:
            raise ExchangeError(
                f"{refused}, and no new upstream token could be had: {exc}",
                endpoint=endpoint,
                provider=self._provider,
                status_code=refused.status_code,
                problem=refused.problem,
            ) from exc
        return await self._exchange(endpoint, renewed)

    async def _exchange(self, endpoint: str, upstream_token: AccessToken) -> AccessToken:
        def unreachable(reason: str) -> ExchangeError:
            return ExchangeError(
                f"could not reach Altinn's token exchange at {endpoint}: {reason}",
                endpoint=endpoint,
                provider=self._provider,
            )

        attributes = {"altinn.exchange.provider": self._provider}
        with telemetry.span("altinn.token.exchange", attributes) as span:
            outcome = await get_with_token(
                self._context,
                endpoint,
                upstream_token.access_token,
                # The raw JWT as text/plain; the JSON-string form is parsed too.
                accept="text/plain, application/json;q=0.5",
                params={"test": "true"} if self._test else None,
                failure=unreachable,
            )
            span.set_attribute("http.response.status_code", outcome.status_code)
            if outcome.status_code != 200:
                raise _exchange_error(outcome, endpoint, self._provider)
            token = _parse_exchanged(outcome, endpoint, self._provider, self._context.clock())
        expires_in = token.expires_in(self._context.clock())
        logger.info(
            "exchanged a %s token for an Altinn token (expires in %.0f s)",
            self._provider,
            expires_in,
            extra={
                "altinn_flow": self._flow,
                "altinn_provider": self._provider,
                "altinn_endpoint": telemetry.url_attribute(httpx.URL(endpoint)),
                "altinn_status": outcome.status_code,
                "altinn_expires_in": round(expires_in),
            },
        )
        return token


def _parse_exchanged(
    response: httpx.Response, endpoint: str, provider: str, now: float
) -> AccessToken:
    text = response.text.strip()
    if text.startswith('"'):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, str):
            raise ExchangeError(
                "the exchange answered 200 with a malformed JSON string",
                endpoint=endpoint,
                provider=provider,
                status_code=200,
            )
        text = decoded.strip()
    try:
        claims = unverified_claims(text, what="the exchanged Altinn token")
    except TokenError as exc:
        raise ExchangeError(
            f"the exchange answered 200 but {exc}",
            endpoint=endpoint,
            provider=provider,
            status_code=200,
        ) from exc
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise ExchangeError(
            "the exchanged Altinn token has no 'exp'",
            endpoint=endpoint,
            provider=provider,
            status_code=200,
        )
    iat = claims.get("iat")
    issued_at = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else now
    scope = claims.get("scope")
    return AccessToken(
        access_token=text,
        expires_at=float(exp),
        issued_at=issued_at,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )


def _exchange_error(response: httpx.Response, endpoint: str, provider: str) -> ExchangeError:
    body = read_error_body(response)
    reason = {
        400: "the request was refused",
        401: "the upstream token was not accepted",
        403: "the upstream token lacks an Altinn scope",
        410: "this login method is discontinued",
    }.get(response.status_code, "the exchange failed")
    message = f"Altinn token exchange ({provider}) answered HTTP {response.status_code}: {reason}"
    if body.summary:
        message += f" ({body.summary})"
    return ExchangeError(
        message,
        endpoint=endpoint,
        provider=provider,
        status_code=response.status_code,
        problem=body.problem,
    )
