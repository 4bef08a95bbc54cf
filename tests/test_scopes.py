"""The scope naming rules (seed 004) are checked before any request."""

from __future__ import annotations

import pytest

from altinn_async import InvalidScopeError
from altinn_async._scopes import check_scopes


@pytest.mark.parametrize(
    "scope",
    [
        "altinn:serviceowner/instances.read",
        "altinn:serviceowner/instances.write",
        "altinn:serviceowner",
        "altinn:instances.meta",
        "altinn:events.publish.admin",
        "altinn:authentication/systemuser.request.write",
        "altinn:storage/instances.syncadapter",
        "altinn:instances/metadata.read",
        "difitest:test2",
        "krr:global/kontaktinformasjon.read",
        "skatteetaten:formueinntekt/skattemelding",
        "digdir:dialogporten.noconsent",
    ],
)
def test_real_scopes_pass(scope: str) -> None:
    assert check_scopes([scope]) == (scope,)


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("altinn:service-owner/instances.read", "no '-'"),
        ("altinn:serviceowner/instances_read", "no '-', '_'"),
        ("altinn:ServiceOwner", "capitals"),
        ("altinn:serviceowner//instances", "'/'-separated"),
        ("altinn:serviceowner/", "'/'-separated"),
        ("altinn:instances.read/x", "after the last '/'"),
        ("altinn:", "prefix:subscope"),
        ("openid", "prefix:subscope"),
        (":read", "prefix:subscope"),
        ("altinn:a b", "one non-empty word"),
        ("", "one non-empty word"),
    ],
)
def test_bad_scopes_are_named_in_the_error(scope: str, reason: str) -> None:
    with pytest.raises(InvalidScopeError) as info:
        check_scopes([scope])
    assert info.value.scope == scope
    assert repr(scope) in str(info.value)
    assert reason in str(info.value)


def test_duplicates_are_dropped_and_order_kept() -> None:
    assert check_scopes(["b:x", "a:y", "b:x"]) == ("b:x", "a:y")


def test_a_space_separated_string_is_split() -> None:
    assert check_scopes("a:x b:y") == ("a:x", "b:y")


def test_no_scopes_is_an_error() -> None:
    with pytest.raises(InvalidScopeError, match="at least one scope"):
        check_scopes([])


def test_invalid_scope_error_is_a_value_error() -> None:
    # Callers validating config can catch ValueError without knowing our types.
    with pytest.raises(ValueError, match="altinn:A"):
        check_scopes(["altinn:A"])
