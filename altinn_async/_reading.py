"""Typed reads of the JSON objects Altinn's APIs answer: each value checked for its type, and a
value of the wrong type a `ResponseFormatError` that names its place (``$.content.attachments[2]
.checksum``), never a ``KeyError`` or a ``TypeError`` deep in a caller."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ._hal import json_kind
from ._redact import mask_pids
from ._times import parse_time
from .exceptions import ResponseFormatError

__all__ = ["JsonReader"]


class JsonReader:
    """Typed reads of one JSON object, each failure a `ResponseFormatError` naming its path.

    A reader of a member (`child`, `objects`) knows its place by its parent and its key, and
    writes its path out only when it is asked for it: reading a page makes a reader for every
    object in it, and an error in few.
    """

    __slots__ = ("_index", "_key", "_parent", "_path", "document")

    def __init__(self, document: object, path: str = "$") -> None:
        self._path: str | None = path
        self._parent: JsonReader | None = None
        self._key = ""
        self._index: int | None = None
        self.document: Mapping[str, Any] = self._object(document)

    @classmethod
    def _member(
        cls, document: object, parent: JsonReader, key: str, index: int | None = None
    ) -> JsonReader:
        reader = object.__new__(cls)
        reader._path = None
        reader._parent, reader._key, reader._index = parent, key, index
        reader.document = reader._object(document)
        return reader

    def _object(self, document: object) -> Mapping[str, Any]:
        if type(document) is dict or isinstance(document, Mapping):
            return document
        path = self.path
        raise ResponseFormatError(f"{path} is {json_kind(document)}, not an object", path=path)

    @property
    def path(self) -> str:
        """Where the object is in the answer: ``$.content.attachments[2]``."""
        path = self._path
        if path is None:
            parent = self._parent
            assert parent is not None  # noqa: S101 - a member's reader has its parent
            index = "" if self._index is None else f"[{self._index}]"
            path = self._path = f"{parent.path}.{self._key}{index}"
        return path

    def _fail(self, key: str, value: object, wanted: str) -> ResponseFormatError:
        path = f"{self.path}.{key}"
        return ResponseFormatError(f"{path} is {json_kind(value)}, not {wanted}", path=path)

    def text(self, key: str) -> str | None:
        value = self.document.get(key)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, value, "a string")
        return value

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if not value:
            path = f"{self.path}.{key}"
            raise ResponseFormatError(f"{path} is missing or empty", path=path)
        return value

    def flag(self, key: str) -> bool:
        value = self.document.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._fail(key, value, "a boolean")
        return value

    def integer(self, key: str) -> int | None:
        value = self.document.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._fail(key, value, "an integer")
        return value

    def time(self, key: str) -> datetime | None:
        text = self.text(key)
        if text is None:
            return None
        try:
            return parse_time(text)
        except ValueError:
            path = f"{self.path}.{key}"
            raise ResponseFormatError(
                f"{path} is {mask_pids(text)[:40]!r}, not a date-time with an offset", path=path
            ) from None

    def date(self, key: str) -> dt.date | None:
        text = self.text(key)
        if text is None:
            return None
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            path = f"{self.path}.{key}"
            raise ResponseFormatError(f"{path} is not a date (YYYY-MM-DD)", path=path) from None

    def _array(self, key: str) -> list[Any]:
        value = self.document.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, value, "an array")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._array(key)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self._fail(f"{key}[{index}]", value, "a string")
        return tuple(values)

    def objects(self, key: str) -> list[JsonReader]:
        member = JsonReader._member
        return [member(value, self, key, index) for index, value in enumerate(self._array(key))]

    def child(self, key: str) -> JsonReader | None:
        value = self.document.get(key)
        return None if value is None else JsonReader._member(value, self, key)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.document.get(key)
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping):
            raise self._fail(key, value, "an object")
        return MappingProxyType(dict(value))
