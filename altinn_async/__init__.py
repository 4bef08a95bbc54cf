"""Async Altinn, Maskinporten and ID-porten for httpx.

Auth flows are ``httpx.Auth`` objects for any ``httpx.AsyncClient``; `altinn_async.testing` is a
faithful local emulator of the services to test against.
"""

from __future__ import annotations

from . import exceptions
from ._auth import StaticToken, TokenAuth, TokenSource
from ._environment import PRODUCTION, TEST, AuthorizationServer, Environment
from ._exchange import AltinnExchangeAuth
from ._keys import Signer, SigningKey
from ._maskinporten import MaskinportenAuth, SystemUser
from ._storage import InstancePage, InstancePager, StorageClient
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import (
    AltinnError,
    APIError,
    CertificateError,
    ConfigurationError,
    DiscoveryError,
    ExchangeError,
    InvalidScopeError,
    KeyLoadError,
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
    "AltinnError",
    "AltinnExchangeAuth",
    "AuthorizationServer",
    "CertificateError",
    "Clock",
    "ConfigurationError",
    "DiscoveryError",
    "Environment",
    "ExchangeError",
    "InstancePage",
    "InstancePager",
    "InvalidScopeError",
    "KeyLoadError",
    "MaskinportenAuth",
    "MaskinportenError",
    "PaginationError",
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
    "exceptions",
]
