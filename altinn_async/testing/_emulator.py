"""The `Emulator`: Maskinporten, ID-porten, Altinn authentication, Storage, Events, Altinn 2,
Dialogporten, Correspondence and Authorized Parties in one ASGI app.

A thin facade: it composes the service packages over the shared toolkit, and its ``add_*``
methods delegate to the seeding of the service that owns the data. Everything it hands out of
the client side is the `Environment` (``altinn_async._environment``, the one seam).
"""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._environment import AuthorizationServer, Environment
from . import (
    _accessmanagement,
    _altinn2,
    _authentication,
    _correspondence,
    _dialogporten,
    _events,
    _idporten,
    _maskinporten,
    _selfservice,
    _storage,
)
from ._altinn2 import CORRESPONDENCE
from ._authentication import ExchangeRecord
from ._certificates import CertificateAuthority, IssuedCertificate
from ._maskinporten import GrantRecord
from ._server import EmulatorServer
from ._toolkit.app import Application
from ._toolkit.asgi import Receive, Scope, Send
from ._toolkit.faults import FAULT_KINDS, Fault, RandomFaults, finite_number
from ._toolkit.parties import Organization, PartyDirectory
from ._toolkit.pki import TrustStore
from ._toolkit.register import Person, Register
from ._toolkit.router import Router, route_names
from ._toolkit.server import ServerTLS, ensure_uvicorn, is_wildcard, listen, url_host
from ._toolkit.state import SharedState
from ._toolkit.transport import tls_extension, transport_class

if TYPE_CHECKING:
    import httpx2

__all__ = ["DEFAULT_PID", "ENDPOINTS", "FAULT_KINDS", "Emulator"]

ENDPOINTS = route_names(
    *_maskinporten.HANDLERS,
    *_idporten.HANDLERS,
    *_authentication.HANDLERS,
    *_storage.HANDLERS,
    *_events.HANDLERS,
    *_altinn2.HANDLERS,
    *_dialogporten.HANDLERS,
    *_accessmanagement.HANDLERS,
    *_correspondence.HANDLERS,
    *_selfservice.HANDLERS,
)
"""The endpoint names used by `Emulator.requests` and `Emulator.inject_fault`: the names every
service registers its routes under."""

DEFAULT_PID = "24917298544"
"""The person every emulator has in its Register and pre-fills on the TestID page.

A synthetic national identity number (month + 80, as in Norway's synthetic test population) with
valid check digits; party id 50002119, user id 20000011, name "Ola Testesen".
"""

_STARTUP_TIMEOUT = 10.0
_MAX_PROPAGATION_DELAY = 120.0


