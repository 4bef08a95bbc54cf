"""A logged-in person's tokens, and where they are kept between requests and processes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import anyio
import anyio.to_thread
import attrs

from .exceptions import ConfigurationError

__all__ = ["FileTokenStore", "IDTokenClaims", "LoginSession", "MemoryTokenStore", "TokenStore"]


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _mask(pid: str | None) -> str:
    # A national identity number is personal data: a repr (and so a log line) shows its birth date.
    return "None" if pid is None else repr(pid[:6] + "*" * max(len(pid) - 6, 0))


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
    """

    access_token: str = attrs.field(repr=False)
    expires_at: float
    issued_at: float
    refresh_token: str | None = attrs.field(repr=False)
    id_token: str = attrs.field(repr=False)
    claims: IDTokenClaims
    scopes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for a token store; it holds the secrets)."""
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "issued_at": self.issued_at,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "claims": dict(self.claims.raw),
            "scopes": list(self.scopes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The session `to_dict` made.

        Raises:
            ConfigurationError: ``data`` is not such a dict.
        """
        try:
            return cls(
                access_token=str(data["access_token"]),
                expires_at=float(data["expires_at"]),
                issued_at=float(data["issued_at"]),
                refresh_token=_opt_str(data.get("refresh_token")),
                id_token=str(data["id_token"]),
                claims=IDTokenClaims.from_claims(data["claims"]),
                scopes=tuple(str(s) for s in data.get("scopes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError("a stored login session is malformed") from exc


@runtime_checkable
class TokenStore(Protocol):
    """Where login sessions are kept, by key (one key per logged-in person).

    Implement it over a database, Redis or an encrypted cookie so a session outlives the
    process. `IDPortenAuth` saves a rotated refresh token here before it uses the new access
    token, so a crash cannot leave only a spent refresh token behind.
    """

    async def load(self, key: str) -> LoginSession | None:
        """The session stored under ``key``, or ``None``."""
        ...

    async def save(self, key: str, session: LoginSession) -> None:
        """Store ``session`` under ``key``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the session under ``key`` (no error if there is none)."""
        ...


class MemoryTokenStore:
    """Sessions in this process's memory (the default)."""

    def __init__(self) -> None:
        self._sessions: dict[str, LoginSession] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._sessions)} sessions)"

    async def load(self, key: str) -> LoginSession | None:
        return self._sessions.get(key)

    async def save(self, key: str, session: LoginSession) -> None:
        self._sessions[key] = session

    async def delete(self, key: str) -> None:
        self._sessions.pop(key, None)


class FileTokenStore:
    """Sessions in a JSON file readable only by its owner (mode 0600), written atomically.

    Meant for command-line and desktop programs of one user. The file holds refresh tokens: keep
    it out of backups and shared folders. Access from one process at a time.

    Args:
        path: the file (created, with its folder, on the first save).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self._path)!r})"

    def _read(self) -> dict[str, Any]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
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
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a private temporary file and renamed over the old one: a crash leaves the
        # old file or the new one, never half of one, and the secret is never world-readable.
        fd, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def load(self, key: str) -> LoginSession | None:
        async with self._lock:
            data = await anyio.to_thread.run_sync(self._read)
        entry = data.get(key)
        return LoginSession.from_dict(entry) if isinstance(entry, dict) else None

    async def save(self, key: str, session: LoginSession) -> None:
        async with self._lock:
            data = await anyio.to_thread.run_sync(self._read)
            data[key] = session.to_dict()
            await anyio.to_thread.run_sync(self._write, data)

    async def delete(self, key: str) -> None:
        async with self._lock:
            data = await anyio.to_thread.run_sync(self._read)
            if data.pop(key, None) is not None:
                await anyio.to_thread.run_sync(self._write, data)
