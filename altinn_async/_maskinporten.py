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

from ._auth import TokenAuth
from ._environment import Environment
from ._jwt import sign_jwt, signer_header
from ._keys import ALGORITHMS, Signer
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

    Args:
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
            omitted). It must not carry this auth itself.
        cache: a `TokenCache` to share between flows (one of its own if omitted).
        clock: the time source for grants and expiry (``time.time``); give it to the cache if
            you pass one.
        max_attempts: tries per token request on network errors, 429 and 5xx; each try signs a
            new grant.
    """

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
        http_client: httpx.AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        max_attempts: int = 3,
    ) -> None:
        super().__init__(
            environment=environment,
            http_client=http_client,
            cache=cache,
            clock=clock,
            max_attempts=max_attempts,
        )
        if not client_id.strip():
            raise ConfigurationError("client_id must be a non-empty string")
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
        if not 1 <= grant_lifetime <= 120:
            raise ConfigurationError("grant_lifetime must be between 1 and 120 seconds")
        if consumer_org is not None and not _ORG_NUMBER.fullmatch(consumer_org):
            raise ConfigurationError(f"consumer_org must be 9 digits, got {consumer_org!r}")
        self._client_id = client_id
        self._key = key
        self._scopes = check_scopes(scopes)
        self._resource: tuple[str, ...] | None = (
            None
            if resource is None
            else (resource,)
            if isinstance(resource, str)
            else tuple(resource)
        )
        self._consumer_org = consumer_org
        self._authorization_details = _authorization_details(authorization_details)
        self._grant_lifetime = grant_lifetime
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
    def cache_key(self) -> Hashable:
        return self._key_tuple

    @property
    def exchange_provider(self) -> str:
        return "maskinporten"

    def _describe(self) -> str:
        return f"Maskinporten client {self._client_id!r}"

    def grant_claims(self, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a new grant: fresh ``jti`` and ``iat`` every call."""
        iat = int(self._cache.clock() if now is None else now)
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
        return await sign_jwt(self._key, self.grant_header(), self.grant_claims())

    async def _fetch(self) -> AccessToken:
        endpoint = self.environment.maskinporten.token_endpoint
        sent_at = self._cache.clock()

        async def build(client: httpx.AsyncClient) -> httpx.Request:
            nonlocal sent_at
            grant = await self.create_grant()
            sent_at = self._cache.clock()
            return client.build_request(
                "POST",
                endpoint,
                data={"grant_type": JWT_BEARER, "assertion": grant},
                headers={"Accept": "application/json"},
            )

        logger.debug(
            "requesting a Maskinporten token (%s, scopes=%s)", self._describe(), self._scopes
        )
        outcome = await self._send_with_retries(build, what="Maskinporten token request")
        if isinstance(outcome, httpx.TransportError):
            raise TokenRequestError(
                f"could not reach Maskinporten at {endpoint}: {type(outcome).__name__}",
                endpoint=endpoint,
            ) from outcome
        await outcome.aread()
        if outcome.status_code != 200:
            raise self._error(outcome, endpoint)
        token = _parse_token_response(outcome, endpoint, sent_at)
        logger.info(
            "got a Maskinporten token (%s, scopes=%s, expires in %.0f s)",
            self._describe(),
            " ".join(token.scopes) or " ".join(self._scopes),
            token.lifetime,
        )
        return token

    def _error(self, response: httpx.Response, endpoint: str) -> TokenRequestError:
        body = _json_object(response)
        if body is None or not isinstance(body.get("error"), str):
            return TokenRequestError(
                f"Maskinporten answered HTTP {response.status_code} without an OAuth error body",
                endpoint=endpoint,
                status_code=response.status_code,
            )
        error = str(body["error"])
        description = body.get("error_description")
        description = description if isinstance(description, str) else None
        error_uri = body.get("error_uri")
        error_uri = error_uri if isinstance(error_uri, str) else None
        code_match = _MP_CODE.search(error_uri or "") or _MP_CODE.search(description or "")
        code = code_match.group(0) if code_match else None
        trace = _TRACE_ID.search(description or "")
        hint = _HINTS.get(code or "")
        if hint is None and description and "issue time is after now" in description.lower():
            hint = _CLOCK_HINT
        message = f"Maskinporten refused the grant of {self._describe()}: {error}"
        if description:
            message += f": {description}"
        if code and code not in message:
            message += f" [{code}]"
        if hint:
            message += f" (hint: {hint})"
        return MaskinportenError(
            message,
            endpoint=endpoint,
            status_code=response.status_code,
            error=error,
            error_description=description,
            error_uri=error_uri,
            code=code,
            trace_id=trace.group(1) if trace else None,
            hint=hint,
        )


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


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _parse_token_response(response: httpx.Response, endpoint: str, sent_at: float) -> AccessToken:
    body = _json_object(response)
    token = body.get("access_token") if body else None
    expires_in = body.get("expires_in") if body else None
    if body is None or not isinstance(token, str) or not token:
        raise TokenRequestError(
            "the token endpoint answered 200 without an access_token",
            endpoint=endpoint,
            status_code=response.status_code,
        )
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenRequestError(
            f"the token endpoint gave a token of type {token_type!r}, not Bearer",
            endpoint=endpoint,
            status_code=response.status_code,
        )
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        raise TokenRequestError(
            "the token endpoint gave no usable expires_in",
            endpoint=endpoint,
            status_code=response.status_code,
        )
    scope = body.get("scope")
    # expires_in counts from when the server answered; counting from when we sent the request
    # errs on the early side by the round trip.
    return AccessToken(
        access_token=token,
        expires_at=sent_at + float(expires_in),
        issued_at=sent_at,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )
