"""The typed JSON reader: each value checked for its type, each failure naming its place."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from altinn_async import ResponseFormatError
from altinn_async._reading import JsonReader

ANSWER: dict[str, Any] = {
    "id": "x",
    "content": {"attachments": [{"id": "a"}, {"id": "b", "checksum": 5}]},
    "replyOptions": [{"linkText": "Svar"}, 7],
}


def test_a_members_reader_names_its_place() -> None:
    content = JsonReader(ANSWER).child("content")
    assert content is not None
    first, second = content.objects("attachments")
    assert first.text("id") == "a"
    assert second.path == "$.content.attachments[1]"
    with pytest.raises(ResponseFormatError, match="checksum is a number") as info:
        second.text("checksum")
    assert info.value.path == "$.content.attachments[1].checksum"
    assert content.path == "$.content"


def test_a_member_that_is_not_an_object_is_a_format_error_at_its_path() -> None:
    reader = JsonReader(ANSWER, "$.items[3]")
    with pytest.raises(ResponseFormatError, match=r"replyOptions\[1\] is a number") as info:
        reader.objects("replyOptions")
    assert info.value.path == "$.items[3].replyOptions[1]"
    with pytest.raises(ResponseFormatError, match="not an object") as info:
        reader.child("id")
    assert info.value.path == "$.items[3].id"
    with pytest.raises(ResponseFormatError) as info:
        JsonReader(["not", "an", "object"], "$.items[0]")
    assert info.value.path == "$.items[0]"


def test_any_mapping_is_an_object() -> None:
    reader = JsonReader(OrderedDict(id="x", nested=OrderedDict(flag=True)))
    nested = reader.child("nested")
    assert nested is not None
    assert nested.flag("flag") is True
    assert reader.required_text("id") == "x"
