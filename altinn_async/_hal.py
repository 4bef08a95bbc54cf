"""HAL+JSON, as the Altinn 2 REST API writes it: links, link arrays, embedded resources, templates.

Pure functions over decoded JSON; no I/O. Altinn 2 departs from the HAL draft in small ways that
are accepted here: templated links say ``isTemplated`` (not ``templated``), a link's media type is
``mime-type`` (not ``type``), and ``form`` / ``attachment`` links are arrays of links carrying
extra attributes (``fileName``, ``encrypted``, ``filesize``, ...).
"""

from __future__ import annotations

import functools
import json
import re
import types
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias, TypeVar, cast

import attrs

from .exceptions import HALError

__all__ = ["HalResource", "Link", "parse_hal", "parse_hal_array"]

_LINKS: Final = "_links"
_EMBEDDED: Final = "_embedded"
# Embedding deeper than this is not HAL anyone writes; the limit keeps hostile input from
# turning into a RecursionError instead of a HALError.
_MAX_DEPTH: Final = 32
# Link attributes with a field of their own; every other attribute lands in Link.attributes.
_LINK_KEYS: Final = frozenset(
    ("href", "templated", "isTemplated", "name", "title", "type", "mime-type")
)
_EMPTY: Mapping[str, Any] = types.MappingProxyType({})
_NO_ARRAYS: frozenset[str] = frozenset()


@attrs.frozen
class Link:
    """One HAL link.

    Attributes:
        href: the URL, or a URI template when `templated` (as sent: may be relative).
        templated: whether `href` is an RFC 6570 template (HAL ``templated``, Altinn 2
            ``isTemplated``); use `expand`.
        name: the link's ``name`` (Altinn 2 names each ``form`` / ``attachment`` link).
        mime_type: the media type of the target (HAL ``type``, Altinn 2 ``mime-type``).
        title: the link's ``title``.
        attributes: every other attribute exactly as sent (``fileName``, ``encrypted``,
            ``filesize``, ``signinglocked``, ``signedbydefault``, ``deprecation``, ...).
    """

    href: str
    templated: bool = False
    name: str | None = None
    mime_type: str | None = None
    title: str | None = None
    attributes: Mapping[str, Any] = _EMPTY

    def expand(self, variables: Mapping[str, object] | None = None, /, **kwargs: object) -> str:
        """The URL with the template's variables filled in (RFC 6570 level 3, no modifiers).

        Values are percent-encoded; ``True``/``False`` become ``true``/``false`` and a list or
        tuple is joined with commas. A variable in a path-like expression (``{MessageId}``,
        ``{+path}``, ``{/seg}``, ``{.ext}``, ``{#frag}``) is required; in a query-like one
        (``{?dateFrom,dateTo}``, ``{&a}``, ``{;p}``) it is optional, and one that is missing or
        ``None`` is left out. A link that is not templated is returned unchanged.

        Args:
            variables: values by name, for names that are not Python identifiers.
            **kwargs: values by name.

        Raises:
            HALError: a required variable is missing, a name is not in the template (a typo
                would otherwise drop a filter silently), a value is not a string, number,
                boolean or list of them, or the template is malformed.
        """
        if not self.templated:
            return self.href
        values: dict[str, object] = dict(variables or {})
        values.update(kwargs)
        return _expand(self.href, values)


