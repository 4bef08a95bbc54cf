"""The library on an ``httpx2.AsyncClient`` the user brings, in a process that has httpx too.

httpx2 (httpx's maintained continuation) has httpx's API but classes of its own, and checks
them by ``isinstance``: these tests run only where httpx2 is installed (the ``tests-httpx2``
nox session installs it). The whole suite under httpx2 alone (``import httpx`` aliased to
httpx2) is the other half: ``--http-library=httpx2`` (see ``tests/conftest.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import httpx
import pytest

import altinn_async as altinn
from altinn_async import _httpcompat
from altinn_async._admin import selfservice_error
from altinn_async.testing import DEFAULT_PID, CertificateAuthority, Emulator

from .helpers import Clock, signing_key

pytest.importorskip("httpx2")
import httpx2

if httpx2 is httpx:  # the suite runs under httpx2.alias_httpx(): there is one package here
    pytest.skip("httpx is httpx2 in this run: nothing to tell apart", allow_module_level=True)

READ = ["altinn:serviceowner/instances.read", "altinn:serviceowner"]
INSTANCE = "50001337/7b3d7a8c-0a55-4b52-9d3c-7c7c2e0f5a01"
ROOT = Path(__file__).resolve().parent.parent


def _emulator() -> Emulator:
    emulator = Emulator(events_delay=0)
    emulator.add_maskinporten_client(
        "c", org_number="405003309", scopes=READ, jwks=[signing_key().public_jwk]
    )
    emulator.add_instances("ttd", "app", 3)
    return emulator


def _maskinporten(
    emulator: Emulator, token_http: httpx2.AsyncClient | None
) -> altinn.MaskinportenAuth:
    return altinn.MaskinportenAuth(
        client_id="c",
        key=signing_key(),
        scopes=READ,
        environment=emulator.environment,
        http_client=token_http,
    )


@contextlib.asynccontextmanager
async def _platform_http(emulator: Emulator) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client on the emulator's platform, its auth the exchange over `_maskinporten`
    (whose token client is an httpx2 client too)."""
    async with (
        httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http,
        altinn.AltinnExchangeAuth(_maskinporten(emulator, token_http)) as auth,
        httpx2.AsyncClient(
            transport=emulator.transport(library="httpx2"),
            auth=auth,
            base_url=emulator.environment.platform,
        ) as http,
    ):
        yield http


def test_a_flow_is_an_auth_of_both_packages() -> None:
    emulator = _emulator()
    auth = _maskinporten(emulator, None)
    exchange = altinn.AltinnExchangeAuth(auth)
    for flow in (auth, exchange):
        assert isinstance(flow, httpx.Auth)
        assert isinstance(flow, httpx2.Auth)  # else httpx2's client: 'Invalid "auth" argument'
    assert _httpcompat.flavours() == (httpx, httpx2)


def test_the_token_client_may_be_an_httpx2_client_but_nothing_else() -> None:
    emulator = _emulator()
    _maskinporten(emulator, httpx2.AsyncClient())
    with pytest.raises(altinn.ConfigurationError, match=r"httpx2\.AsyncClient"):
        _maskinporten(emulator, object())  # type: ignore[arg-type]


async def test_maskinporten_exchange_and_storage_on_httpx2_clients() -> None:
    """The whole path on httpx2 alone: the token requests, the auth flows on the API client,
    paging, a single read, a download and a stream."""
    emulator = _emulator()
    async with _platform_http(emulator) as http:
        storage = altinn.StorageClient(http)
        pager = storage.instances(app_id="ttd/app")
        instances = [i async for i in pager]
        assert len(instances) == 3
        assert pager.position is None
        one = await storage.get_instance(instances[0]["id"])
        (element,) = await storage.data_elements(one["id"])
        body = await storage.download(element)
        assert body
        assert b"".join([chunk async for chunk in storage.stream(element)]) == body
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 1


