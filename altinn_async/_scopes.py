"""The scope naming rules, checked before a grant is signed."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .exceptions import InvalidScopeError

__all__ = ["check_scopes"]

# Seed 004 gives Altinn's rule as ``^([a-z0-9]+\/?)+[a-z0-9]+(\.[a-z0-9]+)?$?`` and states its
# intent: "we cannot have - or _ in scope names". Taken literally the trailing ``$?`` leaves the end
# unanchored (so it accepts almost anything), and with the end anchored it rejects real scopes such
# as ``altinn:events.publish.admin``. This is the intent, in a form that cannot backtrack: lowercase
# letters and digits in '/'-separated segments, '.'-separated parts after the last '/'.
_ALTINN_SUBSCOPE = re.compile(r"[a-z0-9]+(?:/[a-z0-9]+)*(?:\.[a-z0-9]+)*")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_SUBSCOPE = re.compile(r"[^\s:][^\s]*")


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Check each scope and return them without duplicates, in the order given.

    Raises:
        InvalidScopeError: a scope is not ``prefix:subscope``, or an ``altinn:`` scope breaks
            Altinn's naming rule; the error names the scope.
    """
    if isinstance(scopes, str):
        scopes = scopes.split()
    result: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str):
            raise InvalidScopeError(repr(scope), "a scope must be a string")
        if not scope or any(char.isspace() for char in scope):
            raise InvalidScopeError(scope, "a scope must be one non-empty word")
        prefix, colon, subscope = scope.partition(":")
        if not colon or not prefix or not subscope:
            raise InvalidScopeError(scope, "Maskinporten scopes have the form 'prefix:subscope'")
        if prefix == "altinn":
            if not _ALTINN_SUBSCOPE.fullmatch(subscope):
                raise InvalidScopeError(
                    scope,
                    "Altinn scope names use lowercase a-z and 0-9 in '/'-separated parts, with "
                    "'.' only after the last '/' (no '-', '_' or capitals)",
                )
        elif not _PREFIX.fullmatch(prefix) or not _SUBSCOPE.fullmatch(subscope):
            raise InvalidScopeError(scope, "Maskinporten scopes have the form 'prefix:subscope'")
        if scope not in result:
            result.append(scope)
    if not result:
        raise InvalidScopeError("", "at least one scope is required")
    return tuple(result)
