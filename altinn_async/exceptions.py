"""Exceptions raised by altinn_async.

Every exception the library raises on purpose derives from `AltinnError`::

    AltinnError
    ├── ConfigurationError          (also a ValueError: wrong input before any request)
    │   ├── InvalidScopeError       a scope breaks the naming rule
    │   ├── KeyLoadError            a key or certificate cannot be used
    │   │   └── CertificateError    the certificate is expired, not yet valid or unusable
    │   ├── CheckpointError         a harvest's output and checkpoint do not allow this run
    │   └── EncryptedValueError     a value stored encrypted (Redis) will not decrypt with this key
    ├── DiscoveryError              an issuer's metadata could not be fetched or read
    ├── NetworkError                no answer: connection refused or dropped, TLS, timeout
    │   └── ChecksumMismatchError   a download's bytes never matched the checksum the metadata gives
    ├── ForeignOriginError          credentials kept from a request to another origin
    ├── APIError                    an Altinn API answered with an error status
    │   ├── AttachmentUnavailableError  a Correspondence attachment expired, was purged, is gone
    │   └── SelfServiceError        Digdir's self-service API refused (field errors, the status)
    ├── KeyRotationError            a client's keys cannot be rotated as asked (5 keys, unknown kid)
    ├── PaginationError             a list cannot be paged further (a next link repeats, a bad page)
    │   └── StuckWindowError        1000+ correspondences share one time: the list cannot pass them
    ├── ResponseFormatError         an API's answer is not the document its specification describes
    ├── HALError                    a HAL+JSON document is malformed, a link will not expand
    ├── CloudEventError             a document is not a CloudEvents 1.x event
    ├── HarvestError                a harvest stopped (altinn_async.HarvestError, with its summary)
    ├── ShardTakenOverError         another attempt took a harvest shard over (altinn_async.queue)
    ├── SharedStoreError            the store several processes share (Redis) failed a command
    ├── TokenValidationError        a token a service received is not valid (AltinnTokenValidator)
    │   └── InsufficientScopeError  a valid token without a scope it needs: answer 403
    ├── LoginError                  a person's login could not be completed
    │   ├── AuthorizationError      the provider answered the login with an error (access_denied)
    │   ├── CallbackError           the callback is not the answer to this login (state, iss)
    │   └── IDTokenError            the id_token failed validation
    └── TokenError                  no token could be had
        ├── TokenRequestError       the token endpoint failed or refused (OAuth error fields)
        │   └── MaskinportenError   ... with the MP-xxx code and a hint
        ├── ExchangeError           Altinn's token exchange refused the upstream token
        └── LoginRequiredError      no session, or it expired or was revoked: log in again

And one warning (the page is still handed out; the list may be incomplete)::

    UserWarning
    └── LimitReachedWarning         Altinn 2 capped a list before filtering (X-Warning-LimitReached)

No message, `repr` or attribute of these exceptions carries an access token, refresh token,
password, API key, session cookie, private key or signed grant; national identity numbers in
messages are masked.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "APIError",
    "AltinnError",
    "AttachmentUnavailableError",
    "AuthorizationError",
    "CallbackError",
    "CertificateError",
    "CheckpointError",
    "ChecksumMismatchError",
    "CloudEventError",
    "ConfigurationError",
    "DiscoveryError",
    "EncryptedValueError",
    "ExchangeError",
    "ForeignOriginError",
    "HALError",
    "IDTokenError",
    "InsufficientScopeError",
    "InvalidScopeError",
    "KeyLoadError",
    "KeyRotationError",
    "LimitReachedWarning",
    "LoginError",
    "LoginRequiredError",
    "MaskinportenError",
    "NetworkError",
    "PaginationError",
    "ResponseFormatError",
    "SelfServiceError",
    "StuckWindowError",
    "TokenError",
    "TokenRequestError",
    "TokenValidationError",
]


class AltinnError(Exception):
    """The root of every error altinn_async raises on purpose."""


class ConfigurationError(AltinnError, ValueError):
    """The library was given input it cannot use (found before any request is sent)."""


class EncryptedValueError(ConfigurationError):
    """A value stored encrypted (`altinn_async.redis`) could not be decrypted.

    The ``encryption_key`` is not the one it was stored with, or the value was changed or copied
    from another key. The message never holds the value.
    """


class SharedStoreError(AltinnError):
    """The store several processes share (Redis, `altinn_async.redis`) could not be reached, or
    refused a command.

    A `TokenCache` with a shared backend does not fail on it: it logs a warning and fetches the
    token in this process. Session stores cannot do without it, so they raise it (the FastAPI
    login answers 503). The message names the store and the failure, never a stored value.
    """


class InvalidScopeError(ConfigurationError):
    """A scope does not follow the naming rule.

    Attributes:
        scope: the offending scope, as given.
    """

    def __init__(self, scope: str, reason: str) -> None:
        super().__init__(f"invalid scope {scope!r}: {reason}")
        self.scope = scope
        self.reason = reason


class KeyLoadError(ConfigurationError):
    """A signing key or certificate could not be loaded or is unfit for signing grants."""


class CertificateError(KeyLoadError):
    """A certificate is expired, not yet valid, or does not belong to the private key."""


class DiscoveryError(AltinnError):
    """An issuer's metadata document could not be fetched or did not describe the issuer."""


