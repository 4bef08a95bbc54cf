"""Who a Correspondence request is, and what they may do (``altinn3-messaging.md`` §1.1, §1.3).

Three bearer schemes (``Auth/DependencyInjection.cs``):

- an **Altinn token** (exchanged), whose ``iss`` must equal the request's
  ``{platform}/authentication/api/v1/openid/``, validated with ``ClockSkew = 0``;
- a **raw Maskinporten token**, on the ``Sender`` and ``SenderOrRecipient`` policies only (list,
  overview, details, purge); elsewhere ``AltinnTokenEventsHelper`` answers 403 IDX10205;
- a **Dialogporten dialog token**, verified by the verifier the service is given, whose ``a``
  claim must include ``read``.

The policies then require the scopes: ``altinn:correspondence.read`` for a recipient,
``altinn:correspondence.write`` for a sender (a raw Maskinporten sender token also
``altinn:serviceowner``), ``altinn:portal/enduser`` also for downloads. A policy that fails is
ASP.NET's ``Forbid()``: 403 without a body (inferred). No token is the JwtBearer challenge, a bare
401 (inferred), except on downloads, whose ``CascadeAuthenticationHandler`` redirects to the
login.

The PDP decision "may this caller read for this recipient on this resource" is the emulator's one
rule of who may act for whom (`PartyDirectory.party_urns`). A sender is the organisation that
sent the correspondence (the service owner's bypass: the token's organisation is the resource's
owner), with the write scope.
"""

from __future__ import annotations

import enum
import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._toolkit.asgi import Request
from .._toolkit.claims import lifetime_ok, scopes, system_user
from .._toolkit.jose import IssuedTokens
from .._toolkit.parties import Caller, PartyDirectory, organization_urn, person_urn
from .._toolkit.responses import empty_response, redirect_response
from .._toolkit.router import Refusal
from .errors import NO_ACCESS, UNKNOWN_CALLER, maskinporten_refused, problem
from .model import Correspondence

READ_SCOPE = "altinn:correspondence.read"
WRITE_SCOPE = "altinn:correspondence.write"
SERVICE_OWNER_SCOPE = "altinn:serviceowner"
ENDUSER_SCOPE = "altinn:portal/enduser"
RESOURCE_URN = "urn:altinn:resource:"

DialogTokenVerifier = Callable[[str, str, float], Mapping[str, Any] | None]
"""``(token, request origin, now) -> verified claims or None``: Dialogporten's dialog tokens."""

_ORG_ID = re.compile(r"(?:0192:|urn:altinn:organization:identifier-no:)(\d{9})")
_PERSON_ID = re.compile(r"(?:urn:altinn:person:identifier-no:)?(\d{11})")


def no_dialog_tokens(token: str, origin: str, now: float) -> Mapping[str, Any] | None:
    """The verifier without Dialogporten: no token is a dialog token."""
    del token, origin, now
    return None


class Policy(enum.Enum):
    """The controller's authorization policies."""

    RECIPIENT = "Recipient"
    SENDER_OR_RECIPIENT = "SenderOrRecipient"
    DOWNLOAD = "AllSchemes"


class Scheme(enum.Enum):
    """How the request authenticated."""

    ALTINN = "altinn"
    MASKINPORTEN = "maskinporten"
    DIALOG = "dialog"


@dataclass(frozen=True, slots=True)
class DialogGrant:
    """What a dialog token grants: its dialog, party, resource and actions."""

    dialog_id: str
    party: str
    resource: str
    actions: frozenset[str]
    actor: str


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller. ``caller`` is set for Altinn and Maskinporten tokens, ``dialog`` for
    a dialog token."""

    scheme: Scheme
    scopes: frozenset[str] = frozenset()
    caller: Caller | None = None
    dialog: DialogGrant | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """Who the caller is, for Fetched's debounce (per party)."""
        if self.dialog is not None:
            return f"dialog:{self.dialog.actor}"
        caller = self.caller or Caller()
        return (
            caller.system_user_id
            or caller.pid
            or caller.org_number
            or secrets.token_hex(4)  # nobody: never debounced
        )

    @property
    def reads(self) -> bool:
        """Holds a recipient's scope (or is a dialog token)."""
        return self.dialog is not None or READ_SCOPE in self.scopes

    @property
    def writes(self) -> bool:
        """Holds a sender's scopes."""
        if self.scheme is Scheme.DIALOG or WRITE_SCOPE not in self.scopes:
            return False
        return self.scheme is Scheme.ALTINN or SERVICE_OWNER_SCOPE in self.scopes

    @property
    def organization(self) -> str | None:
        """The organisation the token acts for as a sender: a system user's owner, else the
        token's organisation (a person's token acts for nobody as a sender)."""
        caller = self.caller
        if caller is None or caller.is_person:
            return None
        return caller.system_user_org or caller.org_number


