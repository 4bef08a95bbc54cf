"""Who an Altinn 2 request is: the ``ApiKey`` every call needs, then a bearer token (ID-porten,
Maskinporten or an exchanged Altinn token), the password login's session cookie, or the
enterprise certificate with ``?ForceEIAuthentication`` (``altinn-protocol.md`` §4.1, §4.2, §7
items 20, 21, 23). Refusals are a status with a custom reason phrase and no body."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.claims import (
    altinn_org_number,
    altinn_user_id,
    consumer_org_number,
    lifetime_ok,
    pid,
    scopes,
)
from .._toolkit.jose import IssuedTokens
from .._toolkit.pki import pem_org_number
from .._toolkit.register import ORG_NUMBER, Register
from .._toolkit.responses import HTML_UTF8, empty_response, reason_response
from .._toolkit.router import Refusal
from .._toolkit.state import SharedState
from .model import PERSON, Reportee, Store

PREFIX = "/altinn2/api"
COOKIE_NAMES = (".AspxAuthTT02", ".AspxAuthProd", ".AspxAuthCloud", ".ASPXAUTH")
FORCE_EI = "ForceEIAuthentication"

MISSING_API_KEY = "Required header 'ApiKey' is missing."
UNAUTHORIZED_API_KEY = "The API key is not authorized for this operation"
NO_ORGANIZATION = (
    "Authorization failed: There is no authenticated organization number set on this request."
)
# Reason phrases the sources do not give; the emulator's own wording.
INVALID_TOKEN = "Authorization failed: the access token is invalid or has expired."
MISSING_SCOPE = "Authorization failed: the access token lacks a scope this operation requires."
NOT_SERVICE_OWNER = "Authorization failed: the organization is not a service owner."
NO_ACCESS = "Authorization failed: the user has no access to the reportee."

_REPORTEE_ID = re.compile(r"r(\d{1,18})", re.IGNORECASE)


def refuse(status: int, reason: str) -> Refusal:
    """Altinn 2's refusal: the status with ``reason`` as its reason phrase, no body."""
    return Refusal(reason_response(status, reason))


def sha(value: str) -> str:
    """The key a session cookie is stored under."""
    return hashlib.sha256(value.encode()).hexdigest()


def display_name(name: str | None, person_number: str) -> str:
    """A person's name as Altinn shows it: upper case."""
    return name.upper() if name else f"PERSON {person_number}"


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


@dataclass(frozen=True, slots=True)
class Bearers:
    """The tokens Altinn 2 accepts as bearer tokens, in the order it tries them."""

    idporten: IssuedTokens
    maskinporten: IssuedTokens
    altinn: IssuedTokens


@dataclass(frozen=True, slots=True)
class Sessions:
    """The password login's session cookie and its idle lifetime in seconds."""

    cookie_name: str
    lifetime: float


