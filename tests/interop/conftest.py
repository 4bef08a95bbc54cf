"""A real OpenID provider, configured like ID-porten, for interop tests.

The provider is panva's ``oidc-provider`` (npm) run by ``provider/provider.mjs``. It needs Node.js
and ``npm ci --prefix tests/interop/provider``; without them the tests are skipped, except when
the ``CI`` environment variable is set, where they fail instead.

``oidc_provider`` starts one server per test module. A module that needs other lifetimes or another
access-token format overrides the ``oidc_provider_settings`` fixture, or starts its own server with
``run_oidc_provider``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal, NoReturn

import attrs
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

PROVIDER_DIR = Path(__file__).parent / "provider"
# Seconds to wait for the provider's READY line. It usually comes within 2 s; one clean CI run
# on this 2-core machine saw it take over 15 s under the suite's load, so the deadline is
# generous (it returns as soon as the line comes).
READY_TIMEOUT = 60.0
MAX_REDIRECTS = 10

# Synthetic national ids from Digdir's own ID-porten examples (valid check digits).
DEFAULT_PERSONS = (
    ("21879498012", "nb"),
    ("23079421936", "en"),
)


@attrs.frozen
class Person:
    """A test person the scripted login can log in."""

    pid: str
    locale: str = "nb"
    amr: tuple[str, ...] = ("TestID",)


@attrs.frozen(kw_only=True)
class OidcClient:
    """A client registered at the provider, with what a test needs to authenticate as it.

    ``redirect_uri`` is a loopback URL without a port: the clients are registered as native apps,
    so any port on 127.0.0.1 is accepted (RFC 8252 §7.3), and a test may use its own.
    """

    name: str
    client_id: str
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
    ]
    consumer_orgno: str
    redirect_uri: str = "http://127.0.0.1/callback"
    post_logout_redirect_uri: str = "http://127.0.0.1/logged-out"
    client_secret: str | None = None
    private_key_pem: bytes | None = None
    kid: str | None = None


@attrs.frozen
class ProviderSettings:
    """What a test module may change about the provider (defaults are ID-porten's)."""

    access_token_lifetime: int = 120
    refresh_token_lifetime: int = 600
    authorization_lifetime: int = 7200
    id_token_lifetime: int = 120
    clock_tolerance: int = 5
    # oidc-provider can sign access tokens only when they have an audience, and then they cannot
    # be used at /userinfo; "opaque" gives audience-less tokens that can.
    access_token_format: Literal["jwt", "opaque"] = "jwt"
    access_token_audience: str = "https://altinn.test/"
    api_scopes: tuple[str, ...] = (
        "altinn:instances.read",
        "altinn:instances.write",
        "altinn:serviceowner/instances.read",
    )
    persons: tuple[Person, ...] = tuple(Person(pid, locale) for pid, locale in DEFAULT_PERSONS)


@attrs.define
class OidcProvider:
    """A running provider: its issuer, its clients (by name) and its test persons (by pid).

    Client names: ``basic`` (client_secret_basic), ``post`` (client_secret_post),
    ``private_key_jwt`` (RS256, the public key registered as a JWKS) and ``public`` (none).
    """

    issuer: str
    clients: Mapping[str, OidcClient]
    persons: Mapping[str, Person]
    default_person: str
    settings: ProviderSettings
    # The cookies of the last login: the SSO session that logout() ends.
    cookies: httpx.Cookies = attrs.field(factory=httpx.Cookies)

    async def login(
        self, authorization_url: str, *, person: str | None = None, deny: bool = False
    ) -> str:
        """Play the browser: follow redirects from ``authorization_url`` back to the client.

        The provider's interaction page logs in ``person`` (a pid; the default person if None)
        and consents to everything asked for, or, with ``deny``, cancels as the user would.
        Each call is a fresh browser, so there is never single sign-on from an earlier login.
        Returns the callback URL (with ``code``, ``state`` and ``iss``, or ``error``); the
        redirect_uri itself is never requested.
        """
        script = {"person": person or self.default_person} | ({"deny": "1"} if deny else {})
        async with httpx.AsyncClient() as browser:
            url = httpx.URL(authorization_url)
            if url.path.startswith("/interaction/"):
                url = url.copy_merge_params(script)
            callback = await self._follow(browser, browser.build_request("GET", url), script)
            self.cookies = httpx.Cookies(browser.cookies)
        return callback

    async def logout(self, end_session_url: str) -> str:
        """End the last login's session: open ``end_session_url`` and confirm as a browser would.

        Returns the URL the provider sends the browser to afterwards (the post_logout_redirect_uri
        with ``state``, or the provider's own success page).
        """
        async with httpx.AsyncClient(cookies=self.cookies) as browser:
            page = await browser.get(end_session_url)
            if page.is_redirect:
                return str(page.url.join(page.headers["location"]))
            form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page.text, re.S)
            if page.status_code != 200 or form is None:
                raise AssertionError(f"logout page {page.status_code}: {page.text[:500]}")
            fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form[2]))
            data = {html.unescape(k): html.unescape(v) for k, v in fields.items()}
            request = browser.build_request(
                "POST", page.url.join(html.unescape(form[1])), data=data | {"logout": "yes"}
            )
            after = await self._follow(browser, request, {})
            self.cookies = httpx.Cookies(browser.cookies)
        return after

    async def _follow(
        self, browser: httpx.AsyncClient, request: httpx.Request, script: Mapping[str, str]
    ) -> str:
        origin = httpx.URL(self.issuer)
        for _ in range(MAX_REDIRECTS):
            response = await browser.send(request)
            if not response.is_redirect:
                if response.status_code == 200 and request.url.path.endswith("/success"):
                    return str(request.url)  # logout without a post_logout_redirect_uri
                raise AssertionError(
                    f"{request.method} {request.url} answered {response.status_code}, not a "
                    f"redirect: {response.text[:500]}"
                )
            url = request.url.join(response.headers["location"])
            if (url.scheme, url.host, url.port) != (origin.scheme, origin.host, origin.port):
                return str(url)
            if url.path.startswith("/interaction/"):
                url = url.copy_merge_params(script)
            request = browser.build_request("GET", url)
        raise AssertionError(f"more than {MAX_REDIRECTS} redirects without leaving the provider")


