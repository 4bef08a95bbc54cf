"""Emulated Altinn 2 REST API (``www.altinn.no/api``, legacy) under ``/altinn2/api``: the ApiKey,
the four logins, the message box, reportees, service-owner reportees and consents.

Behaviour follows ``altinn-protocol.md`` §4 and §7 items 20-23 and the Altinn 2 documentation it
cites: errors are a status with a custom reason phrase and no body; lists are HAL+JSON
(``ResourceListConverter``: ``_links``, ``_embedded.<rel>``, extra properties as lower-case
top-level keys) or, for ``Accept: application/json``, a bare array; OData ``$filter``,
``$orderby``, ``$top`` and ``$skip``; at most 50 items per end-user list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
import re
import secrets
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509

from ._altinn2_data import (
    CONSENT_SCHEMA,
    END_USER_REPORTEE_SCHEMA,
    FORM_TASK,
    LANGUAGES,
    MESSAGE_SCHEMA,
    SERVICE_OWNER_REPORTEE_SCHEMA,
    Consent,
    Form,
    Message,
    Reportee,
    Session,
    Store,
    attachment_json,
    consent_party_json,
    form_json,
    local_time,
    local_to_ms,
    message_json,
    message_links,
    net_datetime,
    net_datetime_offset,
    pdf_document,
    to_local,
)
from ._asgi import HTML_UTF8, Request, Response, Router, empty_response, media_types
from ._authentication import Authentication, _lifetime_ok, altinn_issuer_for
from ._idporten import issuer_for as idporten_issuer_for
from ._maskinporten import _certificate_org_number
from ._maskinporten import issuer_for as maskinporten_issuer_for
from ._odata import ODataError, Query, parse_datetime, parse_query
from ._state import State
from ._storage import content_disposition

T = TypeVar("T")

PREFIX = "/altinn2/api"
COOKIE_NAMES = (".AspxAuthTT02", ".AspxAuthProd", ".AspxAuthCloud", ".ASPXAUTH")
END_USER_CAP = 50  # "Lister i APIet er begrenset i kode til å maksimalt inneholde 50 elementer"
CONSENT_PAGE = 1000
FAILED_LOGINS = 10  # failures within FAILURE_WINDOW lock the account for LOCKOUT seconds
FAILURE_WINDOW = 7200.0
LOCKOUT = 3600.0
FORCE_EI = "forceeiauthentication"
HAL_JSON = "application/hal+json; charset=utf-8"
PLAIN_JSON = "application/json; charset=utf-8"

MISSING_API_KEY = "Required header 'ApiKey' is missing."
UNAUTHORIZED_API_KEY = "The API key is not authorized for this operation"
NO_ORGANIZATION = (
    "Authorization failed: There is no authenticated organization number set on this request."
)
# Reason phrases the sources do not give; the emulator's own wording.
WRONG_PASSWORD = "Authentication failed: wrong username or password."
ACCOUNT_LOCKED = "Authentication failed: the account is locked after too many failed logins."
INVALID_TOKEN = "Authorization failed: the access token is invalid or has expired."
MISSING_SCOPE = "Authorization failed: the access token lacks a scope this operation requires."
NOT_SERVICE_OWNER = "Authorization failed: the organization is not a service owner."
NO_ACCESS = "Authorization failed: the user has no access to the reportee."
NO_PROFILE = "User profile for the subject was not found"

# Scopes (altinn-protocol.md §6.3). Cookie and certificate logins are not scope-limited.
_LIST_SCOPES = frozenset({"altinn:enduser", "altinn:instances.meta", "altinn:instances.read"})
_READ_SCOPES = frozenset({"altinn:enduser", "altinn:instances.read"})
_REPORTEE_SCOPES = frozenset({"altinn:enduser", "altinn:reportees"})
_SO_REPORTEE_SCOPES = frozenset({"altinn:serviceowner", "altinn:serviceowner/reportees"})
_SO_CONSENT_SCOPES = frozenset({"altinn:serviceowner", "altinn:serviceowner/consents"})

_REPORTEE_ID = re.compile(r"r(\d{1,18})", re.IGNORECASE)
_ORG_NUMBER = re.compile(r"\d{9}")
_PID = re.compile(r"\d{11}")
_MESSAGE_ID = re.compile(r"([abcABC])(\d{1,18})")
_CONTINUATION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})[.:](\d{3})_(\d{1,18})")


@dataclass(frozen=True, slots=True)
class EndUser:
    """The person or user a request acts as."""

    subject: str  # whose rights: a person number or "user:<username>"
    party_id: int  # the own party ("my")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is authenticated as: an end user, an organisation (service owner), both or
    neither. ``scopes`` is None when no token was used (cookie or certificate)."""

    end_user: EndUser | None = None
    org_number: str | None = None
    scopes: frozenset[str] | None = None