class HalResource:
    """A HAL resource: its properties, its links by relation and its embedded resources.

    Index it like a mapping for properties: ``message["MessageId"]``, ``message.get("DueDate")``
    (Altinn 2's PascalCase names, exactly as sent).

    A resource from `parse_hal` builds each part from `document` when it is first read, and
    keeps it: a page of 50 messages whose links nobody follows never makes a `Link`. The whole
    document was checked when it was parsed, so reading a part raises nothing, as long as
    `document` is left as it was (a part changed into something malformed in between raises
    `HALError` when it is read, with the path to it). The resource is read-only.

    Attributes:
        properties: every member except ``_links`` and ``_embedded``, as sent (nested values
            are the decoded JSON; they may be shared with `document`).
        links: links by relation; a single link and an array of links both become a tuple.
        embedded: embedded resources by relation; a single resource becomes a 1-tuple.
        link_arrays: the relations whose links were sent as an array (HAL's signal that there
            may be several, even when there is one).
        document: the decoded JSON this was parsed from, for storing or re-serializing it.
    """

    # None in a part's slot: not built yet (it is built from `_document`). `_origin` and
    # `_index` say where the resource is in the document that was parsed, for the path of an
    # error: `_origin` is None at the top, else (the parent's origin, the parent's index, the
    # relation), one tuple shared by all the resources of a relation; `_index` is the index in
    # an array (of a relation, or the array `parse_hal_array` read), or None.
    __slots__ = (
        "__weakref__",
        "_arrays",
        "_document",
        "_embedded",
        "_index",
        "_links",
        "_origin",
        "_properties",
    )
    __match_args__ = ("properties", "links", "embedded", "link_arrays", "document")

    _document: Mapping[str, Any]
    _properties: Mapping[str, Any] | None
    _links: Mapping[str, tuple[Link, ...]] | None
    _arrays: frozenset[str] | None
    _embedded: Mapping[str, tuple[HalResource, ...]] | None
    _origin: _Origin
    _index: int | None

    def __init__(
        self,
        properties: Mapping[str, Any],
        links: Mapping[str, tuple[Link, ...]] = _EMPTY,
        embedded: Mapping[str, tuple[HalResource, ...]] = _EMPTY,
        link_arrays: frozenset[str] = _NO_ARRAYS,
        document: Mapping[str, Any] = _EMPTY,
    ) -> None:
        self._properties = properties
        self._links = links
        self._embedded = embedded
        self._arrays = link_arrays
        self._document = document
        self._origin = self._index = None

    @property
    def properties(self) -> Mapping[str, Any]:
        """Every member except ``_links`` and ``_embedded``."""
        properties = self._properties
        if properties is None:
            document = self._document
            if _LINKS in document or _EMBEDDED in document:
                properties = {k: v for k, v in document.items() if k not in _HAL_KEYS}
            else:
                # Plain objects (every item of an Altinn 2 bare-array list) cost no copy.
                properties = document
            self._properties = properties
        return properties

    @property
    def links(self) -> Mapping[str, tuple[Link, ...]]:
        """Links by relation."""
        links = self._links
        if links is None:
            links, self._arrays = self._read_links()
            self._links = links
        return links

    @property
    def link_arrays(self) -> frozenset[str]:
        """The relations whose links were sent as an array."""
        arrays = self._arrays
        if arrays is None:
            self._links, arrays = self._read_links()
            self._arrays = arrays
        return arrays

    @property
    def embedded(self) -> Mapping[str, tuple[HalResource, ...]]:
        """Embedded resources by relation."""
        embedded = self._embedded
        if embedded is None:
            embedded = self._read_embedded()
            self._embedded = embedded
        return embedded

    @property
    def document(self) -> Mapping[str, Any]:
        """The decoded JSON this was parsed from."""
        return self._document

    def _read_links(self) -> tuple[Mapping[str, tuple[Link, ...]], frozenset[str]]:
        if _LINKS not in self._document:
            return _EMPTY, _NO_ARRAYS
        try:
            return _links(self._document[_LINKS])
        except _Malformed as bad:
            raise bad.error(self._path()) from None

    def _read_embedded(self) -> Mapping[str, tuple[HalResource, ...]]:
        if _EMBEDDED not in self._document:
            return _EMPTY

        here = self._origin, self._index

        def children(rel: str) -> Callable[[dict[Any, Any], int | None], HalResource]:
            # One origin for every resource of the relation; one call to make each.
            return functools.partial(_parsed, (*here, rel))

        try:
            return _embedded(self._document[_EMBEDDED], _depth(self._origin), children)
        except _Malformed as bad:
            raise bad.error(self._path()) from None

    def _path(self) -> str:
        # Where this resource is in the document it was parsed from: "$._embedded.messages[3]".
        segments = []
        origin, index = self._origin, self._index
        while origin is not None:
            parent, parent_index, rel = origin
            segments.append(f"._embedded{_member(rel)}" + ("" if index is None else f"[{index}]"))
            origin, index = parent, parent_index
        return ("$" if index is None else f"$[{index}]") + "".join(reversed(segments))

    def link(self, rel: str) -> Link | None:
        """The first link of relation ``rel``, or ``None``."""
        found = self.links.get(rel)
        return found[0] if found else None

    def links_for(self, rel: str) -> tuple[Link, ...]:
        """Every link of relation ``rel`` (empty when there is none)."""
        return self.links.get(rel, ())

    def embedded_list(self, rel: str) -> tuple[HalResource, ...]:
        """Every embedded resource of relation ``rel`` (empty when there is none)."""
        return self.embedded.get(rel, ())

    @property
    def self_url(self) -> str | None:
        """The ``self`` link's href, or ``None`` when the resource has none."""
        link = self.link("self")
        return None if link is None else link.href

    # Reading one property reads the document itself: building `properties` (a copy without
    # the links) for every message of a page just to look up its MessageId would be the cost
    # this class exists to avoid.

    def __getitem__(self, name: str) -> Any:
        properties = self._properties
        if properties is not None:
            return properties[name]
        if name in _HAL_KEYS:
            raise KeyError(name)
        return self._document[name]

    def __contains__(self, name: object) -> bool:
        properties = self._properties
        if properties is not None:
            return name in properties
        return name not in _HAL_KEYS and name in self._document

    def get(self, name: str, default: Any = None) -> Any:
        """A property, or ``default`` when the resource does not have it."""
        properties = self._properties
        if properties is not None:
            return properties.get(name, default)
        if name in _HAL_KEYS:
            return default
        return self._document.get(name, default)

    def __eq__(self, other: object) -> bool:
        # The parts, not the document they came from (equal documents parse equal).
        if not isinstance(other, HalResource) or other.__class__ is not self.__class__:
            return NotImplemented
        return (self.properties, self.links, self.embedded, self.link_arrays) == (
            other.properties,
            other.links,
            other.embedded,
            other.link_arrays,
        )

    # Equal by parts that are dicts: not hashable (nor was the attrs class this used to be).
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"HalResource(properties={self.properties!r}, links={self.links!r}, "
            f"embedded={self.embedded!r}, link_arrays={self.link_arrays!r})"
        )


