"""Async Altinn, Maskinporten and ID-porten for httpx.

Auth flows are ``httpx.Auth`` objects for any ``httpx.AsyncClient``; `altinn_async.testing` is a
faithful local emulator of the services to test against.
"""

from . import exceptions
from ._admin import (
    ADMIN_SCOPES,
    ApiScope,
    ClientKey,
    ClientKeys,
    ClientRegistration,
    DelegationSource,
    KeyRotation,
    MaskinportenAdmin,
    ScopeAccess,
)
from ._altinn2 import Altinn2Client
from ._altinn2_auth import Altinn2Auth, PasswordLogin, enterprise_tls_context
from ._auth import StaticToken, TokenAuth, TokenSource
from ._bulk import aiohttp_transport
from ._correspondence import (
    Correspondence,
    CorrespondenceAttachment,
    CorrespondenceClient,
    CorrespondenceContent,
    CorrespondenceDetails,
    CorrespondenceIds,
    CorrespondenceWalk,
)
from ._dialogporten import (
    ApiAction,
    Dialog,
    DialogActivity,
    DialogAttachment,
    DialogAttachmentUrl,
    DialogPager,
    Dialogporten,
    DialogSummary,
    DialogTokenAuth,
    DialogTransmission,
    Localized,
    continuation_token_for,
    normalize_order_by,
)
from ._doctor import Check, Diagnosis, diagnose
from ._environment import PRODUCTION, TEST, AuthorizationServer, Environment
from ._events import CloudEvent, EventPage, EventPager, EventsClient
from ._exchange import AltinnExchangeAuth
from ._files import safe_filename
from ._hal import HalResource, Link, parse_hal
from ._harvest import (
    Altinn2Messages,
    DialogportenMailbox,
    EventFeed,
    FolderSink,
    Harvest,
    HarvestError,
    HarvestSource,
    HarvestStats,
    HarvestSummary,
    JsonLinesSink,
    PaginatorSource,
    Sink,
    StorageInstances,
)
from ._idporten import IDPortenClient, IDPortenSession, LoginRequest
from ._keys import Signer, SigningKey
from ._maskinporten import MaskinportenAuth, SystemUser
from ._paging import (
    BodyNextField,
    HalNextLink,
    KeysetPaging,
    NextHeader,
    ODataPaging,
    Page,
    PageContent,
    Paginator,
    PagingRule,
    merge,
)
from ._parties import AuthorizedPartiesClient, AuthorizedParty, flatten
from ._pending import MemoryPendingLoginStore, PendingLoginStore
from ._retry import RetryPolicy
from ._sessions import (
    ANY_REVISION,
    FileTokenStore,
    IDTokenClaims,
    LoginSession,
    MemoryTokenStore,
    TokenStore,
)
from ._storage import DateFilter, InstancePage, InstancePager, StorageClient
from ._tokens import AccessToken, Clock, SharedTokens, TokenCache
from ._validator import AltinnPrincipal, AltinnTokenValidator, SystemUserClaims
from ._version import __version__
from .exceptions import (
    AltinnError,
    APIError,
    AttachmentUnavailableError,
    AuthorizationError,
    CallbackError,
    CertificateError,
    CheckpointError,
    ChecksumMismatchError,
    CloudEventError,
    ConfigurationError,
    DiscoveryError,
    EncryptedValueError,
    ExchangeError,
    ForeignOriginError,
    HALError,
    IDTokenError,
    InsufficientScopeError,
    InvalidScopeError,
    KeyLoadError,
    KeyRotationError,
    LimitReachedWarning,
    LoginError,
    LoginRequiredError,
    MaskinportenError,
    NetworkError,
    PaginationError,
    ResponseFormatError,
    SelfServiceError,
    SharedStoreError,
    StuckWindowError,
    TokenError,
    TokenRequestError,
    TokenValidationError,
)