async def test_a_static_token_exchanged_for_one_client_of_a_shared_httpx2_client() -> None:
    """`StaticToken` upstream, and the auth given per client (``StorageClient(http, auth=)``)
    on a shared httpx2 client that has none: the client's default is httpx2's own sentinel."""
    emulator = _emulator()
    environment = emulator.environment
    async with httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http:
        token = await _maskinporten(emulator, token_http).get_token()
        static = altinn.StaticToken(token.access_token, environment=environment)
        async with (
            altinn.AltinnExchangeAuth(static, http_client=token_http) as auth,
            httpx2.AsyncClient(
                transport=emulator.transport(library="httpx2"), base_url=environment.platform
            ) as http,
        ):
            with pytest.raises(altinn.APIError) as refused:
                [i async for i in altinn.StorageClient(http).instances(app_id="ttd/app")]
            assert refused.value.status_code == 401
            storage = altinn.StorageClient(http, auth=auth)
            assert len([i async for i in storage.instances(app_id="ttd/app")]) == 3
            assert http.auth is None


async def test_a_401_resends_a_bytes_body_with_a_new_token_on_httpx2() -> None:
    """An httpx2 request's body in memory is an ``httpx2.ByteStream``: it can be resent."""
    emulator = _emulator()
    seen: list[tuple[str, bytes]] = []

    def api(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.headers["Authorization"], request.content))
        return httpx2.Response(401 if len(seen) == 1 else 200)

    async with (
        httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http,
        _maskinporten(emulator, token_http) as auth,
        httpx2.AsyncClient(transport=httpx2.MockTransport(api), auth=auth) as http,
    ):
        response = await http.post(f"{emulator.environment.platform}/x", content=b"body")
    assert response.status_code == 200
    assert [body for _, body in seen] == [b"body", b"body"]
    assert seen[0][0] != seen[1][0]  # the refused token was not sent again
    assert emulator.requests["maskinporten.token"] == 2


async def test_an_httpx2_network_failure_is_retried_then_a_network_error() -> None:
    """A refused connection is retried, a POST too (it surely did not leave), as with httpx."""
    attempts = 0

    def refuse(request: httpx2.Request) -> httpx2.Response:
        nonlocal attempts
        attempts += 1
        raise httpx2.ConnectError("connection refused", request=request)

    policy = altinn.RetryPolicy(attempts=3, backoff=0)
    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(refuse), base_url="https://platform.example"
    ) as http:
        storage = altinn.StorageClient(http, retry=policy)
        with pytest.raises(altinn.NetworkError, match="ConnectError: connection refused"):
            await storage.get_instance(INSTANCE)
        assert attempts == 3
        with pytest.raises(altinn.NetworkError, match="POST"):
            await storage.complete(INSTANCE)
    assert attempts == 6


async def test_a_dropped_httpx2_connection_is_retried_like_httpx_s() -> None:
    emulator = _emulator()
    emulator.inject_fault("storage.instances", drop=True)
    async with _platform_http(emulator) as http:
        storage = altinn.StorageClient(http, retry=altinn.RetryPolicy(backoff=0))
        assert len([i async for i in storage.instances(app_id="ttd/app")]) == 3
    assert emulator.requests["storage.instances"] == 2


async def test_the_emulator_transport_for_httpx2() -> None:
    emulator = _emulator()
    transport = emulator.transport(library="httpx2")
    assert isinstance(transport, httpx2.AsyncBaseTransport)
    assert not isinstance(emulator.transport(), httpx2.AsyncBaseTransport)
    async with httpx2.AsyncClient(transport=transport) as http:
        url = f"{emulator.environment.platform}/storage/api/v1/instances"
        response = await http.get(url)
        assert (response.status_code, response.reason_phrase) == (401, "Unauthorized")
        emulator.inject_fault("storage.instances", drop=True)
        with pytest.raises(httpx2.RemoteProtocolError, match="disconnected"):
            await http.get(url)
    with pytest.raises(ValueError, match="library must be one of"):
        emulator.transport(library="requests")  # type: ignore[call-overload]


# --- Altinn 2: the logins and the message box -----------------------------------------------------