class NetworkError(AltinnError):
    """A request got no usable answer: the connection was refused, dropped or timed out, or TLS
    failed. Raised after the retry policy gave up.

    Attributes:
        method: the request method.
        url: the request URL.
        reason: what the network layer said, e.g. ``[Errno 111] Connection refused``.
    """

    def __init__(self, message: str, *, method: str, url: str, reason: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.reason = reason


class ChecksumMismatchError(NetworkError):
    """A download's bytes did not match the checksum its metadata gives, on every try.

    The body arrived whole as far as HTTP can tell; it was fetched again as a body cut short
    is, and never came right. No file was written.

    Attributes:
        expected: the checksum the metadata gives (MD5, lower-case hex).
        actual: the checksum of the last body received.
    """

    def __init__(self, message: str, *, method: str, url: str, expected: str, actual: str) -> None:
        super().__init__(message, method=method, url=url, reason=message)
        self.expected = expected
        self.actual = actual


class ForeignOriginError(AltinnError):
    """An auth flow refused to put its credentials on a request to an origin that is not its own.

    Tokens, the Altinn 2 session cookie and the ``ApiKey`` go only to the origins of their
    environment and those given with ``allowed_origins``; pass ``foreign_origins="omit"`` to send
    such requests without credentials instead.

    Attributes:
        origin: the origin the request was for (``https://host[:port]``).
    """

    def __init__(self, message: str, *, origin: str) -> None:
        super().__init__(message)
        self.origin = origin


class APIError(AltinnError):
    """An Altinn API answered with an error status.

    Attributes:
        status_code: the HTTP status.
        method: the request method.
        url: the request URL.
        problem: the RFC 7807 ProblemDetails body, when there was one.
        detail: a short text from the body, when there was one and no ProblemDetails.
        retry_after: seconds to wait, from ``Retry-After``, when the server said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        problem: dict[str, object] | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.problem = problem
        self.detail = detail
        self.retry_after = retry_after

    @property
    def code(self) -> str | None:
        """The ``code`` of the ProblemDetails body, when it has one: Altinn's error code, such
        as ``CORR-02020`` (Correspondence: attachment expired) or ``AUTH-00001``."""
        value = (self.problem or {}).get("code")
        return value if isinstance(value, str) else None


class AttachmentUnavailableError(APIError):
    """A Correspondence attachment cannot be downloaded, and asking again will not change that.

    Terminal for that attachment only: the correspondence and its other attachments may still
    be there.

    Attributes:
        reason: ``"expired"`` (``CORR-02020``: past its expiration time), ``"purged"``
            (``CORR-02019``: deleted by the sender or Altinn) or ``"not found"``
            (``CORR-02001``: not an attachment of this correspondence).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status_code: int,
        method: str,
        url: str,
        problem: dict[str, object] | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            method=method,
            url=url,
            problem=problem,
            detail=detail,
            retry_after=retry_after,
        )
        self.reason = reason


_SELF_SERVICE_REASONS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    409: "conflict",
}


