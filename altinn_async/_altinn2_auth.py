"""The Altinn 2 logins: the ApiKey on every call, composed with a password session, a bearer token
or an enterprise certificate (TLS client certificate plus ``?ForceEIAuthentication``)."""

from __future__ import annotations

import json
import logging
import ssl
import tempfile
from collections.abc import AsyncGenerator, Generator, Iterable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

import anyio
import attrs
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ._environment import Environment, check_url
from ._httpcompat import (
    Auth,
    AuthBase,
    FlowRequest,
    FlowResponse,
    as_httpx_auth,
    is_replayable,
    new_request,
)
from ._origins import ForeignOrigins, OriginPolicy
from ._redact import mask_pid
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


@attrs.define
class _Login:
    """One login attempt that everyone waiting for a session shares, success or failure."""

    done: anyio.Event = attrs.field(factory=anyio.Event)
    cookie: tuple[str, str] | None = None
    error: LoginError | None = None


class PasswordLogin(AuthBase):
    """A username/password session (security level 1), for `Altinn2Auth`.

    Logs in with ``POST {altinn2}/api/authentication/authenticatewithpassword`` through the same
    client (so an enterprise user's login goes over its TLS client certificate), keeps the
    session cookie (``.ASPXAUTH``, or ``.AspxAuthTT02`` / ``.AspxAuthProd`` since release 25.4),
    and logs in again once when the session is gone: a 401, a redirect, or an HTML login page
    instead of JSON.

    One login runs however many requests are waiting for it, and they all share its outcome: a
    refused login is not tried again by each of them. Altinn locks an account after 10 failed
    logins in two hours, so once it refuses the password this object does not try it again.

    It works inside `Altinn2Auth`, which tells it where to log in and adds the ``ApiKey``::

        auth = altinn.Altinn2Auth(api_key, environment=altinn.TEST,
                                  login=altinn.PasswordLogin("user", password))

    Args:
        username: the username or national identity number (masked in ``repr``, errors and
            logs).
        password: the password (never shown in ``repr``, errors or logs).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(self, username: str, password: str) -> None:
        if not username or not password:
            raise ConfigurationError("PasswordLogin needs a username and a password")
        self._username = username
        self._password = password
        self._login_url: httpx.URL | None = None
        self._cookie: tuple[str, str] | None = None
        self._login: _Login | None = None
        self._refused: LoginError | None = None
        self.logins = 0
        """How many logins were attempted (for diagnostics)."""

    def __repr__(self) -> str:
        return f"PasswordLogin(username={self.username_label!r})"

    @property
    def username_label(self) -> str:
        """The username for messages: a national identity number shows its birth date only."""
        return mask_pid(self._username)

    def bind(self, altinn2: str) -> None:
        """Log in at ``{altinn2}/api/authentication/...`` (`Altinn2Auth` calls this).

        Raises:
            ConfigurationError: it is already bound to another Altinn 2 site.
        """
        url = httpx.URL(altinn2.rstrip("/") + _LOGIN_PATH)
        if self._login_url is not None and self._login_url != url:
            raise ConfigurationError(
                "this PasswordLogin already logs in at another Altinn 2 site; make one per site"
            )
        self._login_url = url

    # The flows take the request of an httpx or an httpx2 client (`FlowRequest`): the same API.
    def sync_auth_flow(self, request: FlowRequest) -> Generator[FlowRequest, FlowResponse]:
        raise ConfigurationError("PasswordLogin works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: FlowRequest
    ) -> AsyncGenerator[FlowRequest, FlowResponse]:
        if self._login_url is None:
            raise ConfigurationError(
                "a PasswordLogin goes inside Altinn2Auth(api_key, environment=..., login=...), "
                "which says where to log in"
            )
        replayable = is_replayable(request)
        stale: tuple[str, str] | None = None
        for attempt in range(2):
            cookie = self._cookie
            tries = 0
            # A login that hands back the very cookie that stopped working is not tried a third
            # time for this request: the request goes with it, and its answer to the caller.
            while (cookie is None or cookie == stale) and tries < 2:
                tries += 1
                if self._refused is not None:
                    raise LoginError(str(self._refused)) from self._refused
                login = self._login
                if login is None:
                    # This request logs in; whoever comes meanwhile waits for its outcome.
                    login = self._login = _Login()
                    try:
                        response = yield self._login_request(request)
                        await response.aread()
                        login.cookie = self._accept(response)
                        self._cookie = login.cookie
                    except LoginError as exc:
                        login.error = exc
                        raise
                    finally:
                        self._login = None
                        login.done.set()
                else:
                    await login.done.wait()
                    if login.error is not None:
                        raise LoginError(str(login.error)) from login.error
                cookie = login.cookie  # None: the login was cancelled; try again
            if cookie is None:
                raise LoginError("the Altinn 2 login did not finish (it was cancelled twice)")
            _with_cookie(request, *cookie)
            response = yield request
            if attempt == 1 or not replayable or not _session_gone(response):
                return
            logger.info("the Altinn 2 session is gone; logging in again")
            stale = cookie
            if self._cookie == stale:
                self._cookie = None

    def _login_request(self, like: FlowRequest) -> httpx.Request:
        # A request of the package of the one it logs in for: its client takes no other.
        assert self._login_url is not None  # noqa: S101 - checked by the flow
        self.logins += 1
        body = json.dumps({"UserName": self._username, "UserPassword": self._password})
        return new_request(
            like,
            "POST",
            self._login_url,
            content=body.encode(),
            headers={"Content-Type": "application/hal+json", "Accept": "application/hal+json"},
        )

    def _accept(self, response: httpx.Response) -> tuple[str, str]:
        who = self.username_label
        reason = response.reason_phrase or ""
        if response.status_code == 401:
            # The one answer that counts towards the lockout: never try this password again.
            self._refused = LoginError(
                f"Altinn 2 refused the password login of {who!r}: HTTP 401 {reason}".rstrip()
                + ". Not trying again: 10 failed logins in 2 hours lock the account for an hour"
            )
            raise self._refused
        if response.status_code != 200:
            hint = {
                400: "is the ApiKey there?",
                403: "the ApiKey may not be allowed to do this",
                404: "is the Altinn 2 base URL right?",
            }.get(response.status_code)
            message = (
                f"Altinn 2 did not log {who!r} in: HTTP {response.status_code} {reason}".rstrip()
            )
            raise LoginError(message + (f" ({hint})" if hint else ""))
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(header)
            except CookieError:
                continue  # a malformed Set-Cookie of some other cookie
            for name in SESSION_COOKIES:
                if name in jar and jar[name].value:
                    logger.info("logged in to Altinn 2 as %r (cookie %s)", who, name)
                    return name, jar[name].value
        raise LoginError("Altinn 2 accepted the password login but set no session cookie")


class Altinn2Auth(AuthBase):
    """The ``ApiKey`` header on every Altinn 2 call, composed with a login.

    The ApiKey and whatever the login adds (the session cookie, a bearer token) go only to the
    Altinn 2 site's origin and those given in ``allowed_origins``; a request anywhere else is
    refused with `ForeignOriginError`, or sent bare with ``foreign_origins="omit"``.

    Args:
        api_key: the API key Altinn issued for the application (never shown in ``repr``).
        environment: the environment whose Altinn 2 site this is (its ``altinn2``); by default
            the login's, for a bearer login.
        base_url: the Altinn 2 site instead of an environment (``https://tt02.altinn.no``).
        login: how the user is identified: a `PasswordLogin`, a bearer flow (an
            `IDPortenSession`, `MaskinportenAuth`, `AltinnExchangeAuth`), or ``None`` for the
            enterprise certificate alone.
        force_ei_authentication: add ``?ForceEIAuthentication`` to every request, so that the
            enterprise certificate (the client's TLS certificate, see `enterprise_tls_context`)
            authenticates the organisation.
        allowed_origins: more origins to send the credentials to.
        foreign_origins: ``"refuse"`` (the default) or ``"omit"``.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        api_key: str,
        login: Auth | None = None,
        *,
        environment: Environment | None = None,
        base_url: str | None = None,
        force_ei_authentication: bool = False,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
    ) -> None:
        if not api_key:
            raise ConfigurationError("Altinn2Auth needs an api_key")
        if environment is None and base_url is None:
            environment = getattr(login, "environment", None)
        if base_url is None:
            if not isinstance(environment, Environment):
                raise ConfigurationError(
                    "Altinn2Auth needs to know its Altinn 2 site: pass environment= "
                    "(altinn_async.TEST, ...) or base_url="
                )
            if environment.altinn2 is None:
                raise ConfigurationError(f"environment {environment.name!r} has no Altinn 2 site")
            base_url = environment.altinn2
        site = check_url(base_url, what="the Altinn 2 base_url").rstrip("/")
        self._api_key = api_key
        self._login = as_httpx_auth(login)
        self._force_ei = force_ei_authentication
        self._site = site
        self._origins = OriginPolicy.build(
            [site],
            allowed_origins=allowed_origins,
            foreign_origins=foreign_origins,
            what="the Altinn 2 ApiKey and login",
        )
        if isinstance(login, PasswordLogin):
            login.bind(site)

    def __repr__(self) -> str:
        return (
            f"Altinn2Auth(site={self._site!r}, login={self._login!r}, "
            f"force_ei_authentication={self._force_ei!r})"
        )

    @property
    def base_url(self) -> str:
        """The Altinn 2 site (the API is under ``{base_url}/api``)."""
        return self._site

    def sync_auth_flow(self, request: FlowRequest) -> Generator[FlowRequest, FlowResponse]:
        raise ConfigurationError("Altinn2Auth works with httpx.AsyncClient only")

    def _prepare(self, request: FlowRequest) -> FlowRequest:
        if not self._origins.admits(request.url):
            raise ConfigurationError(  # a login sent its own request elsewhere: never
                "the login tried to send a request to another origin"
            )
        request.headers["ApiKey"] = self._api_key
        if self._force_ei:
            _with_force_ei(request)
        return request

    async def async_auth_flow(
        self, request: FlowRequest
    ) -> AsyncGenerator[FlowRequest, FlowResponse]:
        if not self._origins.admits(request.url):
            yield request  # foreign_origins="omit": no ApiKey, no login
            return
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

    Pass it as ``verify=`` to ``httpx.AsyncClient`` (or ``httpx2.AsyncClient``) and use
    `Altinn2Auth` with ``force_ei_authentication=True``.

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
