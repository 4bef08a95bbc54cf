"""Seeding the scope registry the self-service API manages (the logic behind
``Emulator.add_scope_prefix``, ``add_api_scope`` and ``grant_scope_access``)."""

from __future__ import annotations

from collections.abc import Iterable

from .._maskinporten import APPROVED, ApiScope, MaskinportenStore, ScopeAccess
from .._toolkit.register import check_org_number
from .._toolkit.state import SharedState
from .clients import INTEGRATION_TYPES
from .registry import PREFIX, SUBSCOPE, VISIBILITIES


def split_scope(scope: str) -> tuple[str, str]:
    """``(prefix, subscope)`` of a scope name.

    Raises:
        ValueError: not ``prefix:subscope`` with a valid prefix and subscope.
    """
    prefix, sep, subscope = scope.partition(":")
    if not sep or not PREFIX.fullmatch(prefix) or not SUBSCOPE.fullmatch(subscope):
        raise ValueError(
            f"scope must be prefix:subscope (a lower-case prefix, then segments of letters, "
            f"digits and ._:- between slashes), got {scope!r}"
        )
    return prefix, subscope


class SelfServiceSeeding:
    """Validates and stores prefixes, API scopes and access that tests seed."""

    def __init__(self, shared: SharedState, store: MaskinportenStore) -> None:
        self._shared = shared
        self._store = store

    def __repr__(self) -> str:
        return f"SelfServiceSeeding({self._store!r})"

    def add_prefix(self, org_number: str, prefix: str) -> None:
        """Assign ``prefix`` to ``org_number``.

        Raises:
            ValueError: a malformed org number or prefix, or a prefix another org has.
        """
        check_org_number(org_number, "org_number")
        if not PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix must be lower-case letters and digits, got {prefix!r}")
        with self._shared.lock:
            owner = self._store.prefixes.setdefault(prefix, org_number)
        if owner != org_number:
            raise ValueError(f"prefix {prefix!r} already belongs to organisation {owner}")

    def add_api_scope(
        self,
        scope: str,
        *,
        owner_org: str,
        description: str,
        visibility: str,
        accessible_for_all: bool,
        allowed_integration_types: Iterable[str],
        at_max_age: int,
        delegation_source: str | None,
        active: bool,
    ) -> None:
        """Register (or replace) an API scope of ``owner_org``; its prefix becomes the owner's
        if nobody has it.

        Raises:
            ValueError: a malformed argument, or a prefix another org has.
        """
        prefix, subscope = split_scope(scope)
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        types = tuple(dict.fromkeys(allowed_integration_types))
        unknown = [t for t in types if t not in INTEGRATION_TYPES]
        if unknown:
            raise ValueError(
                f"unknown integration types {unknown}; expected {', '.join(INTEGRATION_TYPES)}"
            )
        if isinstance(at_max_age, bool) or at_max_age < 0:
            raise ValueError("at_max_age must be 0 (the default lifetime) or positive seconds")
        self.add_prefix(owner_org, prefix)
        now = self._shared.clock()
        with self._shared.lock:
            self._store.api_scopes[scope] = ApiScope(
                prefix=prefix,
                subscope=subscope,
                owner_org=owner_org,
                description=description or scope,
                long_description=None,
                visibility=visibility,
                accessible_for_all=accessible_for_all,
                allowed_integration_types=types,
                at_max_age=at_max_age,
                delegation_source=delegation_source,
                active=active,
                created=now,
                last_updated=now,
            )

    def grant_access(self, scope: str, org_number: str) -> None:
        """Give ``org_number`` APPROVED access to a registered scope.

        Raises:
            ValueError: a malformed org number.
            KeyError: the scope is not registered (`add_api_scope`).
        """
        check_org_number(org_number, "org_number")
        now = self._shared.clock()
        with self._shared.lock:
            if scope not in self._store.api_scopes:
                raise KeyError(f"no API scope {scope!r}: register it with add_api_scope first")
            entry = self._store.scope_access.get((scope, org_number))
            if entry is None:
                self._store.scope_access[(scope, org_number)] = ScopeAccess(
                    scope, org_number, APPROVED, now, now
                )
            else:
                entry.state, entry.last_updated = APPROVED, now
