"""Downloads to disk: names from the server made safe, files that appear whole or not at all."""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx

from ._http import api_error, network_error
from ._httpcompat import TRANSPORT_ERRORS, url_argument
from ._redact import safe_url
from ._retry import RetryPolicy, send
from .exceptions import ChecksumMismatchError, ConfigurationError

__all__ = ["PARTIAL_SUFFIX", "download_to", "safe_filename", "sweep_partials"]

PARTIAL_SUFFIX = ".partial"
"""A download in progress is written to ``.{name}.partial`` beside its final name."""

# Characters no common file system takes in a name, and control characters.
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
# Names Windows reserves for devices, with or without an extension.
_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
_MAX_NAME_BYTES = 200


def safe_filename(name: str | None, *, default: str = "download") -> str:
    """A file name from ``name`` (a server's, say) that cannot leave the folder it is put in.

    Only the last path segment is kept (``../../evil.txt`` is ``evil.txt``), characters file
    systems refuse become ``_``, leading dots and trailing dots and spaces go (no hidden files, no
    ``..``), device names such as ``CON`` get a ``_`` in front, and long names are shortened to
    200 bytes keeping their extension. An empty result is ``default``.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _FORBIDDEN.sub("_", text).strip().lstrip(".").rstrip(". ")
    if not text:
        text = default
    if _RESERVED.fullmatch(text):
        text = "_" + text
    if len(text.encode()) > _MAX_NAME_BYTES:
        stem, dot, extension = text.rpartition(".")
        if not dot or len(extension) > 16:
            stem, extension = text, ""
        budget = _MAX_NAME_BYTES - len(extension.encode()) - (1 if extension else 0)
        stem = stem.encode()[:budget].decode(errors="ignore").rstrip(". ")
        text = f"{stem}.{extension}" if extension else stem
    return text


def _partial(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}{PARTIAL_SUFFIX}")


def sweep_partials(directory: str | os.PathLike[str]) -> int:
    """Remove what interrupted downloads left in ``directory`` and below; return how many.

    A process killed in the middle of a download leaves its ``.{name}.partial`` file behind;
    the next download of the same file overwrites it, and a harvest that starts again sweeps
    the rest.
    """
    root = Path(directory)
    if not root.is_dir():
        return 0
    removed = 0
    for path in root.rglob(f".*{PARTIAL_SUFFIX}"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def download_to(
    http: httpx.AsyncClient,
    url: str | httpx.URL,
    destination: Path,
    *,
    policy: RetryPolicy,
    headers: dict[str, str] | None = None,
    expected_size: int | None = None,
    expected_md5: str | None = None,
    auth: httpx.Auth | None = None,
) -> int:
    """Stream ``url`` to ``destination`` without holding it in memory; return its size.

    The body is written to a hidden ``.partial`` file beside the destination (in a worker
    thread, so a large file does not stall the event loop), flushed to disk, and renamed into
    place when complete: the file appears whole or not at all. A connection that drops in the
    middle of the body starts the download again, as the retry policy allows; so does a body
    whose length is not ``expected_size`` (the size the metadata gives: a proxy may pass on a
    body cut short as if it were whole), and one whose MD5 is not ``expected_md5`` (computed
    while the body streams past, not by reading the file again).

    Args:
        expected_md5: the MD5 the metadata gives, as hex (32 characters, any case) or base64
            (24 characters, as ``Content-MD5`` has it).
        auth: the auth for the request instead of the client's.

    Raises:
        APIError: the server answered an error status.
        NetworkError: no complete answer after the retries.
        ChecksumMismatchError: (a `NetworkError`) the body never had the expected MD5.
        ConfigurationError: ``expected_md5`` is not an MD5.
    """
    md5 = None if expected_md5 is None else _md5_hex(expected_md5)
    partial = anyio.Path(_partial(destination))

    async def build() -> httpx.Request:
        return http.build_request("GET", url_argument(http, url), headers=headers)

    retry = 0
    while True:
        try:
            response = await send(http, build, policy=policy, stream=True, auth=auth)
        except TRANSPORT_ERRORS as exc:
            raise network_error(exc) from exc
        try:
            if response.status_code != 200:
                raise await api_error(response)
            size = await _write(response, partial, destination, expected_size, md5)
        except TRANSPORT_ERRORS as exc:
            # The body broke off: the download starts again, if the policy lets it.
            wait = policy.delay(retry, exc, idempotent=True)
            if wait is None:
                if isinstance(exc, _WrongChecksum):
                    request = response.request
                    raise ChecksumMismatchError(
                        f"{request.method} {safe_url(request.url)}: {exc}",
                        method=request.method,
                        url=str(request.url),
                        expected=exc.expected,
                        actual=exc.actual,
                    ) from exc
                raise network_error(exc, response.request) from exc
        else:
            return size
        finally:
            await response.aclose()
        retry += 1
        await anyio.sleep(wait)


_DEFERRED: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar(
    "altinn_deferred_sync", default=None
)


@contextlib.contextmanager
def deferred_sync() -> Iterator[list[Path]]:
    """Downloads in this context (and tasks started from it) are not fsynced one by one: their
    paths are listed instead, for the caller to make durable in one go (`sync_files`) before it
    records them as done. A file still appears whole or not at all."""
    pending: list[Path] = []
    token = _DEFERRED.set(pending)
    try:
        yield pending
    finally:
        _DEFERRED.reset(token)


def _written(destination: Path, deferred: list[Path] | None) -> None:
    # Listed only once it is in place: a caller that syncs the list syncs whole files.
    if deferred is not None:
        deferred.append(destination)


def sync_files(paths: list[Path]) -> None:
    """Make the files durable: one ``sync()`` for them all where there is one (one call costs
    about what two fsyncs do, for any number of files), else an fsync each. Blocking."""
    if not paths:
        return
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in paths:  # pragma: no cover - Windows
        with contextlib.suppress(FileNotFoundError), path.open("rb+") as file:
            os.fsync(file.fileno())


SMALL_FILE = 256 * 1024
"""Bodies up to this size are read whole and written in one go (one trip to a worker thread,
not one per chunk: a harvest of small files spends its CPU on HTTP, not on threads)."""


class _WrongSize(httpx.RemoteProtocolError):
    """The body arrived whole as far as HTTP can tell, but not the size the metadata gives."""


def _check_size(size: int, expected: int | None) -> None:
    if expected is not None and size != expected:
        raise _WrongSize(f"the body has {size} bytes where {expected} were expected")


class _WrongChecksum(httpx.RemoteProtocolError):
    """The body arrived whole as far as HTTP can tell, but not with the MD5 the metadata gives."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"the body's MD5 is {actual} where {expected} was expected")
        self.expected = expected
        self.actual = actual