API_KEY = "end-user-api-key"
OWNER_KEY = "service-owner-api-key"


def _altinn2() -> Emulator:
    emulator = Emulator()
    emulator.add_api_key(API_KEY)
    emulator.add_api_key(OWNER_KEY, service_owner=True)
    own = emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    emulator.add_altinn2_messages(own, 60, seed=1)
    return emulator


async def test_altinn2_password_login_and_the_message_box_on_httpx2() -> None:
    """`Altinn2Auth` and `PasswordLogin` on an httpx2 client: the login's own POST is an
    ``httpx2.Request``; the box pages by ``$skip``; once the session ends, one login more."""
    emulator = _altinn2()
    login = altinn.PasswordLogin("ola", "Passord1")
    auth = altinn.Altinn2Auth(API_KEY, environment=emulator.environment, login=login)
    async with httpx2.AsyncClient(
        transport=emulator.transport(library="httpx2"), auth=auth
    ) as http:
        altinn2 = altinn.Altinn2Client(http)  # the site from the client's Altinn2Auth
        messages = [m async for m in altinn2.messages()]
        assert len(messages) == 60
        message = await altinn2.message(messages[0]["MessageId"])
        assert message["MessageId"] == messages[0]["MessageId"]
        emulator.end_altinn2_sessions()  # the cookie no longer works: the next call logs in
        again = [m async for m in altinn2.messages(max_items=5)]
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in messages[:5]]
    assert login.logins == 2
    assert emulator.requests["altinn2.authenticate"] == 2


class _Altinn2Site:
    """Altinn 2 as scripted httpx2 answers: the sessions it made, its login page without one."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.logins = 0
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/api/authentication/authenticatewithpassword":
            if json.loads(request.content) != {"UserName": "ola", "UserPassword": "pw"}:
                return httpx2.Response(401)
            self.logins += 1
            self.sessions.add(session := f"session-{self.logins}")
            return httpx2.Response(200, headers={"Set-Cookie": f".AspxAuthTT02={session}; path=/"})
        self.bodies.append(request.content)
        cookies = dict(
            part.strip().split("=", 1)
            for part in request.headers.get("Cookie", "").split(";")
            if "=" in part
        )
        if cookies.get(".AspxAuthTT02") in self.sessions:
            return httpx2.Response(200, json={"saved": True})
        return httpx2.Response(
            200, text="<html>Logg inn</html>", headers={"Content-Type": "text/html"}
        )


async def test_a_post_body_is_resent_after_a_new_altinn2_login_on_httpx2() -> None:
    """An httpx2 request's body in memory can be sent again once the login is renewed."""
    site = _Altinn2Site()
    login = altinn.PasswordLogin("ola", "pw")
    auth = altinn.Altinn2Auth("k", base_url="https://tt02.example", login=login)
    async with httpx2.AsyncClient(
        transport=httpx2.MockTransport(site), auth=auth, base_url="https://tt02.example/api"
    ) as http:
        assert (await http.post("/my/forms", content=b"<form/>")).json() == {"saved": True}
        site.sessions.clear()  # the session timed out
        response = await http.post("/my/forms", content=b"<form/>")
    assert response.json() == {"saved": True}
    assert site.bodies == [b"<form/>"] * 3  # sent, refused with the login page, sent again
    assert site.logins == login.logins == 2


async def test_a_password_login_alone_on_an_httpx2_client_says_where_it_goes() -> None:
    """A `PasswordLogin` is an auth of both packages: httpx2 takes it, and the flow itself says
    it belongs inside `Altinn2Auth` (not httpx2's 'Invalid "auth" argument')."""
    login = altinn.PasswordLogin("ola", "pw")
    assert isinstance(login, httpx2.Auth)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(_Altinn2Site())) as http:
        with pytest.raises(altinn.ConfigurationError, match="inside Altinn2Auth"):
            await http.get("https://tt02.example/api/my/messages", auth=login)


class _UsersBearer(httpx2.Auth):
    """A user's own login flow, an auth of httpx2 alone."""

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = "Bearer the-users-token"
        yield request