def _unavailable(reason: str) -> NoReturn:
    # CI must never pass by skipping the interop tests.
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def _make_clients() -> tuple[dict[str, OidcClient], list[dict[str, object]]]:
    """Fresh credentials for each client, and the metadata that registers them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kid = secrets.token_hex(8)
    public_jwk = RSAKey.import_key(key.public_key()).as_dict(kid=kid, alg="RS256", use="sig")

    clients = {
        "basic": OidcClient(
            name="basic",
            client_id="interop-basic",
            token_endpoint_auth_method="client_secret_basic",
            consumer_orgno="991825827",
            client_secret=secrets.token_urlsafe(32),
        ),
        "post": OidcClient(
            name="post",
            client_id="interop-post",
            token_endpoint_auth_method="client_secret_post",
            consumer_orgno="991825827",
            client_secret=secrets.token_urlsafe(32),
        ),
        "private_key_jwt": OidcClient(
            name="private_key_jwt",
            client_id="interop-private-key-jwt",
            token_endpoint_auth_method="private_key_jwt",
            consumer_orgno="910753614",
            private_key_pem=pem,
            kid=kid,
        ),
        "public": OidcClient(
            name="public",
            client_id="interop-public",
            token_endpoint_auth_method="none",
            consumer_orgno="910753614",
        ),
    }
    metadata: list[dict[str, object]] = []
    for client in clients.values():
        entry: dict[str, object] = {
            "client_id": client.client_id,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
            "application_type": "native",
            "redirect_uris": [client.redirect_uri],
            "post_logout_redirect_uris": [client.post_logout_redirect_uri],
            "consumer_orgno": client.consumer_orgno,
        }
        if client.client_secret is not None:
            entry["client_secret"] = client.client_secret
        if client.private_key_pem is not None:
            entry["jwks"] = {"keys": [public_jwk]}
        metadata.append(entry)
    return clients, metadata


def _wait_ready(process: subprocess.Popen[bytes], stdout: Path, stderr: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        for line in stdout.read_text().splitlines():
            if line.startswith("READY "):
                return line.removeprefix("READY ").strip()
        if process.poll() is not None:
            break
        time.sleep(0.02)
    state = (
        f"timed out after {READY_TIMEOUT:.0f} s"
        if process.poll() is None
        else f"exited with {process.returncode}"
    )
    raise RuntimeError(
        f"oidc-provider {state} before it was ready; its stderr:\n{stderr.read_text()}"
    )


@contextlib.contextmanager
def run_oidc_provider(settings: ProviderSettings | None = None) -> Iterator[OidcProvider]:
    """Run ``provider.mjs`` on a free port of 127.0.0.1 for the duration of the block."""
    settings = settings or ProviderSettings()
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js is not installed (no `node` on PATH); the interop tests need it")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        _unavailable(
            "tests/interop/provider/node_modules is missing: "
            "run `npm ci --prefix tests/interop/provider`"
        )
    clients, metadata = _make_clients()
    config = {
        "host": "127.0.0.1",
        "port": 0,  # the server binds any free port and reports its issuer: no race for a port
        "clients": metadata,
        "persons": [attrs.asdict(person) for person in settings.persons],
        "api_scopes": list(settings.api_scopes),
        "access_token_format": settings.access_token_format,
        "access_token_audience": settings.access_token_audience,
        "clock_tolerance": settings.clock_tolerance,
        "lifetimes": {
            "access_token": settings.access_token_lifetime,
            "refresh_token": settings.refresh_token_lifetime,
            "authorization": settings.authorization_lifetime,
            "id_token": settings.id_token_lifetime,
        },
    }
    with tempfile.TemporaryDirectory(prefix="oidc-provider-") as tmp:
        config_path, stdout_path, stderr_path = (Path(tmp) / n for n in ("c.json", "out", "err"))
        config_path.write_text(json.dumps(config))
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [node, "provider.mjs", str(config_path)],
                cwd=PROVIDER_DIR,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                issuer = _wait_ready(process, stdout_path, stderr_path)
                yield OidcProvider(
                    issuer=issuer,
                    clients=clients,
                    persons={person.pid: person for person in settings.persons},
                    default_person=settings.persons[0].pid,
                    settings=settings,
                )
            finally:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.returncode != 0:
                raise RuntimeError(
                    f"oidc-provider exited with {process.returncode}; its stderr:\n"
                    f"{stderr_path.read_text()}"
                )


@pytest.fixture(scope="module")
def oidc_provider_settings() -> ProviderSettings:
    """Override in a test module to run its provider with other settings."""
    return ProviderSettings()


@pytest.fixture(scope="module")
def oidc_provider(oidc_provider_settings: ProviderSettings) -> Iterator[OidcProvider]:
    with run_oidc_provider(oidc_provider_settings) as provider:
        yield provider
