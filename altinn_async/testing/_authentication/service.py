"""Altinn authentication composed: the token exchange and refresh, the OpenID documents, and the
vendor's system-user listing, under ``/platform/authentication/api/v1``."""

from __future__ import annotations

from collections.abc import Callable

from .._maskinporten import SystemRegister
from .._toolkit.jose import IssuedTokens
from .._toolkit.records import RecordLog
from .._toolkit.register import Register
from .._toolkit.state import SharedState
from .exchange import TokenExchange
from .records import ExchangeRecord
from .tokens import AltinnTokens
from .vendor import VendorSystemUsers

HANDLERS = (TokenExchange, VendorSystemUsers)
"""The classes that declare Altinn authentication's routes."""


class Authentication:
    """The emulated Altinn authentication.

    Args:
        shared: the lock and the clock.
        register: persons and service owners.
        maskinporten: the Maskinporten tokens it exchanges and lets vendors list with.
        idporten: the ID-porten tokens it exchanges.
        system_register: the system users vendors list.
        token_lifetime: seconds an exchanged or refreshed Altinn token lives.
    """

    def __init__(
        self,
        shared: SharedState,
        register: Register,
        *,
        maskinporten: IssuedTokens,
        idporten: IssuedTokens,
        system_register: SystemRegister,
        token_lifetime: int,
    ) -> None:
        clock: Callable[[], float] = shared.clock
        self.tokens = AltinnTokens(clock, lifetime=token_lifetime)
        """The Altinn tokens, for the platform APIs that accept them."""
        self.partner_scopes: set[str] = set()
        """Scopes that let ID-porten tokens be exchanged without an ``altinn:`` scope (guarded
        by the shared lock)."""
        self.exchanges: RecordLog[ExchangeRecord] = RecordLog()
        """The exchanges made (guarded by the shared lock), for tests to assert on."""
        self.handlers: tuple[object, ...] = (
            TokenExchange(
                shared,
                self.tokens,
                maskinporten=maskinporten,
                idporten=idporten,
                register=register,
                partner_scopes=self.partner_scopes,
                exchanges=self.exchanges,
            ),
            VendorSystemUsers(shared, self.tokens, maskinporten, system_register),
        )
        """The objects to mount on the router (one of each of `HANDLERS`)."""
        self._shared = shared

    def __repr__(self) -> str:
        return f"Authentication({self.tokens!r})"

    def add_partner_scope(self, scope: str) -> None:
        """Let ID-porten tokens carrying ``scope`` be exchanged (Altinn's ``PartnerScopes``)."""
        if not scope:
            raise ValueError("scope must not be empty")
        with self._shared.lock:
            self.partner_scopes.add(scope)
