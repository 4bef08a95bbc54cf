"""The emulated ID-porten (OpenID Connect on the platform Digdir runs since 2023): discovery, and
the front and back channels composed under ``/idporten``."""

from __future__ import annotations

from .._toolkit.asgi import Request, Response
from .._toolkit.register import Register
from .._toolkit.responses import json_response
from .._toolkit.router import route
from .._toolkit.state import SharedState
from .authorize import ACR_VALUES, UI_LOCALES
from .back import BackChannel
from .core import PREFIX, IdportenCore, issuer_for
from .front import FrontChannel
from .model import IdportenStore
from .seeding import AUTH_METHODS


class Discovery:
    """``/.well-known/openid-configuration`` and ``/jwks.json``."""

    def __init__(self, core: IdportenCore) -> None:
        self._core = core

    @route("GET", rf"{PREFIX}/\.well-known/openid-configuration", "idporten.metadata")
    async def metadata(self, request: Request) -> Response:
        """The TEST document's shape, listing only what the emulator implements."""
        issuer = issuer_for(request.origin)
        return json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "pushed_authorization_request_endpoint": f"{issuer}/par",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks.json",
                "end_session_endpoint": f"{issuer}/logout",
                "revocation_endpoint": f"{issuer}/token/revoke",
                "authorization_response_iss_parameter_supported": True,
                "request_parameter_supported": False,
                "request_uri_parameter_supported": False,
                "claims_parameter_supported": False,
                "scopes_supported": ["openid", "profile"],
                "acr_values_supported": list(ACR_VALUES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "prompt_values_supported": ["consent", "login", "none"],
                "ui_locales_supported": list(UI_LOCALES),
                "display_values_supported": ["page"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "authorization_signing_alg_values_supported": ["RS256"],
                "frontchannel_logout_supported": True,
                "frontchannel_logout_session_supported": True,
            },
            content_type="application/json",
        )

    @route("GET", rf"{PREFIX}/jwks\.json", "idporten.jwks")
    async def jwks(self, request: Request) -> Response:
        """The key that signs id_tokens and access tokens."""
        return json_response(
            {"keys": [self._core.key.public_jwk()]}, content_type="application/json"
        )


HANDLERS = (Discovery, FrontChannel, BackChannel)
"""The classes that declare ID-porten's routes."""


class Idporten:
    """The emulated ID-porten: its store, its signing key and its endpoints."""

    def __init__(self, shared: SharedState, store: IdportenStore, register: Register) -> None:
        self._core = IdportenCore(shared, store, register)
        self.tokens = self._core.tokens
        """The tokens this ID-porten signs, for the services that accept them."""
        self.handlers: tuple[object, ...] = (
            Discovery(self._core),
            FrontChannel(self._core),
            BackChannel(self._core),
        )
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Idporten({self._core.store!r})"