async def test_an_httpx2_auth_of_the_users_own_is_an_altinn2_login() -> None:
    seen: list[tuple[str, str]] = []

    def site(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.headers["ApiKey"], request.headers["Authorization"]))
        return httpx2.Response(200, json={})

    auth = altinn.Altinn2Auth("k", base_url="https://tt02.example", login=_UsersBearer())
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(site), auth=auth) as http:
        assert (await http.get("https://tt02.example/api/my/messages")).status_code == 200
    assert seen == [("k", "Bearer the-users-token")]


async def test_altinn2_enterprise_certificate_and_api_key_on_httpx2() -> None:
    """The ApiKey alone with ``?ForceEIAuthentication`` over a TLS client certificate (the
    emulator's httpx2 transport plays the handshake)."""
    emulator = _altinn2()
    authority = CertificateAuthority()
    emulator.trust_certificate_authority(authority.root)
    certificate = authority.issue_enterprise_certificate("405003309", "TESTDEPARTEMENTET")
    emulator.add_altinn2_right(DEFAULT_PID, "405003309")
    auth = altinn.Altinn2Auth(
        OWNER_KEY, environment=emulator.environment, force_ei_authentication=True
    )
    transport = emulator.transport(client_certificate=certificate, library="httpx2")
    async with httpx2.AsyncClient(transport=transport, auth=auth) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=emulator.environment.altinn2)
        reportees = [r async for r in altinn2.serviceowner_reportees(DEFAULT_PID)]
    assert reportees


# --- Dialogporten, Correspondence, Authorized Parties ---------------------------------------------

VENDOR = "vendor-system"
CUSTOMER = "310000001"
SUBUNIT = "310000002"
CUSTOMER_URN = f"urn:altinn:organization:identifier-no:{CUSTOMER}"
RESOURCE = "skd-melding"
MESSAGING = [
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
    "altinn:accessmanagement/authorizedparties.resourceowner",
]


@contextlib.asynccontextmanager
async def _messaging() -> AsyncIterator[tuple[Emulator, httpx2.AsyncClient]]:
    """A system user's exchanged token on an httpx2 client, as in test_messaging.py."""
    emulator = Emulator()
    emulator.add_maskinporten_client(
        VENDOR, org_number="991825827", scopes=MESSAGING, jwks=[signing_key().public_jwk]
    )
    emulator.add_organization(CUSTOMER, name="MOTTAKER AS")
    emulator.add_organization(SUBUNIT, name="MOTTAKER AS AVD BERGEN", parent=CUSTOMER)
    emulator.add_system_user(client_id=VENDOR, customer_org=CUSTOMER)
    async with (
        httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id=VENDOR,
                key=signing_key(),
                scopes=MESSAGING,
                environment=emulator.environment,
                http_client=token_http,
                authorization_details=altinn.SystemUser(CUSTOMER),
            )
        ) as auth,
        httpx2.AsyncClient(
            transport=emulator.transport(library="httpx2"),
            auth=auth,
            base_url=emulator.environment.platform,
        ) as http,
    ):
        yield emulator, http


async def test_a_dialogporten_search_resumed_and_a_dialog_on_httpx2() -> None:
    async with _messaging() as (emulator, http):
        ids = emulator.generate_dialogs(CUSTOMER_URN, 30, seed=1, service_resource=RESOURCE)
        dialogporten = altinn.Dialogporten(http)
        order = "createdAt_asc,id_asc"
        first = dialogporten.search(party=CUSTOMER, order_by=order, limit=7)
        taken = (await anext(first.pages())).items
        assert first.position is not None
        rest = [d async for d in dialogporten.search(resume_from=first.position)]
        direct = altinn.DialogPager(  # the public pager takes the httpx2 client too
            http,
            f"{emulator.environment.platform}/dialogporten/api/v1/enduser/dialogs",
            preference=("nb",),
            resume_from=first.position,
        )
        assert [d.id async for d in direct] == [d.id for d in rest]
        assert sorted(d.id for d in taken + rest) == sorted(ids)
        dialog = await dialogporten.dialog(taken[0].id)
        assert dialog.id == taken[0].id
        assert dialog.token


