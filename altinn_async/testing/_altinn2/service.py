"""The emulated Altinn 2 REST API (``www.altinn.no/api``, legacy), composed under
``/altinn2/api``."""

from __future__ import annotations

from .._toolkit.register import Register
from .._toolkit.state import SharedState
from .gate import Bearers, Gate, Sessions
from .login import PasswordLogin
from .messages import MessageBox
from .model import Store
from .reportees import Reportees
from .serviceowner import ServiceOwnerApi

HANDLERS = (PasswordLogin, Reportees, ServiceOwnerApi, MessageBox)
"""The classes that declare Altinn 2's routes."""


class Altinn2:
    """The emulated Altinn 2 REST API.

    Args:
        shared: the lock and the clock.
        store: every Altinn 2 record.
        register: persons and service owners.
        bearers: the tokens accepted as bearer tokens.
        sessions: the password login's cookie and session lifetime.
        db_cap: how many messages (or service-owner reportees) the database returns before
            OData filtering.
    """

    def __init__(
        self,
        shared: SharedState,
        store: Store,
        register: Register,
        bearers: Bearers,
        sessions: Sessions,
        *,
        db_cap: int,
    ) -> None:
        self._shared = shared
        self._store = store
        gate = Gate(shared, store, register, bearers, sessions)
        self.handlers: tuple[object, ...] = tuple(
            handler(shared, gate, db_cap=db_cap) for handler in HANDLERS
        )
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Altinn2({self._store!r})"

    def end_sessions(self) -> None:
        """Forget every password login (the cookies stop working)."""
        with self._shared.lock:
            self._store.sessions.clear()
