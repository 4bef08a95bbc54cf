"""Environments: which Maskinporten, ID-porten and Altinn hosts to talk to."""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from ._http import describe_transport_error
from ._httpcompat import TRANSPORT_ERRORS, AsyncClient, as_httpx
from .exceptions import ConfigurationError, DiscoveryError

__all__ = ["PRODUCTION", "TEST", "AuthorizationServer", "Environment"]


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, what: str) -> str:
    """Return ``url`` if it is absolute and safe to send credentials to, else raise.

    Plain ``http`` is accepted only for loopback hosts (``localhost``, ``*.localhost``, 127/8, ::1),
    which is where the emulator and test servers live; grants and tokens never travel in clear text
    to anything else.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not _is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"{what} must use https (plain http is allowed only for loopback hosts), got {url!r}"
        )
    return url


@attrs.frozen
class AuthorizationServer:
    """An OAuth 2.0 authorization server (Maskinporten, ID-porten, or one compatible with them).

    Build one with the endpoints given explicitly, or with `AuthorizationServer.discover` from the
    issuer's metadata. The ``issuer`` is used verbatim as the ``aud`` of grants and client
    assertions, so it must be exactly the issuer the server announces (Maskinporten's ends with a
    slash).
    """

    issuer: str
    token_endpoint: str
    jwks_uri: str | None = None
    authorization_endpoint: str | None = None
    pushed_authorization_request_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    authorization_response_iss_parameter_supported: bool = False

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if isinstance(value, str):
                check_url(value, what=field.name)

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], *, expected_issuer: str | None = None
    ) -> AuthorizationServer:
        """Build from an RFC 8414 / OpenID Connect discovery document.

        Raises:
            DiscoveryError: the document lacks ``issuer`` or ``token_endpoint``, or names another
                issuer than ``expected_issuer`` (a trailing slash aside).
        """
        issuer = metadata.get("issuer")
        token_endpoint = metadata.get("token_endpoint")
        if not isinstance(issuer, str) or not isinstance(token_endpoint, str):
            raise DiscoveryError("the metadata document has no 'issuer' or no 'token_endpoint'")
        if expected_issuer is not None and issuer.rstrip("/") != expected_issuer.rstrip("/"):
            raise DiscoveryError(
                f"the metadata names issuer {issuer!r}, but it was fetched for {expected_issuer!r}"
            )

        def optional(name: str) -> str | None:
            value = metadata.get(name)
            return value if isinstance(value, str) else None

        try:
            return cls(
                issuer=issuer,
                token_endpoint=token_endpoint,
                jwks_uri=optional("jwks_uri"),
                authorization_endpoint=optional("authorization_endpoint"),
                pushed_authorization_request_endpoint=optional(
                    "pushed_authorization_request_endpoint"
                ),
                userinfo_endpoint=optional("userinfo_endpoint"),
                end_session_endpoint=optional("end_session_endpoint"),
                revocation_endpoint=optional("revocation_endpoint"),
                introspection_endpoint=optional("introspection_endpoint"),
                authorization_response_iss_parameter_supported=metadata.get(
                    "authorization_response_iss_parameter_supported"
                )
                is True,
            )
        except ConfigurationError as exc:
            raise DiscoveryError(
                f"the metadata document for {issuer!r} is unusable: {exc}"
            ) from exc

    @classmethod
    async def discover(
        cls, issuer: str, *, http_client: AsyncClient | None = None
    ) -> AuthorizationServer:
        """Fetch the issuer's metadata and build the server from it.

        Tries ``{issuer}/.well-known/oauth-authorization-server`` (Maskinporten publishes this),
        the RFC 8414 form with the path after the well-known segment, and then
        ``{issuer}/.well-known/openid-configuration`` (ID-porten, Altinn).

        Raises:
            DiscoveryError: no metadata document could be fetched, or it names another issuer.
        """
        check_url(issuer, what="issuer")
        candidates = _metadata_urls(issuer)
        owned = http_client is None
        client = (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0))
            if http_client is None
            else as_httpx(http_client)
        )
        failures: list[str] = []
        try:
            for url in candidates:
                try:
                    response = await client.get(url, headers={"Accept": "application/json"})
                except TRANSPORT_ERRORS as exc:
                    failures.append(f"{url}: {describe_transport_error(exc)}")
                    continue
                if response.status_code != 200:
                    failures.append(f"{url}: HTTP {response.status_code}")
                    continue
                try:
                    document = response.json()
                except json.JSONDecodeError:
                    failures.append(f"{url}: not JSON")
                    continue
                if not isinstance(document, dict):
                    failures.append(f"{url}: not a JSON object")
                    continue
                return cls.from_metadata(document, expected_issuer=issuer)
        finally:
            if owned:
                await client.aclose()
        raise DiscoveryError(
            f"no metadata document found for issuer {issuer!r} ({'; '.join(failures)})"
        )


def _metadata_urls(issuer: str) -> list[str]:
    base = issuer.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    urls = [f"{base}/.well-known/oauth-authorization-server"]
    if parts.path:
        urls.append(
            f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}"
        )
    urls.append(f"{base}/.well-known/openid-configuration")
    return urls


def _strip_slash(url: str) -> str:
    return str(url).rstrip("/")


def _strip_optional_slash(url: str | None) -> str | None:
    return None if url is None else _strip_slash(url)


@attrs.frozen
class Environment:
    """One Altinn environment: its Maskinporten, ID-porten, Altinn 3 platform and Altinn 2 hosts.

    Use the presets `TEST` (tt02, test.maskinporten.no, test.idporten.no) and `PRODUCTION`, build
    one with the endpoints given explicitly, or let `Environment.discover` read the issuers'
    metadata.

    Attributes:
        name: a short label, shown in logs and errors.
        maskinporten: the Maskinporten authorization server.
        platform: the Altinn 3 platform base URL, without a trailing slash
            (``https://platform.tt02.altinn.no``); use it as an ``httpx.AsyncClient`` ``base_url``.
        idporten: the ID-porten OpenID provider, if this environment has one.
        altinn2: the Altinn 2 portal base URL (``https://tt02.altinn.no``), if it has one.
        selfservice: Digdir's self-service API for Maskinporten clients, keys and scopes,
            with its version path (``https://api.test.samarbeid.digdir.no/api/v1``), if any.
    """

    name: str
    maskinporten: AuthorizationServer
    platform: str = attrs.field(converter=_strip_slash)
    idporten: AuthorizationServer | None = None
    altinn2: str | None = attrs.field(default=None, converter=_strip_optional_slash)
    selfservice: str | None = attrs.field(default=None, converter=_strip_optional_slash)

    def __attrs_post_init__(self) -> None:
        check_url(self.platform, what="platform")
        if self.altinn2 is not None:
            check_url(self.altinn2, what="altinn2")
        if self.selfservice is not None:
            check_url(self.selfservice, what="selfservice")

    @property
    def altinn_issuer(self) -> str:
        """The ``iss`` of Altinn tokens: ``{platform}/authentication/api/v1/openid/``."""
        return f"{self.platform}/authentication/api/v1/openid/"

    def exchange_url(self, provider: str) -> str:
        """The token-exchange URL for ``maskinporten``, ``id-porten`` or ``altinnstudio``."""
        return f"{self.platform}/authentication/api/v1/exchange/{provider}"

    @classmethod
    async def discover(
        cls,
        *,
        name: str,
        maskinporten: str,
        platform: str,
        idporten: str | None = None,
        altinn2: str | None = None,
        http_client: AsyncClient | None = None,
    ) -> Environment:
        """Build an environment from issuer URLs, reading each issuer's metadata.

        Args:
            name: a short label for logs and errors.
            maskinporten: the Maskinporten (or compatible) issuer URL.
            platform: the Altinn 3 platform base URL.
            idporten: the ID-porten (or compatible OpenID provider) issuer URL, if any.
            altinn2: the Altinn 2 base URL, if any.
            http_client: the client to fetch metadata with (a temporary one if omitted).

        Raises:
            DiscoveryError: an issuer's metadata could not be fetched or named another issuer.
        """
        mp = await AuthorizationServer.discover(maskinporten, http_client=http_client)
        idp = (
            await AuthorizationServer.discover(idporten, http_client=http_client)
            if idporten is not None
            else None
        )
        return cls(name=name, maskinporten=mp, platform=platform, idporten=idp, altinn2=altinn2)


def _digdir(
    name: str, *, maskinporten: str, idporten: str, platform: str, altinn2: str, samarbeid: str
) -> Environment:
    # Maskinporten and ID-porten lay their endpoints out alike in test and production; only the
    # hosts differ (the ID-porten browser pages live on login.<host>).
    return Environment(
        name=name,
        maskinporten=AuthorizationServer(
            issuer=f"https://{maskinporten}/",
            token_endpoint=f"https://{maskinporten}/token",
            jwks_uri=f"https://{maskinporten}/jwk",
        ),
        platform=platform,
        idporten=AuthorizationServer(
            issuer=f"https://{idporten}",
            authorization_endpoint=f"https://login.{idporten}/authorize",
            pushed_authorization_request_endpoint=f"https://{idporten}/par",
            token_endpoint=f"https://{idporten}/token",
            userinfo_endpoint=f"https://{idporten}/userinfo",
            jwks_uri=f"https://{idporten}/jwks.json",
            end_session_endpoint=f"https://login.{idporten}/logout",
            revocation_endpoint=f"https://{idporten}/token/revoke",
            introspection_endpoint=f"https://{idporten}/token/introspect",
            authorization_response_iss_parameter_supported=True,
        ),
        altinn2=altinn2,
        # The self-service API moved under /api/v1 on 2025-05-22.
        selfservice=f"https://{samarbeid}/api/v1",
    )


TEST = _digdir(
    "test",
    maskinporten="test.maskinporten.no",
    idporten="test.idporten.no",
    platform="https://platform.tt02.altinn.no",
    altinn2="https://tt02.altinn.no",
    samarbeid="api.test.samarbeid.digdir.no",
)
"""Altinn's test environment: TT02, test.maskinporten.no and test.idporten.no."""

PRODUCTION = _digdir(
    "production",
    maskinporten="maskinporten.no",
    idporten="idporten.no",
    platform="https://platform.altinn.no",
    altinn2="https://www.altinn.no",
    samarbeid="api.samarbeid.digdir.no",
)
"""Altinn production: platform.altinn.no, maskinporten.no and idporten.no."""
