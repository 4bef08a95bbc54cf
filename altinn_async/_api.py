"""What every Altinn 3 API client is: an authenticated ``httpx.AsyncClient``, the platform URL
it works under, and the retry policy for its requests."""

from __future__ import annotations

from ._http import platform_base
from ._httpcompat import AsyncClient, Auth, as_httpx, as_httpx_auth
from ._retry import RetryPolicy

__all__ = ["PlatformClient"]


class PlatformClient:
    """The base of the platform's API clients (`StorageClient`, `EventsClient`,
    `Dialogporten`, `CorrespondenceClient`, `AuthorizedPartiesClient`).

    Args:
        http: the authenticated client (its auth, headers and base URL apply): an
            ``httpx.AsyncClient``, or an ``httpx2.AsyncClient``.
        platform: the platform URL (``https://platform.tt02.altinn.no``), if ``http`` has no
            ``base_url``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).
        auth: the auth for this client's requests instead of ``http``'s own: a person's
            `AltinnExchangeAuth` on the app's shared client, say (the client is cheap to make
            per request; ``http`` and its connections are shared).

    Raises:
        ConfigurationError: there is no platform URL.
    """

    def __init__(
        self,
        http: AsyncClient,
        *,
        platform: str | None = None,
        retry: RetryPolicy | None = None,
        auth: Auth | None = None,
    ) -> None:
        self._http = as_httpx(http)
        self._auth = as_httpx_auth(auth)
        self._base = platform_base(self._http, platform, type(self).__name__)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(platform={self._base!r})"