class SelfServiceError(APIError):
    """Digdir's self-service API (clients, keys, scopes) answered with an error status.

    The body's field errors (``errors[].errorMessage`` and ``fieldIdentifier``) are in `errors`
    and the message; `reason` tells the common statuses apart.

    Attributes:
        reason: ``"invalid"`` (400: a field, a combination, a key or an organisation number
            the API does not accept), ``"unauthorized"`` (401: the admin token is missing,
            expired or not one of this environment's), ``"forbidden"`` (403: the admin client
            lacks a scope, or the object belongs to another organisation), ``"not found"``
            (404), ``"conflict"`` (409: a deactivated scope created again), else ``"error"``.
        errors: the field errors as ``(field, message)`` pairs (``field`` is ``None`` when the
            API named none).
        error_description: the body's ``error_description``, when it had one.
        correlation_id: the body's ``correlation_id``, to quote when asking Digdir for help.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        errors: tuple[tuple[str | None, str], ...] = (),
        error_description: str | None = None,
        correlation_id: str | None = None,
        problem: dict[str, object] | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            method=method,
            url=url,
            problem=problem,
            detail=detail,
            retry_after=retry_after,
        )
        self.reason = _SELF_SERVICE_REASONS.get(status_code, "error")
        self.errors = errors
        self.error_description = error_description
        self.correlation_id = correlation_id


class KeyRotationError(AltinnError):
    """A client's key set cannot be changed as asked; nothing was changed.

    Attributes:
        client_id: the client whose keys these are.
        reason: ``"full"`` (the client has 5 keys, the most Digdir allows), ``"unknown kid"``
            (the key to retire or renew is not registered), ``"kid taken"`` (the new key's
            ``kid`` is registered already), ``"new key missing"`` (the new key is no longer
            registered, so retiring the old one would leave the signer without a key).
        kids: the ``kid`` of each key registered when this was found.
    """

    def __init__(self, message: str, *, client_id: str, reason: str, kids: tuple[str, ...]) -> None:
        super().__init__(message)
        self.client_id = client_id
        self.reason = reason
        self.kids = kids


class PaginationError(AltinnError):
    """A list cannot be paged further: a page is malformed, or a next link came back twice.

    Attributes:
        position: the last good position (a URL to resume from), when there is one.
    """

    def __init__(self, message: str, *, position: str | None = None) -> None:
        super().__init__(message)
        self.position = position


class StuckWindowError(PaginationError):
    """A Correspondence list cannot be walked past one moment: 1000 or more correspondences
    share one ``requestedPublishTime``, the list answers at most 1000 ids with no cursor, and
    splitting them by status did not bring every part below 1000.

    The ids already handed out are not affected; the rest of the walk (older ones) is not
    reached. Enumerate such a mailbox with Dialogporten instead.

    Attributes:
        position: the walk's position (the window's ``to``, ISO 8601) when it stopped.
        moment: the ``requestedPublishTime`` the correspondences share.
    """

    def __init__(self, message: str, *, position: str | None, moment: datetime) -> None:
        super().__init__(message, position=position)
        self.moment = moment


class ResponseFormatError(AltinnError):
    """An API answered a document that is not what its specification describes: a required
    field missing, a field of the wrong type, a time that is not a time.

    Attributes:
        path: where in the document the problem is, as a JSONPath such as
            ``$.content.attachments[0].checksum`` (``$`` is the document itself).
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


class CheckpointError(ConfigurationError):
    """A harvest's output and checkpoint do not allow the run asked for: an output from an
    earlier harvest without ``resume``, a resume with other sources or options, a checkpoint
    that is not one, or an output changed behind the checkpoint's back."""


