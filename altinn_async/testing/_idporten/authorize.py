"""The authorization request's parameters, as ``/authorize`` and ``/par`` validate them
(``altinn-protocol.md`` §2.2, §2.3; PKCE with S256 and state and nonce are mandatory)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping

from .._toolkit.claims import scope_list
from .errors import RequestError
from .model import AuthorizationRequest, IdportenClient

ACR_VALUES = ("idporten-loa-substantial", "idporten-loa-high")
UI_LOCALES = ("nb", "nn", "en", "se")
PROMPTS = frozenset({"none", "login", "consent"})
PAR_URN_PREFIX = "urn:idporten:"

_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def acr_rank(acr: str) -> int:
    """How strong a level is (higher is stronger; unknown levels rank lowest)."""
    return ACR_VALUES.index(acr) if acr in ACR_VALUES else -1


def validate(params: Mapping[str, str], client: IdportenClient) -> AuthorizationRequest:
    """Check an authorization request's parameters (``redirect_uri`` already checked).

    Raises:
        RequestError: the first parameter that is missing or refused.
    """
    if "request" in params:
        raise RequestError("request_not_supported", "Request objects are not supported.")
    response_type = params.get("response_type")
    if response_type is None:
        raise RequestError("invalid_request", "Missing response_type.")
    if response_type != "code":
        raise RequestError(
            "unsupported_response_type", f"Unsupported response_type: {response_type}."
        )
    response_mode = params.get("response_mode", "query")
    if response_mode != "query":
        raise RequestError("invalid_request", f"Unsupported response_mode: {response_mode}.")
    scopes = tuple(scope_list(params.get("scope", "")))
    if not scopes:
        raise RequestError("invalid_request", "Missing scope.")
    not_allowed = [s for s in scopes if s not in client.scopes]
    if not_allowed:
        raise RequestError(
            "invalid_scope", f"Scope not allowed for the client: {' '.join(not_allowed)}."
        )
    state = params.get("state")
    if state is None:
        raise RequestError("invalid_request", "Missing state.")
    nonce = params.get("nonce")
    if nonce is None:
        raise RequestError("invalid_request", "Missing nonce.")
    challenge = _code_challenge(params)
    acr, prompt = _acr_and_prompt(params)
    locales = [v for v in params.get("ui_locales", "").split(" ") if v in UI_LOCALES]
    resource = params.get("resource")
    if resource is not None:
        parts = urllib.parse.urlsplit(resource)
        if not parts.scheme or parts.fragment:
            raise RequestError("invalid_target", "resource must be an absolute URI.")
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=params["redirect_uri"],
        scopes=scopes,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        acr=acr,
        locale=locales[0] if locales else "nb",
        prompt=prompt,
        resource=resource,
    )


def _code_challenge(params: Mapping[str, str]) -> str:
    challenge = params.get("code_challenge")
    if challenge is None:
        raise RequestError("invalid_request", "PKCE is required: missing code_challenge.")
    if params.get("code_challenge_method") != "S256":
        raise RequestError("invalid_request", "code_challenge_method must be S256.")
    if not _CHALLENGE.fullmatch(challenge):
        raise RequestError(
            "invalid_request",
            "code_challenge must be 43 base64url characters (SHA-256, no padding).",
        )
    return challenge


def _acr_and_prompt(params: Mapping[str, str]) -> tuple[str, frozenset[str]]:
    acr_values = [a for a in params.get("acr_values", ACR_VALUES[0]).split(" ") if a]
    unsupported = [a for a in acr_values if a not in ACR_VALUES]
    if not acr_values or unsupported:
        raise RequestError("invalid_request", f"Unsupported acr_values: {' '.join(unsupported)}.")
    prompt = frozenset(p for p in params.get("prompt", "").split(" ") if p)
    if prompt - PROMPTS:
        raise RequestError(
            "invalid_request", f"Unsupported prompt: {' '.join(sorted(prompt - PROMPTS))}."
        )
    if "none" in prompt and len(prompt) > 1:
        raise RequestError("invalid_request", "prompt=none cannot be combined.")
    # acr_values lists the acceptable levels in order of preference; TestID gives the first.
    return acr_values[0], prompt