async def test_a_dialog_token_on_an_httpx2_client_opens_its_correspondence_only() -> None:
    async with _messaging() as (emulator, http):
        mine = emulator.add_correspondence(CUSTOMER, resource=RESOURCE, title="Vedtak")
        other = emulator.add_correspondence(CUSTOMER, resource=RESOURCE)
        dialogporten = altinn.Dialogporten(http)
        dialogs = [
            await dialogporten.dialog(d.id) async for d in dialogporten.search(party=CUSTOMER)
        ]
        (dialog,) = [d for d in dialogs if d.correspondence_id == mine]
        token_auth = altinn.DialogTokenAuth(dialog)
        async with httpx2.AsyncClient(
            transport=emulator.transport(library="httpx2"),
            auth=token_auth,
            base_url=emulator.environment.platform,
        ) as by_token:
            correspondence = altinn.CorrespondenceClient(by_token)
            assert (await correspondence.get(mine)).id == mine
            with pytest.raises(altinn.APIError) as refused:
                await correspondence.get(other)
        assert refused.value.status_code == 401


async def test_correspondence_listed_read_downloaded_and_marked_read_on_httpx2(
    tmp_path: Path,
) -> None:
    body = b"%PDF-1.7 vedtak"
    async with _messaging() as (emulator, http):
        correspondence_id = emulator.add_correspondence(
            CUSTOMER, resource=RESOURCE, title="Vedtak", attachments={"vedtak.pdf": body}
        )
        client = altinn.CorrespondenceClient(http)
        listed = await client.list(RESOURCE, on_behalf_of=CUSTOMER)
        assert list(listed.ids) == [correspondence_id]
        item = await client.get(correspondence_id)
        (attachment,) = item.content.attachments
        path = await client.download(item, attachment, tmp_path)
        assert path.read_bytes() == body
        await client.mark_as_read(correspondence_id)  # a POST
        assert "Read" in emulator.correspondence_statuses(correspondence_id)


async def test_authorized_parties_mine_and_of_on_httpx2() -> None:
    """``mine`` is a GET through the retry layer; ``of`` a POST the client builds itself."""
    async with _messaging() as (_, http):
        parties = altinn.AuthorizedPartiesClient(http)
        mine = await parties.mine()
        assert [p.urn for p in altinn.flatten(mine)] == [
            CUSTOMER_URN,
            f"urn:altinn:organization:identifier-no:{SUBUNIT}",
        ]
        theirs = await parties.of(CUSTOMER)
        assert isinstance(theirs, list)


def _refusing(calls: list[str] | None = None) -> httpx2.MockTransport:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        if calls is not None:
            calls.append(str(request.url))
        raise httpx2.ConnectError("connection refused", request=request)

    return httpx2.MockTransport(refuse)


async def test_an_httpx2_network_failure_of_authorized_parties_is_a_network_error() -> None:
    async with httpx2.AsyncClient(
        transport=_refusing(), base_url="https://platform.example"
    ) as http:
        parties = altinn.AuthorizedPartiesClient(http, retry=altinn.RetryPolicy.NEVER)
        with pytest.raises(altinn.NetworkError, match="POST"):
            await parties.of("312345678")
        with pytest.raises(altinn.NetworkError, match="GET"):
            await parties.mine()


# --- Events -------------------------------------------------------------------------------------


async def test_events_paged_and_resumed_from_a_feed_position_on_httpx2() -> None:
    emulator = _emulator()
    async with _platform_http(emulator) as http:
        events = altinn.EventsClient(http)
        pager = events.app_events("ttd", "app", after="0", size=2)
        first = await anext(pager.pages())
        assert len(first.events) == 2
        everything = [e async for e in events.app_events("ttd", "app", after="0")]
        resumed = events.app_events("ttd", "app", resume_from=pager.feed_position)
        rest = [e.id async for e in resumed]
        assert [e.id for e in first.events] + rest == [e.id for e in everything]
        assert resumed.last_event_id == everything[-1].id
        direct = altinn.EventPager(  # the public pager takes the httpx2 client too
            http,
            f"{emulator.environment.platform}/events/api/v1/app/ttd/app?after=0",
            resume_from=pager.feed_position,
        )
        assert [e.id async for e in direct] == rest