class HALError(AltinnError):
    """A HAL+JSON document is malformed, or a templated link cannot be expanded.

    Attributes:
        path: where in the document the problem is, as a JSONPath such as
            ``$._embedded.messages[3]._links.self.href``; ``$`` is the document itself (and
            the template, for an expansion error).
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


class CloudEventError(AltinnError):
    """A document is not a CloudEvents 1.x event in the structured JSON format.

    Met on a page of an Events feed, it is the cause of a `PaginationError` that names the page
    and the event's index.

    Attributes:
        attribute: the attribute that is missing or malformed (``id``, ``time``, ...), or
            ``None`` when the document itself is not a JSON object.
    """

    def __init__(self, message: str, *, attribute: str | None = None) -> None:
        super().__init__(message)
        self.attribute = attribute


class LimitReachedWarning(UserWarning):
    """Altinn 2 stopped reading its database before applying the OData filter.

    Sent as the ``X-Warning-LimitReached`` response header: the list may be missing items that
    match the filter. Narrow the query with ``dateFrom`` / ``dateTo``, which Altinn applies in
    the database, and page each window separately.

    Attributes:
        url: the page whose response carried the header.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class TokenError(AltinnError):
    """No token could be had."""


class TokenRequestError(TokenError):
    """A token endpoint failed, or answered with an OAuth 2.0 error.

    Attributes:
        status_code: the HTTP status, or ``None`` when no response arrived.
        error: the OAuth ``error`` code (``invalid_grant``, ...), when the body had one.
        error_description: the server's ``error_description``.
        error_uri: the server's ``error_uri``.
        endpoint: the URL that was called.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        error_uri: str | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status_code = status_code
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri


class MaskinportenError(TokenRequestError):
    """Maskinporten refused a grant.

    Attributes:
        code: the ``MP-xxx`` code from ``error_uri`` (or the description), when there was one.
        trace_id: Maskinporten's ``trace_id``, to quote when asking Digdir for help.
        hint: a one-line suggestion for the common mistakes, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = None,
        error: str | None = None,
        error_description: str | None = None,
        error_uri: str | None = None,
        code: str | None = None,
        trace_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            message,
            endpoint=endpoint,
            status_code=status_code,
            error=error,
            error_description=error_description,
            error_uri=error_uri,
        )
        self.code = code
        self.trace_id = trace_id
        self.hint = hint


class ExchangeError(TokenError):
    """Altinn's token exchange did not give an Altinn token.

    Attributes:
        status_code: the HTTP status, or ``None`` when no response arrived.
        provider: ``maskinporten``, ``id-porten`` or ``altinnstudio``.
        problem: the RFC 7807 ProblemDetails body, when the server sent one.
        endpoint: the URL that was called.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        provider: str,
        status_code: int | None = None,
        problem: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.provider = provider
        self.status_code = status_code
        self.problem = problem


class TokenValidationError(AltinnError):
    """A token a service received is not valid: malformed, signed with an unknown key or an
    algorithm not allowed, for another issuer or audience, expired or not yet valid.

    The message says why without the token; answer it with 401 and
    ``WWW-Authenticate: Bearer error="invalid_token"``.

    Attributes:
        reason: a short code: ``malformed``, ``algorithm``, ``header``, ``key``, ``signature``,
            ``issuer``, ``audience``, ``expired``, ``not yet valid``, ``claims``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientScopeError(TokenValidationError):
    """A valid token without a scope it needs: answer 403 with ``WWW-Authenticate: Bearer
    error="insufficient_scope"``.

    Attributes:
        missing: the scopes it lacks.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...]) -> None:
        super().__init__(message, reason="scope")
        self.missing = missing


class LoginRequiredError(TokenError):
    """There is no usable login session: the person must log in again.

    Raised when no session was ever stored, or the refresh token expired or was revoked. Never
    retried automatically: send the person to `IDPortenAuth.start_login` instead.
    """


class LoginError(AltinnError):
    """A person's login could not be completed."""


class AuthorizationError(LoginError):
    """The provider answered the authorization request with an error.

    Attributes:
        error: the OAuth ``error`` code (``access_denied``, ``login_required``, ...).
        error_description: the provider's description, if any.
    """

    def __init__(self, message: str, *, error: str, error_description: str | None) -> None:
        super().__init__(message)
        self.error = error
        self.error_description = error_description


class CallbackError(LoginError):
    """The callback does not answer this login: wrong ``state`` or ``iss``, or no ``code``.

    A mismatch can mean a forged callback (CSRF) or a mix-up between providers; the login must
    be started again.
    """


class IDTokenError(LoginError):
    """The id_token failed validation (signature, ``iss``, ``aud``, ``nonce``, ``exp``, ``acr``)."""