def _reason(status: int, reason: str) -> Response:
    return Response(status, b"", [], reason=reason)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _flag(request: Request, name: str) -> bool:
    return any(key.lower() == name for key, _ in request.query())


def _param(request: Request, name: str) -> str | None:
    lowered = name.lower()
    for key, value in request.query():
        if key.lower() == lowered:
            return value
    return None


def _language(request: Request) -> int:
    value = _param(request, "language")
    if value is not None and value.strip().isdigit() and int(value) in LANGUAGES:
        return int(value)
    return 1044


def _login_page(request: Request) -> Response:
    """What a browser without a login gets: Altinn's login page, 200 and HTML."""
    target = html.escape(f"{request.origin}{request.path}", quote=True)
    page = (
        '<!doctype html>\n<html lang="nb"><head><meta charset="utf-8">'
        "<title>Logg inn - Altinn (emulator)</title></head><body>"
        "<h1>Logg inn i Altinn</h1>"
        f'<form method="get" action="{html.escape(request.origin)}/altinn2/ui/Authentication">'
        f'<input type="hidden" name="goTo" value="{target}">'
        '<button type="submit">Logg inn</button></form></body></html>\n'
    )
    return Response(
        200, page.encode(), [("content-type", HTML_UTF8), ("cache-control", "no-store")]
    )


def _negotiate(request: Request) -> str | None:
    """``"hal"``, ``"json"``, or None (406) for what the Accept header allows."""
    accepted = media_types(request.header("accept"))
    if not accepted:
        return "hal"
    for media in accepted:
        if media in ("application/hal+json", "*/*", "application/*"):
            return "hal"
        if media in ("application/json", "text/json"):
            return "json"
    return None


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _hal_resource(mode: str, document: dict[str, Any], links: dict[str, Any]) -> Response:
    if mode == "json":
        return Response(200, _dumps(document), [("content-type", PLAIN_JSON)])
    return Response(200, _dumps({**document, "_links": links}), [("content-type", HAL_JSON)])


