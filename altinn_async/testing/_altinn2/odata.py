"""The OData v3 query options of the Altinn 2 REST API: ``$filter``, ``$orderby``, ``$top`` and
``$skip``, as ASP.NET Web API's ``[Queryable]`` applies them to a list.

``$filter`` supports ``eq``, ``ne``, ``gt``, ``ge``, ``lt``, ``le``, ``and``, ``or``, ``not``,
parentheses, string, number, ``true``/``false``/``null``, ``DateTime'…'``,
``DateTimeOffset'…'`` and ``guid'…'`` literals, and the functions ``substringof``,
``startswith``, ``endswith``, ``tolower``, ``toupper``, ``trim``, ``length``, ``year``,
``month`` and ``day``. Property names and keywords are case-sensitive, as in Web API OData.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

MAX_TOP = 10_000

Expr = Callable[[Mapping[str, Any]], Any]
"""A compiled expression: evaluates against an item's properties."""

ToLocal = Callable[[dt.datetime], dt.datetime]
"""Turns an aware ``DateTimeOffset'…'`` value into the naive local time properties use."""

# Property and literal types; "null" is the type of the null literal only.
STRING, NUMBER, DATETIME, BOOL, GUID, NULL = "string", "number", "datetime", "bool", "guid", "null"
_EDM = {
    STRING: "Edm.String",
    NUMBER: "Edm.Int32",
    DATETIME: "Edm.DateTime",
    BOOL: "Edm.Boolean",
    GUID: "Edm.Guid",
    NULL: "null",
}
_OPERATORS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<typed>(?i:datetimeoffset|datetime|guid)'(?:[^']|'')*')
     |(?P<string>'(?:[^']|'')*')
     |(?P<number>-?\d+(?:\.\d+)?[mMdDfFlL]?(?![A-Za-z_]))
     |(?P<name>[A-Za-z_][A-Za-z0-9_.]*)
     |(?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_SORTABLE = (STRING, NUMBER, DATETIME, BOOL, GUID)


class ODataError(Exception):
    """A query option Web API OData refuses; the message is the reason phrase of the 400."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # typed, string, number, name, punct, end
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        found = _TOKEN.match(text, position)
        if found is None or found.lastgroup is None:
            start = len(text) - len(text[position:].lstrip())
            raise ODataError(f"Syntax error at position {start} in '{text}'.")
        kind = found.lastgroup
        tokens.append(_Token(kind, found.group(kind), found.start(kind)))
        position = found.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def parse_datetime(value: str, to_local: ToLocal) -> dt.datetime:
    """An OData ``DateTime``/``DateTimeOffset`` literal's text as a naive local time.

    Raises:
        ValueError: not an ISO-8601 date or date-time.
    """
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        return to_local(moment)
    return moment


def _typed_literal(token: _Token, text: str, to_local: ToLocal) -> tuple[Any, str]:
    prefix, _, rest = token.text.partition("'")
    value = _unquote("'" + rest)
    kind = prefix.lower()
    if kind == "guid":
        if not re.fullmatch(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", value):
            raise ODataError(
                f"Unrecognized 'Edm.Guid' literal '{token.text}' at '{token.position}' in '{text}'."
            )
        return value.lower(), GUID
    try:
        return parse_datetime(value, to_local), DATETIME
    except ValueError:
        edm = "Edm.DateTimeOffset" if kind == "datetimeoffset" else "Edm.DateTime"
        raise ODataError(
            f"Unrecognized '{edm}' literal '{token.text}' at '{token.position}' in '{text}'."
        ) from None


def _number(text: str) -> int | float:
    stripped = text.rstrip("mMdDfFlL")
    return float(stripped) if "." in stripped else int(stripped)


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: bool(a > b),
    "ge": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "le": lambda a, b: bool(a <= b),
}


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator == "eq":
        return bool(left == right)
    if operator == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    return _ORDERINGS[operator](left, right)


def _string_function(
    name: str, arguments: list[tuple[Expr, str]], function: Callable[[str], Any], result: str
) -> tuple[Expr, str]:
    _check_arity(name, arguments, 1)
    ((argument, kind),) = arguments
    _check_type(name, kind, STRING)

    def evaluate(props: Mapping[str, Any]) -> Any:
        value = argument(props)
        return None if value is None else function(value)

    return evaluate, result


def _check_arity(name: str, arguments: Sequence[tuple[Expr, str]], count: int) -> None:
    if len(arguments) != count:
        raise ODataError(
            f"The function '{name}' takes {count} argument(s), but {len(arguments)} were given."
        )


def _check_type(name: str, kind: str, expected: str) -> None:
    if kind not in (expected, NULL):
        raise ODataError(
            f"No function signature for the function with name '{name}' matches the specified "
            f"arguments. The function signatures considered are: {name}({_EDM[expected]})."
        )


class _FilterParser:
    def __init__(
        self, text: str, schema: Mapping[str, str], type_name: str, to_local: ToLocal
    ) -> None:
        self._text = text
        self._tokens = _tokenize(text)
        self._index = 0
        self._schema = schema
        self._type_name = type_name
        self._to_local = to_local

    def parse(self) -> Expr:
        expression, kind = self._or()
        if self._peek().kind != "end":
            self._syntax_error()
        if kind != BOOL:
            raise ODataError("The $filter expression must evaluate to a single boolean value.")
        return expression

    # -- tokens ----------------------------------------------------------------------------

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "name" and token.text == word:
            self._index += 1
            return True
        return False

    def _punct(self, char: str) -> bool:
        token = self._peek()
        if token.kind == "punct" and token.text == char:
            self._index += 1
            return True
        return False

    def _syntax_error(self) -> NoReturn:
        raise ODataError(f"Syntax error at position {self._peek().position} in '{self._text}'.")

    # -- grammar ---------------------------------------------------------------------------

    def _or(self) -> tuple[Expr, str]:
        left, kind = self._and()
        while self._keyword("or"):
            right, right_kind = self._and()
            self._check_logical("Or", kind, right_kind)
            left, kind = _either(left, right), BOOL
        return left, kind

    def _and(self) -> tuple[Expr, str]:
        left, kind = self._unary()
        while self._keyword("and"):
            right, right_kind = self._unary()
            self._check_logical("And", kind, right_kind)
            left, kind = _both(left, right), BOOL
        return left, kind

    def _unary(self) -> tuple[Expr, str]:
        if self._keyword("not"):
            operand, kind = self._unary()
            if kind != BOOL:
                raise ODataError(
                    f"A unary operator with an incompatible type was detected. Found operand "
                    f"type '{_EDM[kind]}' for operator kind 'Not'."
                )
            return (lambda props: operand(props) is not True), BOOL
        return self._comparison()

    def _comparison(self) -> tuple[Expr, str]:
        left, left_kind = self._primary()
        token = self._peek()
        if token.kind != "name" or token.text not in _OPERATORS:
            return left, left_kind
        self._index += 1
        operator = token.text
        right, right_kind = self._primary()
        if NULL not in (left_kind, right_kind) and left_kind != right_kind:
            raise ODataError(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{_EDM[left_kind]}' and '{_EDM[right_kind]}' for operator kind "
                f"'{_OPERATORS[operator]}'."
            )
        if GUID in (left_kind, right_kind):
            return _guid_comparison(operator, left, right), BOOL
        return (lambda props: _compare(operator, left(props), right(props))), BOOL

    def _check_logical(self, operator: str, left: str, right: str) -> None:
        if left != BOOL or right != BOOL:
            raise ODataError(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{_EDM[left]}' and '{_EDM[right]}' for operator kind '{operator}'."
            )

    def _primary(self) -> tuple[Expr, str]:
        token = self._next()
        if token.kind == "punct" and token.text == "(":
            inner = self._or()
            if not self._punct(")"):
                self._syntax_error()
            return inner
        if token.kind == "string":
            text = _unquote(token.text)
            return (lambda props: text), STRING
        if token.kind == "typed":
            value, kind = _typed_literal(token, self._text, self._to_local)
            return (lambda props: value), kind
        if token.kind == "number":
            number = _number(token.text)
            return (lambda props: number), NUMBER
        if token.kind == "name":
            return self._name(token)
        raise ODataError(f"Syntax error at position {token.position} in '{self._text}'.")

    def _name(self, token: _Token) -> tuple[Expr, str]:
        if token.text in ("true", "false"):
            flag = token.text == "true"
            return (lambda props: flag), BOOL
        if token.text == "null":
            return (lambda props: None), NULL
        if self._punct("("):
            arguments: list[tuple[Expr, str]] = []
            if not self._punct(")"):
                arguments.append(self._or())
                while self._punct(","):
                    arguments.append(self._or())
                if not self._punct(")"):
                    self._syntax_error()
            return _function(token.text, arguments)
        kind = self._schema.get(token.text)
        if kind is None:
            raise ODataError(
                f"Could not find a property named '{token.text}' on type '{self._type_name}'."
            )
        name = token.text
        return (lambda props: props.get(name)), kind


def _either(left: Expr, right: Expr) -> Expr:
    return lambda props: left(props) is True or right(props) is True


def _both(left: Expr, right: Expr) -> Expr:
    return lambda props: left(props) is True and right(props) is True


def _guid_comparison(operator: str, left: Expr, right: Expr) -> Expr:
    def lowered(expression: Expr, props: Mapping[str, Any]) -> Any:
        value = expression(props)
        return value.lower() if isinstance(value, str) else value

    return lambda props: _compare(operator, lowered(left, props), lowered(right, props))


def _function(name: str, arguments: list[tuple[Expr, str]]) -> tuple[Expr, str]:
    if name in ("substringof", "startswith", "endswith"):
        _check_arity(name, arguments, 2)
        (first, first_kind), (second, second_kind) = arguments
        _check_type(name, first_kind, STRING)
        _check_type(name, second_kind, STRING)
        if name == "substringof":

            def test(props: Mapping[str, Any]) -> Any:
                needle, haystack = first(props), second(props)
                return needle is not None and haystack is not None and needle in haystack

        else:
            method = str.startswith if name == "startswith" else str.endswith

            def test(props: Mapping[str, Any]) -> Any:
                value, affix = first(props), second(props)
                return value is not None and affix is not None and method(value, affix)

        return test, BOOL
    if name == "tolower":
        return _string_function(name, arguments, str.lower, STRING)
    if name == "toupper":
        return _string_function(name, arguments, str.upper, STRING)
    if name == "trim":
        return _string_function(name, arguments, str.strip, STRING)
    if name == "length":
        return _string_function(name, arguments, len, NUMBER)
    if name in ("year", "month", "day"):
        _check_arity(name, arguments, 1)
        ((argument, kind),) = arguments
        _check_type(name, kind, DATETIME)

        def part(props: Mapping[str, Any]) -> Any:
            value = argument(props)
            return None if value is None else getattr(value, name)

        return part, NUMBER
    raise ODataError(f"Unknown function '{name}'.")


@dataclass(slots=True)
class Query:
    """Parsed OData query options."""

    filter: Expr | None = None
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    top: int | None = None
    skip: int = 0

    def apply(
        self,
        items: Sequence[T],
        props: Callable[[T], Mapping[str, Any]],
        *,
        cap: int | None = None,
    ) -> list[T]:
        """Filter, order, skip and take, in that order; at most ``cap`` items whatever
        ``$top`` says (the end-user API's hard limit of 50)."""
        selected = list(items)
        if self.filter is not None:
            test = self.filter
            selected = [item for item in selected if test(props(item)) is True]
        for name, descending in reversed(self.orderby):
            selected.sort(key=lambda item: _sort_key(props(item).get(name)), reverse=descending)
        selected = selected[self.skip :]
        take = self.top if self.top is not None else cap
        if cap is not None and take is not None:
            take = min(take, cap)
        return selected if take is None else selected[:take]


def _sort_key(value: Any) -> tuple[bool, Any]:
    # null sorts first, as in LINQ to Entities.
    return (value is not None, value if value is not None else 0)


def _non_negative(option: str, value: str) -> int:
    text = value.strip()
    if not text.isdigit():
        raise ODataError(
            f"Invalid value '{value}' for {option} query option found. The {option} query option "
            "requires a non-negative integer value."
        )
    return int(text)


def parse_query(
    parameters: Sequence[tuple[str, str]],
    schema: Mapping[str, str],
    type_name: str,
    to_local: ToLocal,
) -> Query:
    """Read ``$filter``, ``$orderby``, ``$top`` and ``$skip`` (first value of each).

    Raises:
        ODataError: a malformed option, an unknown property, incompatible types, or ``$top``
            above `MAX_TOP`.
    """
    query = Query()
    seen: set[str] = set()
    for name, value in parameters:
        if name in seen:
            continue
        seen.add(name)
        if name == "$filter" and value.strip():
            query.filter = _FilterParser(value, schema, type_name, to_local).parse()
        elif name == "$orderby" and value.strip():
            query.orderby = _parse_orderby(value, schema, type_name)
        elif name == "$top":
            query.top = _non_negative("$top", value)
            if query.top > MAX_TOP:
                raise ODataError(
                    f"The limit of '{MAX_TOP}' for Top query has been exceeded. The value from "
                    f"the incoming request is '{query.top}'."
                )
        elif name == "$skip":
            query.skip = _non_negative("$skip", value)
    return query


def _parse_orderby(value: str, schema: Mapping[str, str], type_name: str) -> list[tuple[str, bool]]:
    clauses: list[tuple[str, bool]] = []
    for clause in value.split(","):
        words = clause.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"Syntax error at position 0 in '{value}'.")
        kind = schema.get(words[0])
        if kind is None:
            raise ODataError(f"Could not find a property named '{words[0]}' on type '{type_name}'.")
        if kind not in _SORTABLE:
            raise ODataError(f"The property '{words[0]}' cannot be used in the $orderby option.")
        clauses.append((words[0], len(words) == 2 and words[1] == "desc"))
    return clauses