class Gate:
    """Authenticates and authorizes Altinn 2 requests.

    Args:
        shared: the lock and the clock.
        store: API keys, users, sessions, reportees and rights.
        register: the persons (a person with a token becomes a reportee) and service owners.
        bearers: the tokens accepted as bearer tokens.
        sessions: the password login's cookie and session lifetime.
    """

    def __init__(
        self,
        shared: SharedState,
        store: Store,
        register: Register,
        bearers: Bearers,
        sessions: Sessions,
    ) -> None:
        self._shared = shared
        self.store = store
        self._register = register
        self._bearers = bearers
        self.sessions = sessions

    # -- the API key and the certificate -----------------------------------------------------

    def check_api_key(self, request: Request, *, service_owner: bool) -> None:
        """Every call needs a known ``ApiKey``; the service-owner API a key allowed there."""
        key = request.header("apikey")
        if key is None or not key.strip():
            raise refuse(400, MISSING_API_KEY)
        with self._shared.lock:
            allowed = self.store.api_keys.get(key.strip())
        if allowed is None or (service_owner and not allowed):
            raise refuse(403, UNAUTHORIZED_API_KEY)

    @staticmethod
    def certificate_org(request: Request) -> str | None:
        """The organisation number of the verified TLS client certificate, if any."""
        return pem_org_number(request.client_cert_chain[0]) if request.client_cert_chain else None

    # -- the caller --------------------------------------------------------------------------

    def caller(self, request: Request) -> Caller:
        """Bearer token first, then the session cookie, then the enterprise certificate (which
        counts only with ``?ForceEIAuthentication``)."""
        now = self._shared.clock()
        flagged = request.has_param(FORCE_EI)
        certificate_org = self.certificate_org(request) if flagged else None
        token = request.bearer_token()
        if token:
            return self._token_caller(request, token, now)
        cookie = request.cookies().get(self.sessions.cookie_name)
        end_user: EndUser | None = None
        if cookie:
            with self._shared.lock:
                session = self.store.sessions.get(sha(cookie))
                if session is not None and now - session.last_seen > self.sessions.lifetime:
                    del self.store.sessions[sha(cookie)]
                    session = None
                user = self.store.users.get(session.user_key) if session is not None else None
                if session is not None and user is not None:
                    if session.enterprise_org is not None and (
                        certificate_org != session.enterprise_org
                    ):
                        # An enterprise user's session needs the certificate on every call.
                        raise refuse(401, NO_ORGANIZATION)
                    session.last_seen = now  # sliding expiration, as forms authentication
                    end_user = EndUser(user.subject, user.party_id)
        return Caller(end_user=end_user, org_number=certificate_org)

    def _token_caller(self, request: Request, token: str, now: float) -> Caller:
        """A bearer token from the emulated ID-porten, Maskinporten or Altinn (exchanged)."""
        bearers = self._bearers
        for issuer in (bearers.idporten, bearers.maskinporten, bearers.altinn):
            claims = issuer.claims(token)
            if claims is None:
                continue
            if not lifetime_ok(claims, now) or claims.get("iss") != issuer.issuer_for(
                request.origin
            ):
                break
            if issuer is bearers.idporten:
                # Access tokens only (id_tokens are signed by the same key but have no client_id).
                if "client_id" not in claims:
                    break
                return self._person_caller(claims)
            if issuer is bearers.maskinporten:
                return Caller(org_number=consumer_org_number(claims), scopes=scopes(claims))
            return self._altinn_caller(claims)
        raise refuse(401, INVALID_TOKEN)

    def _altinn_caller(self, claims: dict[str, Any]) -> Caller:
        granted = scopes(claims)
        if altinn_user_id(claims) is not None:
            return self._person_caller(claims)
        org_number = altinn_org_number(claims)
        if org_number is not None and any("altinn:serviceowner" in s for s in granted):
            return Caller(org_number=org_number, scopes=granted)
        return Caller(scopes=granted)

    def _person_caller(self, claims: dict[str, Any]) -> Caller:
        granted = scopes(claims)
        person_number = pid(claims)
        if person_number is None:
            raise refuse(401, INVALID_TOKEN)
        with self._shared.lock:
            party_id = self.person_party(person_number)
        if party_id is None:
            return Caller(scopes=granted)
        return Caller(end_user=EndUser(person_number, party_id), scopes=granted)

    def person_party(self, person_number: str) -> int | None:
        """The reportee party of a person in the Register (made a reportee on first sight), or
        None for a person the Register does not know. Call with the lock held."""
        known = self.store.by_pid.get(person_number)
        if known is not None:
            return known
        person = self._register.persons.get(person_number)
        if person is None:
            return None
        reportee = Reportee(
            person.party_id, display_name(person.name, person_number), PERSON, pid=person_number
        )
        self.store.add_reportee(reportee)
        return reportee.party_id

    # -- what the caller may do --------------------------------------------------------------

    def end_user(self, request: Request, wanted: frozenset[str]) -> EndUser:
        """The end user of an end-user API call; ``wanted`` are the scopes that allow it."""
        self.check_api_key(request, service_owner=False)
        caller = self.caller(request)
        if caller.end_user is None:
            # Treated as a browser: the login page, never JSON (altinn-protocol.md §4.2).
            raise Refusal(login_page(request))
        if caller.scopes is not None and not caller.scopes & wanted:
            raise refuse(403, MISSING_SCOPE)
        return caller.end_user

    def party(self, user: EndUser, who: str) -> Reportee:
        """The reportee ``{who}`` names (``my``, an org number or ``r<id>``), if the user may
        represent it."""
        lowered = who.lower()
        with self._shared.lock:
            party_id: int | None
            if lowered == "my":
                party_id = user.party_id
            elif _REPORTEE_ID.fullmatch(lowered):
                party_id = int(lowered[1:])
            elif ORG_NUMBER.fullmatch(lowered):
                party_id = self.store.by_org.get(lowered)
            else:
                raise Refusal(empty_response(404))
            reportee = self.store.reportees.get(party_id) if party_id is not None else None
            if reportee is None or not self.store.may_represent(
                user.subject, user.party_id, reportee.party_id
            ):
                raise refuse(403, NO_ACCESS)
            return reportee

    def service_owner(self, request: Request, wanted: frozenset[str]) -> str:
        """The calling service owner's organisation number."""
        self.check_api_key(request, service_owner=True)
        caller = self.caller(request)
        if caller.org_number is None:
            raise refuse(401, NO_ORGANIZATION)
        if caller.scopes is not None and not caller.scopes & wanted:
            raise refuse(403, MISSING_SCOPE)
        with self._shared.lock:
            known = caller.org_number in self._register.service_owners
        if not known:
            raise refuse(403, NOT_SERVICE_OWNER)
        return caller.org_number


class Handlers:
    """What every Altinn 2 handler class works with.

    Args:
        shared: the lock and the clock.
        gate: who the request is.
        db_cap: how many messages (or service-owner reportees) the emulated database returns
            before OData filtering.
    """

    def __init__(self, shared: SharedState, gate: Gate, *, db_cap: int) -> None:
        self._shared = shared
        self._gate = gate
        self._store = gate.store
        self._db_cap = db_cap


def login_page(request: Request) -> Response:
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
