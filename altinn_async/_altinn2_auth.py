"""The Altinn 2 logins: the ApiKey on every call, composed with a password session, a bearer token
or an enterprise certificate (TLS client certificate plus ``?ForceEIAuthentication``)."""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
from collections.abc import AsyncGenerator, Generator
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .exceptions import ConfigurationError, KeyLoadError, LoginError

__all__ = ["Altinn2Auth", "PasswordLogin", "enterprise_tls_context"]

logger = logging.getLogger("altinn_async")

#: The session cookie's names: the documented one, and those of release 25.4 per environment.
SESSION_COOKIES = (".ASPXAUTH", ".AspxAuthTT02", ".AspxAuthProd", ".AspxAuthCloud")
_LOGIN_PATH = "/api/authentication/authenticatewithpassword"
_FORCE_EI = b"ForceEIAuthentication"


def _session_gone(response: httpx.Response) -> bool:
    # Without a valid session the API treats the caller as a browser: 401, a redirect to the
    # login page, or the login page itself as HTML with status 200.
    if response.status_code == 401 or response.status_code in (301, 302, 303, 307):
        return True
    content_type = response.headers.get("Content-Type", "")
    return response.status_code == 200 and content_type.startswith("text/html")


def _with_cookie(request: httpx.Request, name: str, value: str) -> None:
    # Replace any session cookie the client's jar added with ours, keep the other cookies.
    kept = [
        part.strip()
        for part in request.headers.get("Cookie", "").split(";")
        if part.strip() and part.split("=", 1)[0].strip() not in SESSION_COOKIES
    ]
    request.headers["Cookie"] = "; ".join([*kept, f"{name}={value}"])


def _with_force_ei(request: httpx.Request) -> None:
    query = request.url.query
    names = {part.split(b"=", 1)[0] for part in query.split(b"&") if part}
    if _FORCE_EI not in names:
        request.url = request.url.copy_with(query=query + b"&" + _FORCE_EI if query else _FORCE_EI)


