"""Routes declared on the services' handler methods, a router that matches them, and `Refusal`,
the one way a handler (or anything it calls) says no.

A service marks each handler with `route`; `Router.mount` registers a service's handlers, and
`route_names` reads the same declarations from the classes, so the endpoint names the emulator
publishes (``ENDPOINTS``) are exactly the names routes are registered under.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .asgi import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
_M = TypeVar("_M", bound=Callable[..., Awaitable[Response]])
_DECLARED = "_emulator_routes"


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not a failure
    """The request is refused with ``response``.

    Raised anywhere below a handler; the router answers with the response. Helpers therefore
    return only what they were asked for, never "a value or a response".
    """

    def __init__(self, response: Response) -> None:
        super().__init__(f"refused with HTTP {response.status}")
        self.response = response


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route as declared: methods, a full-match path pattern with named groups, a name."""

    methods: frozenset[str]
    pattern: str
    name: str


def route(methods: str | Iterable[str], pattern: str, name: str) -> Callable[[_M], _M]:
    """Declare the decorated handler method as the endpoint ``name`` for ``methods`` and paths
    that fully match ``pattern`` (a regular expression; named groups become path parameters)."""
    wanted = frozenset(
        m.upper() for m in ([methods] if isinstance(methods, str) else list(methods))
    )

    def declare(handler: _M) -> _M:
        declared: tuple[RouteSpec, ...] = getattr(handler, _DECLARED, ())
        setattr(handler, _DECLARED, (*declared, RouteSpec(wanted, pattern, name)))
        return handler

    return declare


def _declared(service_type: type) -> Iterator[tuple[str, RouteSpec]]:
    """``(attribute name, spec)`` for every declared route of a class, in definition order."""
    seen: set[str] = set()
    for klass in service_type.__mro__:
        for attribute, value in vars(klass).items():
            if attribute in seen:
                continue
            seen.add(attribute)
            for spec in getattr(value, _DECLARED, ()):
                yield attribute, spec


def route_names(*service_types: type) -> frozenset[str]:
    """The endpoint names the given service classes declare."""
    return frozenset(spec.name for cls in service_types for _, spec in _declared(cls))


@dataclass(frozen=True, slots=True)
class Route:
    """A registered route: the declaration, compiled, and the bound handler."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    name: str
    handler: Handler

    def accepts(self, method: str) -> bool:
        """Whether the route serves ``method`` (HEAD wherever GET is served)."""
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)


class Router:
    """Matches a method and path to a route; reports the allowed methods on a method mismatch."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def mount(self, service: object) -> None:
        """Register every handler ``service``'s class declares with `route`."""
        for attribute, spec in _declared(type(service)):
            handler: Any = getattr(service, attribute)
            self._routes.append(Route(spec.methods, re.compile(spec.pattern), spec.name, handler))

    @property
    def names(self) -> frozenset[str]:
        """The names of the registered routes."""
        return frozenset(r.name for r in self._routes)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], str | None]:
        """Return ``(route, params, None)``, or ``(None, {}, name)`` when only the method is wrong
        (``name`` is the route's name), or ``(None, {}, None)`` when nothing matches."""
        wrong_method: str | None = None
        for candidate in self._routes:
            found = candidate.pattern.fullmatch(path)
            if found is None:
                continue
            if candidate.accepts(method):
                return candidate, found.groupdict(), None
            wrong_method = wrong_method or candidate.name
        return None, {}, wrong_method

    def allowed_methods(self, path: str) -> list[str]:
        """Every method some route accepts for ``path``."""
        methods: set[str] = set()
        for candidate in self._routes:
            if candidate.pattern.fullmatch(path):
                methods |= candidate.methods
        return sorted(methods)

    @staticmethod
    async def handle(matched: Route, request: Request) -> Response:
        """Run the route's handler; a `Refusal` raised anywhere below it is its answer."""
        try:
            return await matched.handler(request)
        except Refusal as refusal:
            return refusal.response