def _hal_list(
    mode: str,
    rel: str,
    items: Sequence[tuple[dict[str, Any], dict[str, Any] | None]],
    links: dict[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A list as ``ResourceListConverter`` writes it, or a bare array for plain JSON."""
    if mode == "json":
        body = _dumps([document for document, _ in items])
        return Response(200, body, [("content-type", PLAIN_JSON), *headers])
    embedded = [
        document if item_links is None else {**document, "_links": item_links}
        for document, item_links in items
    ]
    listing: dict[str, Any] = {"_links": links, "_embedded": {rel: embedded}}
    for key, value in (extra or {}).items():
        listing[key.lower()] = value
    return Response(200, _dumps(listing), [("content-type", HAL_JSON), *headers])


def _self_link(request: Request) -> dict[str, str]:
    query = f"?{request.query_string}" if request.query_string else ""
    return {"href": f"{request.origin}{request.path}{query}"}


def _date_bound(value: str, *, end: bool) -> int:
    """``dateFrom``/``dateTo``: an ISO date or date-time in local time; a bare ``dateTo`` date
    includes that whole day."""
    moment = parse_datetime(value, to_local)
    if end and len(value.strip()) == 10:
        moment += dt.timedelta(days=1) - dt.timedelta(milliseconds=1)
    return local_to_ms(moment)


Handler = Callable[[Request], Awaitable[Response]]


class Altinn2:
    """The Altinn 2 REST API, mounted under ``/altinn2/api``."""

    def __init__(
        self,
        state: State,
        authentication: Authentication,
        *,
        cookie_name: str,
        session_lifetime: float,
        db_cap: int,
    ) -> None:
        self._state = state
        self._authentication = authentication
        self.store = Store(state.lock)
        self.cookie_name = cookie_name
        self.session_lifetime = session_lifetime
        self.db_cap = db_cap
        self._certificates: dict[str, x509.Certificate] = {}

    def register(self, router: Router) -> None:
        """Add the routes to ``router`` (paths are case-insensitive, as in ASP.NET)."""
        messages = rf"(?i){PREFIX}/(?P<who>[^/]+)/messages"
        message = rf"{messages}/(?P<message_id>[^/]+)"
        routes: list[tuple[str, str, str, Handler]] = [
            (
                "POST",
                rf"(?i){PREFIX}/authentication/authenticatewithpassword",
                "altinn2.authenticate",
                self.authenticate,
            ),
            ("GET", rf"(?i){PREFIX}/reportees", "altinn2.reportees", self.reportees),
            (
                "GET",
                rf"(?i){PREFIX}/reportees/(?P<reportee>[^/]+)",
                "altinn2.reportee",
                self.reportee,
            ),
            (
                "GET",
                rf"(?i){PREFIX}/serviceowner/reportees",
                "altinn2.serviceowner_reportees",
                self.serviceowner_reportees,
            ),
            ("GET", rf"(?i){PREFIX}/serviceowner/consents", "altinn2.consents", self.consents),
            ("GET", messages, "altinn2.messages", self.messages),
            ("GET", message, "altinn2.message", self.message),
            ("GET", rf"{message}/forms", "altinn2.forms", self.forms),
            ("GET", rf"{message}/forms/(?P<form_id>\d+)", "altinn2.form", self.form),
            (
                "GET",
                rf"{message}/forms/(?P<form_id>\d+)/formdata",
                "altinn2.formdata",
                self.formdata,
            ),
            ("GET", rf"{message}/attachments", "altinn2.attachments", self.attachments),
            (
                "GET",
                rf"{message}/attachments/(?P<attachment_id>\d+)",
                "altinn2.attachment",
                self.attachment,
            ),
            ("GET", rf"{message}/print", "altinn2.print", self.print_pdf),
        ]
        for method, pattern, name, handler in routes:
            router.add([method], pattern, name, handler)

    # -- authentication ----------------------------------------------------------------------

    def _api_key(self, request: Request, *, service_owner: bool) -> Response | None:
        key = request.header("apikey")
        if key is None or not key.strip():
            return _reason(400, MISSING_API_KEY)
        with self._state.lock:
            allowed = self.store.api_keys.get(key.strip())
        if allowed is None or (service_owner and not allowed):
            return _reason(403, UNAUTHORIZED_API_KEY)
        return None

    def _certificate_org(self, request: Request) -> str | None:
        """The organisation number of the verified TLS client certificate, if any."""
        if not request.client_cert_chain:
            return None
        pem = request.client_cert_chain[0]
        with self._state.lock:
            certificate = self._certificates.get(pem)
        if certificate is None:
            try:
                certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
            except (ValueError, UnicodeError):
                return None
            with self._state.lock:
                if len(self._certificates) > 256:
                    self._certificates.clear()
                self._certificates[pem] = certificate
        return _certificate_org_number(certificate)

    def _caller(self, request: Request, now: float) -> Caller | Response:
        """Authenticate the request: bearer token first, then the session cookie, then the
        enterprise certificate (which counts only with ``?ForceEIAuthentication``)."""
        flagged = _flag(request, FORCE_EI)
        certificate_org = self._certificate_org(request) if flagged else None
        token = request.bearer_token()
        if token:
            return self._token_caller(request, token, now)
        cookie = request.cookies().get(self.cookie_name)
        end_user: EndUser | None = None
        if cookie:
            with self._state.lock:
                session = self.store.sessions.get(_sha(cookie))
                if session is not None and now - session.last_seen > self.session_lifetime:
                    del self.store.sessions[_sha(cookie)]
                    session = None
                user = self.store.users.get(session.user_key) if session is not None else None
                if session is not None and user is not None:
                    if session.enterprise_org is not None and (
                        certificate_org != session.enterprise_org
                    ):
                        # An enterprise user's session needs the certificate on every call.
                        return _reason(401, NO_ORGANIZATION)
                    session.last_seen = now  # sliding expiration, as forms authentication
                    end_user = EndUser(user.subject, user.party_id)
        return Caller(end_user=end_user, org_number=certificate_org)

    def _token_caller(self, request: Request, token: str, now: float) -> Caller | Response:
        """A bearer token from the emulated ID-porten, Maskinporten or Altinn (exchanged)."""
        builders: tuple[tuple[str, Callable[[dict[str, Any], str], Caller | Response]], ...] = (
            ("idporten", self._idporten_caller),
            ("maskinporten", _maskinporten_caller),
            ("altinn", self._altinn_caller),
        )
        for which, build in builders:
            claims = self._authentication.verified_claims(token, which)
            if claims is not None:
                if not _lifetime_ok(claims, now):
                    break
                return build(claims, request.origin)
        return _reason(401, INVALID_TOKEN)

    def _idporten_caller(self, claims: dict[str, Any], origin: str) -> Caller | Response:
        # Access tokens only (id_tokens are signed by the same key but carry no client_id).
        if claims.get("iss") != idporten_issuer_for(origin) or "client_id" not in claims:
            return _reason(401, INVALID_TOKEN)
        return self._person_caller(claims.get("pid"), _scopes(claims))

    def _altinn_caller(self, claims: dict[str, Any], origin: str) -> Caller | Response:
        if claims.get("iss") != altinn_issuer_for(origin):
            return _reason(401, INVALID_TOKEN)
        scopes = _scopes(claims)
        if claims.get("urn:altinn:userid") is not None:
            return self._person_caller(claims.get("pid"), scopes)
        org_number = claims.get("urn:altinn:orgNumber")
        if isinstance(org_number, str) and any("altinn:serviceowner" in s for s in scopes):
            return Caller(org_number=org_number, scopes=scopes)
        return Caller(scopes=scopes)

    def _person_caller(self, pid: Any, scopes: frozenset[str]) -> Caller | Response:
        if not isinstance(pid, str):
            return _reason(401, INVALID_TOKEN)
        with self._state.lock:
            person = self._state.persons.get(pid)
            if person is None:
                return Caller(scopes=scopes)
            party_id = self.store.by_pid.get(pid)
            if party_id is None:
                reportee = Reportee(
                    person.party_id, _display_name(person.name, pid), "Person", pid=pid
                )
                self.store.add_reportee(reportee)
                party_id = reportee.party_id
        return Caller(end_user=EndUser(pid, party_id), scopes=scopes)

    def _end_user(
        self, request: Request, scopes: frozenset[str]
    ) -> tuple[Caller, EndUser] | Response:
        refused = self._api_key(request, service_owner=False)
        if refused is not None:
            return refused
        caller = self._caller(request, self._state.clock())
        if isinstance(caller, Response):
            return caller
        if caller.end_user is None:
            # Treated as a browser: the login page, never JSON (altinn-protocol.md §4.2).
            return _login_page(request)
        if caller.scopes is not None and not caller.scopes & scopes:
            return _reason(403, MISSING_SCOPE)
        return caller, caller.end_user

    def _party(self, user: EndUser, who: str) -> Reportee | Response:
        """The reportee ``{who}`` names (``my``, an org number or ``r<id>``), if the user may
        represent it."""
        lowered = who.lower()
        with self._state.lock:
            party_id: int | None
            if lowered == "my":
                party_id = user.party_id
            elif _REPORTEE_ID.fullmatch(lowered):
                party_id = int(lowered[1:])
            elif _ORG_NUMBER.fullmatch(lowered):
                party_id = self.store.by_org.get(lowered)
            else:
                return empty_response(404)
            reportee = self.store.reportees.get(party_id) if party_id is not None else None
            if reportee is None or not self.store.may_represent(
                user.subject, user.party_id, reportee.party_id
            ):
                return _reason(403, NO_ACCESS)
            return reportee

    def _service_owner(self, request: Request, scopes: frozenset[str]) -> str | Response:
        """The calling service owner's organisation number."""
        refused = self._api_key(request, service_owner=True)
        if refused is not None:
            return refused
        caller = self._caller(request, self._state.clock())
        if isinstance(caller, Response):
            return caller
        if caller.org_number is None:
            return _reason(401, NO_ORGANIZATION)
        if caller.scopes is not None and not caller.scopes & scopes:
            return _reason(403, MISSING_SCOPE)
        with self._state.lock:
            known = caller.org_number in self._state.service_owners
        if not known:
            return _reason(403, NOT_SERVICE_OWNER)
        return caller.org_number

    # -- login -------------------------------------------------------------------------------

    async def authenticate(self, request: Request) -> Response:
        """``POST /authentication/authenticatewithpassword``: a session cookie."""
        refused = self._api_key(request, service_owner=False)
        if refused is not None:
            return refused
        credentials = _credentials(request.body)
        if credentials is None:
            return _reason(400, 'The request body must be {"UserName":…,"UserPassword":…}')
        flagged = _flag(request, FORCE_EI)
        certificate_org = self._certificate_org(request) if flagged else None
        if flagged and certificate_org is None:
            return _reason(401, NO_ORGANIZATION)
        with self._state.lock:
            cookie = self._login(*credentials, flagged=flagged, certificate_org=certificate_org)
        if isinstance(cookie, Response):
            return cookie
        secure = "; secure" if request.origin.startswith("https:") else ""
        header = f"{self.cookie_name}={cookie}; path=/{secure}; HttpOnly"
        return Response(200, b"", [("set-cookie", header)])

    def _login(
        self, name: str, password: str, *, flagged: bool, certificate_org: str | None
    ) -> str | Response:
        """Check a password login (lock held): the new session's cookie, or the refusal.

        Ten failures within two hours lock the account for an hour (Altinn release 22.4)."""
        now = self._state.clock()
        store = self.store
        user = store.users.get(name.lower()) or store.users_by_pid.get(name.strip())
        if user is None:
            return _reason(401, WRONG_PASSWORD)
        if user.enterprise_org is not None and not flagged:
            # Enterprise users log in only with their organisation's certificate.
            return _reason(401, NO_ORGANIZATION)
        if store.locked_until.get(user.key, 0.0) > now:
            return _reason(401, ACCOUNT_LOCKED)
        correct = hmac.compare_digest(password.encode(), user.password.encode())
        if not correct or (flagged and user.enterprise_org != certificate_org):
            failures = store.failures.setdefault(user.key, deque())
            failures.append(now)
            while failures and failures[0] <= now - FAILURE_WINDOW:
                failures.popleft()
            if len(failures) >= FAILED_LOGINS:
                store.locked_until[user.key] = now + LOCKOUT
                failures.clear()
            return _reason(401, WRONG_PASSWORD)
        store.failures.pop(user.key, None)
        expired = [
            k for k, v in store.sessions.items() if now - v.last_seen > self.session_lifetime
        ]
        for key in expired:
            del store.sessions[key]
        cookie = secrets.token_hex(64).upper()
        store.sessions[_sha(cookie)] = Session(user.key, user.enterprise_org, now)
        return cookie

    def end_sessions(self) -> None:
        """Forget every password login (the cookies stop working)."""
        with self._state.lock:
            self.store.sessions.clear()

    # -- the message box ---------------------------------------------------------------------

    def _end_user_party(
        self, request: Request, scopes: frozenset[str], param: str
    ) -> Reportee | Response:
        """The party named by path parameter ``param``, if the logged-in user may act for it."""
        guard = self._end_user(request, scopes)
        if isinstance(guard, Response):
            return guard
        _, user = guard
        return self._party(user, request.path_params[param])

    def _messages_base(self, request: Request) -> str:
        return f"{request.origin}{PREFIX}/{request.path_params['who']}/messages"

    async def messages(self, request: Request) -> Response:
        """``GET /{who}/messages``: newest first, DB cap, OData, at most 50."""
        party = self._end_user_party(request, _LIST_SCOPES, "who")
        if isinstance(party, Response):
            return party
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        language = _language(request)
        try:
            query = parse_query(request.query(), MESSAGE_SCHEMA, "Message", to_local)
            date_from = _param(request, "dateFrom")
            date_to = _param(request, "dateTo")
            low = _date_bound(date_from, end=False) if date_from else None
            high = _date_bound(date_to, end=True) if date_to else None
        except ODataError as exc:
            return _reason(400, str(exc))
        except ValueError:
            return _reason(400, "The dateFrom or dateTo parameter is not a valid date.")
        with self._state.lock:
            box = self.store.box(party.party_id)
            if low is not None or high is not None:
                box = [
                    m
                    for m in box
                    if (low is None or m.last_changed >= low)
                    and (high is None or m.last_changed <= high)
                ]
            limit_reached = len(box) > self.db_cap
            visible = box[: self.db_cap]
            selected = query.apply(visible, lambda m: m.props(language), cap=END_USER_CAP)
        base = self._messages_base(request)
        items = [
            (
                message_json(m, language, detail=False),
                message_links(m, base, request.origin, detail=False),
            )
            for m in selected
        ]
        links = {
            "self": _self_link(request),
            "find": {"href": f"{base}/{{MessageId}}", "isTemplated": True},
        }
        headers = [("x-warning-limitreached", "true")] if limit_reached else []
        return _hal_list(mode, "messages", items, links, headers=headers)

    def _message(self, request: Request, scopes: frozenset[str]) -> Message | Response:
        party = self._end_user_party(request, scopes, "who")
        if isinstance(party, Response):
            return party
        found = _MESSAGE_ID.fullmatch(request.path_params["message_id"])
        with self._state.lock:
            message = self.store.messages.get(int(found.group(2))) if found else None
        if (
            found is None
            or message is None
            or message.party_id != party.party_id
            or message.message_id != found.group(0).lower()
        ):
            return empty_response(404)
        return message

    async def message(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}``: marks a correspondence read unless
        ``markAsRead=false``."""
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        mark = (_param(request, "markAsRead") or "true").strip().lower() != "false"
        language = _language(request)
        with self._state.lock:
            if mark:
                message.mark_read()
            document = message_json(message, language, detail=True)
        links = message_links(message, self._messages_base(request), request.origin, detail=True)
        return _hal_resource(mode, document, links)

    async def forms(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms``."""
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        base = f"{self._messages_base(request)}/{message.message_id}/forms"
        items = [(form_json(f), _form_links(base, f.id)) for f in message.forms]
        return _hal_list(mode, "forms", items, {"self": _self_link(request)})

    def _form(self, request: Request) -> tuple[Message, Form] | Response:
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        form_id = int(request.path_params["form_id"])  # the route admits digits only
        form = next((f for f in message.forms if f.id == form_id), None)
        return empty_response(404) if form is None else (message, form)

    async def form(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms/{formId}``."""
        found = self._form(request)
        if isinstance(found, Response):
            return found
        message, form = found
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        base = f"{self._messages_base(request)}/{message.message_id}/forms"
        return _hal_resource(mode, form_json(form), _form_links(base, form.id))

    async def formdata(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms/{formId}/formdata``: the form's XML."""
        found = self._form(request)
        if isinstance(found, Response):
            return found
        _, form = found
        return Response(200, form.xml, [("content-type", "application/xml; charset=utf-8")])

    async def attachments(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/attachments``."""
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        base = f"{self._messages_base(request)}/{message.message_id}/attachments"
        items = [
            (attachment_json(a), {"self": {"href": f"{base}/{a.id}"}}) for a in message.attachments
        ]
        return _hal_list(mode, "attachments", items, {"self": _self_link(request)})

    async def attachment(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/attachments/{attachmentId}``: the bytes."""
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        wanted = int(request.path_params["attachment_id"])
        attachment = next((a for a in message.attachments if a.id == wanted), None)
        if attachment is None:
            return empty_response(404)
        headers = [
            ("content-type", attachment.content_type),
            ("content-disposition", content_disposition(attachment.file_name)),
        ]
        return Response(
            200, b"", headers, stream=attachment.chunks(), stream_length=attachment.size
        )

    async def print_pdf(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/print``: a PDF of a form task."""
        message = self._message(request, _READ_SCOPES)
        if isinstance(message, Response):
            return message
        if message.type != FORM_TASK:
            return empty_response(404)
        lines = [
            message.subject,
            f"{message.service_owner} - {message.service_code}/{message.service_edition}",
            f"Status: {message.status}",
            f"Sist endret: {net_datetime(local_time(message.last_changed))}",
            *(f"Skjema: {form.name}" for form in message.forms),
        ]
        return Response(200, pdf_document(lines), [("content-type", "application/pdf")])

    # -- reportees ---------------------------------------------------------------------------

    def _reportees_of(self, user: EndUser, *, include_inactive: bool) -> list[Reportee]:
        """The user's own party first, then those they have rights for, by name (lock held)."""
        store = self.store
        own = store.reportees.get(user.party_id)
        others = [
            store.reportees[p]
            for p in store.rights.get(user.subject, {})
            if p in store.reportees and p != user.party_id
        ]
        others.sort(key=lambda r: (r.name.lower(), r.party_id))
        found = ([own] if own is not None else []) + others
        return [r for r in found if include_inactive or r.active]

    async def reportees(self, request: Request) -> Response:
        """``GET /reportees``."""
        guard = self._end_user(request, _REPORTEE_SCOPES)
        if isinstance(guard, Response):
            return guard
        _, user = guard
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        include_inactive = (_param(request, "includeInactiveReportees") or "").lower() == "true"
        try:
            query = parse_query(request.query(), END_USER_REPORTEE_SCHEMA, "Reportee", to_local)
        except ODataError as exc:
            return _reason(400, str(exc))
        with self._state.lock:
            found = self._reportees_of(user, include_inactive=include_inactive)
        documents = {r.party_id: r.end_user_json() for r in found}
        selected = query.apply(found, lambda r: documents[r.party_id], cap=END_USER_CAP)
        api = f"{request.origin}{PREFIX}"
        items = [(documents[r.party_id], _reportee_links(api, r)) for r in selected]
        links = {
            "find": {"href": f"{api}/reportees/{{reporteeId}}", "isTemplated": True},
            "self": _self_link(request),
        }
        return _hal_list(mode, "reportees", items, links)

    async def reportee(self, request: Request) -> Response:
        """``GET /reportees/{reporteeId}``."""
        party = self._end_user_party(request, _REPORTEE_SCOPES, "reportee")
        if isinstance(party, Response):
            return party
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        api = f"{request.origin}{PREFIX}"
        return _hal_resource(mode, party.end_user_json(), _reportee_links(api, party))

    # -- service owner -----------------------------------------------------------------------

    async def serviceowner_reportees(self, request: Request) -> Response:
        """``GET /serviceowner/reportees?subject=&serviceCode=&serviceEdition=``: no 50 cap,
        ``$top`` up to 10000."""
        org = self._service_owner(request, _SO_REPORTEE_SCOPES)
        if isinstance(org, Response):
            return org
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        parsed = _reportee_query(request)
        if isinstance(parsed, Response):
            return parsed
        subject, code, edition, query = parsed
        with self._state.lock:
            found = self._subject_reportees(subject, code, edition)
        if found is None:
            return _reason(400, NO_PROFILE)
        limit_reached = len(found) > self.db_cap
        found = found[: self.db_cap]
        documents = {r.party_id: r.service_owner_json() for r in found}
        selected = query.apply(found, lambda r: documents[r.party_id])
        items = [(documents[r.party_id], None) for r in selected]
        headers = [("x-warning-limitreached", "true")] if limit_reached else []
        return _hal_list(mode, "reportees", items, {"self": _self_link(request)}, headers=headers)

    def _subject_reportees(
        self, subject: str, code: str | None, edition: int | None
    ) -> list[Reportee] | None:
        """Whom ``subject`` (a person number) may represent for a service (lock held)."""
        store = self.store
        own = store.by_pid.get(subject)
        if own is None:
            person = self._state.persons.get(subject)
            if person is None:
                return None
            own_reportee = Reportee(
                person.party_id, _display_name(person.name, subject), "Person", pid=subject
            )
            store.add_reportee(own_reportee)
            own = own_reportee.party_id
        others = [
            store.reportees[party]
            for party, services in store.rights.get(subject, {}).items()
            if party != own
            and party in store.reportees
            and any(s.covers(code, edition) for s in services)
        ]
        others.sort(key=lambda r: (r.name.lower(), r.party_id))
        return [store.reportees[own], *others]

    async def consents(self, request: Request) -> Response:
        """``GET /serviceowner/consents?serviceCode=&serviceEdition=[&status=][&continuation=]``:
        oldest change first, continued after a ``{LastChanged}_{id}`` token."""
        org = self._service_owner(request, _SO_CONSENT_SCOPES)
        if isinstance(org, Response):
            return org
        mode = _negotiate(request)
        if mode is None:
            return empty_response(406)
        code = _param(request, "serviceCode")
        edition_text = _param(request, "serviceEdition") or _param(request, "serviceEditionCode")
        if not code or not edition_text or not edition_text.strip().isdigit():
            return _reason(400, "The serviceCode and serviceEdition parameters are required.")
        edition = int(edition_text)
        statuses = {
            v.strip().lower()
            for k, v in request.query()
            if re.fullmatch(r"status(\[\d+\])?", k, re.IGNORECASE) and v.strip()
        }
        after: tuple[int, int] | None = None
        raw_token = _param(request, "continuation")
        if raw_token:
            after = _parse_continuation(raw_token)
            if after is None:
                return _reason(400, f"The continuation token '{raw_token}' is not valid.")
        try:
            query = parse_query(request.query(), CONSENT_SCHEMA, "Consent", to_local)
        except ODataError as exc:
            return _reason(400, str(exc))
        now_ms = round(self._state.clock() * 1000)
        with self._state.lock:
            candidates = [
                c
                for c in self.store.sorted_consents()
                if c.service_code == code
                and c.service_edition == edition
                and c.valid_to > now_ms
                and (after is None or c.local_key > after)
                and (not statuses or ("revoked" if c.revoked else "active") in statuses)
            ]
            reportees = dict(self.store.reportees)
        if query.top is None:
            query.top = CONSENT_PAGE
        selected = query.apply(candidates, lambda c: c.props())
        items = [(consent_json(c, reportees), None) for c in selected]
        links: dict[str, Any] = {"self": _self_link(request)}
        extra: dict[str, Any] = {}
        if selected:
            token = selected[-1].continuation_token
            links["next"] = {"href": _with_continuation(request, token)}
            extra["continuationtoken"] = token
        return _hal_list(mode, "consents", items, links, extra=extra)


def _display_name(name: str | None, pid: str) -> str:
    """A person's name as Altinn shows it: upper case."""
    return name.upper() if name else f"PERSON {pid}"


def _credentials(body: bytes) -> tuple[str, str] | None:
    try:
        document = json.loads(body or b"null")
    except (ValueError, UnicodeError):
        return None
    if not isinstance(document, dict):
        return None
    name, password = document.get("UserName"), document.get("UserPassword")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return None
    return name, password


def _reportee_query(request: Request) -> tuple[str, str | None, int | None, Query] | Response:
    """``subject``, ``serviceCode``, ``serviceEdition`` and the OData options of the
    service-owner reportee query."""
    subject = (_param(request, "subject") or "").strip()
    if not subject:
        return _reason(400, "The subject parameter is required.")
    code = _param(request, "serviceCode") or None
    edition_text = _param(request, "serviceEdition") or _param(request, "serviceEditionCode")
    if edition_text and not edition_text.strip().isdigit():
        return _reason(400, f"The value '{edition_text}' is not valid for serviceEdition.")
    edition = int(edition_text) if edition_text else None
    try:
        query = parse_query(request.query(), SERVICE_OWNER_REPORTEE_SCHEMA, "Reportee", to_local)
    except ODataError as exc:
        return _reason(400, str(exc))
    return subject, code, edition, query


def _maskinporten_caller(claims: dict[str, Any], origin: str) -> Caller | Response:
    if claims.get("iss") != maskinporten_issuer_for(origin):
        return _reason(401, INVALID_TOKEN)
    return Caller(org_number=_consumer_org(claims.get("consumer")), scopes=_scopes(claims))


def _form_links(base: str, form_id: int) -> dict[str, Any]:
    return {
        "self": {"href": f"{base}/{form_id}"},
        "formdata": {"href": f"{base}/{form_id}/formdata", "mime-type": "application/xml"},
    }


def _reportee_links(api: str, reportee: Reportee) -> dict[str, Any]:
    return {
        "self": {"href": f"{api}/reportees/{reportee.reportee_id}"},
        "messages": {"href": f"{api}/{reportee.reportee_id}/messages"},
    }


def consent_json(consent: Consent, reportees: Mapping[int, Reportee]) -> dict[str, Any]:
    props = consent.props()
    document: dict[str, Any] = {
        "AuthorizationCode": consent.authorization_code,
        "Status": props["Status"],
        "OfferedBy": consent_party_json(reportees[consent.offered_by]),
        "CoveredBy": consent_party_json(reportees[consent.covered_by]),
    }
    if consent.handled_by is not None:
        document["HandledBy"] = consent_party_json(reportees[consent.handled_by])
    document["Created"] = net_datetime_offset(consent.created)
    document["ValidTo"] = net_datetime_offset(consent.valid_to)
    document["LastChanged"] = net_datetime_offset(consent.last_changed)
    return document


def _parse_continuation(token: str) -> tuple[int, int] | None:
    found = _CONTINUATION.fullmatch(token.strip())
    if found is None:
        return None
    try:
        local = dt.datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 - local
    except ValueError:
        return None
    local_ms = (local - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)  # noqa: DTZ001
    return (local_ms + int(found.group(2)), int(found.group(3)))


def _with_continuation(request: Request, token: str) -> str:
    """The request URL with ``continuation`` replaced (other parameters kept verbatim, so a bare
    ``ForceEIAuthentication`` stays bare)."""
    kept = [
        part
        for part in request.query_string.split("&")
        if part and urllib.parse.unquote_plus(part.split("=", 1)[0]).lower() != "continuation"
    ]
    kept.append(f"continuation={urllib.parse.quote(token, safe=':-._')}")
    return f"{request.origin}{request.path}?{'&'.join(kept)}"


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def _consumer_org(consumer: Any) -> str | None:
    if not isinstance(consumer, dict):
        return None
    identifier = consumer.get("ID") or consumer.get("id")
    if not isinstance(identifier, str) or ":" not in identifier:
        return None
    number = identifier.split(":", 1)[1]
    return number if _ORG_NUMBER.fullmatch(number) else None