# --- the self-service admin client ---------------------------------------------------------------


async def test_the_admin_client_lists_clients_and_adds_a_key_on_httpx2() -> None:
    emulator = Emulator()
    admin_key = signing_key("admin-kid", 5)
    emulator.add_maskinporten_client(
        "selfservice-admin",
        org_number="310000001",
        scopes=altinn.ADMIN_SCOPES,
        jwks=[admin_key.public_jwk],
    )
    async with httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http:
        auth = altinn.MaskinportenAdmin.auth(
            client_id="selfservice-admin",
            key=admin_key,
            environment=emulator.environment,
            http_client=token_http,
        )
        async with (
            auth,
            httpx2.AsyncClient(transport=emulator.transport(library="httpx2"), auth=auth) as http,
        ):
            admin = altinn.MaskinportenAdmin(http)
            assert [c.client_id for c in await admin.clients()] == ["selfservice-admin"]
            keys = await admin.add_key("selfservice-admin", signing_key("second-kid", 6))
            assert set(keys.kids) == {"admin-kid", "second-kid"}


async def test_an_httpx2_failure_of_the_admin_api_is_a_network_error() -> None:
    async with httpx2.AsyncClient(transport=_refusing()) as http:
        admin = altinn.MaskinportenAdmin(
            http, base_url="https://selfservice.example", retry=altinn.RetryPolicy.NEVER
        )
        with pytest.raises(altinn.NetworkError, match="ConnectError"):
            await admin.clients()


