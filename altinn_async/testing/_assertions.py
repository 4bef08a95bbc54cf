"""Assertions on what an `Emulator` served, whose failures say what it did serve.

Each raises `AssertionError` with the whole story (what was expected, what the emulator served,
the claims it saw) and returns what it checked, for further asserts. Claims are no secret; the
records hold no token or grant, so neither can a message.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ._authentication import ExchangeRecord
from ._emulator import ENDPOINTS, Emulator
from ._maskinporten import GrantRecord
from ._toolkit.records import read_only

__all__ = ["assert_exchanged", "assert_granted", "assert_served"]

_NOT_FOUND = "not_found"


def assert_served(emulator: Emulator, endpoint: str, times: int | None = None) -> int:
    """Assert that ``emulator`` served ``endpoint`` at least once, or exactly ``times`` times
    (refused requests count, as in `Emulator.requests`).

    Example::

        assert_served(emulator, "maskinporten.token", times=1)

    Args:
        emulator: the emulator.
        endpoint: an endpoint name (see `ENDPOINTS`), or ``"not_found"``.
        times: the exact count expected; None for "at least once".

    Returns:
        How many times it was served.

    Raises:
        AssertionError: it was not (the message lists what was served).
        ValueError: an unknown endpoint name (the message suggests the closest), or a negative
            ``times``.
    """
    __tracebackhide__ = True
    _check_endpoint(endpoint)
    if times is not None and (isinstance(times, bool) or times < 0):
        raise ValueError(f"times must be a whole number, 0 or more, got {times!r}")
    served = emulator.requests[endpoint]
    if (served == times) if times is not None else served > 0:
        return served
    expected = "at least once" if times is None else _times(times)
    raise AssertionError(
        f"the emulator served {endpoint!r} {_times(served)}, expected {expected}; "
        f"{_served_summary(emulator)}"
    )


def assert_granted(
    emulator: Emulator,
    *,
    client_id: str | None = None,
    scopes: Iterable[str] | None = None,
    claims: Mapping[str, Any] | None = None,
) -> GrantRecord:
    """Assert that Maskinporten accepted a grant, and that the last one it accepted came from
    ``client_id``, was for exactly ``scopes`` (in any order) and carried ``claims``.

    Example::

        grant = assert_granted(emulator, scopes=["altinn:serviceowner/instances.read"],
                               claims={"resource": ["https://api.example"]})

    Args:
        emulator: the emulator.
        client_id: the client expected (the grant's ``iss``); None for any.
        scopes: the scopes expected; None for any.
        claims: claims the grant must carry with these values (compared as JSON, so a list
            matches the array; other claims may be there too).

    Returns:
        The last grant accepted (`Emulator.last_grant`).

    Raises:
        AssertionError: no grant was accepted, or the last one does not match (the message
            shows its claims).
    """
    __tracebackhide__ = True
    grant = emulator.last_grant
    if grant is None:
        raise AssertionError(
            "Maskinporten accepted no grant; "
            f"it answered 'maskinporten.token' {_times(emulator.requests['maskinporten.token'])} "
            "(refused grants count there: the client's error says why)"
        )
    problems: list[str] = []
    if client_id is not None and grant.client_id != client_id:
        problems.append(f"client_id is {grant.client_id!r}, expected {client_id!r}")
    if scopes is not None:
        wanted = list(dict.fromkeys([scopes] if isinstance(scopes, str) else scopes))
        if set(grant.scopes) != set(wanted):
            problems.append(f"scopes are {list(grant.scopes)!r}, expected {wanted!r}")
    problems += _claim_problems(grant.claims, claims, "the grant")
    if problems:
        total = len(emulator.grants)
        raise AssertionError(
            f"the last grant Maskinporten accepted (of {total}) does not match: "
            f"{'; '.join(problems)}. Its claims: {_json(grant.claims)}"
        )
    return grant


def assert_exchanged(
    emulator: Emulator,
    *,
    provider: str | None = None,
    claims: Mapping[str, Any] | None = None,
) -> ExchangeRecord:
    """Assert that Altinn authentication exchanged a token, and that the last exchange was of
    ``provider``'s token and issued an Altinn token carrying ``claims``.

    Example::

        assert_exchanged(emulator, provider="maskinporten", claims={"urn:altinn:org": "ttd"})

    Args:
        emulator: the emulator.
        provider: ``"maskinporten"`` or ``"id-porten"`` (any case); None for either.
        claims: claims the Altinn token must carry with these values (compared as JSON).

    Returns:
        The last exchange (`Emulator.last_exchange`).

    Raises:
        AssertionError: nothing was exchanged, or the last exchange does not match (the message
            shows the Altinn token's claims).
    """
    __tracebackhide__ = True
    exchange = emulator.last_exchange
    if exchange is None:
        served = emulator.requests["authentication.exchange"]
        raise AssertionError(
            "Altinn authentication exchanged no token; "
            f"it answered 'authentication.exchange' {_times(served)} (refused exchanges count "
            "there)"
        )
    problems: list[str] = []
    if provider is not None and exchange.provider != provider.lower():
        problems.append(f"the provider is {exchange.provider!r}, expected {provider.lower()!r}")
    problems += _claim_problems(exchange.altinn_claims, claims, "the Altinn token")
    if problems:
        total = len(emulator.exchanges)
        raise AssertionError(
            f"the last token exchange (of {total}) does not match: {'; '.join(problems)}. "
            f"The Altinn token's claims: {_json(exchange.altinn_claims)}"
        )
    return exchange


def _check_endpoint(endpoint: str) -> None:
    known = [*ENDPOINTS, _NOT_FOUND]
    if endpoint not in known:
        close = difflib.get_close_matches(endpoint, known, n=3)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else "see ENDPOINTS"
        raise ValueError(f"unknown endpoint {endpoint!r}: {hint}")


def _claim_problems(
    actual: Mapping[str, Any], expected: Mapping[str, Any] | None, what: str
) -> list[str]:
    problems = []
    for name, value in (expected or {}).items():
        if name not in actual:
            problems.append(f"{what} has no {name!r} claim, expected {_json(value)}")
        elif actual[name] != read_only(value):
            problems.append(f"{name} is {_json(actual[name])}, expected {_json(value)}")
    return problems


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _served_summary(emulator: Emulator) -> str:
    served = sorted((name, count) for name, count in emulator.requests.items() if count)
    if not served:
        return "it served nothing"
    return "it served: " + ", ".join(f"{name} {_times(count)}" for name, count in served)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, default=str)