def _unauthorized(*, bad_token: bool) -> Refusal:
    challenge = 'Bearer error="invalid_token"' if bad_token else "Bearer"
    return Refusal(empty_response(401, headers=[("www-authenticate", challenge)]))


def _dialog_grant(claims: Mapping[str, Any]) -> DialogGrant | None:
    actions = claims.get("a")
    dialog_id, party = claims.get("i"), claims.get("p")
    if not isinstance(actions, str) or not isinstance(dialog_id, str) or not isinstance(party, str):
        return None
    # "read;write;elementread,urn:altinn:subresource:x": the action is the first comma part.
    names = frozenset(part.split(",")[0].strip() for part in actions.split(";"))
    resource = claims.get("s")
    actor = claims.get("c")
    return DialogGrant(
        dialog_id=dialog_id.lower(),
        party=party,
        resource=resource.removeprefix(RESOURCE_URN) if isinstance(resource, str) else "",
        actions=names,
        actor=actor if isinstance(actor, str) else party,
    )


def login_redirect(request: Request) -> Refusal:
    """The OpenID Connect challenge a download without a token gets: to the (emulated)
    ID-porten login, as Altinn's ``acr_values``. The emulator registers no client for it, so
    following the redirect ends on ID-porten's error page."""
    query = urllib.parse.urlencode(
        {
            "client_id": "altinn-correspondence",
            "redirect_uri": f"{request.origin}/platform/correspondence/signin-oidc",
            "response_type": "code",
            "scope": "openid profile",
            "acr_values": "selfregistered-email idporten-loa-substantial",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "ui_locales": "nb",
        }
    )
    return Refusal(redirect_response(f"{request.origin}/idporten/authorize?{query}"))


