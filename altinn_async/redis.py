"""Tokens, login sessions and pending logins shared on Redis by every process of an application
(``pip install 'altinn-async[redis]'``).

Everything is stored encrypted with a key you give (AES-256-GCM, a random nonce per value, the
Redis key as associated data so that a value cannot be moved to another key), under Redis keys
that are digests: a cache key or session key (a web session id, a national identity number) never
appears in Redis. The clients are ``redis.asyncio`` clients, so these classes run on asyncio
(not on trio).

Example::

    import os

    import redis.asyncio

    import altinn_async as altinn
    from altinn_async.redis import RedisTokenBackend, RedisTokenStore

    client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"])
    key = bytes.fromhex(os.environ["REDIS_ENCRYPTION_KEY"])  # 32 bytes, the same in every process
    cache = altinn.TokenCache(shared=RedisTokenBackend(client, encryption_key=key))
    auth = altinn.AltinnExchangeAuth(altinn.MaskinportenAuth(
        client_id="...", scopes=["altinn:serviceowner/instances.read"],
        key=altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id"),
        environment=altinn.TEST, cache=cache))
    idporten = altinn.IDPortenClient(
        client_id="...", client_secret="...", redirect_uri="https://app.example/callback",
        scopes=["openid", "altinn:instances.read"], environment=altinn.TEST,
        store=RedisTokenStore(client, encryption_key=key))
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Hashable, Iterator, Mapping
from typing import Any

import anyio
import redis.asyncio
import redis.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._sessions import ANY_REVISION, IfRevision, LoginSession
from ._tokens import AccessToken
from .exceptions import ConfigurationError, EncryptedValueError, SharedStoreError

__all__ = [
    "RedisPendingLoginStore",
    "RedisTokenBackend",
    "RedisTokenStore",
]

logger = logging.getLogger("altinn_async")

DEFAULT_NAMESPACE = "altinn_async"
_FORMAT = b"\x01"  # the first byte of every stored value: its format
_NONCE = 12

# A session is a hash: "rev" (its revision, not a secret) and "data" (the encrypted session).
# ARGV: the condition ("any", "none" or "rev"), the revision, then for a save the data and ms.
_CONDITION = """
local current = redis.call('HGET', KEYS[1], 'rev')
local mode = ARGV[1]
if mode == 'none' then
  if current then return 0 end
elseif mode == 'rev' then
  if current ~= ARGV[2] then return 0 end
end
"""
_SAVE = (
    _CONDITION
    + """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'rev', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
)
_DELETE = (
    _CONDITION
    + """
return redis.call('DEL', KEYS[1])
"""
)
# A lock's holder gives it back only if it is still theirs: an expired lease is someone else's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_POLL = 0.01
_POLL_MAX = 0.1


class _Sealer:
    """AES-GCM with the Redis key as associated data; values as ASCII (any client decodes them)."""

    def __init__(self, encryption_key: bytes) -> None:
        given: object = encryption_key  # checked as what it may be at run time
        if not isinstance(given, bytes) or len(given) != 32:
            raise ConfigurationError(
                "encryption_key must be 32 bytes (secrets.token_bytes(32)); "
                "give every process the same one"
            )
        self._aead = AESGCM(encryption_key)

    def __repr__(self) -> str:
        return "_Sealer(<key hidden>)"

    def seal(self, redis_key: str, plain: bytes) -> str:
        nonce = os.urandom(_NONCE)
        sealed = _FORMAT + nonce + self._aead.encrypt(nonce, plain, redis_key.encode())
        return base64.b64encode(sealed).decode("ascii")

    def open(self, redis_key: str, stored: bytes | str) -> bytes:
        text = stored.encode("ascii") if isinstance(stored, str) else stored
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raw = b""
        if len(raw) <= 1 + _NONCE or raw[:1] != _FORMAT:
            raise EncryptedValueError(f"the value stored under {redis_key} is not ours")
        try:
            return self._aead.decrypt(raw[1 : 1 + _NONCE], raw[1 + _NONCE :], redis_key.encode())
        except InvalidTag:
            raise EncryptedValueError(
                f"the value stored under {redis_key} cannot be decrypted: another "
                "encryption_key, or a value changed or moved from another key"
            ) from None


@contextlib.contextmanager
def _redis_errors(what: str) -> Iterator[None]:
    """A Redis failure (unreachable, timed out, a refused command) as a `SharedStoreError`.

    The message is the error's class and redis-py's text, which names the server and the
    failure; redis-py never puts a command's arguments (the values) in it.
    """
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        raise SharedStoreError(f"Redis could not {what}: {type(exc).__name__}: {exc}") from exc


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_client(client: object) -> None:
    if not isinstance(client, redis.asyncio.Redis):
        raise ConfigurationError(
            f"redis must be a redis.asyncio.Redis client, got {type(client).__name__}"
        )