class _BrokenBody(httpx2.AsyncByteStream):
    """A body that breaks off before its first byte."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield await self._read()

    async def _read(self) -> bytes:
        raise httpx2.ReadError("the connection broke")


async def test_an_admin_error_whose_httpx2_body_breaks_off_is_still_its_status() -> None:
    request = httpx2.Request("GET", "https://selfservice.example/api/v1/clients")
    response = httpx2.Response(503, stream=_BrokenBody(), request=request)
    error = await selfservice_error(response)  # type: ignore[arg-type]
    assert error.status_code == 503


# --- ID-porten ------------------------------------------------------------------------------------


async def test_an_idporten_session_refreshes_over_an_httpx2_client() -> None:
    clock = Clock()
    emulator = Emulator(clock=clock)
    emulator.add_person(DEFAULT_PID, name="Test Testesen")
    emulator.add_idporten_client(
        "web",
        redirect_uris=["https://app.example/callback"],
        client_secret="s3cret-value",
        scopes=["openid", "altinn:instances.read"],
    )
    async with (
        httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as token_http,
        altinn.IDPortenClient(
            client_id="web",
            client_secret="s3cret-value",
            redirect_uri="https://app.example/callback",
            scopes=["openid", "altinn:instances.read"],
            environment=emulator.environment,
            http_client=token_http,
            clock=clock,
            allowed_origins=["https://api.example"],
        ) as idporten,
    ):
        login = idporten.start_login()
        callback = await emulator.idporten_login(login.url)
        first = await idporten.complete_login(callback, login, session_key="person")
        clock.now += 200  # the 120 s access token expired
        seen: list[str] = []

        def api(request: httpx2.Request) -> httpx2.Response:
            seen.append(request.headers["Authorization"])
            return httpx2.Response(200)

        session = idporten.session("person")
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(api), auth=session) as http:
            assert (await http.get("https://api.example/")).status_code == 200
    assert seen[0] != f"Bearer {first.access_token}"
    assert emulator.requests["idporten.token"] == 2  # the login, and the refresh


# --- token validation, discovery and the doctor ---------------------------------------------------


async def test_the_validator_fetches_metadata_and_keys_over_httpx2() -> None:
    emulator = _emulator()
    async with (
        httpx2.AsyncClient(transport=emulator.transport(library="httpx2")) as http,
        altinn.AltinnExchangeAuth(_maskinporten(emulator, http)) as auth,
    ):
        token = (await auth.get_token()).access_token
        validator = altinn.AltinnTokenValidator(emulator.environment, http_client=http)
        principal = await validator.validate(token)
    assert principal.org_number == "405003309"


async def test_an_httpx2_failure_to_discover_is_a_discovery_error() -> None:
    environment = _emulator().environment
    async with httpx2.AsyncClient(transport=_refusing()) as http:
        validator = altinn.AltinnTokenValidator(
            environment, http_client=http, retry=altinn.RetryPolicy.NEVER
        )
        with pytest.raises(altinn.DiscoveryError, match="ConnectError"):
            await validator.validate(_a_token())
        with pytest.raises(altinn.DiscoveryError, match="ConnectError"):
            await altinn.AuthorizationServer.discover("https://mp.example", http_client=http)


async def test_an_httpx2_failure_to_fetch_the_keys_is_a_discovery_error() -> None:
    environment = _emulator().environment
    issuer = f"{environment.platform}/authentication/api/v1/openid/"

    def metadata_only(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx2.Response(200, json={"issuer": issuer, "jwks_uri": f"{issuer}jwks"})
        raise httpx2.ConnectError("connection refused", request=request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(metadata_only)) as http:
        validator = altinn.AltinnTokenValidator(
            environment, http_client=http, retry=altinn.RetryPolicy.NEVER
        )
        with pytest.raises(altinn.DiscoveryError, match=r"signing keys.*ConnectError"):
            await validator.validate(_a_token())


def _a_token() -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part({'iss': 'x'})}.c2ln"


async def test_the_doctor_on_an_httpx2_client_that_cannot_connect() -> None:
    emulator = _emulator()
    async with httpx2.AsyncClient(transport=_refusing()) as http:
        diagnosis = await altinn.diagnose(
            client_id="c",
            key=signing_key(),
            scopes=READ,
            environment=emulator.environment,
            http_client=http,
        )
    assert diagnosis["clock"].verdict == "fail"
    assert "could not reach Maskinporten" in diagnosis["clock"].detail


def _python(code: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_without_httpx2_the_flows_are_httpx_auths_alone() -> None:
    out = _python("""
        import sys
        sys.modules["httpx2"] = None  # as if it were not installed
        import httpx
        from altinn_async import _httpcompat, MaskinportenAuth
        assert _httpcompat.flavours() == (httpx,)
        assert _httpcompat.AuthBase is httpx.Auth
        print([c.__module__ for c in MaskinportenAuth.__mro__ if c.__name__ == "Auth"])
    """)
    assert out == "['httpx']"


def test_under_alias_httpx_there_is_one_package() -> None:
    """An application that calls ``httpx2.alias_httpx()`` first has ``httpx`` *be* httpx2."""
    out = _python("""
        import httpx2
        httpx2.alias_httpx()
        import httpx
        from altinn_async import _httpcompat, MaskinportenAuth
        assert _httpcompat.flavours() == (httpx2,)
        print([c.__module__ for c in MaskinportenAuth.__mro__ if c.__name__ == "Auth"])
    """)
    assert out == "['httpx2']"


def test_every_httpx_name_the_library_uses_is_in_httpx2() -> None:
    """The names `altinn_async` uses from httpx, all present in httpx2 (the API is the same)."""
    used: set[str] = set()
    for path in (ROOT / "altinn_async").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used.update(
            word.split(".")[1]
            for word in text.replace("(", " ").replace(")", " ").replace(",", " ").split()
            if word.startswith("httpx.") and word[6:7].isupper()
        )
    used = {name.rstrip(":]`'\"") for name in used}
    assert {"AsyncClient", "Auth", "URL", "ASGITransport", "TransportError"} <= used
    missing = sorted(name for name in used if not hasattr(httpx2, name))
    assert missing == []