def _origin(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"base_url must be an origin without a path, got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _public_origin(public_url: str, scheme: str) -> str:
    try:
        origin = _origin(public_url)
    except ValueError as exc:
        raise ValueError(str(exc).replace("base_url", "public_url")) from None
    if not origin.startswith(f"{scheme}://"):
        raise ValueError(f"public_url must be an {scheme} URL for this server, got {public_url!r}")
    return origin


class Emulator:
    """A local Maskinporten, ID-porten, Altinn authentication, Altinn Storage and Events API,
    Dialogporten, Correspondence and Authorized Parties that enforces the real rules.

    The emulator is an ASGI application. Use it in-process through `transport`, or on a real port
    with `serve` (in the background) or `server` (in the foreground), optionally HTTPS with client
    certificates. Links, issuers and audiences follow the origin each request was sent to, so the
    same emulator answers as ``http://altinn.localhost`` in-process and as
    ``http://127.0.0.1:<port>`` when served.

    With ``altinn2=True`` (the default) it also plays the legacy Altinn 2 REST API under
    ``/altinn2/api`` (``environment.altinn2`` is ``{origin}/altinn2``): seed API keys, users,
    reportees, messages and consents with the ``add_api_key``, ``add_altinn2_*``, ``add_reportee``
    and ``add_consent`` methods.

    Dialogporten (``{platform}/dialogporten/api/v1``: the end user's dialog search with keyset
    paging, dialogs with dialog tokens, the service owner's search) serves the dialogs of
    `add_dialog`, `update_dialog`, `delete_dialog` and `generate_dialogs`; Authorized Parties
    (``{platform}/accessmanagement/api/v1``) lists who may act for whom, from `add_organization`
    and `add_role` (the same rule Dialogporten authorises its searches with).

    Digdir's self-service API (``environment.selfservice``, ``{origin}/samarbeid/api/v1``)
    manages Maskinporten clients, their keys (JWKS) and secrets, and an API provider's scopes,
    access lists and prefixes, for the organisation (``consumer``) of a Maskinporten token with
    the admin scopes (``idporten:dcr.read``, ``dcr.write``, ``dcr.modify``, ``dcr.supplier``,
    ``idporten:scopes.write``); seed the admin client with `add_maskinporten_client`. A client
    created there is a Maskinporten client at once, which gets tokens with the keys posted to
    its JWKS (after ``selfservice_propagation_delay``) and for its scopes only. The scope
    registry (`add_scope_prefix`, `add_api_scope`, `grant_scope_access`, or the API's scopes
    endpoints) decides which scopes an organisation may put on a client, and Maskinporten
    refuses grants for a registered scope that is deactivated, does not allow Maskinporten or
    that the consumer has no APPROVED access to (MP-250); scopes outside the registry are
    trusted as a seeded client has them. Clients seeded with `add_maskinporten_client` are
    listed by the API too.

    Storage's instances bring their Events API events (``app.instance.created``,
    ``app.instance.process.completed``); `add_event` adds others. `generate_instances` makes
    millions of instances that cost no memory; `latency`, `inject_fault`,
    `inject_random_faults` and `expire_tokens` play the network and the things that go wrong.

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
        altinn_token_lifetime: lifetime of exchanged Altinn tokens, in seconds (a few, to test
            expiry; validators allow 10 s of clock skew past ``exp``).
        altinn2: serve the Altinn 2 REST API under ``/altinn2/api``.
        altinn2_cookie_name: the password login's cookie: ``.AspxAuthTT02`` (TT02, the default),
            ``.AspxAuthProd``, ``.AspxAuthCloud`` or ``.ASPXAUTH`` (before release 25.4).
        altinn2_session_lifetime: idle seconds before a password login's session expires.
        altinn2_db_cap: how many messages (or service-owner reportees) the emulated database
            returns before OData filtering; a bigger box gets ``X-Warning-LimitReached``.
        latency: seconds every request waits before it is answered, to play the network (see
            `latency`).
        events_delay: seconds after its ``time`` before the Events API lists an event: Altinn
            lists events only 30 s after they were registered (events seeded with a time in
            the past count as registered then). 0 lists them at once.
        selfservice_propagation_delay: seconds (0 to 120) before a key set posted to the
            self-service API reaches Maskinporten's token endpoint (until then it uses the set
            before); also settable later as the property of the same name.
        selfservice_strict: the self-service API requires a client's ``application_type``,
            ``token_endpoint_auth_method`` and ``grant_types`` and refuses fields it does not
            know. Lenient (the default) fills the three in with the only values the
            integration type allows and ignores unknown fields, among them the 2019 API's
            ``client_type`` and ``token_reference`` (whether Digdir still ignores or now
            refuses them is unconfirmed). A value that does not fit its integration type is
            refused either way.
        selfservice_legacy_paths: also serve the self-service API without ``/api/v1``
            (``{origin}/samarbeid/clients/``...), as before 2025-05-22.
        selfservice_require_certificate: the self-service API accepts only admin tokens whose
            client authenticated with an enterprise certificate (``client_amr``
            ``virksomhetssertifikat``), as Digdir's admin clients are bound to one.
        selfservice_empty_list_errors: the self-service API answers an empty list of
            prefixes, scopes or accesses with a 404 whose ``error_description`` says "does not
            have any", as the real API sometimes does, instead of ``[]``.
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
        latency: float = 0.0,
        events_delay: float = 30.0,
        selfservice_propagation_delay: float = 0.0,
        selfservice_strict: bool = False,
        selfservice_legacy_paths: bool = False,
        selfservice_require_certificate: bool = False,
        selfservice_empty_list_errors: bool = False,
    ) -> None:
        if maskinporten_token_lifetime < 1 or altinn_token_lifetime < 1:
            raise ValueError("token lifetimes must be positive")
        if altinn2_cookie_name not in _altinn2.COOKIE_NAMES:
            raise ValueError(
                f"altinn2_cookie_name must be one of {', '.join(_altinn2.COOKIE_NAMES)}"
            )
        if altinn2_session_lifetime <= 0 or altinn2_db_cap < 1:
            raise ValueError("altinn2_session_lifetime and altinn2_db_cap must be positive")
        if not finite_number(events_delay) or events_delay < 0:
            raise ValueError(f"events_delay must be 0 or more seconds, got {events_delay!r}")
        propagation_delay = _propagation_delay(selfservice_propagation_delay)
        self._base_url = _origin(base_url)
        shared = self._shared = SharedState(clock, latency=_latency(latency))
        self._register = Register(shared.lock)
        self._parties = PartyDirectory(shared.lock, self._register)
        self._trust = TrustStore()
        mp_store = _maskinporten.MaskinportenStore()
        self._maskinporten = _maskinporten.Maskinporten(
            shared, mp_store, self._trust, token_lifetime=maskinporten_token_lifetime
        )
        self._maskinporten_seeding = _maskinporten.MaskinportenSeeding(shared, mp_store)
        idp_store = _idporten.IdportenStore()
        self._idporten = _idporten.Idporten(shared, idp_store, self._register)
        self._idporten_seeding = _idporten.IdportenSeeding(shared, idp_store)
        self._authentication = _authentication.Authentication(
            shared,
            self._register,
            maskinporten=self._maskinporten.tokens,
            idporten=self._idporten.tokens,
            system_register=self._maskinporten.system_register,
            token_lifetime=altinn_token_lifetime,
        )
        # Dialogporten's dialog tokens, which other services accept (``verify``).
        self._dialog_tokens = _dialogporten.DialogTokens()
        self._instances = _storage.InstanceStore(shared.lock)
        self._storage = _storage.Storage(shared, self._instances, self._authentication.tokens)
        self._events_log = _events.EventLog()
        self._events_seeding = _events.EventsSeeding(shared, self._events_log)
        self._storage_seeding = _storage.StorageSeeding(
            shared, self._instances, self._events_seeding
        )
        self._events = _events.Events(
            shared,
            self._events_log,
            self._authentication.tokens,
            self._register,
            visibility_delay=float(events_delay),
        )
        self._dialog_store = _dialogporten.DialogStore(shared.lock)
        self._dialogporten = _dialogporten.Dialogporten(
            shared,
            self._dialog_store,
            parties=self._parties,
            register=self._register,
            bearers=_dialogporten.Bearers(
                self._maskinporten.tokens,
                self._authentication.tokens.issued,
                self._idporten.tokens,
            ),
            tokens=self._dialog_tokens,
        )
        self._dialog_seeding = _dialogporten.DialogSeeding(shared, self._dialog_store)
        self._access_management = _accessmanagement.AccessManagement(
            shared, self._authentication.tokens, self._parties, self._system_user_org
        )
        a2_store = _altinn2.Store(shared.lock)
        self._altinn2_enabled = altinn2
        self._altinn2 = _altinn2.Altinn2(
            shared,
            a2_store,
            self._register,
            _altinn2.Bearers(
                self._idporten.tokens, self._maskinporten.tokens, self._authentication.tokens.issued
            ),
            _altinn2.Sessions(altinn2_cookie_name, altinn2_session_lifetime),
            db_cap=altinn2_db_cap,
        )
        self._altinn2_seeding = _altinn2.Altinn2Seeding(shared, a2_store, self._register)
        correspondences = _correspondence.CorrespondenceStore()
        self._correspondence = _correspondence.CorrespondenceService(
            shared,
            correspondences,
            parties=self._parties,
            altinn=self._authentication.tokens.issued,
            maskinporten=self._maskinporten.tokens,
            events=self._events_seeding,
            dialog_token_claims=self._dialog_tokens.verify,
        )
        self._correspondence_seeding = _correspondence.CorrespondenceSeeding(
            shared, correspondences, self._register, self._events_seeding, base_url=self._base_url
        )
        self._selfservice = _selfservice.SelfService(
            shared,
            mp_store,
            _selfservice.SelfServiceStore(created=shared.clock()),
            self._maskinporten.tokens,
            propagation_delay=propagation_delay,
            strict=selfservice_strict,
            legacy_paths=selfservice_legacy_paths,
            require_certificate=selfservice_require_certificate,
            empty_list_errors=selfservice_empty_list_errors,
            # Called with the shared lock held, which also guards the organisations.
            known_organization=lambda org_number: org_number in self._parties.organizations,
        )
        self._selfservice_seeding = _selfservice.SelfServiceSeeding(shared, mp_store)
        self._maskinporten_store, self._idporten_store = mp_store, idp_store
        handlers = [
            *self._maskinporten.handlers,
            *self._idporten.handlers,
            *self._authentication.handlers,
            *self._storage.handlers,
            *self._events.handlers,
            *(self._altinn2.handlers if altinn2 else ()),
            *self._dialogporten.handlers,
            *self._access_management.handlers,
            *self._correspondence.handlers,
            *self._selfservice.handlers,
        ]
        router = Router()
        for handler in handlers:
            router.mount(handler)
        self._router = router
        self._app = Application(router, shared)
        self._register.add_person(
            DEFAULT_PID, name="Ola Testesen", party_id=50002119, user_id=20000011, username=""
        )

    def __repr__(self) -> str:
        with self._shared.lock:
            clients = len(self._maskinporten_store.clients)
            idporten_clients = len(self._idporten_store.clients)
            dialogs = len(self._dialog_store.dialogs)
        return (
            f"Emulator(base_url={self._base_url!r}, clients={clients}, "
            f"idporten_clients={idporten_clients}, dialogs={dialogs})"
        )

    # -- where it lives ----------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every request waits before it is answered: the network's round trip.

        In-process (`transport`) and served alike, each request sleeps this long (an anyio
        sleep, so it honours cancellation and timeouts) before its handler runs, on top of any
        fault's delay. Settable at any time; requests already waiting keep their wait.

        Raises:
            ValueError: (when set) a negative or non-finite number.
        """
        return self._shared.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._shared.latency = _latency(seconds)

    @property
    def selfservice_propagation_delay(self) -> float:
        """Seconds before a key set posted to the self-service API reaches Maskinporten's token
        endpoint (0 to 120; Digdir says "0-2 minutes"), measured on the emulator's clock.
        Changes made before a new value keep their time.

        Raises:
            ValueError: (when set) a value outside 0 to 120.
        """
        return self._selfservice.propagation_delay

    @selfservice_propagation_delay.setter
    def selfservice_propagation_delay(self, seconds: float) -> None:
        self._selfservice.propagation_delay = _propagation_delay(seconds)

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
        issuer = _maskinporten.issuer_for(origin)
        idp = _idporten.issuer_for(origin)
        return Environment(
            name="emulator",
            maskinporten=AuthorizationServer(
                issuer=issuer, token_endpoint=f"{issuer}token", jwks_uri=f"{issuer}jwk"
            ),
            platform=f"{origin}/platform",
            idporten=AuthorizationServer(
                issuer=idp,
                authorization_endpoint=f"{idp}/authorize",
                pushed_authorization_request_endpoint=f"{idp}/par",
                token_endpoint=f"{idp}/token",
                userinfo_endpoint=f"{idp}/userinfo",
                jwks_uri=f"{idp}/jwks.json",
                end_session_endpoint=f"{idp}/logout",
                revocation_endpoint=f"{idp}/token/revoke",
                authorization_response_iss_parameter_supported=True,
            ),
            altinn2=f"{origin}/altinn2" if self._altinn2_enabled else None,
            selfservice=_selfservice.api_base_for(origin),
        )

    def maskinporten_issuer_for(self, origin: str | None = None) -> str:
        """The Maskinporten issuer (and grant ``aud``) at ``origin`` (default `base_url`)."""
        return _maskinporten.issuer_for(_origin(origin or self._base_url))

    def idporten_issuer_for(self, origin: str | None = None) -> str:
        """The ID-porten issuer at ``origin`` (default `base_url`), without a trailing slash."""
        return _idporten.issuer_for(_origin(origin or self._base_url))

    def altinn_issuer_for(self, origin: str | None = None) -> str:
        """The ``iss`` of Altinn tokens exchanged at ``origin`` (default `base_url`)."""
        return _authentication.altinn_issuer_for(_origin(origin or self._base_url))

    @overload
    def transport(
        self,
        *,
        client_certificate: IssuedCertificate | x509.Certificate | None = None,
        library: Literal["httpx"] = "httpx",
    ) -> httpx.ASGITransport: ...

    @overload
    def transport(
        self,
        *,
        client_certificate: IssuedCertificate | x509.Certificate | None = None,
        library: Literal["httpx2"],
    ) -> httpx2.ASGITransport: ...

    def transport(
        self,
        *,
        client_certificate: IssuedCertificate | x509.Certificate | None = None,
        library: str = "httpx",
    ) -> httpx.ASGITransport | httpx2.ASGITransport:
        """An httpx transport that sends requests straight to this emulator, in-process.

        Responses carry the emulator's custom reason phrases (``response.reason_phrase``).

        Args:
            client_certificate: play a TLS connection on which the client presented this
                certificate (an enterprise certificate for Altinn 2's
                ``?ForceEIAuthentication``). Its chain must lead to a CA given to
                `trust_certificate_authority`; otherwise every request fails with
                `httpx.ConnectError`, as the TLS handshake would.
            library: the package of the client it is for: ``"httpx"``, or ``"httpx2"`` for an
                ``httpx2.AsyncClient`` (which takes only httpx2's transports; its errors are
                then httpx2's).

        Raises:
            ValueError: ``library`` is neither.
            ImportError: ``library`` is not installed.
        """
        transport = transport_class(library)
        if client_certificate is None:
            return transport(self._app)
        if isinstance(client_certificate, IssuedCertificate):
            chain = [client_certificate.certificate, *client_certificate.chain]
        else:
            chain = [client_certificate]
        if not self._trust.trusts(chain, time.time()):
            return transport(
                self._app, refuse="certificate verify failed: the client certificate is not trusted"
            )
        return transport(self._app, tls=tls_extension(chain[:1], tls_version="TLSv1.3"))

    def server(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        certificate_authority: CertificateAuthority | None = None,
        require_client_certificate: bool = False,
    ) -> EmulatorServer:
        """A server for the emulator on a real port, to run in the foreground.

        The listening socket is bound before this returns, so a port that is taken fails here,
        before the caller prints a URL or writes a file. `EmulatorServer.run` then serves with
        the emulator's own uvicorn protocol (custom reason phrases, the TLS client certificate in
        the ASGI TLS extension, dropped connections) until `EmulatorServer.stop` or Ctrl-C.

        With ``certificate_authority`` it serves HTTPS: the CA issues the server certificate
        (for ``host``, the ``public_url`` host, ``localhost``, ``127.0.0.1`` and ``::1``; clients
        trust ``certificate_authority.ca_pem()``) and the server asks for a TLS client
        certificate, which must chain to that CA or to one given to
        `trust_certificate_authority` (before this call). An enterprise certificate's
        organisation number then authenticates Altinn 2 requests with
        ``?ForceEIAuthentication``.

        Example::

            server = emu.server("0.0.0.0", 8080, public_url="http://emulator.localhost:8080")
            print(f"serving on {server.url}")
            server.run()

        Args:
            host: the address to listen on: ``127.0.0.1``, ``::1``, or a wildcard (``0.0.0.0``,
                ``::``) together with ``public_url``.
            port: the port (0 picks a free one).
            public_url: the origin other machines or containers reach the server at, which
                `EmulatorServer.url` and `EmulatorServer.environment` then use (links, issuers
                and audiences follow whatever origin a client addresses). Required for a
                wildcard ``host``, which is no address anyone can connect to.
            certificate_authority: serve HTTPS with a server certificate from this CA.
            require_client_certificate: refuse the TLS handshake without a client certificate
                (otherwise a certificate is optional and only the API refuses what needs one).

        Returns:
            The server, listening but not yet serving.

        Raises:
            ValueError: a wildcard ``host`` without ``public_url``, a ``public_url`` that is not
                an origin of the right scheme, or ``require_client_certificate`` without
                ``certificate_authority``.
            OSError: the address is already in use (the message says so) or cannot be bound.
            RuntimeError: uvicorn is not installed (``pip install 'altinn-async[emulator]'``).
        """
        if require_client_certificate and certificate_authority is None:
            raise ValueError("require_client_certificate needs a certificate_authority (TLS)")
        scheme = "https" if certificate_authority is not None else "http"
        public = _public_origin(public_url, scheme) if public_url is not None else None
        if public is None and is_wildcard(host):
            raise ValueError(
                f"host {host!r} listens on every address, which is no URL to reach the emulator "
                "at: give public_url= (the URL others reach it at), or a concrete host such as "
                "127.0.0.1"
            )
        tls = self._server_tls(
            host,
            public,
            certificate_authority,
            require_client_certificate=require_client_certificate,
        )
        ensure_uvicorn()
        sock = listen(host, port)
        bound_port = int(sock.getsockname()[1])
        url = public or f"{scheme}://{url_host(host)}:{bound_port}"
        return EmulatorServer(self._app, sock, url, tls, self.environment_for(url))

    def _server_tls(
        self,
        host: str,
        public: str | None,
        certificate_authority: CertificateAuthority | None,
        *,
        require_client_certificate: bool,
    ) -> ServerTLS | None:
        if certificate_authority is None:
            return None
        names = [] if is_wildcard(host) else [host.strip("[]")]
        if public is not None:
            names.append(urllib.parse.urlsplit(public).hostname or "")
        hosts = tuple(dict.fromkeys(n for n in (*names, "localhost", "127.0.0.1", "::1") if n))
        server = certificate_authority.issue_server_certificate(hosts)
        anchors = [certificate_authority.root, certificate_authority.intermediate]
        return ServerTLS(
            certificate_chain=server.chain_pem(),
            private_key=server.private_key_pem(),
            client_ca=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors)
            + self._trust.pem(),
            require_client_certificate=require_client_certificate,
        )

    @contextmanager
    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: str | None = None,
        certificate_authority: CertificateAuthority | None = None,
        require_client_certificate: bool = False,
    ) -> Iterator[str]:
        """Serve the emulator on a real port in a daemon thread and yield its base URL
        (``http://127.0.0.1:<port>``, ``http://[::1]:<port>``, or ``public_url``).

        The same server as `server` (see there for TLS and the arguments), run in the background
        while the ``with`` block runs and stopped when it ends.

        Raises:
            ValueError: as for `server`.
            OSError: the address is already in use, or cannot be bound.
            RuntimeError: uvicorn is not installed, or the server did not start.
        """
        with self.server(
            host,
            port,
            public_url=public_url,
            certificate_authority=certificate_authority,
            require_client_certificate=require_client_certificate,
        ) as server:
            thread = server.run_in_thread(_STARTUP_TIMEOUT)
            try:
                yield server.url
            finally:
                server.stop()
                thread.join(_STARTUP_TIMEOUT)

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
            key_expires_at: when every registered key expires (MP-121 after that). Keys
                posted through the self-service API have their own ``exp``.
            requires_registered_key: refuse ``x5c`` certificate grants even before any key is
                registered.

        Raises:
            ValueError: an argument is malformed (org number, a JWK without ``kid`` or not RSA).
        """
        self._maskinporten_seeding.add_client(
            client_id,
            org_number=org_number,
            scopes=scopes,
            jwks=jwks,
            key_expires_at=key_expires_at,
            requires_registered_key=requires_registered_key,
        )

    def trust_certificate_authority(
        self, certificate: x509.Certificate | CertificateAuthority
    ) -> None:
        """Trust a CA for ``x5c`` enterprise-certificate grants.

        Given a `CertificateAuthority`, both its root and its intermediate are trusted, so a
        grant may carry the leaf certificate alone (as many real clients do).
        """
        if isinstance(certificate, CertificateAuthority):
            self._trust.add([certificate.root, certificate.intermediate])
        elif isinstance(certificate, x509.Certificate):
            self._trust.add([certificate])
        else:
            raise TypeError("expected an x509.Certificate or a CertificateAuthority")

    def add_scope(
        self, scope: str, *, at_max_age: int | None = None, maskinporten: bool = True
    ) -> None:
        """Configure a scope: its ``at_max_age`` cap on token lifetime, and whether it may be
        requested from Maskinporten at all (MP-201 if not)."""
        self._maskinporten_seeding.add_scope(
            scope, at_max_age=at_max_age, maskinporten=maskinporten
        )

    def add_delegation(self, *, consumer_org: str, supplier_org: str, scope: str) -> None:
        """Record that ``consumer_org`` delegated ``scope`` to ``supplier_org`` in Altinn, so the
        supplier's clients may request it with ``consumer_org`` in the grant."""
        self._maskinporten_seeding.add_delegation(
            consumer_org=consumer_org, supplier_org=supplier_org, scope=scope
        )

    def add_system_user(
        self,
        *,
        client_id: str,
        customer_org: str,
        system_id: str | None = None,
        external_ref: str | None = None,
        integration_title: str | None = None,
        created: float | None = None,
    ) -> str:
        """Create a system user for a vendor's client at a customer; return its id (a UUID).

        Grants with ``authorization_details`` of type ``urn:altinn:systemuser`` and this
        customer as ``systemuser_org`` then get a token naming the system user. With
        ``external_ref``, the grant must name the same ``externalRef``. The vendor (the client's
        organisation) lists its system's users at
        ``GET {platform}/authentication/api/v1/systemuser/vendor/bysystem/{system_id}``.

        Args:
            client_id: the vendor's Maskinporten client (the system's client).
            customer_org: the customer organisation that owns the system user.
            system_id: the vendor's system (default ``{vendor orgno}_{client_id}``).
            external_ref: the vendor's reference for the customer (the listing shows the
                customer's organisation number when there is none).
            integration_title: the system user's title (default the system id).
            created: when it was created (default now); the listing shows it.

        Raises:
            ValueError: ``customer_org`` is not an organisation number, or ``system_id`` is
                empty.
        """
        return self._maskinporten_seeding.add_system_user(
            client_id=client_id,
            customer_org=customer_org,
            system_id=system_id,
            external_ref=external_ref,
            integration_title=integration_title,
            created=created,
        )

    # -- seeding: the self-service API's scope registry -------------------------------------

    def add_scope_prefix(self, org_number: str, prefix: str) -> None:
        """Give an organisation a scope prefix (Digdir assigns them by hand), so it may create
        scopes ``{prefix}:...`` through the self-service API (``GET /prefix`` lists them).

        Raises:
            ValueError: a malformed org number or prefix (lower-case letters and digits), or a
                prefix another organisation has.
        """
        self._selfservice_seeding.add_prefix(org_number, prefix)

    def add_api_scope(
        self,
        scope: str,
        *,
        owner_org: str,
        description: str = "",
        visibility: str = "PUBLIC",
        accessible_for_all: bool = False,
        allowed_integration_types: Iterable[str] = (),
        at_max_age: int = 0,
        delegation_source: str | None = None,
        active: bool = True,
    ) -> None:
        """Register (or replace) an API scope in the scope registry, as if its owner had created
        it through the self-service API; its prefix becomes the owner's if nobody has it.

        Organisations may then put the scope on clients, and get tokens for it, once they have
        access (`grant_scope_access`) or when it is ``accessible_for_all``.

        Args:
            scope: ``prefix:subscope``.
            owner_org: the API provider's organisation number.
            description: the description (default the scope name).
            visibility: ``PUBLIC`` (listed by ``/scopes/all``), ``PRIVATE`` or ``INTERNAL``.
            accessible_for_all: every organisation has access.
            allowed_integration_types: the integration types that may use it (empty: all).
            at_max_age: caps the lifetime of tokens for it, in seconds (0: the default).
            delegation_source: the delegation source's issuer, for a scope delegable in
                Altinn (see ``GET /delegationsources``).
            active: False for a deactivated scope.

        Raises:
            ValueError: a malformed argument, or a prefix another organisation has.
        """
        self._selfservice_seeding.add_api_scope(
            scope,
            owner_org=owner_org,
            description=description,
            visibility=visibility,
            accessible_for_all=accessible_for_all,
            allowed_integration_types=allowed_integration_types,
            at_max_age=at_max_age,
            delegation_source=delegation_source,
            active=active,
        )

    def grant_scope_access(self, scope: str, org_number: str) -> None:
        """Give an organisation APPROVED access to a registered API scope, as its owner's
        ``PUT /scopes/access/{org_number}?scope=...`` does.

        Raises:
            ValueError: a malformed org number.
            KeyError: the scope is not registered (`add_api_scope`).
        """
        self._selfservice_seeding.grant_access(scope, org_number)

    def add_service_owner(self, org: str, org_number: str) -> None:
        """Map an organisation number to an Altinn service-owner code (``urn:altinn:org``)."""
        self._register.add_service_owner(org, org_number)

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
        self._idporten_seeding.add_client(
            client_id,
            redirect_uris=redirect_uris,
            client_secret=client_secret,
            jwks=jwks,
            token_endpoint_auth_method=token_endpoint_auth_method,
            scopes=scopes,
            post_logout_redirect_uris=post_logout_redirect_uris,
            org_number=org_number,
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            authorization_lifetime=authorization_lifetime,
        )

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
        return self._register.add_person(
            pid, name=name, party_id=party_id, user_id=user_id, username=username
        )

    def person(self, pid: str = DEFAULT_PID) -> Person:
        """The person with ``pid`` in the Register (default: the `DEFAULT_PID` person).

        Raises:
            KeyError: no such person.
        """
        return self._register.person(pid)

    def add_organization(
        self,
        org_number: str,
        *,
        name: str | None = None,
        unit_type: str | None = None,
        parent: str | None = None,
        party_id: int | None = None,
    ) -> Organization:
        """Add (or replace) an organisation in the Altinn Register; with ``parent`` (a main
        unit added before) it is a sub-unit.

        Authorized parties, Dialogporten and Correspondence share one rule for who may act for
        whom: a person for themselves and for the organisations they have a role in
        (`add_role`), with their sub-units; a system user for the organisation that owns it,
        with its sub-units. Organisations a token names but nobody added get a generated name.

        Args:
            org_number: the organisation number, 9 digits.
            name: the registered name (default ``ORGANISASJON {org_number}``).
            unit_type: ``AS``, ``ENK``, ... (default ``AS``; ``BEDR`` for a sub-unit).
            parent: the main unit, for a sub-unit.
            party_id: the Altinn party id (generated if omitted).

        Raises:
            ValueError: a malformed number, or a parent that is unknown or a sub-unit itself.
        """
        return self._parties.add_organization(
            org_number, name=name, unit_type=unit_type, parent=parent, party_id=party_id
        )

    def add_role(
        self,
        pid: str,
        org_number: str,
        *,
        role: str = "DAGL",
        resources: Iterable[str] | None = None,
    ) -> None:
        """Give a person (in the Register) a role in an organisation (added with
        `add_organization`): they may then act for it and its sub-units, for ``resources``
        (resource ids) or every resource.

        Raises:
            ValueError: an unknown person or organisation.
        """
        self._parties.add_role(pid, org_number, role=role, resources=resources)

    def add_partner_scope(self, scope: str) -> None:
        """Let ID-porten tokens carrying ``scope`` be exchanged even without an ``altinn:``
        scope (Altinn's configured partner scopes)."""
        self._authentication.add_partner_scope(scope)

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
        return await _idporten.testid_login(
            self.transport(), authorization_url, pid=DEFAULT_PID if pid is None else pid, deny=deny
        )

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
        return self._storage_seeding.add_instance(
            org,
            app,
            base_url=self._base_url,
            party_id=party_id,
            data=data,
            content_type=content_type,
            created=created,
            last_changed=last_changed,
            instance_guid=instance_guid,
            filename=filename,
            data_type=data_type,
            current_task=current_task,
            completed=completed,
            archived=archived,
            soft_deleted=soft_deleted,
            hard_deleted=hard_deleted,
            visible_after=visible_after,
            due_before=due_before,
            confirmed_by=confirmed_by,
            person_number=person_number,
            organisation_number=organisation_number,
        )

    def add_instances(
        self, org: str, app: str, count: int, *, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Store ``count`` realistic generated instances of ``org/app`` (each with one XML data
        element) and return their JSON. Deterministic for a given seed and call order."""
        return self._storage_seeding.add_instances(
            org, app, count, seed=seed, base_url=self._base_url
        )

    def generate_instances(
        self,
        org: str,
        app: str,
        count: int,
        *,
        seed: int = 0,
        start: float | None = None,
        end: float | None = None,
    ) -> None:
        """Make ``count`` realistic instances of ``org/app`` that are never built up front:
        a million cost no memory to speak of, and a page of any query is as fast as with ten.

        Each instance has one small XML data element (``model.xml``); the owners are a mix of
        persons (70 %) and organisations, each owning several instances; 60 % are completed and
        archived, the rest open in Task_1 or Task_2; 3 % are soft-deleted and 20 % have a due
        date. They are created one after the other from ``start`` to ``end``, each last changed
        (and, if completed, ended) a moment later. Everything about instance ``i`` is derived
        from ``seed`` and ``i``, only when a request needs it; the same calls in the same
        order give the same instances (GUIDs included) in every run.

        They behave as stored instances do: listed and filtered (with the same paging and
        continuation tokens), fetched one by one, their data elements and data downloaded,
        and their Events API events (``app.instance.created``, and
        ``app.instance.process.completed`` for completed ones) listed. ``POST .../complete``
        stores the one instance it changes, which is then like any other stored instance.

        Args:
            org: the service owner's code.
            app: the app name.
            count: how many instances.
            seed: the seed.
            start: the first instance's creation time, in seconds since the epoch (default 90
                days before ``end``).
            end: when the last instance has changed at the latest (default now).

        Raises:
            ValueError: an empty org or app, a count or seed that is not a whole number, a
                negative count, a start not before end, or a window too short for ``count``
                instances (at least 20 microseconds each).
        """
        self._storage_seeding.generate_instances(org, app, count, seed=seed, start=start, end=end)

    # -- seeding: Events ---------------------------------------------------------------------

    def add_event(
        self,
        type: str,  # noqa: A002 - the CloudEvents attribute
        *,
        source: str,
        resource: str,
        subject: str | None = None,
        alternative_subject: str | None = None,
        resource_instance: str | None = None,
        time: float | None = None,
        data: Any = None,
        data_content_type: str | None = None,
        id: str | None = None,  # noqa: A002 - the CloudEvents attribute
    ) -> dict[str, Any]:
        """Register a custom CloudEvent with the Events API and return its JSON.

        Instances added to Storage (`add_instance`, `add_instances`, `generate_instances`)
        bring their own ``app.instance.created`` and ``app.instance.process.completed``
        events; this is for others (an app's custom event types, a resource's generic events).
        The event takes its place in the sequence by ``time``, and is listed once it is
        ``events_delay`` seconds old. The app endpoints list it when ``resource`` is the app's
        (``urn:altinn:resource:app_{org}_{app}``) and the generic endpoint by ``resource``;
        readers follow the app rules for app resources, and anyone with
        ``altinn:events.subscribe`` may read other resources' events.

        Args:
            type: ``type`` (``app.instance.created``, ``no.skatteetaten.melding.mottatt``).
            source: ``source``, a URI.
            resource: ``resource``, a URN (``urn:altinn:resource:…``).
            subject: ``subject`` (``/party/50019855``).
            alternative_subject: ``alternativesubject`` (``/person/16035001577``).
            resource_instance: ``resourceinstance``.
            time: ``time``, seconds since the epoch (default now).
            data: ``data``, any JSON value.
            data_content_type: ``datacontenttype``.
            id: ``id`` (a random UUID by default).

        Returns:
            The event as the Events API lists it (for `base_url`).

        Raises:
            ValueError: an empty or malformed argument, ``data`` that is not JSON, or an event
                with the same id and source already registered.
        """
        return self._events_seeding.add_event(
            type,
            source=source,
            resource=resource,
            base_url=self._base_url,
            subject=subject,
            alternative_subject=alternative_subject,
            resource_instance=resource_instance,
            time=time,
            data=data,
            data_content_type=data_content_type,
            event_id=id,
        )

    # -- seeding: Correspondence -------------------------------------------------------------

    def add_correspondence(
        self,
        recipient: str,
        *,
        resource: str,
        sender: str = "991825827",
        sender_name: str | None = None,
        title: str = "Melding fra Digitaliseringsdirektoratet",
        summary: str = "",
        body: str = "Dette er en melding.",
        language: str = "nb",
        attachments: Mapping[str, bytes] | Sequence[tuple[str, bytes]] = (),
        published: float | None = None,
        confirmation_needed: bool = False,
        due: float | None = None,
        attachment_expires: float | None = None,
        senders_reference: str | None = None,
        reply_options: Sequence[tuple[str, str]] = (),
        altinn2_id: int | None = None,
        idempotent_key: str | None = None,
        correspondence_id: str | None = None,
    ) -> str:
        """Send one Altinn 3 correspondence to ``recipient``, as the sender API would accept it.

        It is published at ``published`` (Initialized and ReadyForPublish when it was created,
        then Published): a time in the future keeps it from the recipient until the clock gets
        there. Its ``no.altinn.correspondence.correspondencepublished`` event goes to the
        Events API. Who may read it is the one rule of who may act for whom (see
        `add_organization`): the recipient person, people with a role in the recipient
        organisation (for ``resource``) and the organisation's system users, with the scope
        ``altinn:correspondence.read``; the sender organisation sees it as its sender with
        ``altinn:correspondence.write``.

        Args:
            recipient: a 9-digit organisation number, an 11-digit national identity number
                (valid check digits), ``0192:<orgno>`` or a party URN
                (``urn:altinn:organization:identifier-no:…``,
                ``urn:altinn:person:identifier-no:…``).
            resource: the resource id (``skd-melding``; a ``urn:altinn:resource:`` prefix is
                dropped).
            sender: the sending organisation's number (a service owner; default Digdir).
            sender_name: ``messageSender``, the name shown as the sender.
            title: ``messageTitle``, 1 to 255 characters.
            summary: ``messageSummary``, at most 255 characters.
            body: ``messageBody`` (markdown), 1 to 30 000 characters.
            language: ``nb``, ``nn`` or ``en``.
            attachments: ``{file name: bytes}`` or ``(file name, bytes)`` pairs, at most 100;
                the file types the sender API allows (``.pdf``, ``.txt``, ``.xml``, ...).
            published: ``requestedPublishTime``, seconds since the epoch (default now).
            confirmation_needed: ``isConfirmationNeeded`` (needs ``due``, as the API does).
            due: ``dueDateTime`` (not before ``published``).
            attachment_expires: when the attachments expire (default 14 days after
                ``published``); downloads then get 400/2020.
            senders_reference: ``sendersReference`` (default a generated one).
            reply_options: ``(https URL, link text)`` pairs; more than three are written into
                the overview's ``messageBody`` too.
            altinn2_id: ``altinn2CorrespondenceId``, for a message migrated from Altinn 2.
            idempotent_key: the sender's idempotency key (a UUID), for the list's
                ``idempotentKey`` filter.
            correspondence_id: the id (default a UUIDv7 of the creation time).

        Returns:
            The correspondence id.

        Raises:
            ValueError: what the sender API refuses (the message names its error number), a
                malformed recipient, resource, time or id, or an id already used.
        """
        correspondence = self._correspondence_seeding.add(
            recipient,
            resource=resource,
            sender=sender,
            sender_name=sender_name,
            title=title,
            summary=summary,
            body=body,
            language=language,
            attachments=attachments,
            published=published,
            confirmation_needed=confirmation_needed,
            due=due,
            attachment_expires=attachment_expires,
            senders_reference=senders_reference,
            reply_options=reply_options,
            altinn2_id=altinn2_id,
            idempotent_key=idempotent_key,
            correspondence_id=correspondence_id,
        )
        self._add_correspondence_dialog(correspondence)
        return correspondence

    def _add_correspondence_dialog(self, correspondence_id: str) -> str:
        # As Correspondence does on publishing: the dialog that lists it in Dialogporten.
        dialog = self.add_dialog(**self._correspondence_seeding.dialog(correspondence_id))
        self._correspondence_seeding.set_dialog_id(correspondence_id, dialog)
        return dialog

    def generate_mailbox(
        self,
        recipient: str,
        count: int,
        *,
        resource: str = "generated-mailbox",
        sender: str = "991825827",
        seed: int = 0,
        start: float | None = None,
        end: float | None = None,
        attachments_per: tuple[int, int] = (0, 3),
        attachment_size: int | tuple[int, int] = (1_000, 20_000),
    ) -> list[str]:
        """Fill ``recipient``'s Altinn 3 mailbox: ``count`` generated correspondences
        (`generate_correspondences`), each with its dialog in Dialogporten.

        Returns:
            The dialogs' ids, oldest first.

        Raises:
            ValueError: as `generate_correspondences`.
        """
        generated = self.generate_correspondences(
            recipient,
            count,
            resource=resource,
            sender=sender,
            seed=seed,
            start=start,
            end=end,
            attachments_per=attachments_per,
            attachment_size=attachment_size,
            dialogs=False,
        )
        return [self._add_correspondence_dialog(c) for c in generated]

    def generate_correspondences(
        self,
        recipient: str,
        count: int,
        *,
        resource: str,
        sender: str = "991825827",
        seed: int = 0,
        start: float | None = None,
        end: float | None = None,
        attachments_per: tuple[int, int] = (0, 3),
        attachment_size: int | tuple[int, int] = (1_000, 100_000),
        events: bool = False,
        dialogs: bool = True,
    ) -> list[str]:
        """Send ``count`` realistic generated correspondences to ``recipient`` on ``resource``
        (10 000 take well under a second).

        They are published at random whole milliseconds from ``start`` to ``end`` (so some
        share a publish time, as a bulk send's do), about 40 % already fetched and read, 10 %
        needing confirmation. Each has ``attachments_per`` attachments of ``attachment_size``
        bytes, generated from the seed when downloaded and never held in memory; like all
        attachments they expire 14 days after publishing (older ones get 400/2020). Everything,
        ids included, is a pure function of the arguments: the same call gives the same
        correspondences in every run (calling it twice with the same arguments is refused).

        Args:
            recipient: as for `add_correspondence`.
            count: how many.
            resource: the resource id.
            sender: the sending organisation's number.
            seed: the seed.
            start: the earliest publish time, seconds since the epoch (default 90 days before
                ``end``).
            end: the latest (default now).
            attachments_per: the least and most attachments per correspondence (0 to 100).
            attachment_size: each attachment's size in bytes, or the least and most.
            events: register their published events with the Events API too (about 0.2 s
                more per thousand).
            dialogs: give each its dialog in Dialogporten, as Correspondence does.

        Returns:
            The ids, oldest publish time first.

        Raises:
            ValueError: a malformed argument, ``start`` not before ``end``, or ids already used.
        """
        generated = self._correspondence_seeding.generate(
            recipient,
            count,
            resource=resource,
            sender=sender,
            seed=seed,
            start=start,
            end=end,
            attachments_per=attachments_per,
            attachment_size=attachment_size,
            events=events,
        )
        if dialogs:
            for correspondence in generated:
                self._add_correspondence_dialog(correspondence)
        return generated

    def correspondence_statuses(self, correspondence_id: str) -> list[str]:
        """A correspondence's status history as of now, oldest first (``["Initialized",
        "ReadyForPublish", "Published", "Fetched", ...]``).

        Raises:
            KeyError: no such correspondence.
        """
        return self._correspondence_seeding.statuses(correspondence_id)

    def set_correspondence_dialog(self, correspondence_id: str, dialog_id: str) -> None:
        """Record the Dialogporten dialog a correspondence has: its ``externalReferences``
        then name it, and dialog tokens for that dialog may read the correspondence.

        Raises:
            KeyError: no such correspondence.
            ValueError: ``dialog_id`` is not a UUID.
        """
        self._correspondence_seeding.set_dialog_id(correspondence_id, dialog_id)

    def correspondence_dialog_arguments(self, correspondence_id: str) -> dict[str, Any]:
        """The keyword arguments of Dialogporten's ``add_dialog`` for a correspondence's
        dialog, as Correspondence creates it (URLs start with the literal ``{platform}``).

        Raises:
            KeyError: no such correspondence.
        """
        return self._correspondence_seeding.dialog(correspondence_id)

    # -- seeding: Altinn 2 -------------------------------------------------------------------

    def add_api_key(self, key: str, *, service_owner: bool = False) -> None:
        """Register an Altinn 2 API key (the ``ApiKey`` header every call needs).

        Args:
            key: the key.
            service_owner: the key may also call the service-owner API (``/api/serviceowner``);
                other keys get ``403 The API key is not authorized for this operation`` there.
        """
        self._altinn2_seeding.add_api_key(key, service_owner=service_owner)

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
        return self._altinn2_seeding.add_reportee(
            name,
            org_number=org_number,
            pid=pid,
            party_id=party_id,
            parent_org_number=parent_org_number,
            organization_form=organization_form,
            active=active,
        )

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
        return self._altinn2_seeding.add_user(
            username,
            password,
            pid=pid,
            name=name,
            enterprise_org=enterprise_org,
            reportees=reportees,
        )

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
        self._altinn2_seeding.add_right(
            subject, reportee, service_code=service_code, service_edition=service_edition
        )

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
        return self._altinn2_seeding.add_message(
            reportee,
            base_url=self._base_url,
            subject=subject,
            service_owner=service_owner,
            type=type,
            status=status,
            created=created,
            last_changed=last_changed,
            service_code=service_code,
            service_edition=service_edition,
            message_sender=message_sender,
            summary=summary,
            body=body,
            last_changed_by=last_changed_by,
            forms=forms,
            attachments=attachments,
        )

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
        return self._altinn2_seeding.add_messages(
            reportee, count, seed=seed, base_url=self._base_url
        )

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
        return self._altinn2_seeding.add_consent(
            service_code=service_code,
            service_edition=service_edition,
            offered_by=offered_by,
            covered_by=covered_by,
            handled_by=handled_by,
            status=status,
            created=created,
            valid_to=valid_to,
            last_changed=last_changed,
            authorization_code=authorization_code,
        )

    def end_altinn2_sessions(self) -> None:
        """End every Altinn 2 password login, so clients have to log in again."""
        self._altinn2.end_sessions()

    # -- seeding: Dialogporten and Access Management ----------------------------------------

    def add_dialog(
        self,
        party: str,
        *,
        service_resource: str,
        org: str = "ttd",
        service_resource_type: str = "GenericAccessResource",
        title: str | Mapping[str, str],
        summary: str | Mapping[str, str] | None = None,
        sender_name: str | Mapping[str, str] | None = None,
        status: str = "NotApplicable",
        extended_status: str | None = None,
        external_reference: str | None = None,
        process: str | None = None,
        created_at: float | None = None,
        updated_at: float | None = None,
        content_updated_at: float | None = None,
        due_at: float | None = None,
        visible_from: float | None = None,
        expires_at: float | None = None,
        system_labels: Sequence[str] = ("Default",),
        main_content_reference: str | None = None,
        attachments: Sequence[Mapping[str, Any]] = (),
        api_actions: Sequence[Mapping[str, Any]] = (),
        gui_actions: Sequence[Mapping[str, Any]] = (),
        transmissions: Sequence[Mapping[str, Any]] = (),
        activities: Sequence[Mapping[str, Any]] = (),
        service_owner_labels: Sequence[str] = (),
        dialog_id: str | None = None,
    ) -> str:
        """Put one dialog in a party's Dialogporten inbox.

        The nested parts use Dialogporten's own JSON field names, with times in seconds since
        the epoch, and get UUIDv7 ids when they have none:

        - attachment: ``{"displayName": …, "name": …, "expiresAt": …, "urls": [{"url": …,
          "mediaType": …, "consumerType": "Gui"|"Api"}], "authorizationAttribute": …}``
        - API action: ``{"action": "read", "name": …, "authorizationAttribute": …,
          "endpoints": [{"url": …, "httpMethod": "GET", …}]}``
        - GUI action: ``{"action": …, "url": …, "title": …, "priority": "Primary", …}``
        - transmission: ``{"type": "Information", "title": …, "summary": …, "createdAt": …,
          "sender": {"actorType": "ServiceOwner"}, "attachments": […], …}``
        - activity: ``{"type": "DialogCreated", "createdAt": …, "performedBy": {…},
          "transmissionId": …, …}`` (a ``TransmissionOpened`` activity opens its transmission)

        Any URL may start with ``{platform}``, which a response replaces with
        ``{origin}/platform`` of the origin the request was sent to (for dialogs that point at
        the emulated Correspondence or Storage). An element whose ``authorizationAttribute`` (a
        resource) the caller's access to the party does not cover is shown with the URL
        ``urn:dialogporten:unauthorized``; an attachment past ``expiresAt`` with
        ``urn:dialogporten:expired``.

        Args:
            party: ``urn:altinn:organization:identifier-no:<9 digits>``,
                ``urn:altinn:person:identifier-no:<11 digits>``, or the bare number.
            service_resource: ``urn:altinn:resource:<id>`` (or the bare id); the caller's
                access to the party must cover it (see `add_role`).
            org: the service owner's code.
            service_resource_type: ``GenericAccessResource``, ``CorrespondenceService``,
                ``AltinnApp`` or ``MigratedApp``.
            title: the title; a str is ``{"nb": str}``, a mapping is language to text.
            summary: the summary, likewise.
            sender_name: the sender's name, likewise.
            status: ``InProgress``, ``Draft``, ``RequiresAttention``, ``Completed``,
                ``NotApplicable`` or ``Awaiting``.
            extended_status: the service owner's own status.
            external_reference: the service owner's reference.
            process: the process URI.
            created_at: ``createdAt`` (default now); the id's time part follows it.
            updated_at: ``updatedAt`` (default ``created_at``).
            content_updated_at: ``contentUpdatedAt`` (default ``updated_at``).
            due_at: ``dueAt``.
            visible_from: ``visibleFrom``: hidden from end users before it.
            expires_at: ``expiresAt``: hidden from end users after it.
            system_labels: ``Default``, ``Bin``, ``Archive`` (one of these at most),
                ``MarkedAsUnopened``, ``Sent``.
            main_content_reference: the URL of the main content.
            attachments: the dialog's attachments.
            api_actions: its API actions.
            gui_actions: its GUI actions.
            transmissions: its transmissions.
            activities: its activity history.
            service_owner_labels: labels only the service owner sees.
            dialog_id: the id (a UUID; default a UUIDv7 of ``created_at``).

        Returns:
            The dialog's id.

        Raises:
            ValueError: a malformed party, resource, enum, time, URL or nested part (an unknown
                field included), times out of order (``created_at <= content_updated_at <=
                updated_at``), or an id already used.
        """
        return self._dialog_seeding.add_dialog(
            party,
            service_resource=service_resource,
            org=org,
            service_resource_type=service_resource_type,
            title=title,
            summary=summary,
            sender_name=sender_name,
            status=status,
            extended_status=extended_status,
            external_reference=external_reference,
            process=process,
            created_at=created_at,
            updated_at=updated_at,
            content_updated_at=content_updated_at,
            due_at=due_at,
            visible_from=visible_from,
            expires_at=expires_at,
            system_labels=system_labels,
            main_content_reference=main_content_reference,
            attachments=attachments,
            api_actions=api_actions,
            gui_actions=gui_actions,
            transmissions=transmissions,
            activities=activities,
            service_owner_labels=service_owner_labels,
            dialog_id=dialog_id,
        )

    def update_dialog(self, dialog_id: str, **changes: Any) -> None:
        """Change a dialog as an update through the service-owner API would: ``updatedAt``
        becomes now and ``revision`` a new UUID; a change of content (``title``, ``summary``,
        ``sender_name``, ``main_content_reference`` or new ``transmissions``) moves
        ``contentUpdatedAt`` too and makes the content unseen again.

        Args:
            dialog_id: the dialog.
            changes: `add_dialog`'s arguments ``title``, ``summary``, ``sender_name``,
                ``status``, ``extended_status``, ``external_reference``, ``process``,
                ``due_at``, ``visible_from``, ``expires_at``, ``system_labels``,
                ``main_content_reference``, ``service_owner_labels``, and ``attachments``,
                ``api_actions``, ``gui_actions`` (each replaces the old list) or
                ``transmissions`` and ``activities`` (each added to the old ones).

        Raises:
            ValueError: an unknown dialog, an argument ``update_dialog`` does not change, or a
                malformed value.
        """
        self._dialog_seeding.update_dialog(dialog_id, changes)

    def delete_dialog(self, dialog_id: str) -> None:
        """Soft-delete a dialog: end users no longer find it, and ``GET`` answers ``410``; the
        service owner still gets it by id.

        Raises:
            ValueError: an unknown dialog.
        """
        self._dialog_seeding.delete_dialog(dialog_id)

    def generate_dialogs(
        self,
        party: str,
        count: int,
        *,
        seed: int = 0,
        start: float | None = None,
        end: float | None = None,
        service_resource: str = "urn:altinn:resource:generated-dialogs",
        org: str = "ttd",
        attachments_per_dialog: tuple[int, int] = (0, 3),
    ) -> list[str]:
        """Fill a party's inbox with ``count`` generated dialogs, for large-mailbox tests.

        Created one after the other from ``start`` to ``end`` (with some jitter), each updated
        a moment later; random statuses, 10 % archived and 3 % in the bin, 20 % with a due
        date, half of them seen; each with ``attachments_per_dialog`` (low, high) PDF
        attachments. All are visible and none deleted. Deterministic for a seed (ids
        included); 10 000 take well under a second or two.

        Args:
            party: the party (as for `add_dialog`).
            count: how many.
            seed: the seed.
            start: the first creation time (default 90 days before ``end``).
            end: the last (default now).
            service_resource: their service resource.
            org: their service owner.
            attachments_per_dialog: the least and most attachments per dialog.

        Returns:
            Their ids, oldest first.

        Raises:
            ValueError: a malformed party or resource, a negative count, a seed that is no
                integer, a start not before end, or a bad attachment range.
        """
        return self._dialog_seeding.generate(
            party,
            count,
            seed=seed,
            start=start,
            end=end,
            service_resource=service_resource,
            org=org,
            attachments_per_dialog=attachments_per_dialog,
        )

    def dialog_seen_log(self, dialog_id: str) -> list[dict[str, Any]]:
        """The dialog's seen log, oldest first: what end users' ``GET`` of the dialog wrote.

        Each entry is ``{"id", "seenAt" (seconds since the epoch), "actorId", "actorName",
        "isViaServiceOwner"}``.

        Raises:
            ValueError: an unknown dialog.
        """
        return [
            {
                "id": entry.id,
                "seenAt": entry.seen_us / 1_000_000,
                "actorId": entry.actor_id,
                "actorName": entry.actor_name,
                "isViaServiceOwner": entry.via_service_owner,
            }
            for entry in self._dialog_seeding.seen_log(dialog_id)
        ]

    def set_dialog_service_resource_auth_level(self, service_resource: str, level: int) -> None:
        """Require an authentication level (0 to 4) for ``GET`` of a service resource's dialogs
        (default 0): below it Dialogporten answers ``403`` "Altinn authentication level too
        low." (system users count as 3).

        Raises:
            ValueError: a malformed resource or level.
        """
        self._dialog_seeding.set_min_auth_level(service_resource, level)

    @property
    def verify_dialog_token(self) -> Callable[[str, str, float], dict[str, Any] | None]:
        """The dialog-token check other services use: ``verify(token, origin, now)`` is the
        claims of a valid dialog token issued at ``origin`` and live at ``now``, else None."""
        return self._dialog_tokens.verify

    def _system_user_org(self, system_user_id: str) -> str | None:
        with self._shared.lock:
            return next(
                (
                    user.customer_org
                    for user in self._maskinporten_store.system_users
                    if user.id.lower() == system_user_id
                ),
                None,
            )

    # -- statistics and faults ---------------------------------------------------------------

    @property
    def requests(self) -> Counter[str]:
        """Requests served per endpoint name (see `ENDPOINTS`), refused ones included.

        Requests to unknown paths count as ``"not_found"``.
        """
        return self._shared.requests

    @property
    def grants(self) -> tuple[GrantRecord, ...]:
        """The JWT-bearer grants Maskinporten accepted, oldest first (the newest 1000): each
        grant's claims and those of the access token it got, never the grant or the token.

        Refused grants are not here (they count in `requests` as ``"maskinporten.token"``);
        self-service admin tokens are, as they are Maskinporten grants too.
        """
        with self._shared.lock:
            return self._maskinporten.grants.snapshot()

    @property
    def last_grant(self) -> GrantRecord | None:
        """The newest grant Maskinporten accepted (see `grants`), or None."""
        with self._shared.lock:
            grants = self._maskinporten.grants.snapshot()
        return grants[-1] if grants else None

    @property
    def exchanges(self) -> tuple[ExchangeRecord, ...]:
        """The token exchanges that issued an Altinn token, oldest first (the newest 1000): the
        provider, the claims of the token exchanged and of the Altinn token, never the tokens.

        Refused exchanges are not here (they count in `requests` as
        ``"authentication.exchange"``); neither are refreshes.
        """
        with self._shared.lock:
            return self._authentication.exchanges.snapshot()

    @property
    def last_exchange(self) -> ExchangeRecord | None:
        """The newest token exchange (see `exchanges`), or None."""
        with self._shared.lock:
            exchanges = self._authentication.exchanges.snapshot()
        return exchanges[-1] if exchanges else None

    def inject_fault(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        drop: bool = False,
        cut_after: int | None = None,
    ) -> None:
        """Make the next ``times`` requests to ``endpoint`` fail.

        By default they answer ``status`` (500 unless given) with ``body`` and ``headers``.
        ``status=0`` means a slow but otherwise normal response. The answer comes after
        ``delay`` seconds (an anyio sleep, so it honours cancellation and timeouts). Faults
        queue: a second call applies after the first is used up.

        Two faults are about the connection, and fail in the client the way a real socket does,
        in-process as on a port (where the connection is really closed):

        - ``drop=True``: the connection drops before any response
          (`httpx.RemoteProtocolError`, "Server disconnected without sending a response.").
        - ``cut_after=N``: the normal response (or the ``status`` answer, if one is given), but
          the body stops after ``N`` bytes and the connection drops
          (`httpx.RemoteProtocolError` while the body is read, "peer closed connection without
          sending complete message body"); a body of at most ``N`` bytes arrives whole.

        Raises:
            ValueError: unknown endpoint name; a bad status, count, delay or cut; or ``drop``
                with an answer (status, body, headers or a cut).
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {sorted(ENDPOINTS)}")
        fault = Fault.create(
            status=status,
            times=times,
            delay=delay,
            body=body,
            headers=headers,
            drop=drop,
            cut_after=cut_after,
        )
        with self._shared.lock:
            self._shared.faults.add(endpoint, fault)

    def inject_random_faults(
        self,
        *,
        seed: int,
        rate: float,
        kinds: Iterable[str] = FAULT_KINDS,
        endpoints: Iterable[str] | None = None,
        retry_after: float = 1.0,
        slow_delay: float = 0.5,
    ) -> None:
        """Make a seeded share of the requests fail, reproducibly.

        Whether the ``n``-th request to an endpoint (counted from this call) gets a fault, and
        which kind, is a pure function of ``seed``, the endpoint's name and ``n`` (and of
        ``rate`` and ``kinds``): the same seed gives every endpoint the same sequence of faults
        in every run, however concurrent requests to different endpoints interleave. Faults
        queued with `inject_fault` come first (the request still counts). A second call
        replaces the first; `clear_faults` ends them.

        The kinds (see `FAULT_KINDS`), each failing in the client as the real failure would:

        - ``"429"``: ``429 Too Many Requests`` with ``Retry-After: <retry_after>`` and the JSON
          body of Azure API Management's rate limit
          (``{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1
          seconds."}``).
        - ``"500"``, ``"503"``: that status, without a body.
        - ``"slow"``: the normal answer after ``slow_delay`` seconds.
        - ``"drop"``: the connection drops before any response (`httpx.RemoteProtocolError`).
        - ``"cut"``: the normal response, its body cut after half its bytes and the connection
          dropped (`httpx.RemoteProtocolError` while the body is read; a response without a
          body arrives whole).
        - ``"truncated_json"``: a complete message whose body is the first half of the normal
          one, with a Content-Length to match, as a broken proxy passes on: the status is the
          normal one, and a JSON body no longer parses.

        Args:
            seed: the seed.
            rate: the share of requests that fail, from 0 to 1.
            kinds: the kinds to draw from (default all of them).
            endpoints: the endpoint names (see `ENDPOINTS`) to fail; None for all.
            retry_after: the ``Retry-After`` of a ``"429"``, in seconds (a fraction is sent
                as one, for fast tests; HTTP itself has whole seconds).
            slow_delay: the delay of a ``"slow"`` answer, in seconds.

        Raises:
            ValueError: a seed that is not an integer, a rate outside 0 to 1, an unknown or no
                kind, an unknown or no endpoint, a negative or non-finite time.
        """
        faults = RandomFaults.create(
            seed=seed,
            rate=rate,
            kinds=kinds,
            endpoints=ENDPOINTS if endpoints is None else endpoints,
            known_endpoints=ENDPOINTS,
            retry_after=retry_after,
            slow_delay=slow_delay,
        )
        with self._shared.lock:
            self._shared.faults.seed(faults)

    def clear_faults(self) -> None:
        """Drop every injected fault that has not been used up, and the seeded faults."""
        with self._shared.lock:
            self._shared.faults.clear()

    def rotate_altinn_signing_key(self) -> None:
        """Rotate Altinn's token-signing certificate, as Altinn does: tokens are signed with a
        new certificate (a new ``kid``) from now on, and the JWKS publishes it first and the
        old one after it, so tokens signed before stay valid until they expire. A validator
        that cached the old set meets an unknown ``kid`` and must fetch the keys again."""
        self._authentication.tokens.key.rotate()

    def expire_tokens(self) -> None:
        """Make every Altinn token issued so far (exchanged or refreshed) expire now.

        The next request that carries one is refused as one with an expired token is (Storage
        and Events answer ``401``), as if the tokens had run out mid-run; tokens exchanged
        after this call are good for their whole lifetime. For tokens that simply run out
        soon, give `Emulator` a short ``altinn_token_lifetime`` (validators allow Altinn's
        10 s of clock skew past ``exp``).
        """
        self._authentication.tokens.expire_all(self._shared.clock())

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point."""
        await self._app(scope, receive, send)


def _propagation_delay(seconds: float) -> float:
    if not finite_number(seconds) or not 0 <= seconds <= _MAX_PROPAGATION_DELAY:
        raise ValueError(
            "selfservice_propagation_delay must be 0 to 120 seconds (Digdir says keys reach "
            f"Maskinporten in 0-2 minutes), got {seconds!r}"
        )
    return float(seconds)


def _latency(seconds: float) -> float:
    if not finite_number(seconds) or seconds < 0:
        raise ValueError(f"latency must be a finite number of seconds, 0 or more, got {seconds!r}")
    return float(seconds)