async def _lock(client: redis.asyncio.Redis, key: str, ttl: float) -> str | None:
    holder = secrets.token_hex(16)
    with _redis_errors("take a lock"):
        taken = await client.set(key, holder, nx=True, px=max(1, round(ttl * 1000)))
    return holder if taken else None


async def _unlock(script: Any, key: str, holder: str) -> None:
    """Give a lock back; when Redis cannot be reached its lease frees it later."""
    try:
        with _redis_errors("give a lock back"):
            await script(keys=[key], args=[holder])
    except SharedStoreError as exc:
        logger.warning("%s; the lock frees itself when its lease ends", exc)


class RedisTokenStore:
    """ID-porten login sessions on Redis, shared by every process (an `altinn_async.TokenStore`).

    ``save`` and ``delete`` with ``if_revision`` are one Lua script each, so the compare and the
    swap are atomic. ``lease`` is a lock with a lease (``SET NX PX`` with a random holder id,
    given back by a compare-and-delete script): a holder that dies frees it after ``ttl``, and
    waiters poll with a short backoff.

    A session expires from Redis with its refresh token. A `LoginSession` does not say when that
    is (ID-porten's refresh tokens end after a time without use, set per client), so each save
    keeps the session ``session_ttl`` seconds more: set it to your client's refresh-token
    lifetime. A session without a refresh token goes when its access token expires.

    Args:
        redis: the client (``redis.asyncio.Redis``); not closed here.
        namespace: the prefix of every Redis key (one per application and environment).
        encryption_key: 32 secret bytes, the same in every process.
        session_ttl: seconds a saved session is kept (the refresh token's lifetime).
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        encryption_key: bytes,
        namespace: str = DEFAULT_NAMESPACE,
        session_ttl: float = 8 * 3600,
    ) -> None:
        _check_client(redis)
        if not session_ttl > 0:
            raise ConfigurationError("session_ttl must be a positive number of seconds")
        self._redis = redis
        self._sealer = _Sealer(encryption_key)
        self._namespace = namespace
        self._session_ttl = session_ttl
        self._save = redis.register_script(_SAVE)
        self._delete = redis.register_script(_DELETE)
        self._release = redis.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisTokenStore(namespace={self._namespace!r})"

    def redis_key(self, key: str) -> str:
        """The Redis key of ``key``'s session (a digest: the session key is not in it)."""
        return f"{self._namespace}:session:{_digest(key)}"

    def _lease_key(self, key: str) -> str:
        return f"{self._namespace}:session-lease:{_digest(key)}"

    @staticmethod
    def _condition(if_revision: IfRevision) -> list[str]:
        if if_revision == ANY_REVISION:
            return ["any", ""]
        if if_revision is None:
            return ["none", ""]
        return ["rev", if_revision]

    async def load(self, key: str) -> LoginSession | None:
        name = self.redis_key(key)
        # redis-py 5 (the one arq allows) types a command as sync or async; 6 and later do not.
        with _redis_errors("load a login session"):
            stored = await self._redis.hget(name, "data")  # type: ignore[misc,unused-ignore]
        if stored is None:
            return None
        return LoginSession.from_dict(json.loads(self._sealer.open(name, stored)))

    async def save(
        self, key: str, session: LoginSession, *, if_revision: IfRevision = ANY_REVISION
    ) -> bool:
        name = self.redis_key(key)
        if session.refresh_token is not None:
            ttl = self._session_ttl
        else:
            ttl = max(1.0, session.expires_at - time.time())
        sealed = self._sealer.seal(name, json.dumps(session.to_dict()).encode())
        args: list[str | int] = [
            *self._condition(if_revision),
            session.revision,
            sealed,
            round(ttl * 1000),
        ]
        with _redis_errors("save a login session"):
            return bool(await self._save(keys=[name], args=args))

    async def delete(self, key: str, *, if_revision: IfRevision = ANY_REVISION) -> bool:
        name = self.redis_key(key)
        with _redis_errors("delete a login session"):
            return bool(await self._delete(keys=[name], args=self._condition(if_revision)))

    @contextlib.asynccontextmanager
    async def lease(self, key: str, *, ttl: float) -> AsyncIterator[None]:
        if not ttl > 0:
            raise ConfigurationError("a lease's ttl must be positive")
        name = self._lease_key(key)
        pause = _POLL
        while (holder := await _lock(self._redis, name, ttl)) is None:
            await anyio.sleep(pause)  # the holder may be another process: nothing to wait on
            pause = min(pause * 2, _POLL_MAX)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await _unlock(self._release, name, holder)