class PasswordLogin(httpx.Auth):
    """A username/password session (security level 1), as an ``httpx.Auth``.

    Logs in with ``POST /api/authentication/authenticatewithpassword`` through the same client
    (so an enterprise user's login goes over its TLS client certificate), keeps the session
    cookie (``.ASPXAUTH``, or ``.AspxAuthTT02`` / ``.AspxAuthProd`` since release 25.4), and logs
    in again once when the session is gone: a 401, a redirect, or an HTML login page instead of
    JSON. One login runs however many requests are waiting for it.

    Use it inside `Altinn2Auth`, which adds the ``ApiKey`` header to the login request too::

        auth = altinn.Altinn2Auth(api_key, login=altinn.PasswordLogin("user", "password"))

    Args:
        username: the username or national identity number.
        password: the password (never shown in ``repr``, errors or logs).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(self, username: str, password: str) -> None:
        if not username or not password:
            raise ConfigurationError("PasswordLogin needs a username and a password")
        self._username = username
        self._password = password
        self._cookie: tuple[str, str] | None = None
        self._lock: anyio.Lock | None = None
        self.logins = 0
        """How many logins were made (for diagnostics)."""

    def __repr__(self) -> str:
        return f"PasswordLogin(username={self._username!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise ConfigurationError("PasswordLogin works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        replayable = isinstance(request.stream, httpx.ByteStream)
        stale: tuple[str, str] | None = None
        for attempt in range(2):
            cookie = self._cookie
            if cookie is None:
                if self._lock is None:
                    self._lock = anyio.Lock()
                # One login at a time: whoever waited finds the new cookie and uses it.
                async with self._lock:
                    cookie = self._cookie
                    if cookie is None or cookie == stale:
                        login = yield self._login_request(request.url)
                        await login.aread()
                        cookie = self._accept(login)
                        self._cookie = cookie
            _with_cookie(request, *cookie)
            response = yield request
            if attempt == 1 or not replayable or not _session_gone(response):
                return
            logger.info("the Altinn 2 session is gone; logging in again")
            stale = cookie
            if self._cookie == stale:
                self._cookie = None

    def _login_request(self, url: httpx.URL) -> httpx.Request:
        # The login lives beside the API the request was for: {base}/api/authentication/...
        path = url.path
        prefix = path[: path.find("/api/")] if "/api/" in path else ""
        body = json.dumps({"UserName": self._username, "UserPassword": self._password})
        return httpx.Request(
            "POST",
            url.copy_with(path=prefix + _LOGIN_PATH, query=None),
            content=body.encode(),
            headers={"Content-Type": "application/hal+json", "Accept": "application/hal+json"},
        )

    def _accept(self, response: httpx.Response) -> tuple[str, str]:
        if response.status_code != 200:
            reason = response.reason_phrase or ""
            raise LoginError(
                f"Altinn 2 refused the password login of {self._username!r}: HTTP "
                f"{response.status_code} {reason}".rstrip()
                + " (10 failed logins in 2 hours lock the account for an hour)"
            )
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue  # a malformed Set-Cookie of some other cookie
            for name in SESSION_COOKIES:
                if name in jar and jar[name].value:
                    self.logins += 1
                    logger.info("logged in to Altinn 2 as %r (cookie %s)", self._username, name)
                    return name, jar[name].value
        raise LoginError("Altinn 2 accepted the password login but set no session cookie")


class Altinn2Auth(httpx.Auth):
    """The ``ApiKey`` header on every Altinn 2 call, composed with a login.

    Args:
        api_key: the API key Altinn issued for the application (never shown in ``repr``).
        login: how the user is identified: a `PasswordLogin`, a bearer flow
            (`IDPortenAuth`, `MaskinportenAuth`, `AltinnExchangeAuth`), or ``None`` for the
            enterprise certificate alone.
        force_ei_authentication: add ``?ForceEIAuthentication`` to every request, so that the
            enterprise certificate (the client's TLS certificate, see `enterprise_tls_context`)
            authenticates the organisation.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        api_key: str,
        login: httpx.Auth | None = None,
        *,
        force_ei_authentication: bool = False,
    ) -> None:
        if not api_key:
            raise ConfigurationError("Altinn2Auth needs an api_key")
        self._api_key = api_key
        self._login = login
        self._force_ei = force_ei_authentication

    def __repr__(self) -> str:
        return f"Altinn2Auth(login={self._login!r}, force_ei_authentication={self._force_ei!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise ConfigurationError("Altinn2Auth works with httpx.AsyncClient only")

    def _prepare(self, request: httpx.Request) -> httpx.Request:
        request.headers["ApiKey"] = self._api_key
        if self._force_ei:
            _with_force_ei(request)
        return request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._login is None:
            yield self._prepare(request)
            return
        # Every request the login yields gets the ApiKey too: a password login's own POST.
        inner = self._login.async_auth_flow(request)
        try:
            outgoing = await inner.__anext__()
            while True:
                response = yield self._prepare(outgoing)
                try:
                    outgoing = await inner.asend(response)
                except StopAsyncIteration:
                    return
        finally:
            await inner.aclose()


def enterprise_tls_context(
    pkcs12_file: str | Path,
    password: bytes | str | None,
    *,
    verify: ssl.SSLContext | str | Path | bool = True,
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` presenting an enterprise certificate as the TLS client certificate.

    Pass it as ``verify=`` to ``httpx.AsyncClient`` and use `Altinn2Auth` with
    ``force_ei_authentication=True``.

    Args:
        pkcs12_file: the enterprise certificate (``.p12``/``.pfx``) with its private key.
        password: its password.
        verify: ``True`` for the system's trusted CAs, a CA bundle path (e.g. the emulator's test
            CA), or an ``ssl.SSLContext`` to add the certificate to.

    Raises:
        KeyLoadError: the file cannot be read, the password is wrong, or it holds no key or
            certificate.
    """
    path = Path(pkcs12_file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"cannot read {path}: {exc.strerror}") from exc
    secret = password.encode() if isinstance(password, str) else password
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret)
    except ValueError:
        raise KeyLoadError(f"cannot open {path}: wrong password or not a PKCS#12 file") from None
    if key is None or certificate is None:
        raise KeyLoadError(f"{path} holds no private key and certificate")
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is True:
        context = ssl.create_default_context()
    elif verify is False:
        raise ConfigurationError("an enterprise certificate needs a verified server (verify=True)")
    else:
        context = ssl.create_default_context(cafile=str(verify))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + b"".join(
        cert.public_bytes(serialization.Encoding.PEM) for cert in (certificate, *(chain or ()))
    )
    # ssl reads the key from a file only: a private file, removed as soon as it is read.
    with tempfile.NamedTemporaryFile(prefix="altinn-async-", suffix=".pem") as file:
        Path(file.name).chmod(0o600)
        file.write(pem)
        file.flush()
        context.load_cert_chain(file.name)
    return context