_HEX_MD5 = re.compile(r"[0-9a-f]{32}")


def _md5_hex(checksum: str) -> str:
    text = checksum.strip()
    if _HEX_MD5.fullmatch(text.lower()):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise ConfigurationError(
            f"expected_md5 {checksum!r} is not an MD5 (32 hex digits, or 24 characters of base64)"
        )
    return raw.hex()


def _new_md5() -> hashlib._Hash:
    return hashlib.md5(usedforsecurity=False)


def _check_md5(digest: hashlib._Hash | None, expected: str | None) -> None:
    if digest is not None and expected is not None and digest.hexdigest() != expected:
        raise _WrongChecksum(expected, digest.hexdigest())


async def _write(
    response: httpx.Response,
    partial: anyio.Path,
    destination: Path,
    expected: int | None,
    md5: str | None = None,
) -> int:
    digest = None if md5 is None else _new_md5()
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= SMALL_FILE:
        body = await response.aread()
        _check_size(len(body), expected)
        if digest is not None:
            digest.update(body)
            _check_md5(digest, md5)
        deferred = _DEFERRED.get()
        write = functools.partial(_write_whole, sync=deferred is None)
        await anyio.to_thread.run_sync(write, Path(partial), destination, body)
        _written(destination, deferred)
        return len(body)
    await anyio.Path(destination.parent).mkdir(parents=True, exist_ok=True)
    deferred = _DEFERRED.get()
    size = 0
    try:
        async with await anyio.open_file(partial, "wb") as file:
            async for chunk in response.aiter_bytes():
                await file.write(chunk)
                if digest is not None:
                    digest.update(chunk)
                size += len(chunk)
            _check_size(size, expected)
            _check_md5(digest, md5)
            await file.flush()
            if deferred is None:
                await anyio.to_thread.run_sync(os.fsync, file.wrapped.fileno())
        await partial.replace(destination)
        _written(destination, deferred)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await partial.unlink(missing_ok=True)
        raise
    return size


def _write_whole(partial: Path, destination: Path, body: bytes, *, sync: bool) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with partial.open("wb") as file:
            file.write(body)
            if sync:
                file.flush()
                os.fsync(file.fileno())
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
