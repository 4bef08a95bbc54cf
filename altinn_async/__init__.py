"""Async Altinn, Maskinporten and ID-porten for httpx.

Auth flows are ``httpx.Auth`` objects for any ``httpx.AsyncClient``; `altinn_async.testing` is a
faithful local emulator of the services to test against.
"""

from __future__ import annotations

from . import exceptions
from ._altinn2 import Altinn2Client
from ._altinn2_auth import Altinn2Auth, PasswordLogin, enterprise_tls_context
from ._auth import StaticToken, TokenAuth, TokenSource
from ._environment import PRODUCTION, TEST, AuthorizationServer, Environment
from ._exchange import AltinnExchangeAuth
from ._hal import HalResource, Link, parse_hal
from ._idporten import IDPortenAuth, LoginRequest
from ._keys import Signer, SigningKey
from ._maskinporten import MaskinportenAuth, SystemUser
from ._paging import (
    BodyNextField,
    HalNextLink,
    NextHeader,
    ODataPaging,
    Page,
    PageContent,
    Paginator,
    PagingRule,
)
from ._sessions import FileTokenStore, IDTokenClaims, LoginSession, MemoryTokenStore, TokenStore
from ._storage import InstancePage, InstancePager, StorageClient
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import (
    AltinnError,
    APIError,
    AuthorizationError,
    CallbackError,
    CertificateError,
    ConfigurationError,
    DiscoveryError,
    ExchangeError,
    HALError,
    IDTokenError,
    InvalidScopeError,
    KeyLoadError,
    LimitReachedWarning,
    LoginError,
    LoginRequiredError,
    MaskinportenError,
    PaginationError,
    TokenError,
    TokenRequestError,
)

__all__ = [
    "PRODUCTION",
    "TEST",
    "APIError",
    "AccessToken",
    "Altinn2Auth",
    "Altinn2Client",
    "AltinnError",
    "AltinnExchangeAuth",
    "AuthorizationError",
    "AuthorizationServer",
    "BodyNextField",
    "CallbackError",
    "CertificateError",
    "Clock",
    "ConfigurationError",
    "DiscoveryError",
    "Environment",
    "ExchangeError",
    "FileTokenStore",
    "HALError",
    "HalNextLink",
    "HalResource",
    "IDPortenAuth",
    "IDTokenClaims",
    "IDTokenError",
    "InstancePage",
    "InstancePager",
    "InvalidScopeError",
    "KeyLoadError",
    "LimitReachedWarning",
    "Link",
    "LoginError",
    "LoginRequest",
    "LoginRequiredError",
    "LoginSession",
    "MaskinportenAuth",
    "MaskinportenError",
    "MemoryTokenStore",
    "NextHeader",
    "ODataPaging",
    "Page",
    "PageContent",
    "PaginationError",
    "Paginator",
    "PagingRule",
    "PasswordLogin",
    "Signer",
    "SigningKey",
    "StaticToken",
    "StorageClient",
    "SystemUser",
    "TokenAuth",
    "TokenCache",
    "TokenError",
    "TokenRequestError",
    "TokenSource",
    "TokenStore",
    "enterprise_tls_context",
    "exceptions",
    "parse_hal",
]
