"""A provider's signing keys (JWKS), fetched once, cached, refetched once for an unknown ``kid``."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ._http import describe_transport_error
from ._retry import RetryPolicy, send
from ._tokens import Clock
from .exceptions import IDTokenError

__all__ = ["JWKSCache"]

logger = logging.getLogger("altinn_async")


class JWKSCache:
    """The key set at ``jwks_uri``, cached for ``max_age`` seconds.

    A token signed with a ``kid`` that is not in the cached set makes one refetch (keys rotate),
    but not more often than every ``min_refetch_interval`` seconds, so a stream of tokens with a
    bogus ``kid`` cannot turn into a stream of requests to the provider.
    """

    def __init__(
        self,
        jwks_uri: str,
        *,
        clock: Clock,
        max_age: float = 24 * 3600.0,
        min_refetch_interval: float = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._uri = jwks_uri
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._lock: anyio.Lock | None = None

    async def key_set(self, client: httpx.AsyncClient, *, kid: str | None) -> KeySet:
        """Keys to verify a token with header ``kid``.

        Raises:
            IDTokenError: the key set cannot be fetched or read.
        """
        if self._keys is not None and self._usable(kid):
            return self._keys
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not self._usable(kid) and self._may_fetch():
                await self._fetch(client)
            if self._keys is None:
                raise IDTokenError(f"no signing keys could be read from {self._uri}")
            return self._keys

    def _usable(self, kid: str | None) -> bool:
        if self._keys is None or self._clock() - self._fetched_at > self._max_age:
            return False
        return kid is None or kid in self._kids

    def _may_fetch(self) -> bool:
        return self._keys is None or self._clock() - self._fetched_at >= self._min_interval

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        async def build() -> httpx.Request:
            return client.build_request("GET", self._uri, headers={"Accept": "application/json"})

        try:
            response = await send(client, build, policy=self._retry, use_client_auth=False)
        except httpx.TransportError as exc:
            raise IDTokenError(
                f"could not fetch the signing keys at {self._uri}: {describe_transport_error(exc)}"
            ) from exc
        if response.status_code != 200:
            raise IDTokenError(
                f"the signing keys at {self._uri} answered HTTP {response.status_code}"
            )
        try:
            document: Any = response.json()
            keys = [
                key
                for key in document["keys"]
                if isinstance(key, dict)
                and key.get("kty") == "RSA"
                and key.get("use", "sig") == "sig"
            ]
            key_set = KeySet.import_key_set({"keys": keys})
        except (json.JSONDecodeError, KeyError, TypeError, JoseError, ValueError) as exc:
            raise IDTokenError(f"the signing keys at {self._uri} are not a usable JWKS") from exc
        self._keys = key_set
        self._kids = frozenset(str(key["kid"]) for key in keys if "kid" in key)
        self._fetched_at = self._clock()
        logger.debug("fetched %d signing keys from %s", len(keys), self._uri)
