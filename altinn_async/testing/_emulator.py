"""The `Emulator`: Maskinporten, ID-porten, Altinn authentication and Storage in one ASGI app."""

from __future__ import annotations

import html
import re
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .._environment import AuthorizationServer, Environment
from ._altinn2 import COOKIE_NAMES, Altinn2, consent_json
from ._altinn2_data import (
    BUSINESS,
    CORRESPONDENCE,
    ENTERPRISE,
    FORM_TASK,
    PERSON,
    STATUSES,
    Attachment,
    Consent,
    Form,
    Message,
    MessageSpec,
    Reportee,
    Service,
    User,
    form_xml,
    message_json,
    message_links,
    to_ms,
)
from ._altinn2_data import generate_specs as generate_messages
from ._asgi import (
    BodyTooLargeError,
    Receive,
    Request,
    Response,
    Router,
    Scope,
    Send,
    decode_headers,
    empty_response,
    read_body,
    request_origin,
    send_response,
)
from ._authentication import Authentication, altinn_issuer_for
from ._certificates import CertificateAuthority, IssuedCertificate
from ._idporten import AUTH_METHODS, LOGIN_PATH, Idporten
from ._idporten import issuer_for as idporten_issuer_for
from ._maskinporten import Maskinporten, _chain_is_trusted
from ._maskinporten import issuer_for as maskinporten_issuer_for
from ._serve import ServerTLS, serve_in_thread
from ._state import (
    Fault,
    IdportenClient,
    MaskinportenClient,
    Person,
    ScopeSettings,
    State,
    SystemUser,
)
from ._storage import (
    InstanceSpec,
    InstanceStore,
    Storage,
    default_filename,
    generate_specs,
    render_instance,
)
from ._transport import EmulatorTransport, client_cert_chain, tls_extension

__all__ = ["DEFAULT_PID", "ENDPOINTS", "Emulator"]

ENDPOINTS = frozenset(
    {
        "maskinporten.metadata",
        "maskinporten.jwk",
        "maskinporten.token",
        "idporten.metadata",
        "idporten.jwks",
        "idporten.authorize",
        "idporten.login",
        "idporten.par",
        "idporten.token",
        "idporten.userinfo",
        "idporten.logout",
        "idporten.revoke",
        "authentication.exchange",
        "authentication.refresh",
        "authentication.openid_configuration",
        "authentication.jwks",
        "storage.instances",
        "storage.instance",
        "storage.data",
        "storage.dataelements",
        "storage.complete",
        "altinn2.authenticate",
        "altinn2.messages",
        "altinn2.message",
        "altinn2.forms",
        "altinn2.form",
        "altinn2.formdata",
        "altinn2.attachments",
        "altinn2.attachment",
        "altinn2.print",
        "altinn2.reportees",
        "altinn2.reportee",
        "altinn2.serviceowner_reportees",
        "altinn2.consents",
    }
)
"""The endpoint names used by `Emulator.requests` and `Emulator.inject_fault`."""

DEFAULT_PID = "24917298544"
"""The person every emulator has in its Register and pre-fills on the TestID page.

A synthetic national identity number (month + 80, as in Norway's synthetic test population) with
valid check digits; party id 50002119, user id 20000011, name "Ola Testesen".
"""

_ORG_NUMBER = re.compile(r"\d{9}")
_PID = re.compile(r"\d{11}")
_DEFAULT_SERVICE_OWNERS = {"digdir": "991825827", "ttd": "405003309"}
_HIDDEN_TRANSACTION = re.compile(r'<input type="hidden" name="transaction" value="([^"]*)">')
_PAGE_ERROR = re.compile(r'<p class="error"[^>]*>(.*?)</p>', re.DOTALL)


def _check_org_number(value: str, what: str) -> str:
    if not _ORG_NUMBER.fullmatch(str(value)):
        raise ValueError(f"{what} must be a 9-digit organisation number, got {value!r}")
    return value


def _import_public_keys(jwks: Iterable[Mapping[str, Any]], what: str) -> dict[str, RSAKey]:
    keys: dict[str, RSAKey] = {}
    for jwk in jwks:
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every registered JWK needs a 'kid'")
        if jwk.get("kty") != "RSA":
            raise ValueError(f"JWK {kid!r} is not an RSA key; {what} signs with RS256")
        try:
            imported = RSAKey.import_key(dict(jwk))
            # Keep only the public part, whatever the caller handed over.
            keys[kid] = RSAKey.import_key(imported.as_dict(private=False))
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError(f"JWK {kid!r} is not a valid RSA key: {exc}") from exc
    return keys


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


