"""HAL+JSON parsing: Altinn 2 shapes, link arrays, templates, and every way a document breaks."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from altinn_async import AltinnError, HALError, HalResource, Link, parse_hal
from altinn_async._hal import parse_hal_array

API = "https://www.altinn.no/api"

# altinn-protocol.md §4.3: the messages list from altinn2-docs meldinger/hente.md.
MESSAGES: dict[str, Any] = {
    "_links": {
        "self": {"href": f"{API}/my/messages"},
        "find": {"href": f"{API}/my/messages/{{MessageId}}", "isTemplated": True},
    },
    "_embedded": {
        "messages": [
            {
                "MessageId": "a385107",
                "Subject": "Vedr. saksnr 2013/1",
                "Status": "Ulest",
                "LastChangedDateTime": "2013-11-11T13:41:01.703",
                "LastChangedBy": "Kommunene",
                "ServiceOwner": "Kommunene",
                "Type": "Correspondence",
                "MessageSender": "Brønnøy Kommune",
                "ServiceCode": "2479",
                "ServiceEdition": 2,
                "ReplyOptions": [
                    {
                        "Type": "Service",
                        "URL": f"{API}/metadata/formtask/3008/102",
                        "Text": "Svar",
                        "ServiceCode": "3008",
                        "ServiceEditionCode": 102,
                    }
                ],
                "_links": {
                    "self": {"href": f"{API}/my/messages/a385107"},
                    "metadata": {"href": f"{API}/metadata/correspondence/2479/2"},
                    "portalview": {"href": "https://www.altinn.no/Pages/ServiceEngine/x"},
                },
            },
            {
                "MessageId": "a385103",
                "Status": "Utfylling",
                "Type": "FormTask",
                "ServiceCode": "3606",
                "ServiceEdition": 130731,
                "_links": {
                    "self": {"href": f"{API}/my/messages/a385103"},
                    "print": {
                        "href": f"{API}/my/messages/a385103/print",
                        "mime-type": "application/pdf",
                    },
                    "metadata": {"href": f"{API}/metadata/formtask/3606/130731"},
                    "portalview": {"href": "https://www.altinn.no/Pages/ServiceEngine/y"},
                },
            },
        ]
    },
}

# A single message: form and attachment links are ARRAYS with extra attributes.
MESSAGE: dict[str, Any] = {
    "MessageId": "a385103",
    "Subject": "Skattemelding",
    "Type": "FormTask",
    "SignatureSpec": {"FormIds": [1], "AttachmentIds": []},
    "_links": {
        "self": {"href": f"{API}/my/messages/a385103"},
        "print": {"href": f"{API}/my/messages/a385103/print", "mime-type": "application/pdf"},
        "form": [
            {"href": f"{API}/my/messages/a385103/forms/1", "name": "RF-1030"},
            {"href": f"{API}/my/messages/a385103/forms/2", "name": "RF-1031"},
        ],
        "attachment": [
            {
                "href": f"{API}/my/messages/a385103/attachments/7",
                "name": "Vedlegg",
                "fileName": "vedlegg.pdf",
                "encrypted": False,
                "signinglocked": False,
                "signedbydefault": True,
                "filesize": 102400,
            }
        ],
        "archivereference": {"href": f"{API}/my/messages/a385103/archivereference"},
    },
}

FORM: dict[str, Any] = {
    "Type": "MainForm",
    "DataFormatId": "213",
    "DataFormatVersion": 10422,
    "ValidationStatus": "NotValidated",
    "Name": "Skattemelding",
    "_links": {
        "self": {"href": f"{API}/my/messages/a385103/forms/1"},
        "formdata": {
            "href": f"{API}/my/messages/a385103/forms/1/formdata",
            "mime-type": "application/xml",
        },
    },
}

REPORTEES: dict[str, Any] = {
    "_links": {
        "find": {"href": f"{API}/reportees/{{reporteeId}}", "isTemplated": True},
        "self": {"href": f"{API}/reportees"},
    },
    "_embedded": {
        "reportees": [
            {
                "ReporteeId": "r50170460",
                "Name": "EIENDOMSSELSKAP AS",
                "Type": "Foretak",
                "OrganizationNumber": "910672991",
                "Status": "Active",
                "_links": {
                    "self": {"href": f"{API}/reportees/r50170460"},
                    "messages": {"href": "https://altinn.no/api/r50170460/messages"},
                },
            },
            {
                "ReporteeId": "r50019105",
                "Name": "KARI NORDMANN",
                "Type": "Person",
                "SocialSecurityNumber": "05116602352",
                "_links": {"self": {"href": f"{API}/reportees/r50019105"}},
            },
        ]
    },
}


def test_the_messages_list() -> None:
    messages = parse_hal(MESSAGES)
    assert messages.properties == {}
    assert messages.self_url == f"{API}/my/messages"
    find = messages.link("find")
    assert find is not None
    assert find.templated  # Altinn writes isTemplated
    assert find.expand(MessageId="a385107") == f"{API}/my/messages/a385107"

    first, second = messages.embedded_list("messages")
    assert first["MessageId"] == "a385107"
    assert first["ServiceEdition"] == 2  # values and PascalCase names exactly as sent
    assert first["ReplyOptions"][0]["ServiceEditionCode"] == 102
    assert "_links" not in first.properties
    assert first.self_url == f"{API}/my/messages/a385107"
    assert set(first.links) == {"self", "metadata", "portalview"}
    assert first.link("print") is None
    print_link = second.link("print")
    assert print_link is not None
    assert print_link.mime_type == "application/pdf"  # Altinn writes mime-type
    assert print_link.attributes == {}
    assert second.document is MESSAGES["_embedded"]["messages"][1]


def test_a_single_message_with_link_arrays() -> None:
    message = parse_hal(MESSAGE)
    forms = message.links_for("form")
    assert [(f.name, f.href.rsplit("/", 1)[1]) for f in forms] == [
        ("RF-1030", "1"),
        ("RF-1031", "2"),
    ]
    (attachment,) = message.links_for("attachment")
    assert attachment.name == "Vedlegg"
    assert attachment.attributes == {
        "fileName": "vedlegg.pdf",
        "encrypted": False,
        "signinglocked": False,
        "signedbydefault": True,
        "filesize": 102400,
    }
    assert message.link_arrays == {"form", "attachment"}
    assert len(message.links_for("self")) == 1
    assert message.links_for("nothing") == ()
    assert message["SignatureSpec"] == {"FormIds": [1], "AttachmentIds": []}


def test_a_form_resource() -> None:
    form = parse_hal(FORM)
    formdata = form.link("formdata")
    assert formdata is not None
    assert formdata.mime_type == "application/xml"
    assert formdata.href.endswith("/formdata")
    assert form["DataFormatVersion"] == 10422
    assert not form.embedded


def test_reportees() -> None:
    reportees = parse_hal(REPORTEES)
    find = reportees.link("find")
    assert find is not None
    assert find.expand(reporteeId="r50170460") == f"{API}/reportees/r50170460"
    company, person = reportees.embedded_list("reportees")
    assert company.get("OrganizationNumber") == "910672991"
    assert company.get("SocialSecurityNumber") is None
    assert person.get("OrganizationNumber", "-") == "-"
    assert "SocialSecurityNumber" in person
    messages_link = company.link("messages")
    assert messages_link is not None
    assert messages_link.href == "https://altinn.no/api/r50170460/messages"
    with pytest.raises(KeyError):
        person["OrganizationNumber"]


def test_a_bare_json_array_of_resources() -> None:
    # Service-owner reportees with Accept: application/json: no HAL at all.
    items = parse_hal_array([{"Name": "A", "Type": "Enterprise"}, {"Name": "B", "Type": "Person"}])
    assert [item["Name"] for item in items] == ["A", "B"]
    assert all(not item.links for item in items)
    with pytest.raises(HALError) as info:
        parse_hal_array([{"Name": "A"}, "B"])
    assert info.value.path == "$[1]"
    with pytest.raises(HALError) as info:
        parse_hal_array({"Name": "A"})
    assert info.value.path == "$"


def test_standard_hal_spellings() -> None:
    resource = parse_hal(
        {
            "_links": {
                "search": {"href": "/s{?q}", "templated": True, "type": "application/hal+json"},
                "help": {"href": "/help", "title": "Help", "hreflang": "nb", "deprecation": "x"},
                "curies": [
                    {"name": "acme", "href": "https://docs.example/{rel}", "templated": True}
                ],
            }
        }
    )
    search = resource.link("search")
    assert search is not None
    assert search == Link(href="/s{?q}", templated=True, mime_type="application/hal+json")
    assert search.expand(q="a b") == "/s?q=a%20b"
    help_link = resource.link("help")
    assert help_link is not None
    assert help_link.title == "Help"
    assert help_link.attributes == {"hreflang": "nb", "deprecation": "x"}
    assert resource.link_arrays == {"curies"}
    curie = resource.link("curies")
    assert curie is not None
    assert curie.name == "acme"


def test_embedded_single_resource_array_and_empty() -> None:
    resource = parse_hal(
        {
            "Total": 3,
            "_embedded": {
                "owner": {"Name": "x", "_links": {"self": {"href": "/o"}}},
                "items": [{"Id": 1}, {"Id": 2, "_embedded": {"parts": [{"P": True}]}}],
                "none": [],
            },
        }
    )
    assert resource["Total"] == 3
    (owner,) = resource.embedded_list("owner")
    assert owner.self_url == "/o"
    first, second = resource.embedded_list("items")
    assert first.properties == {"Id": 1}
    assert second.embedded_list("parts")[0]["P"] is True
    assert resource.embedded_list("none") == ()
    assert resource.embedded_list("missing") == ()
    assert resource.self_url is None


def test_null_attributes_count_as_absent() -> None:
    link = parse_hal(
        {"_links": {"a": {"href": "/a", "name": None, "templated": None, "mime-type": None}}}
    ).link("a")
    assert link == Link(href="/a")


def test_type_wins_over_mime_type_when_both_are_sent() -> None:
    link = parse_hal({"_links": {"a": {"href": "/a", "type": "x/y", "mime-type": "z/w"}}}).link("a")
    assert link is not None
    assert link.mime_type == "x/y"


def test_equal_documents_parse_equal() -> None:
    assert parse_hal(json.loads(json.dumps(MESSAGE))) == parse_hal(MESSAGE)


# --- templates ----------------------------------------------------------------------------------


def templated(href: str) -> Link:
    return Link(href=href, templated=True)


@pytest.mark.parametrize(
    ("href", "variables", "expected"),
    [
        ("/m/{MessageId}", {"MessageId": "a 1/2"}, "/m/a%201%2F2"),
        ("/m{?language,top}", {"language": 1044}, "/m?language=1044"),
        (
            "/m{?language,markAsRead}",
            {"language": 1044, "markAsRead": False},
            "/m?language=1044&markAsRead=false",
        ),
        ("/m{?a,b}", {}, "/m"),
        ("/m{?a}", {"a": None}, "/m"),
        ("/m{?a}", {"a": ""}, "/m?a="),
        ("/m?x=1{&a,b}", {"b": "æ"}, "/m?x=1&b=%C3%A6"),
        ("/m{?ids}", {"ids": ["a,b", "c"]}, "/m?ids=a%2Cb,c"),
        ("/m{?ids}", {"ids": []}, "/m"),
        ("/m/{+path}", {"path": "a/b c"}, "/m/a/b%20c"),
        ("/m{#frag}", {"frag": "x,y"}, "/m#x,y"),
        ("/m{.ext}", {"ext": ["json", "z"]}, "/m.json,z"),
        ("/m{/a,b}", {"a": "x", "b": 2.5}, "/m/x/2.5"),
        ("/m{;p,q}", {"p": "", "q": 1}, "/m;p;q=1"),
        ("/m/{a.b}", {"a.b": "v"}, "/m/v"),
    ],
)
def test_expansion(href: str, variables: dict[str, object], expected: str) -> None:
    assert templated(href).expand(variables) == expected


def test_expansion_by_keyword_and_mapping() -> None:
    link = templated(f"{API}/{{who}}/messages/{{MessageId}}")
    assert link.expand({"who": "my"}, MessageId="a1") == f"{API}/my/messages/a1"


def test_a_link_that_is_not_templated_expands_to_itself() -> None:
    assert Link(href="/literal/{braces}").expand(anything=1) == "/literal/{braces}"


@pytest.mark.parametrize(
    ("href", "variables", "match"),
    [
        ("/m/{MessageId}", {}, "needs a value for MessageId"),
        ("/m/{MessageId}", {"MessageId": None}, "needs a value for MessageId"),
        ("/m/{MessageId}", {"MessageId": "a", "messageid": "b"}, "no variable messageid"),
        ("/m{?dateFrom}", {"datefrom": "2024"}, "no variable datefrom"),
        ("/m/{a}", {"a": {"b": 1}}, "string, number, boolean"),
        ("/m/{a}", {"a": [object()]}, "string, number, boolean"),
        ("/m/{a", {"a": 1}, "unbalanced"),
        ("/m/a}", {}, "unbalanced"),
        ("/m/{a*}", {"a": 1}, "modifiers are not supported"),
        ("/m/{a:3}", {"a": 1}, "modifiers are not supported"),
        ("/m/{}", {}, "not a variable name"),
        ("/m/{=a}", {"a": 1}, "reserved operator"),
    ],
)
def test_expansion_errors(href: str, variables: dict[str, object], match: str) -> None:
    with pytest.raises(HALError, match=match):
        templated(href).expand(variables)


# --- malformed documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "match"),
    [
        ([], "$", "resource must be a JSON object, not an array"),
        (None, "$", "not null"),
        ("HAL", "$", "not a string"),
        ({"_links": []}, "$._links", "_links must be a JSON object"),
        ({"_links": None}, "$._links", "not null"),
        ({"_links": {"self": "https://x"}}, "$._links.self", "a link must be"),
        ({"_links": {"self": {}}}, "$._links.self.href", "has none"),
        ({"_links": {"self": {"href": None}}}, "$._links.self.href", "has none"),
        ({"_links": {"self": {"href": 5}}}, "$._links.self.href", "is a number"),
        ({"_links": {"form": [{"href": "/f"}, 3]}}, "$._links.form[1]", "a link must be"),
        ({"_links": {"form": [{"href": "/f"}, {"name": "n"}]}}, "$._links.form[1].href", "href"),
        (
            {"_links": {"find": {"href": "/", "isTemplated": "true"}}},
            "$._links.find.isTemplated",
            "true or false",
        ),
        (
            {"_links": {"find": {"href": "/", "templated": 1}}},
            "$._links.find.templated",
            "true or false",
        ),
        (
            {"_links": {"print": {"href": "/", "mime-type": 1}}},
            '$._links.print["mime-type"]',
            "must be a string",
        ),
        ({"_links": {"a": {"href": "/", "name": ["n"]}}}, "$._links.a.name", "must be a string"),
        ({"_links": {"a": {"href": "/", "title": {}}}}, "$._links.a.title", "must be a string"),
        ({"_links": {"a b": {"href": 1}}}, '$._links["a b"].href', "href"),
        ({"_links": {"urn:x": True}}, '$._links["urn:x"]', "not a boolean"),
        ({"_embedded": []}, "$._embedded", "_embedded must be a JSON object"),
        ({"_embedded": {"messages": "x"}}, "$._embedded.messages", "embedded resource must be"),
        ({"_embedded": {"messages": [{}, 1]}}, "$._embedded.messages[1]", "not a number"),
        (
            {"_embedded": {"messages": [{}, {}, {}, {"_links": {"self": {"href": 5}}}]}},
            "$._embedded.messages[3]._links.self.href",
            "is a number",
        ),
        (
            {"_embedded": {"a": {"_embedded": {"b": [{"_links": []}]}}}},
            "$._embedded.a._embedded.b[0]._links",
            "_links",
        ),
    ],
)
def test_malformed_documents_say_where(document: object, path: str, match: str) -> None:
    with pytest.raises(HALError, match=match) as info:
        parse_hal(document)
    assert info.value.path == path
    assert path in str(info.value)
    assert isinstance(info.value, AltinnError)


def test_relations_that_are_not_strings() -> None:
    # Not JSON, but a Python caller can build it; still a HALError.
    with pytest.raises(HALError) as info:
        parse_hal({"_links": {1: {"href": "/"}}})
    assert info.value.path == "$._links[1]"
    with pytest.raises(HALError) as info:
        parse_hal({"_embedded": {None: {}}})
    assert info.value.path == "$._embedded[None]"


def test_embedding_too_deep_is_a_hal_error_not_a_recursion_error() -> None:
    document: dict[str, Any] = {}
    for _ in range(10_000):
        document = {"_embedded": {"x": document}}
    with pytest.raises(HALError, match="levels deep") as info:
        parse_hal(document)
    assert info.value.path == "$" + "._embedded.x" * 32 + "._embedded"


def test_deep_properties_are_not_walked() -> None:
    nested: Any = 1
    for _ in range(10_000):
        nested = [nested]
    assert parse_hal({"Deep": nested})["Deep"] is nested


# --- any JSON at all ----------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
KEYS = st.sampled_from(
    [
        "_links",
        "_embedded",
        "href",
        "templated",
        "isTemplated",
        "name",
        "title",
        "type",
        "mime-type",
        "self",
        "next",
    ]
) | st.text(max_size=5)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=30,
)
# Mostly well-formed HAL with arbitrary JSON mixed in at every level, so that errors turn up
# deep inside documents too, not only at the top.
RELS = st.sampled_from(["self", "next", "form", "attachment", "messages", "urn:x", "a b"])
LINK = st.fixed_dictionaries(
    {"href": st.text(max_size=8) | SCALARS},
    optional={
        "templated": st.booleans() | SCALARS,
        "isTemplated": st.booleans(),
        "name": st.text(max_size=3),
        "mime-type": st.text(max_size=3) | SCALARS,
        "fileName": JSON,
    },
)
LINKS = st.dictionaries(RELS, LINK | st.lists(LINK | JSON, max_size=3) | JSON, max_size=3)
HAL = st.recursive(
    st.dictionaries(st.text(max_size=3), JSON, max_size=3),
    lambda children: st.fixed_dictionaries(
        {},
        optional={
            "Name": JSON,
            "_links": LINKS | JSON,
            "_embedded": st.dictionaries(
                RELS, children | st.lists(children | JSON, max_size=3) | JSON, max_size=3
            )
            | JSON,
        },
    ),
    max_leaves=12,
)

VALID_LINK = st.fixed_dictionaries(
    {"href": st.text(max_size=8)},
    optional={"isTemplated": st.booleans(), "name": st.text(max_size=3), "filesize": JSON},
)
VALID_HAL = st.recursive(
    st.dictionaries(st.text(max_size=3), JSON, max_size=3),
    lambda children: st.fixed_dictionaries(
        {"_links": st.dictionaries(RELS, VALID_LINK | st.lists(VALID_LINK, max_size=3))},
        optional={"_embedded": st.dictionaries(RELS, children | st.lists(children, max_size=3))},
    ),
    max_leaves=8,
)


def resolve(document: object, path: str) -> None:
    """Check that every step of ``path`` but the last exists in ``document``."""
    steps = re.findall(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\]|\[(\d+)\]', path[1:])
    assert (
        "".join(f".{n}" if n else f"[{q}]" if q else f"[{i}]" for n, q, i in steps) == path[1:]
    ), path
    node = document
    for number, (name, quoted, index) in enumerate(steps):
        key: Any = name or (json.loads(quoted) if quoted else int(index))
        if number == len(steps) - 1 and isinstance(node, dict) and key not in node:
            return  # a member that is missing (an href) is where the problem is
        node = node[key]  # type: ignore[index]


@settings(max_examples=300, deadline=None)
@given(JSON | HAL | VALID_HAL)
def test_any_json_parses_or_raises_a_hal_error_saying_where(document: object) -> None:
    resource = hal_or_error(parse_hal, document)
    if isinstance(resource, HALError):
        assert resource.path in str(resource)
        resolve(document, resource.path)
        return
    assert isinstance(resource, HalResource)
    assert isinstance(document, dict)
    assert set(resource.properties) == set(document) - {"_links", "_embedded"}
    for rel, links in resource.links.items():
        sent = document["_links"][rel]
        assert [link.href for link in links] == [
            link["href"] for link in (sent if isinstance(sent, list) else [sent])
        ]
        assert (rel in resource.link_arrays) == isinstance(sent, list)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON | HAL, max_size=3) | JSON)
def test_any_json_array_parses_or_raises_a_hal_error(document: object) -> None:
    resources = hal_or_error(parse_hal_array, document)
    if isinstance(resources, HALError):
        resolve(document, resources.path)
    else:
        assert isinstance(document, list)
        assert len(resources) == len(document)


R = TypeVar("R")


def hal_or_error(parse: Callable[[object], R], document: object) -> R | HALError:
    # Anything but a HALError escapes and fails the test.
    try:
        return parse(document)
    except HALError as exc:
        return exc