_Origin: TypeAlias = "tuple[_Origin, int | None, str] | None"
_HAL_KEYS: Final = frozenset((_LINKS, _EMBEDDED))


def _parsed(origin: _Origin, document: dict[Any, Any], index: int | None) -> HalResource:
    # A resource that builds its parts from a checked document when they are read (made
    # without __init__, whose arguments are the parts themselves).
    resource = object.__new__(HalResource)
    resource._document = document
    resource._properties = resource._links = resource._arrays = resource._embedded = None
    resource._origin = origin
    resource._index = index
    return resource


def _depth(origin: _Origin) -> int:
    # How deep a resource at ``origin`` is embedded (0: the document, or an item of an array).
    depth = 0
    while origin is not None:
        origin = origin[0]
        depth += 1
    return depth


def parse_hal(document: object) -> HalResource:
    """Read a decoded HAL+JSON document.

    The whole document is checked here; the resource's parts are built when they are read.

    Args:
        document: what ``json.loads`` (or ``response.json()``) returned.

    Raises:
        HALError: the document is not a HAL resource; ``path`` says where, for example
            ``$._embedded.messages[3]._links.self.href``. No other exception escapes, whatever
            the JSON.
    """
    if not _sound(document, 0):
        try:
            _check(document, 0)
        except _Malformed as bad:
            raise bad.error("$") from None
    return _parsed(None, cast("dict[Any, Any]", document), None)


