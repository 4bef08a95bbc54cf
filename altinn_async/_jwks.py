"""A provider's signing keys (JWKS), fetched once, cached, refetched once for an unknown ``kid``."""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import anyio
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ._http import describe_transport_error
from ._httpcompat import TRANSPORT_ERRORS
from ._retry import RetryPolicy, send
from ._tokens import Clock
from .exceptions import AltinnError, IDTokenError

__all__ = ["JWKSCache"]

logger = logging.getLogger("altinn_async")


class JWKSCache:
    """The key set at ``jwks_uri``, cached for ``max_age`` seconds.

    A token signed with a ``kid`` that is not in the cached set makes one refetch at once (keys
    rotate), but not more often than every ``min_refetch_interval`` seconds, so a stream of
    tokens with a bogus ``kid`` cannot turn into a stream of requests to the provider.
    """

    def __init__(
        self,
        jwks_uri: str,
        *,
        clock: Clock,
        max_age: float = 24 * 3600.0,
        min_refetch_interval: float = 60.0,
        retry: RetryPolicy | None = None,
        error: type[AltinnError] = IDTokenError,
    ) -> None:
        self._error = error
        self._uri = jwks_uri
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._refetched_at = float("-inf")  # the last fetch for a kid not in the set
        self._lock: anyio.Lock | None = None

    def fresh(self, kid: str | None) -> KeySet | None:
        """The keys, if they are fresh and hold ``kid`` (no I/O, no lock); else ``None``."""
        return self._keys if self._usable(kid) else None

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
                if self._keys is not None and self._clock() - self._fetched_at <= self._max_age:
                    self._refetched_at = self._clock()  # for an unknown kid
                await self._fetch(client)
            if self._keys is None:
                raise self._error(f"no signing keys could be read from {self._uri}")
            return self._keys

    def _usable(self, kid: str | None) -> bool:
        if self._keys is None or self._clock() - self._fetched_at > self._max_age:
            return False
        return kid is None or kid in self._kids

    def _may_fetch(self) -> bool:
        # The set is fetched when there is none or it is old; a kid not in it makes one more
        # fetch at most every min_refetch_interval (a rotation is seen at once, a flood of
        # forged kids costs the provider one request per interval).
        if self._keys is None or self._clock() - self._fetched_at > self._max_age:
            return True
        return self._clock() - self._refetched_at >= self._min_interval

    async def _fetch(self, client: httpx.AsyncClient) -> None:
        async def build() -> httpx.Request:
            return client.build_request("GET", self._uri, headers={"Accept": "application/json"})

        try:
            response = await send(client, build, policy=self._retry, use_client_auth=False)
        except TRANSPORT_ERRORS as exc:
            raise self._error(
                f"could not fetch the signing keys at {self._uri}: {describe_transport_error(exc)}"
            ) from exc
        if response.status_code != 200:
            raise self._error(
                f"the signing keys at {self._uri} answered HTTP {response.status_code}"
            )
        try:
            document: Any = response.json()
            keys = [
                _url_safe(key)
                for key in document["keys"]
                if isinstance(key, dict)
                and key.get("kty") == "RSA"
                and key.get("use", "sig") == "sig"
            ]
            key_set = KeySet.import_key_set({"keys": keys})
        except (json.JSONDecodeError, KeyError, TypeError, JoseError, ValueError) as exc:
            raise self._error(f"the signing keys at {self._uri} are not a usable JWKS") from exc
        self._keys = key_set
        self._kids = frozenset(str(key["kid"]) for key in keys if "kid" in key)
        self._fetched_at = self._clock()
        logger.debug("fetched %d signing keys from %s", len(keys), self._uri)


def _b64url_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _url_safe(key: dict[str, Any]) -> dict[str, Any]:
    """An RSA JWK as RFC 7517 has it. Altinn writes ``n`` and ``e`` in standard base64 (``+/=``,
    .NET's ``Convert.ToBase64String``): the key is then taken from its ``x5c`` certificate, which
    is what Altinn signs with; without one, the values are re-encoded."""
    n, e = key.get("n"), key.get("e")
    if not isinstance(n, str) or not isinstance(e, str) or not _STANDARD.search(n + e):
        return key
    chain = key.get("x5c")
    if isinstance(chain, list) and chain and isinstance(chain[0], str):
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("the x5c certificate's key is not an RSA key")
        numbers = public.public_numbers()
        return {**key, "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}

    def again(text: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(text, validate=True)).decode().rstrip("=")

    return {**key, "n": again(n), "e": again(e)}


_STANDARD = re.compile(r"[+/=]")