class RedisPendingLoginStore:
    """Logins in progress on Redis (an `altinn_async.PendingLoginStore`): the callback may reach
    another process than the login did.

    `put` stores with the login's lifetime as the Redis TTL; `take` is one ``GETDEL``, so a
    login is taken once however many callbacks race.

    Args:
        redis: the client (``redis.asyncio.Redis``); not closed here.
        namespace: the prefix of every Redis key.
        encryption_key: 32 secret bytes, the same in every process.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        encryption_key: bytes,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        _check_client(redis)
        self._redis = redis
        self._sealer = _Sealer(encryption_key)
        self._namespace = namespace

    def __repr__(self) -> str:
        return f"RedisPendingLoginStore(namespace={self._namespace!r})"

    def redis_key(self, key: str) -> str:
        """The Redis key of a pending login."""
        return f"{self._namespace}:pending:{_digest(key)}"

    async def put(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        if not ttl > 0:
            raise ConfigurationError("ttl must be a positive number of seconds")
        name = self.redis_key(key)
        sealed = self._sealer.seal(name, json.dumps(dict(data)).encode())
        with _redis_errors("store a pending login"):
            await self._redis.set(name, sealed, px=max(1, round(ttl * 1000)))

    async def take(self, key: str) -> dict[str, Any] | None:
        name = self.redis_key(key)
        with _redis_errors("take a pending login"):
            stored = await self._redis.getdel(name)
        if stored is None:
            return None
        data = json.loads(self._sealer.open(name, stored))
        if not isinstance(data, dict):
            raise EncryptedValueError(f"the value stored under {name} is not a pending login")
        return data


class RedisTokenBackend:
    """The shared part of a `TokenCache` on Redis (`altinn_async.SharedTokens`): one token fetch
    per key across every process.

    Give it to the cache (``TokenCache(shared=RedisTokenBackend(...))``) and the cache to the
    auth flows (``MaskinportenAuth(..., cache=cache)``). A token is kept under a digest of its
    cache key (which names the environment and the client) until it expires; the right to fetch
    one is a lock with a lease of ``lock_ttl`` seconds, so a process that dies while fetching
    blocks the others for at most that long. Redis expires a token by this machine's clock
    (``time.time``), whatever clock the cache is given.

    Args:
        redis: the client (``redis.asyncio.Redis``); not closed here.
        namespace: the prefix of every Redis key.
        encryption_key: 32 secret bytes, the same in every process.
        lock_ttl: seconds one process may fetch before another may take over.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        encryption_key: bytes,
        namespace: str = DEFAULT_NAMESPACE,
        lock_ttl: float = 30.0,
    ) -> None:
        _check_client(redis)
        if not lock_ttl > 0:
            raise ConfigurationError("lock_ttl must be a positive number of seconds")
        self._redis = redis
        self._sealer = _Sealer(encryption_key)
        self._namespace = namespace
        self._lock_ttl = lock_ttl
        self._release = redis.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"RedisTokenBackend(namespace={self._namespace!r})"

    def redis_key(self, key: Hashable) -> str:
        """The Redis key of a cache key's token (a digest: the cache key is not in it)."""
        return f"{self._namespace}:token:{_digest(repr(key))}"

    def _lock_key(self, key: Hashable) -> str:
        return f"{self._namespace}:token-lock:{_digest(repr(key))}"

    async def load(self, key: Hashable) -> AccessToken | None:
        name = self.redis_key(key)
        with _redis_errors("load a token"):
            stored = await self._redis.get(name)
        if stored is None:
            return None
        data = json.loads(self._sealer.open(name, stored))
        try:
            token = AccessToken(
                access_token=str(data["access_token"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data["issued_at"]),
                token_type=str(data["token_type"]),
                scopes=tuple(str(s) for s in data["scopes"]),
            )
        except (KeyError, TypeError, ValueError):
            raise EncryptedValueError(f"the value stored under {name} is not a token") from None
        return token if token.expires_at > time.time() else None

    async def save(self, key: Hashable, token: AccessToken) -> None:
        ttl = token.expires_at - time.time()
        if ttl <= 0:
            return
        name = self.redis_key(key)
        plain = {
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            "issued_at": token.issued_at,
            "token_type": token.token_type,
            "scopes": list(token.scopes),
        }
        sealed = self._sealer.seal(name, json.dumps(plain).encode())
        with _redis_errors("save a token"):
            await self._redis.set(name, sealed, px=max(1, round(ttl * 1000)))

    async def try_lock(self, key: Hashable) -> str | None:
        return await _lock(self._redis, self._lock_key(key), self._lock_ttl)

    async def unlock(self, key: Hashable, holder: str) -> None:
        await _unlock(self._release, self._lock_key(key), holder)
