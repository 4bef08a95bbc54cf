"""The one reader of each token claim the emulated services share."""

from __future__ import annotations

from typing import Any

import pytest

from altinn_async.testing._toolkit import claims

ORG = {"authority": "iso6523-actorid-upis", "ID": "0192:310000001"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ORG, "310000001"),
        ({"authority": "iso6523-actorid-upis", "id": "0192:310000001"}, "310000001"),
        ({"authority": "other", "ID": "0192:310000001"}, None),
        ({"authority": "iso6523-actorid-upis", "ID": "0192:31000000"}, None),
        ({"authority": "iso6523-actorid-upis", "ID": "310000001"}, None),
        ({"authority": "iso6523-actorid-upis"}, None),
        ("0192:310000001", None),
        (None, None),
    ],
)
def test_iso6523_org_number(value: Any, expected: str | None) -> None:
    assert claims.iso6523_org_number(value) == expected
    assert claims.consumer_org_number({"consumer": value}) == expected


def test_system_user_from_a_maskinporten_or_an_exchanged_token() -> None:
    entry = {
        "type": "urn:altinn:systemuser",
        "systemuser_org": ORG,
        "systemuser_id": ["ebe4a681-0a8c-429e-a36f-8f9ca942b59f"],
        "system_id": "991825827_smartcloud",
    }
    expected = claims.SystemUserClaim(
        ("ebe4a681-0a8c-429e-a36f-8f9ca942b59f",), "310000001", "991825827_smartcloud"
    )
    assert claims.system_user({"authorization_details": [entry]}) == expected
    assert claims.system_user({"authorization_details": entry}) == expected
    # Only the first entry counts, as FindFirstValue reads it.
    consent = {"type": "urn:altinn:consent"}
    assert claims.system_user({"authorization_details": [consent, entry]}) is None
    broken_fields: list[dict[str, Any]] = [
        {"systemuser_id": []},
        {"systemuser_id": [""]},
        {"systemuser_org": None},
    ]
    for broken in broken_fields:
        assert claims.system_user({"authorization_details": [{**entry, **broken}]}) is None
    assert claims.system_user({}) is None


def test_altinn_claims_accept_strings_and_the_numbers_of_2023() -> None:
    token = {"urn:altinn:orgNumber": 991825827, "urn:altinn:userid": "20000011"}
    assert claims.altinn_org_number(token) == "991825827"
    assert claims.altinn_org_number({"urn:altinn:orgNumber": "991825827"}) == "991825827"
    assert claims.altinn_user_id(token) == "20000011"
    assert claims.altinn_party_id({"urn:altinn:partyid": 50002119}) == "50002119"
    assert claims.altinn_org({"urn:altinn:org": ""}) is None
    assert claims.altinn_org_number({"urn:altinn:orgNumber": True}) is None


def test_scopes_are_space_separated_in_order_each_once() -> None:
    assert claims.scope_list(" a:b  c:d a:b ") == ["a:b", "c:d"]
    assert claims.scopes({"scope": "a:b c:d"}) == {"a:b", "c:d"}
    assert claims.scopes({"scope": ["a:b"]}) == frozenset()


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        ({"exp": 1000}, True),
        ({"exp": 990}, True),
        ({"exp": 989}, False),
        ({"exp": True}, False),
        ({}, False),
        ({"exp": 2000, "nbf": 1010}, True),
        ({"exp": 2000, "nbf": 1011}, False),
        ({"exp": 2000, "nbf": "soon"}, False),
    ],
)
def test_lifetime_allows_ten_seconds_of_skew(token: dict[str, Any], ok: bool) -> None:
    assert claims.lifetime_ok(token, now=1000) is ok


def test_pid_is_a_non_blank_string() -> None:
    assert claims.pid({"pid": "24917298544"}) == "24917298544"
    assert claims.pid({"pid": " "}) is None
    assert claims.pid({"pid": 24917298544}) is None