@dataclass(slots=True)
class Gate:
    """Authenticates requests and makes the PDP's decisions.

    Args:
        altinn: the Altinn tokens.
        maskinporten: the Maskinporten access tokens.
        dialog_token_claims: the dialog-token verifier.
        parties: who may act for whom (read with the shared lock held).
    """

    altinn: IssuedTokens
    maskinporten: IssuedTokens
    dialog_token_claims: DialogTokenVerifier
    parties: PartyDirectory

    def authenticate(self, request: Request, policy: Policy, now: float) -> Principal:
        """The principal of the request's bearer token, if the policy lets it in.

        Raises:
            Refusal: 401 (no or a bad token), 302 (a download without a token), 403 (a
                Maskinporten token where only Altinn tokens go, or the policy's scopes missing).
        """
        token = request.bearer_token()
        if not token:
            if policy is Policy.DOWNLOAD and request.header("authorization") is None:
                raise login_redirect(request)
            raise _unauthorized(bad_token=False)
        principal = self._principal(token, request.origin, now, policy)
        if not self._policy_allows(principal, policy):
            raise Refusal(empty_response(403))
        return principal

    def _principal(self, token: str, origin: str, now: float, policy: Policy) -> Principal:
        claims = self.altinn.claims(token, origin=origin)
        if claims is not None:
            if not lifetime_ok(claims, now, skew=0):
                raise _unauthorized(bad_token=True)
            return Principal(
                Scheme.ALTINN, scopes(claims), caller=Caller.from_claims(claims), claims=claims
            )
        claims = self.maskinporten.claims(token, origin=origin, now=now)
        if claims is not None:
            if policy is not Policy.SENDER_OR_RECIPIENT:
                raise maskinporten_refused()
            return Principal(
                Scheme.MASKINPORTEN,
                scopes(claims),
                caller=Caller.from_claims(claims),
                claims=claims,
            )
        dialog_claims = self.dialog_token_claims(token, origin, now)
        if dialog_claims is not None:
            grant = _dialog_grant(dialog_claims)
            if grant is None or "read" not in grant.actions:
                raise _unauthorized(bad_token=True)
            return Principal(Scheme.DIALOG, dialog=grant, claims=dialog_claims)
        raise _unauthorized(bad_token=True)

    @staticmethod
    def _policy_allows(principal: Principal, policy: Policy) -> bool:
        if principal.scheme is Scheme.DIALOG:
            return True
        granted = principal.scopes
        if policy is Policy.RECIPIENT:
            return READ_SCOPE in granted
        if policy is Policy.DOWNLOAD:
            return READ_SCOPE in granted or ENDUSER_SCOPE in granted
        return READ_SCOPE in granted or WRITE_SCOPE in granted

    # -- the PDP (lock held) -------------------------------------------------------------------

    def reads_for(self, principal: Principal, party: str, resource: str) -> bool:
        """Whether the caller may read as ``party`` on ``resource`` (lock held)."""
        dialog = principal.dialog
        if dialog is not None:
            return dialog.party == party and dialog.resource == resource
        if principal.caller is None or not (
            READ_SCOPE in principal.scopes or ENDUSER_SCOPE in principal.scopes
        ):
            return False
        return party in self.parties.party_urns(principal.caller, resource)

    def recipient_of(self, principal: Principal, item: Correspondence) -> bool:
        """Whether the caller may read ``item`` as (for) its recipient (lock held)."""
        dialog = principal.dialog
        if dialog is not None:
            return (
                item.dialog_id is not None
                and dialog.dialog_id == item.dialog_id.lower()
                and dialog.party == item.recipient
            )
        return self.reads_for(principal, item.recipient, item.resource)

    @staticmethod
    def sender_of(principal: Principal, item: Correspondence) -> bool:
        """Whether the caller is ``item``'s sender, with the sender's scopes."""
        return principal.writes and principal.organization == item.sender

    @staticmethod
    def sends_as(principal: Principal, party: str) -> bool:
        """Whether the caller may list what ``party`` (an organisation URN) sent."""
        org = principal.organization
        return principal.writes and org is not None and party == organization_urn(org)


def default_party(principal: Principal) -> str:
    """``onBehalfOf`` when the list is not given one: a system user's owner, an enterprise's
    ``urn:altinn:orgNumber`` (or a Maskinporten token's consumer), a person token's
    ``consumer`` org (so persons must name themselves), a dialog token's ``p``.

    Raises:
        Refusal: 401/4006, when the token names none.
    """
    if principal.dialog is not None:
        return principal.dialog.party
    user = system_user(principal.claims)
    if user is not None:
        return organization_urn(user.org_number)
    caller = principal.caller
    if caller is not None and caller.org_number is not None:
        return organization_urn(caller.org_number)
    consumer = principal.claims.get("consumer")
    if isinstance(consumer, Mapping):
        value = consumer.get("ID")
        if isinstance(value, str) and (found := _ORG_ID.fullmatch(value)):
            return organization_urn(found.group(1))
    raise problem(UNKNOWN_CALLER)


def parse_party(value: str) -> str | None:
    """An ``onBehalfOf`` value as a party URN: ``0192:<orgno>``,
    ``urn:altinn:organization:identifier-no:<orgno>``, or a national identity number (with
    valid check digits), bare or as ``urn:altinn:person:identifier-no:<pid>``; None otherwise."""
    found = _ORG_ID.fullmatch(value)
    if found:
        return organization_urn(found.group(1))
    found = _PERSON_ID.fullmatch(value)
    if found and valid_pid(found.group(1)):
        return person_urn(found.group(1))
    return None


_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def valid_pid(value: str) -> bool:
    """Whether an 11-digit national identity number has valid mod-11 check digits."""
    digits = [int(c) for c in value]
    for weights, position in ((_K1, 9), (_K2, 10)):
        check = 11 - sum(w * d for w, d in zip(weights, digits, strict=False)) % 11
        if check == 11:
            check = 0
        if check == 10 or check != digits[position]:
            return False
    return True


def no_access() -> Refusal:
    """401/4001."""
    return problem(NO_ACCESS)