def parse_hal_array(document: object) -> list[HalResource]:
    """Read a JSON array of HAL resources (Altinn 2 with ``Accept: application/json``).

    Raises:
        HALError: as `parse_hal`; the path starts at the array (``$[3].Name``).
    """
    if not isinstance(document, list):
        raise _Malformed(f"expected an array of resources, not {json_kind(document)}").error("$")
    resources = []
    for index, item in enumerate(document):
        if not _sound(item, 0):
            try:
                _check(item, 0)
            except _Malformed as bad:
                bad.segments.append(f"[{index}]")
                raise bad.error("$") from None
        resources.append(_parsed(None, cast("dict[Any, Any]", item), index))
    return resources


class _Malformed(Exception):  # noqa: N818 - internal signal, never escapes this module
    # The path is collected on the way out (each level adds its segment), so parsing a good
    # document builds no path strings at all.
    def __init__(self, message: str, *segments: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments = list(segments)

    def error(self, root: str) -> HALError:
        path = root + "".join(reversed(self.segments))
        return HALError(f"malformed HAL+JSON at {path}: {self.message}", path=path)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _member(name: object) -> str:
    if isinstance(name, str):
        if _IDENTIFIER.fullmatch(name):
            return f".{name}"
        return f"[{json.dumps(name, ensure_ascii=False)}]"
    return f"[{name!r}]"


def json_kind(value: object) -> str:
    """How a JSON value is called in a message: "null", "a number", "an array", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kinds, name in _KINDS:
        if isinstance(value, kinds):
            return name
    return type(value).__name__


_KINDS: Final = (
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)

# --- checking a whole document ------------------------------------------------------------------
#
# Two walks say whether a document is HAL. `_sound` is the quick one every parse takes: a yes
# or no, looking only at the types of what HAL defines (plain JSON types exactly; anything
# else it leaves to the other walk). When it says no, `_check` walks again, slowly, with the
# same rules as the parts are built by, to say what is wrong and where. `_sound` must never say
# yes to a document `_check` refuses; the tests hold the two to that on any JSON.

_ABSENT: Final = object()
# The link attributes with a type: a JSON null counts as absent.
_ATTRIBUTE_TYPES: Final[Mapping[object, type]] = {
    "templated": bool,
    "isTemplated": bool,
    "name": str,
    "title": str,
    "type": str,
    "mime-type": str,
}


def _sound(document: object, depth: int) -> bool:
    if type(document) is not dict:
        return False
    links = document.get(_LINKS, _ABSENT)
    if links is not _ABSENT and not _sound_links(links):
        return False
    embedded = document.get(_EMBEDDED, _ABSENT)
    return embedded is _ABSENT or _sound_embedded(embedded, depth)


def _sound_embedded(embedded: object, depth: int) -> bool:
    if type(embedded) is not dict or depth >= _MAX_DEPTH:
        return False
    for rel, entry in embedded.items():
        if type(rel) is not str:
            return False
        for item in entry if type(entry) is list else (entry,):
            if not _sound(item, depth + 1):
                return False
    return True


def _sound_links(links: object) -> bool:
    if type(links) is not dict:
        return False
    for rel, entry in links.items():
        if type(rel) is not str:
            return False
        if type(entry) is dict:
            # The usual case, inline: one call fewer for each of a page's hundreds of links.
            if type(entry.get("href")) is not str or (
                len(entry) > 1 and not _sound_attributes(entry)
            ):
                return False
        elif type(entry) is not list or not all(map(_sound_link, entry)):
            return False
    return True


def _sound_link(link: object) -> bool:
    return (
        type(link) is dict
        and type(link.get("href")) is str
        and (len(link) == 1 or _sound_attributes(link))
    )


def _sound_attributes(link: dict[Any, Any]) -> bool:
    for key, value in link.items():
        kind = _ATTRIBUTE_TYPES.get(key)
        if kind is not None and value is not None and type(value) is not kind:
            return False
    return True


def _check(document: object, depth: int) -> None:
    # Raises _Malformed where the document is not HAL, by the rules the parts are built by.
    if not isinstance(document, dict):
        raise _Malformed(f"a resource must be a JSON object, not {json_kind(document)}")
    if _LINKS in document:
        _links(document[_LINKS])
    if _EMBEDDED in document:
        # _embedded checks the member's shape; each object in it is checked one level down.
        def walk(item: dict[Any, Any], index: int | None) -> None:
            _check(item, depth + 1)

        _embedded(document[_EMBEDDED], depth, lambda rel: walk)


# --- building the parts -------------------------------------------------------------------------


def _links(value: object) -> tuple[Mapping[str, tuple[Link, ...]], frozenset[str]]:
    if not isinstance(value, dict):
        raise _Malformed(f"_links must be a JSON object, not {json_kind(value)}", "._links")
    links: dict[str, tuple[Link, ...]] = {}
    arrays: set[str] | None = None
    for rel, entry in value.items():
        try:
            links[_relation(rel)] = _link_entry(entry)
        except _Malformed as bad:
            bad.segments.extend((_member(rel), "._links"))
            raise
        if isinstance(entry, list):
            if arrays is None:
                arrays = set()
            arrays.add(rel)
    return links, (_NO_ARRAYS if arrays is None else frozenset(arrays))


def _relation(rel: object) -> str:
    if not isinstance(rel, str):
        raise _Malformed("a relation must be a string")
    return rel


def _link_entry(entry: object) -> tuple[Link, ...]:
    if isinstance(entry, dict):
        return (_link(entry),)
    if isinstance(entry, list):
        return tuple(_link_in_array(item, index) for index, item in enumerate(entry))
    raise _Malformed(f"a link must be a JSON object or an array of them, not {json_kind(entry)}")


def _link_in_array(item: object, index: int) -> Link:
    try:
        return _link(item)
    except _Malformed as bad:
        bad.segments.append(f"[{index}]")
        raise


def _link(value: object) -> Link:
    if not isinstance(value, dict):
        raise _Malformed(f"a link must be a JSON object, not {json_kind(value)}")
    href = value.get("href")
    if not isinstance(href, str):
        what = "has none" if href is None else f"is {json_kind(href)}"
        raise _Malformed(f"a link needs a string href; it {what}", ".href")
    if len(value) == 1:
        return Link(href)  # most links are nothing but an href
    # Both spellings are read (and so checked) even when the first one settles the answer.
    templated, is_templated = _flag(value, "templated"), _flag(value, "isTemplated")
    hal_type, altinn_type = _text(value, "type"), _text(value, "mime-type")
    attributes = _EMPTY
    if not value.keys() <= _LINK_KEYS:
        attributes = {k: v for k, v in value.items() if k not in _LINK_KEYS}
    return Link(
        href=href,
        templated=templated or is_templated,
        name=_text(value, "name"),
        mime_type=altinn_type if hal_type is None else hal_type,
        title=_text(value, "title"),
        attributes=attributes,
    )


def _flag(link: dict[Any, Any], key: str) -> bool:
    value = link.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise _Malformed(f"{key} must be true or false, not {json_kind(value)}", _member(key))


def _text(link: dict[Any, Any], key: str) -> str | None:
    value = link.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{key} must be a string, not {json_kind(value)}", _member(key))


R = TypeVar("R")
_Make: TypeAlias = Callable[[dict[Any, Any], int | None], R]


def _embedded(
    value: object, depth: int, maker: Callable[[str], _Make[R]]
) -> Mapping[str, tuple[R, ...]]:
    """``_embedded`` of a resource at ``depth``; ``maker(rel)`` makes the embedded objects
    of a relation (from each object and its index in an array, None for a single one)."""
    if not isinstance(value, dict):
        raise _Malformed(f"_embedded must be a JSON object, not {json_kind(value)}", "._embedded")
    if depth >= _MAX_DEPTH:
        raise _Malformed(f"resources are embedded more than {_MAX_DEPTH} levels deep", "._embedded")
    embedded: dict[str, tuple[R, ...]] = {}
    for rel, entry in value.items():
        try:
            name = _relation(rel)
            embedded[name] = _embedded_entry(entry, maker(name))
        except _Malformed as bad:
            bad.segments.extend((_member(rel), "._embedded"))
            raise
    return embedded


def _embedded_entry(entry: object, make: _Make[R]) -> tuple[R, ...]:
    if isinstance(entry, dict):
        return (make(entry, None),)
    if not isinstance(entry, list):
        raise _Malformed(
            "an embedded resource must be a JSON object or an array of them, not "
            f"{json_kind(entry)}"
        )
    made = []
    for index, item in enumerate(entry):
        if not isinstance(item, dict):
            kind = json_kind(item)
            raise _Malformed(f"a resource must be a JSON object, not {kind}", f"[{index}]")
        try:
            made.append(make(item, index))
        except _Malformed as bad:
            bad.segments.append(f"[{index}]")
            raise
    return tuple(made)


# --- RFC 6570 expansion -------------------------------------------------------------------------

_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARNAME = re.compile(r"(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*")
_RESERVED = ":/?#[]@!$&'()*+,;="


@attrs.frozen
class _Operator:
    first: str
    separator: str
    named: bool
    if_empty: str
    allow_reserved: bool

    @property
    def optional(self) -> bool:
        # Query-like expressions are where optional filters live; leaving a path segment
        # empty would produce a different URL, so those variables are required.
        return self.named


_OPERATORS: Final = {
    "": _Operator("", ",", named=False, if_empty="", allow_reserved=False),
    "+": _Operator("", ",", named=False, if_empty="", allow_reserved=True),
    "#": _Operator("#", ",", named=False, if_empty="", allow_reserved=True),
    ".": _Operator(".", ".", named=False, if_empty="", allow_reserved=False),
    "/": _Operator("/", "/", named=False, if_empty="", allow_reserved=False),
    ";": _Operator(";", ";", named=True, if_empty="", allow_reserved=False),
    "?": _Operator("?", "&", named=True, if_empty="=", allow_reserved=False),
    "&": _Operator("&", "&", named=True, if_empty="=", allow_reserved=False),
}


def _expand(template: str, values: Mapping[str, object]) -> str:
    used: set[str] = set()

    def expression(match: re.Match[str]) -> str:
        return _expression(template, match.group(1), values, used)

    expanded = _EXPRESSION.sub(expression, template)
    # What is left of the template (outside expressions) must not hold a stray brace.
    if "{" in _EXPRESSION.sub("", template) or "}" in _EXPRESSION.sub("", template):
        raise HALError(f"the URI template {template!r} has an unbalanced brace")
    unknown = sorted(set(values) - used)
    if unknown:
        raise HALError(f"the URI template {template!r} has no variable {', '.join(unknown)}")
    return expanded


def _expression(template: str, body: str, values: Mapping[str, object], used: set[str]) -> str:
    operator = _OPERATORS.get(body[:1])
    names = body[1:] if operator is not None and body[:1] else body
    if operator is None:
        operator = _OPERATORS[""]
        if body[:1] in "=,!@|":
            raise HALError(f"the URI template {template!r} uses a reserved operator {body[:1]!r}")
    parts: list[str] = []
    for name in names.split(","):
        if not _VARNAME.fullmatch(name):
            raise HALError(
                f"the URI template {template!r} has {name!r}, which is not a variable name "
                f"(prefix and explode modifiers are not supported)"
            )
        used.add(name)
        texts = _texts(template, name, values.get(name))
        if texts is None:
            if operator.optional:
                continue
            raise HALError(f"the URI template {template!r} needs a value for {name}")
        safe = _RESERVED + "%" if operator.allow_reserved else ""
        # A list's items are encoded one by one: the commas between them stay literal.
        encoded = ",".join(urllib.parse.quote(text, safe=safe) for text in texts)
        if operator.named:
            parts.append(f"{name}={encoded}" if encoded else name + operator.if_empty)
        else:
            parts.append(encoded)
    return operator.first + operator.separator.join(parts) if parts else ""


def _texts(template: str, name: str, value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        if not value:
            return None  # RFC 6570: an empty list is undefined
        return [_scalar(template, name, item) for item in value]
    return [_scalar(template, name, value)]


def _scalar(template: str, name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise HALError(
        f"the value for {name} in {template!r} must be a string, number, boolean or a list of "
        f"them, not {type(value).__name__}"
    )
