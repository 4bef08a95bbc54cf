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
from altinn_async import _hal as hal
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


def test_a_parsed_resource_equals_one_built_by_hand() -> None:
    by_hand = HalResource(
        properties={"Type": "MainForm", "Name": "Skattemelding"},
        links={
            "self": (Link(href="/forms/1"),),
            "formdata": (Link(href="/forms/1/formdata", mime_type="application/xml"),),
        },
    )
    parsed = parse_hal(
        {
            "Type": "MainForm",
            "Name": "Skattemelding",
            "_links": {
                "self": {"href": "/forms/1"},
                "formdata": {"href": "/forms/1/formdata", "mime-type": "application/xml"},
            },
        }
    )
    assert parsed == by_hand
    assert repr(parsed) == repr(by_hand)
    assert parsed != HalResource(properties={"Type": "MainForm", "Name": "Skattemelding"})
    assert by_hand["Name"] == "Skattemelding"
    assert by_hand.get("DataFormatId", "-") == "-"
    assert "Type" in by_hand
    assert by_hand.document == {}


def test_a_resource_is_read_only() -> None:
    resource = parse_hal(FORM)
    with pytest.raises(AttributeError):
        resource.links = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        resource.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        hash(resource)


def test_the_hal_members_are_not_properties_whatever_is_read_first() -> None:
    for read_properties_first in (False, True):
        message = parse_hal(MESSAGES).embedded_list("messages")[0]
        if read_properties_first:
            assert "_links" not in message.properties
        assert "_links" not in message
        assert message.get("_links") is None
        with pytest.raises(KeyError):
            message["_links"]
        assert message["MessageId"] == "a385107"
        assert message.get("Status") == "Ulest"
        assert "Subject" in message


# --- parts built when they are read -------------------------------------------------------------


def page_of_messages(count: int) -> dict[str, Any]:
    """A message list like Altinn 2's, ``count`` messages each with three links."""
    messages = [
        {
            "MessageId": f"a{index}",
            "_links": {
                "self": {"href": f"{API}/my/messages/a{index}"},
                "print": {"href": f"{API}/my/messages/a{index}/print", "mime-type": "x/y"},
                "metadata": {"href": f"{API}/metadata/correspondence/1/1"},
            },
        }
        for index in range(count)
    ]
    return {"_links": {"self": {"href": f"{API}/my/messages"}}, "_embedded": {"messages": messages}}


def test_links_nobody_reads_are_never_made(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: the parser made every Link of a page (3 per message here) whether or not
    # they were read; reading the messages' ids must make none.
    made: list[Link] = []

    def counted(*args: Any, **kwargs: Any) -> Link:
        made.append(Link(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(hal, "Link", counted)
    page = parse_hal(page_of_messages(50))
    messages = page.embedded_list("messages")
    assert [message["MessageId"] for message in messages] == [f"a{i}" for i in range(50)]
    assert made == []
    assert messages[7].self_url == f"{API}/my/messages/a7"
    assert len(made) == 3  # that message's links, and no other's
    assert page.link("self") is not None
    assert len(made) == 4


def test_a_part_broken_after_parsing_is_a_hal_error_with_its_path_when_read() -> None:
    # The document is checked when it is parsed and the parts are built from it when read: a
    # part changed into something malformed in between is a HALError then, never a bare error.
    document = page_of_messages(5)
    page = parse_hal(document)
    items = document["_embedded"]["messages"]
    items[3]["_links"]["self"] = {"href": 5}
    items[4]["_embedded"] = {"forms": [{"Name": "ok"}, "not an object"]}
    document["_links"] = []
    messages = page.embedded_list("messages")  # the embedded part is still good
    with pytest.raises(HALError, match="is a number") as info:
        messages[3].links  # noqa: B018
    assert info.value.path == "$._embedded.messages[3]._links.self.href"
    with pytest.raises(HALError) as info:
        messages[3].link_arrays  # noqa: B018
    assert info.value.path == "$._embedded.messages[3]._links.self.href"
    with pytest.raises(HALError, match="not a string") as info:
        messages[4].embedded_list("forms")
    assert info.value.path == "$._embedded.messages[4]._embedded.forms[1]"
    with pytest.raises(HALError, match="_links must be a JSON object") as info:
        page.link("self")
    assert info.value.path == "$._links"
    assert messages[2].self_url == f"{API}/my/messages/a2"  # what is still good reads


def test_a_part_broken_after_parsing_an_array_names_the_item() -> None:
    document: list[Any] = [{"Name": "A"}, {"Name": "B", "_links": {"self": {"href": "/b"}}}]
    first, second = parse_hal_array(document)
    document[1]["_links"]["self"]["templated"] = "yes"
    with pytest.raises(HALError) as info:
        second.link("self")
    assert info.value.path == "$[1]._links.self.templated"
    assert first["Name"] == "A"


def test_deep_embedding_built_on_reading_says_where_it_is() -> None:
    document: dict[str, Any] = {"Level": 0}
    for level in range(1, 30):
        document = {"Level": level, "_embedded": {"inner": [{"Skip": True}, document]}}
    resource = parse_hal(document)
    path = "$"
    while resource.embedded:
        resource = resource.embedded_list("inner")[1]
        path += "._embedded.inner[1]"
    assert resource["Level"] == 0
    resource.document["_links"] = {"self": {}}  # type: ignore[index]
    with pytest.raises(HALError) as info:
        resource.links  # noqa: B018
    assert info.value.path == path + "._links.self.href"


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


def read_whole(resource: HalResource) -> int:
    """Read every part of ``resource`` and of everything embedded in it; how many resources."""
    count = 1
    assert isinstance(resource.properties, dict)
    assert all(isinstance(link, Link) for links in resource.links.values() for link in links)
    assert resource.link_arrays <= set(resource.links)
    for items in resource.embedded.values():
        count += sum(read_whole(item) for item in items)
    return count


@settings(max_examples=300, deadline=None)
@given(JSON | HAL | VALID_HAL)
def test_the_quick_check_and_the_careful_one_agree_on_any_json(document: object) -> None:
    # parse_hal trusts the quick check (hal._sound) when it says yes, and lets the careful one
    # (hal._check, the rules the parts are built by) find the fault when it says no: on JSON
    # they must agree, or a malformed document would parse and fail later, when read.
    try:
        hal._check(document, 0)
    except hal._Malformed:
        careful = False
    else:
        careful = True
    assert hal._sound(document, 0) is careful
    if careful:
        assert read_whole(parse_hal(document)) >= 1


def test_the_quick_check_leaves_what_is_not_plain_json_to_the_careful_one() -> None:
    class Text(str):
        __slots__ = ()

    class Object(dict[str, Any]):
        pass

    for document in (
        {"_links": {"self": {"href": Text("/a")}}},
        Object(_links={"self": Object(href="/a")}),
        {"_embedded": {"items": [Object(Name="x")]}},
    ):
        assert not hal._sound(document, 0)
        assert read_whole(parse_hal(document)) >= 1
