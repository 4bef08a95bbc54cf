"""What every Altinn 3 API client is: an authenticated ``httpx.AsyncClient``, the platform URL
it works under, and the retry policy for its requests."""

from __future__ import annotations

import httpx

from ._http import platform_base
from ._retry import RetryPolicy

__all__ = ["PlatformClient"]


class PlatformClient:
    """The base of the platform's API clients (`StorageClient`, `EventsClient`,
    `Dialogporten`, `CorrespondenceClient`, `AuthorizedPartiesClient`).

    Args:
        http: the authenticated client (its auth, headers and base URL apply).
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
        http: httpx.AsyncClient,
        *,
        platform: str | None = None,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self._http = http
        self._auth = auth
        self._base = platform_base(http, platform, type(self).__name__)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(platform={self._base!r})"