def _check_redirect_uri(uri: str, what: str) -> str:
    """Absolute, no fragment; plain http only to loopback hosts (as ID-porten allows in test)."""
    parts = urllib.parse.urlsplit(uri)
    if (
        not parts.scheme
        or parts.fragment
        or (parts.scheme in ("http", "https") and not parts.netloc)
    ):
        raise ValueError(f"{what} must be absolute URIs without a fragment, got {uri!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ValueError(f"{what} may use http only for localhost, got {uri!r}")
    return uri


def _origin(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"base_url must be an origin without a path, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _login_failure(step: str, response: httpx.Response) -> str:
    found = _PAGE_ERROR.search(response.text)
    detail = html.unescape(found.group(1)) if found else response.text[:200]
    return f"ID-porten refused {step} (HTTP {response.status_code}): {detail}"


class Emulator:
    """A local Maskinporten, ID-porten, Altinn authentication and Altinn Storage that enforces the
    real rules.

    The emulator is an ASGI application. Use it in-process through `transport`, or on a real port
    with `serve` (optionally HTTPS with client certificates). Links, issuers and audiences follow
    the origin each request was sent to, so the same emulator answers as
    ``http://altinn.localhost`` in-process and as ``http://127.0.0.1:<port>`` when served.

    With ``altinn2=True`` (the default) it also plays the legacy Altinn 2 REST API under
    ``/altinn2/api`` (``environment.altinn2`` is ``{origin}/altinn2``): seed API keys, users,
    reportees, messages and consents with the ``add_api_key``, ``add_altinn2_*``, ``add_reportee``
    and ``add_consent`` methods.

    All seeding methods are synchronous and thread-safe, and may be called at any time.

    Example::

        emu = Emulator()
        emu.add_maskinporten_client("my-client", org_number="991825827",
                                    scopes=["altinn:serviceowner/instances.read"], jwks=[jwk])
        emu.add_instances("digdir", "my-app", 250)
        async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
            ...

        emu.add_idporten_client("my-app", client_secret="…",
                                redirect_uris=["http://localhost:8080/callback"])
        callback_url = await emu.idporten_login(authorization_url)  # TestID, as a browser would

    Args:
        base_url: the origin the in-process transport and `environment` use.
        clock: the time source (seconds since the epoch) for every check and timestamp.
        maskinporten_token_lifetime: ``expires_in`` of Maskinporten tokens before scope caps.
        altinn_token_lifetime: lifetime of exchanged Altinn tokens, in seconds.
        altinn2: serve the Altinn 2 REST API under ``/altinn2/api``.
        altinn2_cookie_name: the password login's cookie: ``.AspxAuthTT02`` (TT02, the default),
            ``.AspxAuthProd``, ``.AspxAuthCloud`` or ``.ASPXAUTH`` (before release 25.4).
        altinn2_session_lifetime: idle seconds before a password login's session expires.
        altinn2_db_cap: how many messages (or service-owner reportees) the emulated database
            returns before OData filtering; a bigger box gets ``X-Warning-LimitReached``.
    """

    def __init__(
        self,
        *,
        base_url: str = "http://altinn.localhost",
        clock: Callable[[], float] = time.time,
        maskinporten_token_lifetime: int = 120,
        altinn_token_lifetime: int = 1800,
        altinn2: bool = True,
        altinn2_cookie_name: str = ".AspxAuthTT02",
        altinn2_session_lifetime: float = 1800.0,
        altinn2_db_cap: int = 1000,
    ) -> None:
        if maskinporten_token_lifetime < 1 or altinn_token_lifetime < 1:
            raise ValueError("token lifetimes must be positive")
        if altinn2_cookie_name not in COOKIE_NAMES:
            raise ValueError(f"altinn2_cookie_name must be one of {', '.join(COOKIE_NAMES)}")
        if altinn2_session_lifetime <= 0 or altinn2_db_cap < 1:
            raise ValueError("altinn2_session_lifetime and altinn2_db_cap must be positive")
        self._base_url = _origin(base_url)
        self._state = State(
            clock=clock,
            maskinporten_token_lifetime=maskinporten_token_lifetime,
            altinn_token_lifetime=altinn_token_lifetime,
        )
        self._state.service_owners.update(
            {number: org for org, number in _DEFAULT_SERVICE_OWNERS.items()}
        )
        self._store = InstanceStore(self._state.lock)
        self._router = Router()
        self._maskinporten = Maskinporten(self._state)
        self._idporten = Idporten(self._state)
        self._authentication = Authentication(self._state)
        self._storage = Storage(self._state, self._store, self._authentication)
        for service in (self._maskinporten, self._idporten, self._authentication, self._storage):
            service.register(self._router)
        self._altinn2_enabled = altinn2
        self._altinn2 = Altinn2(
            self._state,
            self._authentication,
            cookie_name=altinn2_cookie_name,
            session_lifetime=altinn2_session_lifetime,
            db_cap=altinn2_db_cap,
        )
        if altinn2:
            self._altinn2.register(self._router)
        self._party_counter = 0
        self._person_counter = 0
        self.add_person(
            DEFAULT_PID, name="Ola Testesen", party_id=50002119, user_id=20000011, username=""
        )

    def __repr__(self) -> str:
        with self._state.lock:
            clients = len(self._state.clients)
            idporten_clients = len(self._state.idporten_clients)
        return (
            f"Emulator(base_url={self._base_url!r}, clients={clients}, "
            f"idporten_clients={idporten_clients})"
        )

    # -- where it lives ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The in-process origin, e.g. ``http://altinn.localhost``."""
        return self._base_url

    @property
    def environment(self) -> Environment:
        """The `Environment` for `base_url` (name ``"emulator"``)."""
        return self.environment_for(self._base_url)

    def environment_for(self, base_url: str) -> Environment:
        """The `Environment` for the emulator reached at another origin (e.g. when served)."""
        origin = _origin(base_url)
        issuer = maskinporten_issuer_for(origin)
        idporten = idporten_issuer_for(origin)
        return Environment(
            name="emulator",
            maskinporten=AuthorizationServer(
                issuer=issuer, token_endpoint=f"{issuer}token", jwks_uri=f"{issuer}jwk"
            ),
            platform=f"{origin}/platform",
            idporten=AuthorizationServer(
                issuer=idporten,
                authorization_endpoint=f"{idporten}/authorize",
                pushed_authorization_request_endpoint=f"{idporten}/par",
                token_endpoint=f"{idporten}/token",
                userinfo_endpoint=f"{idporten}/userinfo",
                jwks_uri=f"{idporten}/jwks.json",
                end_session_endpoint=f"{idporten}/logout",
                revocation_endpoint=f"{idporten}/token/revoke",
                authorization_response_iss_parameter_supported=True,
            ),
            altinn2=f"{origin}/altinn2" if self._altinn2_enabled else None,
        )

    def maskinporten_issuer_for(self, origin: str | None = None) -> str:
        """The Maskinporten issuer (and grant ``aud``) at ``origin`` (default `base_url`)."""
        return maskinporten_issuer_for(_origin(origin or self._base_url))

    def idporten_issuer_for(self, origin: str | None = None) -> str:
        """The ID-porten issuer at ``origin`` (default `base_url`), without a trailing slash."""
        return idporten_issuer_for(_origin(origin or self._base_url))

    def altinn_issuer_for(self, origin: str | None = None) -> str:
        """The ``iss`` of Altinn tokens exchanged at ``origin`` (default `base_url`)."""
        return altinn_issuer_for(_origin(origin or self._base_url))

    def transport(
        self, *, client_certificate: IssuedCertificate | x509.Certificate | None = None
    ) -> httpx.ASGITransport:
        """An httpx transport that sends requests straight to this emulator, in-process.

        Responses carry the emulator's custom reason phrases (``response.reason_phrase``).

        Args:
            client_certificate: play a TLS connection on which the client presented this
                certificate (an enterprise certificate for Altinn 2's
                ``?ForceEIAuthentication``). Its chain must lead to a CA given to
                `trust_certificate_authority`; otherwise every request fails with
                `httpx.ConnectError`, as the TLS handshake would.
        """
        if client_certificate is None:
            return EmulatorTransport(self)
        if isinstance(client_certificate, IssuedCertificate):
            chain = [client_certificate.certificate, *client_certificate.chain]
        else:
            chain = [client_certificate]
        with self._state.lock:
            trusted = list(self._state.trusted_certificates)
        if not _chain_is_trusted(chain, trusted, time.time()):
            return EmulatorTransport(
                self, refuse="certificate verify failed: the client certificate is not trusted"
            )
        return EmulatorTransport(self, tls=tls_extension(chain[:1], tls_version="TLSv1.3"))

    @contextmanager
    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certificate_authority: CertificateAuthority | None = None,
        require_client_certificate: bool = False,
    ) -> Iterator[str]:
        """Serve the emulator on a real port with uvicorn (in a daemon thread with its own
        asyncio loop) and yield its base URL, ``http://127.0.0.1:<port>``.

        With ``certificate_authority`` it serves HTTPS (``https://127.0.0.1:<port>``): the CA
        issues the server certificate (for ``host``, ``localhost``, ``127.0.0.1`` and ``::1``;
        clients trust ``certificate_authority.ca_pem()``) and the server asks for a TLS client
        certificate, which must chain to that CA or to one given to
        `trust_certificate_authority` (before serving). An enterprise certificate's
        organisation number then authenticates Altinn 2 requests with
        ``?ForceEIAuthentication``.

        Args:
            host: the address to listen on.
            port: the port (0 picks a free one).
            certificate_authority: serve HTTPS with a server certificate from this CA.
            require_client_certificate: refuse the TLS handshake without a client certificate
                (otherwise a certificate is optional and only the API refuses what needs one).

        Raises:
            ValueError: ``require_client_certificate`` without ``certificate_authority``.
            RuntimeError: uvicorn is not installed (``pip install 'altinn-async[emulator]'``),
                or the server did not start.
        """
        tls: ServerTLS | None = None
        if certificate_authority is not None:
            hosts = tuple(dict.fromkeys((host.strip("[]"), "localhost", "127.0.0.1", "::1")))
            server = certificate_authority.issue_server_certificate(hosts)
            with self._state.lock:
                trusted = list(self._state.trusted_certificates)
            anchors = [certificate_authority.root, certificate_authority.intermediate, *trusted]
            tls = ServerTLS(
                certificate_chain=server.chain_pem(),
                private_key=server.private_key_pem(),
                client_ca=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors),
                require_client_certificate=require_client_certificate,
            )
        elif require_client_certificate:
            raise ValueError("require_client_certificate needs a certificate_authority (TLS)")
        with serve_in_thread(self, host, port, tls=tls) as url:
            yield url

    # -- seeding: Maskinporten ---------------------------------------------------------------

    def add_maskinporten_client(
        self,
        client_id: str,
        *,
        org_number: str,
        scopes: Iterable[str],
        jwks: Iterable[Mapping[str, Any]] = (),
        key_expires_at: float | None = None,
        requires_registered_key: bool = False,
    ) -> None:
        """Register (or replace) a Maskinporten client.

        Args:
            client_id: the client id, which grants carry as ``iss``.
            org_number: the organisation that owns the client (the token's ``consumer``).
            scopes: the scopes the client may request.
            jwks: the client's registered public keys (JWKs, each with a ``kid``). A client
                with registered keys must sign with one of them and name it in ``kid``.
            key_expires_at: when the registered keys expire (MP-121 after that).
            requires_registered_key: refuse ``x5c`` certificate grants even before any key is
                registered.

        Raises:
            ValueError: an argument is malformed (org number, a JWK without ``kid`` or not RSA).
        """
        if not client_id:
            raise ValueError("client_id must not be empty")
        _check_org_number(org_number, "org_number")
        keys = _import_public_keys(jwks, "Maskinporten")
        client = MaskinportenClient(
            client_id=client_id,
            org_number=org_number,
            scopes=frozenset(scopes),
            keys=keys,
            key_expires_at=key_expires_at,
            requires_registered_key=requires_registered_key,
        )
        with self._state.lock:
            self._state.clients[client_id] = client

    def trust_certificate_authority(
        self, certificate: x509.Certificate | CertificateAuthority
    ) -> None:
        """Trust a CA for ``x5c`` enterprise-certificate grants.

        Given a `CertificateAuthority`, both its root and its intermediate are trusted, so a
        grant may carry the leaf certificate alone (as many real clients do).
        """
        if isinstance(certificate, CertificateAuthority):
            added = [certificate.root, certificate.intermediate]
        elif isinstance(certificate, x509.Certificate):
            added = [certificate]
        else:
            raise TypeError("expected an x509.Certificate or a CertificateAuthority")
        with self._state.lock:
            self._state.trusted_certificates.extend(added)

    def add_scope(
        self, scope: str, *, at_max_age: int | None = None, maskinporten: bool = True
    ) -> None:
        """Configure a scope: its ``at_max_age`` cap on token lifetime, and whether it may be
        requested from Maskinporten at all (MP-201 if not)."""
        if not scope:
            raise ValueError("scope must not be empty")
        if at_max_age is not None and at_max_age < 1:
            raise ValueError("at_max_age must be positive")
        with self._state.lock:
            self._state.scopes[scope] = ScopeSettings(at_max_age, maskinporten)

    def add_delegation(self, *, consumer_org: str, supplier_org: str, scope: str) -> None:
        """Record that ``consumer_org`` delegated ``scope`` to ``supplier_org`` in Altinn, so the
        supplier's clients may request it with ``consumer_org`` in the grant."""
        _check_org_number(consumer_org, "consumer_org")
        _check_org_number(supplier_org, "supplier_org")
        with self._state.lock:
            self._state.delegations.add((consumer_org, supplier_org, scope))

    def add_system_user(
        self,
        *,
        client_id: str,
        customer_org: str,
        system_id: str | None = None,
        external_ref: str | None = None,
    ) -> str:
        """Create a system user for a vendor's client at a customer; return its id (a UUID).

        Grants with ``authorization_details`` of type ``urn:altinn:systemuser`` and this
        customer as ``systemuser_org`` then get a token naming the system user. With
        ``external_ref``, the grant must name the same ``externalRef``.
        """
        _check_org_number(customer_org, "customer_org")
        user = SystemUser(
            id=str(uuid.uuid4()),
            client_id=client_id,
            customer_org=customer_org,
            system_id=system_id,
            external_ref=external_ref,
        )
        with self._state.lock:
            self._state.system_users.append(user)
        return user.id

    def add_service_owner(self, org: str, org_number: str) -> None:
        """Map an organisation number to an Altinn service-owner code (``urn:altinn:org``)."""
        _check_org_number(org_number, "org_number")
        if not org:
            raise ValueError("org must not be empty")
        with self._state.lock:
            self._state.service_owners[org_number] = org

    # -- seeding: ID-porten and the Register -------------------------------------------------

    def add_idporten_client(
        self,
        client_id: str,
        *,
        redirect_uris: Iterable[str],
        client_secret: str | None = None,
        jwks: Iterable[Mapping[str, Any]] = (),
        token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
        scopes: Iterable[str] = ("openid", "profile"),
        post_logout_redirect_uris: Iterable[str] = (),
        org_number: str = "991825827",
        rotate_refresh_tokens: bool = True,
        access_token_lifetime: int = 120,
        refresh_token_lifetime: int = 600,
        authorization_lifetime: int = 7200,
    ) -> None:
        """Register (or replace) an ID-porten client (an OpenID Connect integration).

        Args:
            client_id: the client id.
            redirect_uris: where ``/authorize`` may send the browser back (exact match). Plain
                ``http`` only for localhost, as in ID-porten's test environment.
            client_secret: the secret, for ``client_secret_basic`` / ``client_secret_post``.
            jwks: the client's public keys (JWKs with ``kid``), for ``private_key_jwt``.
            token_endpoint_auth_method: ``client_secret_basic``, ``client_secret_post``,
                ``private_key_jwt`` or ``none`` (a public client: it gets no refresh token,
                since refreshing needs client authentication).
            scopes: the scopes the client may request (add ``altinn:`` scopes to exchange its
                access tokens for Altinn tokens).
            post_logout_redirect_uris: where ``/logout`` may send the browser back.
            org_number: the organisation that owns the client (the access token's ``consumer``).
            rotate_refresh_tokens: each refresh returns a new refresh token and retires the old
                one (reusing a retired one revokes the authorization); if False, refresh tokens
                are reusable and none is returned on refresh.
            access_token_lifetime: access-token lifetime in seconds.
            refresh_token_lifetime: refresh-token inactivity lifetime in seconds.
            authorization_lifetime: how long one login can be kept alive by refreshing.

        Raises:
            ValueError: an argument is malformed or does not fit the authentication method.
        """
        if not client_id:
            raise ValueError("client_id must not be empty")
        if token_endpoint_auth_method not in AUTH_METHODS:
            raise ValueError(
                f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}, "
                f"got {token_endpoint_auth_method!r}"
            )
        _check_org_number(org_number, "org_number")
        redirects = tuple(_check_redirect_uri(u, "redirect_uris") for u in redirect_uris)
        if not redirects:
            raise ValueError("an ID-porten client needs at least one redirect_uri")
        logouts = tuple(
            _check_redirect_uri(u, "post_logout_redirect_uris") for u in post_logout_redirect_uris
        )
        keys = _import_public_keys(jwks, "ID-porten")
        uses_secret = token_endpoint_auth_method.startswith("client_secret_")
        if uses_secret and not client_secret:
            raise ValueError(f"{token_endpoint_auth_method} needs a client_secret")
        if not uses_secret and client_secret is not None:
            raise ValueError(f"a {token_endpoint_auth_method} client has no client_secret")
        if token_endpoint_auth_method == "private_key_jwt" and not keys:
            raise ValueError("private_key_jwt needs at least one registered JWK")
        if min(access_token_lifetime, refresh_token_lifetime, authorization_lifetime) < 1:
            raise ValueError("token lifetimes must be positive")
        client = IdportenClient(
            client_id=client_id,
            client_secret=client_secret,
            keys=keys,
            token_endpoint_auth_method=token_endpoint_auth_method,
            redirect_uris=redirects,
            post_logout_redirect_uris=logouts,
            scopes=frozenset(scopes),
            org_number=org_number,
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            authorization_lifetime=authorization_lifetime,
        )
        with self._state.lock:
            self._state.idporten_clients[client_id] = client

    def add_person(
        self,
        pid: str,
        *,
        name: str | None = None,
        party_id: int | None = None,
        user_id: int | None = None,
        username: str = "",
    ) -> Person:
        """Add (or replace) a person in the Altinn Register, so the ID-porten exchange knows them.

        Anyone can log in on the TestID page with any 11-digit number, as in ID-porten's test
        environment; only people in the Register get an Altinn token. `DEFAULT_PID` is there
        from the start.

        Args:
            pid: the national identity number, 11 digits.
            name: the person's name.
            party_id: the person's Altinn party id (generated if omitted); instances they own
                are stored under it.
            user_id: the person's Altinn user id (generated if omitted).
            username: the Altinn username (most people have none).

        Returns:
            The stored `Person`.

        Raises:
            ValueError: ``pid`` is not 11 digits, or an id is not positive.
        """
        if not _PID.fullmatch(pid):
            raise ValueError(f"pid must be an 11-digit national identity number, got {pid!r}")
        with self._state.lock:
            self._person_counter += 1
            number = self._person_counter
        party = 50_100_000 + number if party_id is None else int(party_id)
        user = 20_100_000 + number if user_id is None else int(user_id)
        if party < 1 or user < 1:
            raise ValueError("party_id and user_id must be positive")
        person = Person(
            pid=pid,
            name=name,
            party_id=party,
            user_id=user,
            username=username,
            party_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:altinn:party:{party}")),
        )
        with self._state.lock:
            self._state.persons[pid] = person
        return person

    def person(self, pid: str = DEFAULT_PID) -> Person:
        """The person with ``pid`` in the Register (default: the `DEFAULT_PID` person).

        Raises:
            KeyError: no such person.
        """
        with self._state.lock:
            return self._state.persons[pid]

    def add_partner_scope(self, scope: str) -> None:
        """Let ID-porten tokens carrying ``scope`` be exchanged even without an ``altinn:``
        scope (Altinn's configured partner scopes)."""
        if not scope:
            raise ValueError("scope must not be empty")
        with self._state.lock:
            self._state.partner_scopes.add(scope)

    async def idporten_login(
        self, authorization_url: str, *, pid: str | None = None, deny: bool = False
    ) -> str:
        """Play the person in the browser: open ``authorization_url`` and log in with TestID.

        The requests go to this emulator in-process (through `transport`, at the URL's origin),
        exactly as a browser would send them: ``GET /authorize``, then the TestID form. They
        count in `requests` and injected faults apply.

        Args:
            authorization_url: the full ``/authorize`` URL the client built (or its PAR form,
                ``?client_id=…&request_uri=…``).
            pid: the person number to log in with (default `DEFAULT_PID`).
            deny: press "Cancel" instead, which sends the browser back with
                ``error=access_denied``.

        Returns:
            The URL ID-porten redirects the browser to: ``redirect_uri?code=…&state=…&iss=…``,
            or with ``error=…&error_description=…`` when the login is cancelled or the request is
            refused in a way ID-porten reports to the client.

        Raises:
            ValueError: ``authorization_url`` is not absolute, or ID-porten showed an error
                page instead of redirecting (unknown client, unregistered redirect_uri, bad
                request_uri, a refused person number) or answered something unexpected (such as
                an injected fault).
        """
        parts = urllib.parse.urlsplit(authorization_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"authorization_url must be an absolute URL, got {authorization_url!r}"
            )
        origin = f"{parts.scheme}://{parts.netloc}"
        async with httpx.AsyncClient(transport=self.transport()) as http:
            response = await http.get(authorization_url)
            if response.status_code == 302:
                return response.headers["location"]
            found = _HIDDEN_TRANSACTION.search(response.text)
            if response.status_code != 200 or found is None:
                raise ValueError(_login_failure("the authorization request", response))
            form = {"transaction": html.unescape(found.group(1))}
            if deny:
                form["action"] = "cancel"
            else:
                form.update(action="login", pid=DEFAULT_PID if pid is None else pid)
            response = await http.post(f"{origin}{LOGIN_PATH}", data=form)
            if response.status_code == 302:
                return response.headers["location"]
            raise ValueError(_login_failure("the TestID login", response))

    # -- seeding: Storage --------------------------------------------------------------------

    def add_instance(
        self,
        org: str,
        app: str,
        *,
        party_id: str | int | None = None,
        data: bytes | None = None,
        content_type: str = "application/xml",
        created: float | None = None,
        last_changed: float | None = None,
        instance_guid: str | None = None,
        filename: str | None = None,
        data_type: str = "model",
        current_task: str | None = "Task_1",
        completed: bool | float = False,
        archived: bool | None = None,
        soft_deleted: bool = False,
        hard_deleted: bool = False,
        visible_after: float | None = None,
        due_before: float | None = None,
        confirmed_by: Iterable[str] = (),
        person_number: str | None = None,
        organisation_number: str | None = None,
    ) -> dict[str, Any]:
        """Store one instance of ``org/app`` and return its JSON (self links for `base_url`).

        Args:
            org: the service owner's code (``ttd``).
            app: the app name.
            party_id: the instance owner's party id (generated if omitted).
            data: the bytes of one data element; omitted means no data elements.
            content_type: the data element's content type.
            created: creation time (default now).
            last_changed: last-change time (default ``created``); queries sort by it.
            instance_guid: the instance GUID (random if omitted).
            filename: the data element's file name (default ``<data_type>.<ext>``).
            data_type: the data element's data type.
            current_task: the process task while not completed.
            completed: True (at ``last_changed``) or the time the process ended.
            archived: whether the instance is archived (default: when completed).
            soft_deleted: whether the instance is soft-deleted.
            hard_deleted: whether the instance is hard-deleted.
            visible_after: ``visibleAfter`` (default ``created``).
            due_before: ``dueBefore``, if any.
            confirmed_by: orgs that already confirmed the instance complete.
            person_number: the owner's national identity number, if a person.
            organisation_number: the owner's organisation number, if an organisation.

        Raises:
            ValueError: an argument is malformed or the GUID is already used.
        """
        now = self._state.clock()
        created_at = now if created is None else created
        changed_at = created_at if last_changed is None else last_changed
        if completed is True:
            ended: float | None = changed_at
        elif completed is False:
            ended = None
        else:
            ended = float(completed)
        if party_id is None:
            with self._state.lock:
                self._party_counter += 1
                party_id = 51_000_000 + self._party_counter
        party = str(party_id)
        if not party.isdigit():
            raise ValueError(f"party_id must be numeric, got {party_id!r}")
        guid = str(uuid.UUID(instance_guid)) if instance_guid else str(uuid.uuid4())
        spec = InstanceSpec(
            guid=guid,
            party_id=str(int(party)),
            created=created_at,
            last_changed=changed_at,
            data=data,
            content_type=content_type,
            filename=default_filename(data_type, content_type) if filename is None else filename,
            data_type=data_type,
            current_task=current_task,
            completed=ended,
            archived=(ended is not None) if archived is None else archived,
            soft_deleted=changed_at if soft_deleted else None,
            hard_deleted=changed_at if hard_deleted else None,
            visible_after=visible_after,
            due_before=due_before,
            confirmed_by=tuple((who, changed_at) for who in confirmed_by),
            person_number=person_number,
            organisation_number=organisation_number,
            created_by=party,
            read_status="Read" if ended is not None else "Unread",
            data_guid=str(uuid.uuid4()),
        )
        stored = self._store.add(org, app, spec)
        return render_instance(stored, self._base_url)

    def add_instances(
        self, org: str, app: str, count: int, *, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Store ``count`` realistic generated instances of ``org/app`` (each with one XML data
        element) and return their JSON. Deterministic for a given seed and call order."""
        if count < 0:
            raise ValueError("count must not be negative")
        seed_text = self._store.next_generation_seed(org, app, seed)
        stored = self._store.add_many(
            org, app, generate_specs(count, seed_text, self._state.clock())
        )
        return [render_instance(instance, self._base_url) for instance in stored]

    # -- seeding: Altinn 2 -------------------------------------------------------------------

    def add_api_key(self, key: str, *, service_owner: bool = False) -> None:
        """Register an Altinn 2 API key (the ``ApiKey`` header every call needs).

        Args:
            key: the key.
            service_owner: the key may also call the service-owner API (``/api/serviceowner``);
                other keys get ``403 The API key is not authorized for this operation`` there.
        """
        if not key or key != key.strip():
            raise ValueError("an API key must be non-empty, without surrounding spaces")
        with self._state.lock:
            self._altinn2.store.api_keys[key] = service_owner

    def add_reportee(
        self,
        name: str,
        *,
        org_number: str | None = None,
        pid: str | None = None,
        party_id: int | None = None,
        parent_org_number: str | None = None,
        organization_form: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        """Add (or update) an Altinn 2 reportee (avgiver): an organisation or a person.

        An organisation with ``parent_org_number`` is a business (underenhet), else an
        enterprise. A person is also added to the Register (see `add_person`), and keeps the
        Register's party id.

        Args:
            name: the name, as Altinn shows it (``DALEKVAM OG BORGEN``).
            org_number: the organisation number (9 digits), for an organisation.
            pid: the national identity number (11 digits), for a person.
            party_id: the party id (``ReporteeId`` is ``r<party_id>``; generated if omitted).
            parent_org_number: the enterprise a business belongs to.
            organization_form: ``AS``, ``ENK``, ``BEDR``, …
            active: False for a deleted organisation (``Status`` ``Inactive``).

        Returns:
            The reportee as the service-owner API shows it.

        Raises:
            ValueError: not exactly one of ``org_number`` and ``pid``, or a malformed one.
        """
        if (org_number is None) == (pid is None):
            raise ValueError("give exactly one of org_number and pid")
        if not name:
            raise ValueError("name must not be empty")
        if parent_org_number is not None:
            _check_org_number(parent_org_number, "parent_org_number")
        if pid is not None:
            if not _PID.fullmatch(pid):
                raise ValueError(f"pid must be 11 digits, got {pid!r}")
            with self._state.lock:
                person = self._state.persons.get(pid)
            if person is None or (party_id is not None and person.party_id != party_id):
                person = self.add_person(pid, name=name, party_id=party_id)
            reportee = Reportee(person.party_id, name, PERSON, pid=pid, active=active)
        else:
            org = _check_org_number(org_number or "", "org_number")
            kind = BUSINESS if parent_org_number is not None else ENTERPRISE
            with self._state.lock:
                store = self._altinn2.store
                known = store.by_org.get(org)
                number = party_id or known or store.new_party_id()
            reportee = Reportee(
                number,
                name,
                kind,
                org_number=org,
                parent_org_number=parent_org_number,
                organization_form=organization_form,
                active=active,
            )
        with self._state.lock:
            self._altinn2.store.add_reportee(reportee)
        return reportee.service_owner_json()

    def add_altinn2_user(
        self,
        username: str,
        password: str,
        *,
        pid: str | None = None,
        name: str | None = None,
        enterprise_org: str | None = None,
        reportees: Iterable[str | int] = (),
    ) -> str:
        """Add (or replace) an Altinn 2 user who logs in with ``authenticatewithpassword``.

        Args:
            username: the username (case-insensitive at login).
            password: the password.
            pid: the person's national identity number: they may log in with it instead of the
                username, and it links the user to the Register person (added if missing) whose
                party is the user's own reportee (``my``), as for an ID-porten login.
            name: the person's name (for a new reportee).
            enterprise_org: makes this an enterprise user (virksomhetsbruker) of that
                organisation: the login needs ``?ForceEIAuthentication`` and the organisation's
                enterprise certificate, on every call; ``my`` is the organisation.
            reportees: parties the user may represent (org numbers, person numbers, party ids
                or ``r<party id>``), for every service (see `add_altinn2_right`).

        Returns:
            The user's own ``ReporteeId`` (``r<party id>``).

        Raises:
            ValueError: a malformed argument, or both ``pid`` and ``enterprise_org``.
        """
        if not username or not password:
            raise ValueError("username and password must not be empty")
        if pid is not None and enterprise_org is not None:
            raise ValueError("an enterprise user is not a person: give pid or enterprise_org")
        if pid is not None:
            if not _PID.fullmatch(pid):
                raise ValueError(f"pid must be 11 digits, got {pid!r}")
            with self._state.lock:
                known = pid in self._state.persons
            if not known:
                self.add_person(pid, name=name)
            party = self._altinn2_party(pid)
        elif enterprise_org is not None:
            party = self._altinn2_party(_check_org_number(enterprise_org, "enterprise_org"))
        else:
            with self._state.lock:
                store = self._altinn2.store
                party = store.new_party_id()
                store.add_reportee(Reportee(party, name or username, PERSON))
        user = User(username, password, pid, party, enterprise_org)
        with self._state.lock:
            store = self._altinn2.store
            previous = store.users.get(user.key)
            if previous is not None and previous.pid is not None:
                store.users_by_pid.pop(previous.pid, None)
            store.users[user.key] = user
            if pid is not None:
                store.users_by_pid[pid] = user
        for reportee in reportees:
            self._altinn2_grant(user.subject, reportee, Service())
        return f"r{party}"

    def add_altinn2_right(
        self,
        subject: str,
        reportee: str | int,
        *,
        service_code: str | None = None,
        service_edition: int | None = None,
    ) -> None:
        """Let ``subject`` represent ``reportee`` in Altinn 2, for one service or (by default)
        all of them.

        Args:
            subject: a person number, or the username of an `add_altinn2_user` user.
            reportee: an org number, a person number, a party id or ``r<party id>`` (an unknown
                org number or person number is added as a reportee).
            service_code: the service the right is for (None: every service).
            service_edition: the edition (None: every edition of ``service_code``).

        Raises:
            ValueError: an unknown username or reportee.
        """
        if _PID.fullmatch(subject):
            key = subject
        else:
            with self._state.lock:
                user = self._altinn2.store.users.get(subject.lower())
            if user is None:
                raise ValueError(f"unknown Altinn 2 user {subject!r} (add_altinn2_user first)")
            key = user.subject
        service = Service(service_code, service_edition if service_code is not None else None)
        self._altinn2_grant(key, reportee, service)

    def _altinn2_grant(self, subject_key: str, reportee: str | int, service: Service) -> None:
        party = self._altinn2_party(reportee)
        with self._state.lock:
            rights = self._altinn2.store.rights.setdefault(subject_key, {})
            rights.setdefault(party, set()).add(service)

    def add_altinn2_message(
        self,
        reportee: str | int,
        *,
        subject: str,
        service_owner: str,
        type: str = CORRESPONDENCE,  # noqa: A002 - the wire name (Message.Type)
        status: str | None = None,
        created: float | None = None,
        last_changed: float | None = None,
        service_code: str | None = None,
        service_edition: int = 1,
        message_sender: str | None = None,
        summary: str | None = None,
        body: str | None = None,
        last_changed_by: str | None = None,
        forms: Iterable[tuple[str, bytes | str]] = (),
        attachments: Iterable[tuple[str, bytes | int, str]] = (),
    ) -> dict[str, Any]:
        """Put one message in a reportee's Altinn 2 message box.

        Args:
            reportee: whose box: an org number, a person number, a party id or ``r<party id>``
                (an unknown org or person number is added as a reportee).
            subject: ``Subject``.
            service_owner: ``ServiceOwner`` (a display name: ``Skatteetaten``).
            type: ``Correspondence`` (a message) or ``FormTask`` (a form to fill in).
            status: the bokmål status: ``Ulest``, ``Lest`` or ``Arkivert`` for a
                correspondence, ``Utfylling``, ``Signering`` or ``Arkivert`` for a form task
                (default the first). Archived messages get ``b`` ids, others ``a``.
            created: ``CreatedDate`` (default now).
            last_changed: ``LastChangedDateTime`` (default ``created``); the box is newest
                first by it.
            service_code: ``ServiceCode`` (default ``4503`` or, for a form task, ``2802``).
            service_edition: ``ServiceEdition``.
            message_sender: ``MessageSender`` (default ``service_owner`` for a correspondence).
            summary: ``Summary`` (default the subject, for a correspondence).
            body: ``Body`` (HTML; default a paragraph with the subject, for a correspondence).
            last_changed_by: ``LastChangedBy`` (default ``service_owner``).
            forms: a form task's forms, ``(name, xml)``; the first is the main form (default one
                generated from the subject).
            attachments: ``(file name, bytes or a size, content type)``; a size makes that many
                deterministic generated bytes, never held in memory (for large downloads).

        Returns:
            The message as ``GET /api/r<party id>/messages/{id}`` shows it (HAL, links for
            `base_url`).

        Raises:
            ValueError: an unknown type or status, forms on a correspondence, a bad attachment.
        """
        if type not in STATUSES:
            raise ValueError(f"type must be {CORRESPONDENCE!r} or {FORM_TASK!r}, got {type!r}")
        status = STATUSES[type][0] if status is None else status
        if status not in STATUSES[type]:
            raise ValueError(f"status of a {type} must be one of {STATUSES[type]}, got {status!r}")
        form_list = [(n, x.encode() if isinstance(x, str) else bytes(x)) for n, x in forms]
        if form_list and type != FORM_TASK:
            raise ValueError("only a FormTask has forms")
        if type == FORM_TASK and not form_list:
            form_list = [(subject, form_xml(subject, 1, 0))]
        attachment_list: list[tuple[str, bytes | int, str]] = []
        for file_name, data, content_type in attachments:
            if not file_name or not content_type:
                raise ValueError("an attachment needs a file name and a content type")
            if isinstance(data, int) and (isinstance(data, bool) or data < 0):
                raise ValueError("an attachment's size must be a non-negative int")
            attachment_list.append(
                (file_name, data if isinstance(data, int) else bytes(data), content_type)
            )
        correspondence = type == CORRESPONDENCE
        created_ms = to_ms(self._state.clock() if created is None else created)
        spec = MessageSpec(
            type=type,
            subject=subject,
            service_owner=service_owner,
            service_code=service_code or ("4503" if correspondence else "2802"),
            service_edition=service_edition,
            status=status,
            created=created_ms,
            last_changed=max(created_ms, to_ms(last_changed)) if last_changed else created_ms,
            last_changed_by=last_changed_by or service_owner,
            message_sender=message_sender or (service_owner if correspondence else None),
            summary=summary if summary is not None else (subject if correspondence else None),
            body=body
            if body is not None
            else (f"<p>{html.escape(subject)}</p>" if correspondence else None),
            forms=tuple((n, "213", 10422, x) for n, x in form_list),
            attachments=tuple(attachment_list),
        )
        party = self._altinn2_party(reportee)
        with self._state.lock:
            [message] = self._altinn2_store_messages(party, [spec])
        return self._altinn2_json(message, detail=True)

    def add_altinn2_messages(
        self, reportee: str | int, count: int, *, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Fill a reportee's Altinn 2 message box with ``count`` realistic generated messages
        (correspondences and form tasks from several service owners over the last year, some
        read or archived, some with a generated PDF attachment). Deterministic for a given seed
        and call order; thousands take well under a second.

        Returns:
            The messages as the box lists them (HAL, links for `base_url`).
        """
        if count < 0:
            raise ValueError("count must not be negative")
        party = self._altinn2_party(reportee)
        with self._state.lock:
            store = self._altinn2.store
            store.generated += 1
            seed_text = f"{seed}:altinn2:{party}:{store.generated}"
        specs = list(generate_messages(count, seed_text, to_ms(self._state.clock())))
        with self._state.lock:
            messages = self._altinn2_store_messages(party, specs)
        return [self._altinn2_json(m, detail=False) for m in messages]

    def add_consent(
        self,
        *,
        service_code: str,
        service_edition: int,
        offered_by: str | int,
        covered_by: str | int,
        handled_by: str | int | None = None,
        status: str = "Active",
        created: float | None = None,
        valid_to: float | None = None,
        last_changed: float | None = None,
        authorization_code: str | None = None,
    ) -> dict[str, Any]:
        """Record a consent (samtykke) or power of attorney for a service, for
        ``GET /api/serviceowner/consents``.

        Args:
            service_code: the consent service's code.
            service_edition: its edition.
            offered_by: who gave it (person number, org number, party id or ``r<id>``).
            covered_by: who received it.
            handled_by: a third party that may use it on ``covered_by``'s behalf.
            status: ``Active`` or ``Revoked``.
            created: when it was given (default now).
            valid_to: when it expires (default 90 days after ``created``); expired consents are
                not listed.
            last_changed: the last status change (default ``created``); the list is ordered by it.
            authorization_code: the consent's GUID (random if omitted).

        Returns:
            The consent as the list shows it.
        """
        if status not in ("Active", "Revoked"):
            raise ValueError(f"status must be 'Active' or 'Revoked', got {status!r}")
        offered, covered = self._altinn2_party(offered_by), self._altinn2_party(covered_by)
        handler = self._altinn2_party(handled_by) if handled_by is not None else None
        created_ms = to_ms(self._state.clock() if created is None else created)
        valid_ms = to_ms(valid_to) if valid_to is not None else created_ms + 90 * 86_400_000
        changed_ms = to_ms(last_changed) if last_changed is not None else created_ms
        code = str(uuid.UUID(authorization_code)) if authorization_code else str(uuid.uuid4())
        with self._state.lock:
            store = self._altinn2.store
            consent = Consent(
                id=store.next_consent,
                authorization_code=code,
                service_code=service_code,
                service_edition=service_edition,
                offered_by=offered,
                covered_by=covered,
                handled_by=handler,
                revoked=status == "Revoked",
                created=created_ms,
                valid_to=valid_ms,
                last_changed=max(changed_ms, created_ms),
            )
            store.next_consent += 1
            store.consents.append(consent)
            store.consents_sorted = False
            return consent_json(consent, store.reportees)

    def end_altinn2_sessions(self) -> None:
        """End every Altinn 2 password login, so clients have to log in again."""
        self._altinn2.end_sessions()

    def _altinn2_party(self, reportee: str | int) -> int:
        """The party id of an org number, person number, party id or ``r<id>``; unknown org
        and person numbers are added (persons to the Register too)."""
        text = str(reportee).strip()
        if text[:1] in ("r", "R") and text[1:].isdigit():
            text = text[1:]
        store = self._altinn2.store
        if _ORG_NUMBER.fullmatch(text):
            with self._state.lock:
                known = store.by_org.get(text)
            if known is None:
                self.add_reportee(
                    f"TESTORGANISASJON {text}", org_number=text, organization_form="AS"
                )
                with self._state.lock:
                    known = store.by_org[text]
            return known
        if _PID.fullmatch(text):
            with self._state.lock:
                known = store.by_pid.get(text)
                person = self._state.persons.get(text)
            if known is not None:
                return known
            name = person.name.upper() if person is not None and person.name else f"PERSON {text}"
            self.add_reportee(name, pid=text)
            with self._state.lock:
                return store.by_pid[text]
        if text.isdigit():
            party = int(text)
            with self._state.lock:
                if party in store.reportees:
                    return party
                person = next(
                    (p for p in self._state.persons.values() if p.party_id == party), None
                )
            if person is not None:
                return self._altinn2_party(person.pid)
        raise ValueError(f"unknown Altinn 2 reportee {reportee!r}")

    def _altinn2_store_messages(self, party: int, specs: Iterable[MessageSpec]) -> list[Message]:
        """Number and store messages (lock held)."""
        store = self._altinn2.store
        messages: list[Message] = []
        for spec in specs:
            store.next_message += 1
            forms: list[Form] = []
            for index, (name, format_id, version, xml) in enumerate(spec.forms):
                store.next_item += 1
                kind = "MainForm" if index == 0 else "SubForm"
                forms.append(Form(store.next_item, name, kind, format_id, version, xml))
            attachments: list[Attachment] = []
            for file_name, data, content_type in spec.attachments:
                store.next_item += 1
                stored = None if isinstance(data, int) else data
                size = data if isinstance(data, int) else len(data)
                name = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
                attachments.append(
                    Attachment(store.next_item, file_name, name, content_type, stored, size)
                )
            messages.append(
                Message(
                    number=store.next_message,
                    party_id=party,
                    type=spec.type,
                    subject=spec.subject,
                    service_owner=spec.service_owner,
                    status=spec.status,
                    created=spec.created,
                    last_changed=max(spec.last_changed, spec.created),
                    last_changed_by=spec.last_changed_by,
                    service_code=spec.service_code,
                    service_edition=spec.service_edition,
                    message_sender=spec.message_sender,
                    summary=spec.summary,
                    body=spec.body,
                    forms=forms,
                    attachments=attachments,
                )
            )
        store.add_messages(messages)
        return messages

    def _altinn2_json(self, message: Message, *, detail: bool) -> dict[str, Any]:
        base = f"{self._base_url}/altinn2/api/r{message.party_id}/messages"
        document = message_json(message, 1044, detail=detail)
        document["_links"] = message_links(message, base, self._base_url, detail=detail)
        return document

    # -- statistics and faults ---------------------------------------------------------------

    @property
    def requests(self) -> Counter[str]:
        """Requests served per endpoint name (see `ENDPOINTS`), refused ones included.

        Requests to unknown paths count as ``"not_found"``.
        """
        return self._state.requests

    def inject_fault(
        self,
        endpoint: str,
        *,
        status: int = 500,
        times: int = 1,
        delay: float = 0.0,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` answer ``status`` with ``body``.

        The answer comes after ``delay`` seconds (an anyio sleep, so it honours cancellation
        and timeouts). ``status=0`` means a slow but otherwise normal response. Faults queue:
        a second call applies after the first is used up.

        Raises:
            ValueError: unknown endpoint name, or a bad status, count or delay.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")
        if status != 0 and not 100 <= status <= 599:
            raise ValueError("status must be 0 (slow response) or an HTTP status code")
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        fault = Fault(
            status=status,
            remaining=times,
            delay=delay,
            body=bytes(body),
            headers=tuple((k.lower(), v) for k, v in (headers or {}).items()),
        )
        with self._state.lock:
            self._state.faults.setdefault(endpoint, deque()).append(fault)

    def clear_faults(self) -> None:
        """Drop every injected fault that has not been used up."""
        with self._state.lock:
            self._state.faults.clear()

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point."""
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if kind != "http":
            return
        method = str(scope["method"]).upper()
        path = str(scope.get("path") or "/")
        route, params, wrong_method = self._router.match(method, path)
        name = route.name if route is not None else (wrong_method or "not_found")
        with self._state.lock:
            self._state.requests[name] += 1
            fault = self._state.take_fault(name) if route is not None else None
        head = method == "HEAD"
        try:
            body = await read_body(receive)
        except BodyTooLargeError:
            await send_response(send, empty_response(413), head=head)
            return
        if fault is not None:
            if fault.delay > 0:
                await anyio.sleep(fault.delay)
            if fault.status:
                response = Response(fault.status, fault.body, list(fault.headers))
                await send_response(send, response, head=head)
                return
        if route is None:
            if wrong_method is not None:
                allow = ", ".join(self._router.allowed_methods(path))
                response = empty_response(405, headers=[("allow", allow)])
            else:
                response = empty_response(404)
            await send_response(send, response, head=head)
            return
        headers = decode_headers(scope.get("headers") or [])
        query_string = bytes(scope.get("query_string") or b"").decode("latin-1")
        request = Request(
            method=method,
            path=path,
            query_string=query_string,
            headers=headers,
            body=body,
            origin=request_origin(scope, headers),
            path_params=params,
            client_cert_chain=client_cert_chain(scope),
        )
        response = await route.handler(request)
        await send_response(send, response, head=head)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
