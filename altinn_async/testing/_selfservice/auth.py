"""Who calls the self-service API: a Maskinporten access token of the emulated Maskinporten, its
``consumer`` organisation and its admin scopes (``maskinporten-selfservice.md`` §2, §9.2-3).

The token is verified as the real API does: the signature with Maskinporten's key, the issuer
at the request's origin, the lifetime (with 10 s of clock skew). No audience is checked (admin
clients send no ``resource``, so their tokens say ``aud: "unspecified"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .._toolkit.asgi import Request
from .._toolkit.claims import consumer_org_number, scopes
from .._toolkit.jose import IssuedTokens
from .errors import forbidden, unauthorized

DCR_READ = "idporten:dcr.read"
DCR_WRITE = "idporten:dcr.write"
DCR_MODIFY = "idporten:dcr.modify"
DCR_SUPPLIER = "idporten:dcr.supplier"
SCOPES_WRITE = "idporten:scopes.write"

READS = (DCR_READ, DCR_WRITE, DCR_MODIFY)
"""Reading clients and keys: ``dcr.read`` (or a write scope, which implies it)."""
CREATES = (DCR_WRITE,)
"""Creating and deleting clients: ``dcr.write``."""
CHANGES = (DCR_MODIFY, DCR_WRITE)
"""Changing a client, its keys or its secret: ``dcr.modify`` or ``dcr.write``."""
PROVIDES = (SCOPES_WRITE,)
"""The API provider's scopes, access lists and prefixes: ``scopes.write``."""
CONSUMES = (SCOPES_WRITE, DCR_READ, DCR_WRITE, DCR_MODIFY)
"""The accesses granted to the caller (``/scopes/access/all``): any admin scope (unconfirmed)."""

CERTIFICATE_AMR = "virksomhetssertifikat"


@dataclass(frozen=True, slots=True)
class Admin:
    """A verified admin token: the organisation it acts for and its scopes."""

    org_number: str
    scopes: frozenset[str]
    client_amr: str | None

    @property
    def supplier(self) -> bool:
        """Holds ``dcr.supplier``: may create and manage clients of other organisations."""
        return DCR_SUPPLIER in self.scopes

    def require(self, any_of: Iterable[str], now: float) -> None:
        """Refuse (403) a token without one of the scopes.

        Raises:
            ApiError: 403.
        """
        wanted = tuple(any_of)
        if not self.scopes.intersection(wanted):
            raise forbidden(
                now,
                "The access token is missing a required scope: one of " + ", ".join(wanted),
            )


class AdminGate:
    """Checks bearer tokens against the emulated Maskinporten.

    Args:
        tokens: the access tokens the emulated Maskinporten issues.
        require_certificate: refuse tokens whose client did not authenticate with an enterprise
            certificate (``client_amr`` other than ``virksomhetssertifikat``), as Digdir's admin
            clients are bound to one.
    """

    def __init__(self, tokens: IssuedTokens, *, require_certificate: bool = False) -> None:
        self._tokens = tokens
        self.require_certificate = require_certificate

    def __repr__(self) -> str:
        return f"AdminGate(require_certificate={self.require_certificate})"

    def authenticate(self, request: Request, now: float) -> Admin:
        """The caller of ``request``.

        Raises:
            ApiError: 401 without a bearer token or with one that is not a live Maskinporten
                token; 403 for a token without an organisation, or not from an enterprise
                certificate when that is required.
        """
        token = request.bearer_token()
        if token is None:
            raise unauthorized(
                now,
                "Full authentication is required: send Authorization: Bearer <token>",
                bad_token=False,
            )
        claims = self._tokens.claims(token, origin=request.origin, now=now)
        if claims is None:
            raise unauthorized(
                now,
                "Invalid access token: not a live Maskinporten token (bad signature, another "
                "issuer, or expired)",
                bad_token=True,
            )
        org_number = consumer_org_number(claims)
        if org_number is None:
            raise forbidden(now, "The access token names no consumer organisation")
        amr = claims.get("client_amr")
        client_amr = amr if isinstance(amr, str) else None
        if self.require_certificate and client_amr != CERTIFICATE_AMR:
            raise forbidden(
                now,
                "The admin client must authenticate with an enterprise certificate "
                f"(client_amr {CERTIFICATE_AMR})",
            )
        return Admin(org_number, scopes(claims), client_amr)
