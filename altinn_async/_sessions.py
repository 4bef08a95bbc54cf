"""A logged-in person's tokens, and where they are kept between requests and processes."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Literal, Protocol, Self, TypeVar, runtime_checkable

import anyio
import anyio.to_thread
import attrs

from ._redact import mask_pid
from .exceptions import ConfigurationError

__all__ = [
    "ANY_REVISION",
    "FileTokenStore",
    "IDTokenClaims",
    "LoginSession",
    "MemoryTokenStore",
    "TokenStore",
]

T = TypeVar("T")

ANY_REVISION: Literal["*"] = "*"
"""``if_revision`` for a save or delete whatever is stored (like HTTP's ``If-Match: *``)."""


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mask(pid: str | None) -> str:
    # A national identity number is personal data: a repr (and so a log line) shows its birth date.
    return "None" if pid is None else repr(mask_pid(pid))


@attrs.frozen
class IDTokenClaims:
    """The claims of a validated ID-porten id_token, typed.

    Attributes:
        sub: the pairwise subject (differs per client).
        pid: the national identity number (fødselsnummer / d-nummer).
        acr: the level of assurance (``idporten-loa-substantial``, ``idporten-loa-high``).
        amr: the authentication methods (``TestID``, ``BankID``, ``Minid-PIN``, ...), always a
            tuple (the old platform sent a string).
        sid: the session id, when the client is registered for front-channel logout.
        auth_time: when the person authenticated (seconds since the epoch).
        locale: the language the person chose (``nb``, ``nn``, ``en``, ``se``).
        raw: every claim, as received.
    """

    sub: str
    pid: str | None = attrs.field(default=None, repr=_mask)
    acr: str | None = None
    amr: tuple[str, ...] = ()
    sid: str | None = None
    auth_time: int | None = None
    locale: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def as_claims(self) -> dict[str, Any]:
        """The claims as an id_token holds them (``raw``, or built from the fields)."""
        if self.raw:
            return dict(self.raw)
        claims: dict[str, Any] = {"sub": self.sub, "amr": list(self.amr)}
        for name in ("pid", "acr", "sid", "auth_time", "locale"):
            value = getattr(self, name)
            if value is not None:
                claims[name] = value
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> IDTokenClaims:
        """Type the claims of an id_token (which must have a string ``sub``)."""
        amr = claims.get("amr")
        methods = (
            (amr,)
            if isinstance(amr, str)
            else tuple(a for a in amr if isinstance(a, str))
            if isinstance(amr, list)
            else ()
        )
        return cls(
            sub=str(claims["sub"]),
            pid=_opt_str(claims.get("pid")),
            acr=_opt_str(claims.get("acr")),
            amr=methods,
            sid=_opt_str(claims.get("sid")),
            auth_time=_opt_int(claims.get("auth_time")),
            locale=_opt_str(claims.get("locale")),
            raw=dict(claims),
        )


@attrs.frozen
class LoginSession:
    """What a login leaves behind: the tokens and who logged in.

    Attributes:
        access_token: the current access token (secret; not in ``repr``).
        expires_at: when the access token expires (seconds since the epoch).
        issued_at: when it was received.
        refresh_token: the refresh token, if the client may refresh (secret).
        id_token: the id_token, kept as the ``id_token_hint`` for logout (secret).
        claims: the validated id_token claims.
        scopes: the scopes granted.
        revision: a new random value for every login and refresh (not a secret): a store saves
            over a session only if it still holds the revision the saver read
            (``if_revision``), so two workers cannot overwrite each other's refresh.
    """

    access_token: str = attrs.field(repr=False)
    expires_at: float
    issued_at: float
    refresh_token: str | None = attrs.field(repr=False)
    id_token: str = attrs.field(repr=False)
    claims: IDTokenClaims
    scopes: tuple[str, ...] = ()
    revision: str = attrs.field(factory=lambda: secrets.token_urlsafe(12))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for a token store; it holds the secrets)."""
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "issued_at": self.issued_at,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "claims": self.claims.as_claims(),
            "scopes": list(self.scopes),
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The session `to_dict` made.

        Raises:
            ConfigurationError: ``data`` is not such a dict.
        """
        try:
            revision = data.get("revision")
            return cls(
                access_token=str(data["access_token"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data["issued_at"]),
                refresh_token=_opt_str(data.get("refresh_token")),
                id_token=str(data["id_token"]),
                claims=IDTokenClaims.from_claims(data["claims"]),
                scopes=tuple(str(s) for s in data.get("scopes", ())),
                # A session saved before revisions existed gets one from what it holds.
                revision=revision if isinstance(revision, str) and revision else _legacy(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError("a stored login session is malformed") from exc


def _legacy(data: Mapping[str, Any]) -> str:
    import hashlib  # noqa: PLC0415 - only for sessions stored by an older version

    material = f"{data.get('access_token')}|{data.get('refresh_token')}".encode()
    return "legacy-" + hashlib.sha256(material).hexdigest()[:16]


IfRevision = str | None | Literal["*"]
"""The revision a store must hold for a save or delete to happen: a session's `revision`,
``None`` for "no session stored", or `ANY_REVISION` for "whatever is stored"."""


@runtime_checkable
class TokenStore(Protocol):
    """Where login sessions are kept, by key (one key per logged-in person).

    Implement it over a database, Redis or an encrypted cookie so a session outlives the process
    and is shared by every worker of a web application. Two things make sharing safe:

    - ``save`` and ``delete`` take ``if_revision``: they act only when the store still holds
      the session revision the caller read (compare-and-swap), and say whether they did;
    - ``lease(key, ttl=...)`` gives one holder at a time the right to refresh a session: the
      others wait, then read the store again and find the refreshed session instead of spending
      the same refresh token twice (a provider that detects refresh-token reuse revokes the whole
      login). A holder that dies frees the lease after ``ttl`` seconds.

    `IDPortenClient` saves a rotated refresh token here before it uses the new access token, so
    a crash cannot leave only a spent refresh token behind.
    """

    async def load(self, key: str) -> LoginSession | None:
        """The session stored under ``key``, or ``None``."""
        ...

    async def save(
        self, key: str, session: LoginSession, *, if_revision: IfRevision = ANY_REVISION
    ) -> bool:
        """Store ``session`` under ``key`` if the stored revision is ``if_revision``.

        Returns:
            Whether it was stored.
        """
        ...

    async def delete(self, key: str, *, if_revision: IfRevision = ANY_REVISION) -> bool:
        """Forget the session under ``key`` if the stored revision is ``if_revision``.

        Returns:
            Whether a session was deleted.
        """
        ...

    def lease(self, key: str, *, ttl: float) -> AbstractAsyncContextManager[None]:
        """Hold the right to refresh ``key``'s session for at most ``ttl`` seconds.

        Waits while another holder has it (until it is released or expires).
        """
        ...


def _matches(current: LoginSession | None, if_revision: IfRevision) -> bool:
    if if_revision == ANY_REVISION:
        return True
    if if_revision is None:
        return current is None
    return current is not None and current.revision == if_revision


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ConfigurationError("a lease's ttl must be positive")


class MemoryTokenStore:
    """Sessions in this process's memory (the default); leases work between its tasks.

    Sessions end as in `altinn_async.redis.RedisTokenStore`: a `LoginSession` does not say when
    its refresh token ends (ID-porten's end after a time without use, set per client), so each
    save keeps the session ``session_ttl`` seconds more, and one without a refresh token goes
    when its access token expires. So the sessions of people who never come back do not pile up
    in a long-running backend; ended ones are swept as others are saved.

    Args:
        session_ttl: seconds a saved session is kept (your client's refresh-token lifetime).
        clock: seconds since the epoch (the sessions' ``expires_at`` are such times).
    """

    def __init__(
        self, *, session_ttl: float = 8 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        if not session_ttl > 0:
            raise ConfigurationError("session_ttl must be a positive number of seconds")
        self._session_ttl = session_ttl
        self._clock = clock
        # key: (the session, when it goes)
        self._sessions: dict[str, tuple[LoginSession, float]] = {}
        self._leases: dict[str, tuple[float, anyio.Event]] = {}
        self._next_sweep = clock() + _SWEEP

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._sessions)} sessions)"

    def _live(self, key: str) -> LoginSession | None:
        held = self._sessions.get(key)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._sessions[key]
            return None
        return held[0]

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP
        for key in [key for key, (_, gone) in self._sessions.items() if gone <= now]:
            del self._sessions[key]

    async def load(self, key: str) -> LoginSession | None:
        return self._live(key)

    async def save(
        self, key: str, session: LoginSession, *, if_revision: IfRevision = ANY_REVISION
    ) -> bool:
        if not _matches(self._live(key), if_revision):
            return False
        now = self._clock()
        self._sweep(now)
        gone = (
            now + self._session_ttl
            if session.refresh_token is not None
            else max(now + 1.0, session.expires_at)
        )
        self._sessions[key] = (session, gone)
        return True

    async def delete(self, key: str, *, if_revision: IfRevision = ANY_REVISION) -> bool:
        current = self._live(key)
        if current is None or not _matches(current, if_revision):
            return False
        del self._sessions[key]
        return True

    @contextlib.asynccontextmanager
    async def lease(self, key: str, *, ttl: float) -> AsyncIterator[None]:
        _check_ttl(ttl)
        while True:
            held = self._leases.get(key)
            now = time.monotonic()
            if held is None or held[0] <= now:
                mine = (now + ttl, anyio.Event())
                self._leases[key] = mine
                break
            with anyio.move_on_after(held[0] - now):
                await held[1].wait()
        try:
            yield
        finally:
            if self._leases.get(key) is mine:
                del self._leases[key]
            mine[1].set()


_POLL = 0.05
# How often (seconds of its clock) a MemoryTokenStore sweeps ended sessions, as others are saved.
_SWEEP = 60.0


class FileTokenStore:
    """Sessions in a JSON file readable only by its owner (mode 0600), written atomically.

    Meant for command-line and desktop programs, and for several processes of one user on one
    machine: every change is a read-modify-write under an exclusive lock on ``{path}.lock``, and
    leases are records in the file with an expiry, so a process killed while refreshing frees
    its lease after ``ttl``. The file holds refresh tokens: keep it out of backups and shared
    folders.

    Args:
        path: the file (created, with its folder, on the first save).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self._path)!r})"

    # -- the file ---------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"sessions": {}, "leases": {}}
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the token store {self._path}: {exc.strerror}"
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"the token store {self._path} is not valid JSON") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(f"the token store {self._path} is not a JSON object")
        if "sessions" not in data:
            # The first format: sessions by key, nothing else.
            return {"sessions": data, "leases": {}}
        sessions, leases = data.get("sessions"), data.get("leases", {})
        if not isinstance(sessions, dict) or not isinstance(leases, dict):
            raise ConfigurationError(f"the token store {self._path} is malformed")
        return {"sessions": sessions, "leases": leases}

    def _write(self, data: dict[str, Any]) -> None:
        # Written to a private temporary file and renamed over the old one: a crash leaves the
        # old file or the new one, never half of one, and the secret is never world-readable.
        fd, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump({"version": 2, **data}, file)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _locked(self, change: Callable[[dict[str, Any]], tuple[T, bool]]) -> T:
        """Run ``change`` on the file's data under the exclusive lock; write if it says so."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot use the token store {self._path}: {exc.strerror}"
            ) from exc
        try:
            _lock_file(fd)
            data = self._read()
            result, changed = change(data)
            if changed:
                self._write(data)
            return result
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    async def _run(self, change: Callable[[dict[str, Any]], tuple[T, bool]]) -> T:
        return await anyio.to_thread.run_sync(self._locked, change)

    # -- sessions ---------------------------------------------------------------------------

    async def load(self, key: str) -> LoginSession | None:
        # A rename is atomic: a reader sees the old file or the new one, so no lock is needed.
        data = await anyio.to_thread.run_sync(self._read)
        entry = data["sessions"].get(key)
        return LoginSession.from_dict(entry) if isinstance(entry, dict) else None

    async def save(
        self, key: str, session: LoginSession, *, if_revision: IfRevision = ANY_REVISION
    ) -> bool:
        def change(data: dict[str, Any]) -> tuple[bool, bool]:
            entry = data["sessions"].get(key)
            current = LoginSession.from_dict(entry) if isinstance(entry, dict) else None
            if not _matches(current, if_revision):
                return False, False
            data["sessions"][key] = session.to_dict()
            return True, True

        return await self._run(change)

    async def delete(self, key: str, *, if_revision: IfRevision = ANY_REVISION) -> bool:
        def change(data: dict[str, Any]) -> tuple[bool, bool]:
            entry = data["sessions"].get(key)
            current = LoginSession.from_dict(entry) if isinstance(entry, dict) else None
            if current is None or not _matches(current, if_revision):
                return False, False
            del data["sessions"][key]
            return True, True

        return await self._run(change)

    # -- leases -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lease(self, key: str, *, ttl: float) -> AsyncIterator[None]:
        _check_ttl(ttl)
        holder = uuid.uuid4().hex

        def take(data: dict[str, Any]) -> tuple[float | None, bool]:
            # Wall-clock time: the other holders are other processes.
            now = time.time()
            current = data["leases"].get(key)
            until = current.get("until") if isinstance(current, dict) else None
            if isinstance(until, int | float) and until > now:
                return float(until) - now, False
            data["leases"][key] = {"holder": holder, "until": now + ttl}
            return None, True

        def give_back(data: dict[str, Any]) -> tuple[None, bool]:
            current = data["leases"].get(key)
            if isinstance(current, dict) and current.get("holder") == holder:
                del data["leases"][key]
                return None, True
            return None, False  # it expired and someone else holds it now

        # The holder is another process: nothing to wait on but the file.
        while (remaining := await self._run(take)) is not None:  # noqa: ASYNC110
            await anyio.sleep(min(_POLL, remaining))
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self._run(give_back)


def _lock_file(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - the CI runs on Linux
        import msvcrt  # noqa: PLC0415

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            except OSError:
                continue  # LK_LOCK gives up after ten seconds; keep waiting
            return
    else:
        import fcntl  # noqa: PLC0415

        fcntl.flock(fd, fcntl.LOCK_EX)
