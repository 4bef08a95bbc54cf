"""Where credentials may go: the origins of their environment, and those the user adds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs
import httpx

from ._environment import check_url
from ._http import origin
from .exceptions import ConfigurationError, ForeignOriginError

__all__ = ["ForeignOrigins", "OriginPolicy"]

ForeignOrigins = Literal["refuse", "omit"]
"""What an auth flow does with a request to an origin that is not its own: ``"refuse"`` raises
`ForeignOriginError` (the default), ``"omit"`` sends it without credentials."""


@attrs.frozen
class OriginPolicy:
    """The origins an auth flow attaches its credentials to, and what it does elsewhere.

    Attributes:
        home: the origins (``scheme://host[:port]``) credentials go to.
        foreign: ``"refuse"`` or ``"omit"``, for requests anywhere else.
        what: the credentials, for the error message (``"the Altinn token"``).
    """

    home: frozenset[str]
    foreign: ForeignOrigins
    what: str

    @classmethod
    def build(
        cls,
        urls: Iterable[str | None],
        *,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
        what: str,
    ) -> OriginPolicy:
        """The policy for the origins of ``urls`` (the environment's) and ``allowed_origins``.

        Raises:
            ConfigurationError: an allowed origin is not an https URL (http only for loopback),
                or ``foreign_origins`` is neither ``"refuse"`` nor ``"omit"``.
        """
        if foreign_origins not in ("refuse", "omit"):
            raise ConfigurationError(
                f"foreign_origins must be 'refuse' or 'omit', got {foreign_origins!r}"
            )
        if isinstance(allowed_origins, str):
            allowed_origins = [allowed_origins]
        home = {origin(url) for url in urls if url is not None}
        for url in allowed_origins:
            home.add(origin(check_url(str(url), what="an allowed origin")))
        return cls(home=frozenset(home), foreign=foreign_origins, what=what)

    def admits(self, url: httpx.URL) -> bool:
        """Whether credentials go on a request to ``url``.

        Raises:
            ForeignOriginError: ``url`` is not on a home origin and the policy refuses.
        """
        target = origin(url)
        if target in self.home:
            return True
        if self.foreign == "omit":
            return False
        raise ForeignOriginError(
            f"not sending {self.what} to {target}: it is not an origin of its environment "
            f"({', '.join(sorted(self.home)) or 'none'}). Add it with allowed_origins=[...] if "
            "it should get it, or pass foreign_origins='omit' to send such requests without it",
            origin=target,
        )