__all__ = [
    "ADMIN_SCOPES",
    "ANY_REVISION",
    "PRODUCTION",
    "TEST",
    "APIError",
    "AccessToken",
    "Altinn2Auth",
    "Altinn2Client",
    "Altinn2Messages",
    "AltinnError",
    "AltinnExchangeAuth",
    "AltinnPrincipal",
    "AltinnTokenValidator",
    "ApiAction",
    "ApiScope",
    "AttachmentUnavailableError",
    "AuthorizationError",
    "AuthorizationServer",
    "AuthorizedPartiesClient",
    "AuthorizedParty",
    "BodyNextField",
    "CallbackError",
    "CertificateError",
    "Check",
    "CheckpointError",
    "ChecksumMismatchError",
    "ClientKey",
    "ClientKeys",
    "ClientRegistration",
    "Clock",
    "CloudEvent",
    "CloudEventError",
    "ConfigurationError",
    "Correspondence",
    "CorrespondenceAttachment",
    "CorrespondenceClient",
    "CorrespondenceContent",
    "CorrespondenceDetails",
    "CorrespondenceIds",
    "CorrespondenceWalk",
    "DateFilter",
    "DelegationSource",
    "Diagnosis",
    "Dialog",
    "DialogActivity",
    "DialogAttachment",
    "DialogAttachmentUrl",
    "DialogPager",
    "DialogSummary",
    "DialogTokenAuth",
    "DialogTransmission",
    "Dialogporten",
    "DialogportenMailbox",
    "DiscoveryError",
    "EncryptedValueError",
    "Environment",
    "EventFeed",
    "EventPage",
    "EventPager",
    "EventsClient",
    "ExchangeError",
    "FileTokenStore",
    "FolderSink",
    "ForeignOriginError",
    "HALError",
    "HalNextLink",
    "HalResource",
    "Harvest",
    "HarvestError",
    "HarvestSource",
    "HarvestStats",
    "HarvestSummary",
    "IDPortenClient",
    "IDPortenSession",
    "IDTokenClaims",
    "IDTokenError",
    "InstancePage",
    "InstancePager",
    "InsufficientScopeError",
    "InvalidScopeError",
    "JsonLinesSink",
    "KeyLoadError",
    "KeyRotation",
    "KeyRotationError",
    "KeysetPaging",
    "LimitReachedWarning",
    "Link",
    "Localized",
    "LoginError",
    "LoginRequest",
    "LoginRequiredError",
    "LoginSession",
    "MaskinportenAdmin",
    "MaskinportenAuth",
    "MaskinportenError",
    "MemoryPendingLoginStore",
    "MemoryTokenStore",
    "NetworkError",
    "NextHeader",
    "ODataPaging",
    "Page",
    "PageContent",
    "PaginationError",
    "Paginator",
    "PaginatorSource",
    "PagingRule",
    "PasswordLogin",
    "PendingLoginStore",
    "ResponseFormatError",
    "RetryPolicy",
    "ScopeAccess",
    "SelfServiceError",
    "SharedStoreError",
    "SharedTokens",
    "Signer",
    "SigningKey",
    "Sink",
    "StaticToken",
    "StorageClient",
    "StorageInstances",
    "StuckWindowError",
    "SystemUser",
    "SystemUserClaims",
    "TokenAuth",
    "TokenCache",
    "TokenError",
    "TokenRequestError",
    "TokenSource",
    "TokenStore",
    "TokenValidationError",
    "__version__",
    "aiohttp_transport",
    "continuation_token_for",
    "diagnose",
    "enterprise_tls_context",
    "exceptions",
    "flatten",
    "merge",
    "normalize_order_by",
    "parse_hal",
    "safe_filename",
]


def _public_module() -> None:
    # Tracebacks, reprs and documentation name the public path (altinn_async.MaskinportenAuth),
    # not the private module a class happens to live in.
    for name in __all__:
        value = globals()[name]
        if getattr(value, "__module__", "").startswith("altinn_async.") and (
            isinstance(value, type) or callable(value)
        ):
            value.__module__ = __name__


_public_module()
del _public_module
