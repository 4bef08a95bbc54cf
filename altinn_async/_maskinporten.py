"""Maskinporten: the JWT-bearer grant (RFC 7523), signed with a registered key or a certificate."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from ._auth import TokenAuth, origin_policy
from ._context import TokenContext
from ._environment import Environment
from ._httpcompat import AsyncClient
from ._jwt import sign_jwt, signer_header
from ._keys import ALGORITHMS, Signer
from ._oauth import Form, OAuthError, TokenEndpoint, oauth_request_error
from ._origins import ForeignOrigins
from ._retry import RetryPolicy
from ._scopes import check_scopes
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import ConfigurationError, MaskinportenError, TokenRequestError

__all__ = ["MaskinportenAuth", "SystemUser"]

logger = logging.getLogger("altinn_async")

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ORG_NUMBER = re.compile(r"\d{9}")
_MP_CODE = re.compile(r"MP-\d{3}")
_TRACE_ID = re.compile(r"\(trace_id:\s*([^)\s]+)\)")

# One line per common mistake, keyed by Maskinporten's code (protocol reference §1.6).
_HINTS: dict[str, str] = {
    "MP-100": "the client id is unknown in this environment: test and production clients differ",
    "MP-110": "the grant's aud must be exactly the issuer of this environment (with its trailing "
    "slash); check that the environment matches where the client is registered",
    "MP-120": "the certificate is not accepted: expired, revoked, or a production certificate "
    "used in test (or the other way round)",
    "MP-121": "the registered key has expired (keys live at most a year): register a new one",
    "MP-122": "the certificate belongs to another organisation than the client",
    "MP-123": "x5c must be a JSON array of base64 DER certificates, leaf first",
    "MP-124": "the signature does not match: is kid the id of the key you signed with?",
    "MP-130": "the grant had expired when it arrived: check this machine's clock (NTP)",
    "MP-012": "a grant was sent twice; every request needs a fresh jti",
    "MP-200": "the client is not granted one of the scopes: add it to the client in "
    "Samarbeidsportalen",
    "MP-201": "one of the scopes cannot be used with Maskinporten",
    "MP-250": "your organisation has not been granted access to the scope by its owner",
    "MP-251": "the customer has not delegated the scope to your organisation in Altinn",
}
_CLOCK_HINT = "the grant's iat is ahead of Maskinporten's clock: check this machine's clock (NTP)"


@attrs.frozen
class SystemUser:
    """A system-user request (``authorization_details`` of type ``urn:altinn:systemuser``).

    Attributes:
        org_number: the customer organisation the system user belongs to (9 digits, or
            ``0192:``-prefixed).
        external_ref: the ``externalRef`` chosen when the system user was created, if any.
    """

    org_number: str
    external_ref: str | None = None

    def __attrs_post_init__(self) -> None:
        if not _ORG_NUMBER.fullmatch(self.org_number.removeprefix("0192:")):
            raise ConfigurationError(
                "org_number must be 9 digits (optionally '0192:'-prefixed), "
                f"got {self.org_number!r}"
            )

    def authorization_detail(self) -> dict[str, Any]:
        """This request as one ``authorization_details`` entry."""
        detail: dict[str, Any] = {
            "type": "urn:altinn:systemuser",
            "systemuser_org": {
                "authority": "iso6523-actorid-upis",
                "ID": f"0192:{self.org_number.removeprefix('0192:')}",
            },
        }
        if self.external_ref is not None:
            detail["externalRef"] = self.external_ref
        return detail


class MaskinportenAuth(TokenAuth):
    """Access tokens from Maskinporten, as an ``httpx.Auth`` for any ``httpx.AsyncClient``.

    Each token request carries a freshly signed grant (new ``jti`` and ``iat``) with ``aud`` set to
    the environment's Maskinporten issuer. Tokens are cached by everything that makes them differ,
    fetched once however many requests wait, and refreshed before they expire.

    The token goes only to the environment's Altinn origins (the platform and Altinn 2), the
    origins of ``resource``, and ``allowed_origins``: a Maskinporten token for another
    organisation's API needs that API's origin there.

    Example::

        key = altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")
        auth = altinn.MaskinportenAuth(
            client_id="...", key=key, scopes=["altinn:serviceowner/instances.read"],
            environment=altinn.TEST)

    Args:
        client_id: the Maskinporten client (integration) id.
        key: the signing key: a registered key with ``kid``, or an enterprise certificate (``x5c``),
            or any `Signer`.
        scopes: the scopes to ask for; checked against the naming rules before any request.
        environment: where to get tokens (`TEST`, `PRODUCTION`, or your own `Environment`).
        resource: audience restriction (RFC 8707); sent as an array.
        consumer_org: the customer's organisation number, when a supplier acts for it.
        authorization_details: a `SystemUser`, or raw ``authorization_details`` entries.
        grant_lifetime: seconds from ``iat`` to ``exp`` of each grant (at most 120).
        http_client: the client for token requests (one is made, and closed by `aclose`, if
            omitted). Its own auth, if any, is not used for token requests.
        cache: a `TokenCache` to share between flows (one of its own if omitted).
        clock: the time source for grants and expiry (``time.time``); give it to the cache if
            you pass one.
        retry: the `RetryPolicy` for token requests; each try signs a new grant, so even a
            request that reached Maskinporten may be sent again.
        allowed_origins: more origins to send the token to.
        foreign_origins: ``"refuse"`` (the default) or ``"omit"``: what a request to any other
            origin gets.
    """

    _flow = "maskinporten"

    def __init__(
        self,
        *,
        client_id: str,
        key: Signer,
        scopes: Iterable[str],
        environment: Environment,
        resource: str | Sequence[str] | None = None,
        consumer_org: str | None = None,
        authorization_details: SystemUser | Sequence[Mapping[str, Any]] | None = None,
        grant_lifetime: int = 60,
        http_client: AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
    ) -> None:
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        resources: tuple[str, ...] | None = (
            None
            if resource is None
            else (resource,)
            if isinstance(resource, str)
            else tuple(resource)
        )
        super().__init__(
            environment=environment,
            context=TokenContext(http_client=http_client, cache=cache, clock=clock, retry=retry),
            owns_context=True,
            origins=origin_policy(
                environment,
                extra=[r for r in resources or () if "://" in r],
                allowed_origins=allowed_origins,
                foreign_origins=foreign_origins,
                what="the Maskinporten token",
            ),
        )
        if not client_id.strip():
            raise ConfigurationError("client_id must be a non-empty string")
        _check_signer(key)
        if not 1 <= grant_lifetime <= 120:
            raise ConfigurationError("grant_lifetime must be between 1 and 120 seconds")
        if consumer_org is not None and not _ORG_NUMBER.fullmatch(consumer_org):
            raise ConfigurationError(f"consumer_org must be 9 digits, got {consumer_org!r}")
        self._client_id = client_id
        self._key = key
        self._scopes = check_scopes(scopes)
        self._resource = resources
        self._consumer_org = consumer_org
        self._authorization_details = _authorization_details(authorization_details)
        self._grant_lifetime = grant_lifetime
        self._endpoint = TokenEndpoint(
            self._context, server="Maskinporten", error_factory=self._error
        )
        self._key_tuple: Hashable = (
            "maskinporten",
            environment.maskinporten.issuer,
            client_id,
            tuple(sorted(self._scopes)),
            self._resource,
            consumer_org,
            None
            if self._authorization_details is None
            else json.dumps(self._authorization_details, sort_keys=True, separators=(",", ":")),
        )

    def __repr__(self) -> str:
        return (
            f"MaskinportenAuth(client_id={self._client_id!r}, scopes={list(self._scopes)!r}, "
            f"environment={self.environment.name!r})"
        )

    @property
    def client_id(self) -> str:
        """The Maskinporten client id."""
        return self._client_id

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for."""
        return self._scopes

    @property
    def key(self) -> Signer:
        """The key new grants are signed with."""
        return self._key

    @property
    def grant_lifetime(self) -> int:
        """Seconds from ``iat`` to ``exp`` of each grant."""
        return self._grant_lifetime

    def use_key(self, key: Signer) -> Signer:
        """Sign every grant from now on with ``key``; return the key used until now.

        For a key rotation (`KeyRotation`): register the new key on the client, wait until
        Maskinporten knows it, then switch. The switch is one assignment, and each grant reads
        the key once, so a grant being signed while it happens is signed and named (``kid`` or
        ``x5c``) by the same key, old or new, however long its signer takes. Cached tokens are
        kept: a token got with the old key stays valid until it expires, and the next token is
        fetched with the new key.

        Raises:
            ConfigurationError: the key cannot sign Maskinporten grants (as for the
                constructor's ``key``).
        """
        _check_signer(key)
        previous, self._key = self._key, key
        logger.info(
            "%s signs new grants with key %s (was %s)",
            self._describe(),
            _key_name(key),
            _key_name(previous),
            extra={"altinn_flow": self._flow, "altinn_client_id": self._client_id},
        )
        return previous

    @property
    def cache_key(self) -> Hashable:
        return self._key_tuple

    @property
    def exchange_provider(self) -> str:
        return "maskinporten"

    def _describe(self) -> str:
        return f"Maskinporten client {self._client_id!r}"

    def grant_claims(self, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a new grant: fresh ``jti`` and ``iat`` every call."""
        iat = int(self._context.clock() if now is None else now)
        claims: dict[str, Any] = {
            "aud": self.environment.maskinporten.issuer,
            "iss": self._client_id,
            "scope": " ".join(self._scopes),
            "iat": iat,
            "exp": iat + self._grant_lifetime,
            "jti": str(uuid.uuid4()),
        }
        if self._resource is not None:
            claims["resource"] = list(self._resource)
        if self._consumer_org is not None:
            claims["consumer_org"] = self._consumer_org
        if self._authorization_details is not None:
            claims["authorization_details"] = self._authorization_details
        return claims

    def grant_header(self) -> dict[str, Any]:
        """The JOSE header: ``kid`` for a registered key, else the ``x5c`` chain."""
        return signer_header(self._key)

    async def create_grant(self) -> str:
        """Sign a new grant (a secret: it can be exchanged for a token until it expires)."""
        # One read of the key: a use_key() while the signer works does not mix two keys.
        key = self._key
        return await sign_jwt(key, signer_header(key), self.grant_claims())

    async def _grant_form(self) -> Form:
        return {"grant_type": JWT_BEARER, "assertion": await self.create_grant()}, {}

    async def _fetch(self) -> AccessToken:
        extra = {"altinn_flow": self._flow, "altinn_client_id": self._client_id}
        logger.debug(
            "requesting a Maskinporten token (%s, scopes=%s)",
            self._describe(),
            self._scopes,
            extra={**extra, "altinn_scopes": " ".join(self._scopes)},
        )
        response = await self._endpoint.token(
            self.environment.maskinporten.token_endpoint,
            self._grant_form,
            what="token request",
            idempotent=True,  # every try signs a new grant
        )
        token = response.token()
        logger.info(
            "got a Maskinporten token (%s, scopes=%s, expires in %.0f s)",
            self._describe(),
            " ".join(token.scopes) or " ".join(self._scopes),
            token.lifetime,
            extra={
                **extra,
                "altinn_scopes": " ".join(token.scopes) or " ".join(self._scopes),
                "altinn_expires_in": round(token.lifetime),
            },
        )
        return token

    def _error(
        self, response: httpx.Response, error: OAuthError | None, what: str
    ) -> TokenRequestError:
        if error is None:
            return oauth_request_error(response, None, server="Maskinporten", what=what)
        description = error.description
        code_match = _MP_CODE.search(error.uri or "") or _MP_CODE.search(description or "")
        code = code_match.group(0) if code_match else None
        trace = _TRACE_ID.search(description or "")
        hint = _HINTS.get(code or "")
        if hint is None and description and "issue time is after now" in description.lower():
            hint = _CLOCK_HINT
        message = f"Maskinporten refused the grant of {self._describe()}: {error.error}"
        if description:
            message += f": {description}"
        if code and code not in message:
            message += f" [{code}]"
        if hint:
            message += f" (hint: {hint})"
        return MaskinportenError(
            message,
            endpoint=str(response.request.url),
            status_code=response.status_code,
            error=error.error,
            error_description=description,
            error_uri=error.uri,
            code=code,
            trace_id=trace.group(1) if trace else None,
            hint=hint,
        )


def _check_signer(key: object) -> None:
    if not isinstance(key, Signer):
        raise ConfigurationError(
            "key must be an altinn_async.SigningKey or implement the Signer protocol"
        )
    if key.algorithm not in ALGORITHMS:
        raise ConfigurationError(
            f"Maskinporten accepts RS256, RS384 and RS512 grants, not {key.algorithm!r}"
        )
    if key.key_id is None and not key.certificate_chain:
        raise ConfigurationError(
            "the key has neither a kid (a key registered on the client) nor a certificate "
            "(x5c): pass kid= when loading a registered key"
        )


def _key_name(key: Signer) -> str:
    return f"kid {key.key_id!r}" if key.key_id is not None else "the certificate (x5c)"


def _authorization_details(
    value: SystemUser | Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if isinstance(value, SystemUser):
        return [value.authorization_detail()]
    details = [dict(entry) for entry in value]
    for entry in details:
        if not isinstance(entry.get("type"), str):
            raise ConfigurationError("every authorization_details entry needs a 'type'")
    if not details:
        raise ConfigurationError("authorization_details must not be empty")
    return details
