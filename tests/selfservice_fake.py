"""A minimal stand-in for Digdir's self-service API, written from the wire description in
``shared/reference/maskinporten-selfservice.md`` (§3 clients, §4 keys, §6 scopes and access, §7
error bodies), for `MaskinportenAdmin`'s tests until the emulator serves the API.

It is an ``httpx.MockTransport`` handler. It keeps what it is sent, answers what the reference
says the API answers, and refuses what it says the API refuses; nothing more (no supplier, no
on-behalf-of, no strict mode). Tests read `requests` to check what went over the wire.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ = "idporten:dcr.read"
WRITE = "idporten:dcr.write"
MODIFY = "idporten:dcr.modify"
SCOPES_WRITE = "idporten:scopes.write"
EVERY_SCOPE = frozenset({READ, WRITE, MODIFY, SCOPES_WRITE})

_KID = re.compile(r"[A-Za-z0-9._-]+")
_YEAR = 365 * 24 * 3600
_INTEGRATION_TYPES = {
    "idporten", "api_klient", "ansattporten", "maskinporten", "krr", "eformidling",
    "idporten_saml2",
}  # fmt: skip
_AUTH_METHODS = {"private_key_jwt", "client_secret_basic", "client_secret_post", "none"}
_DEFAULT_LIFETIMES = {
    "access_token_lifetime": 120,
    "authorization_lifetime": 7200,
    "refresh_token_lifetime": 600,
}


class Refusal(Exception):  # noqa: N818 - a control-flow signal inside the fake
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def error_body(status: int, *errors: tuple[str | None, str]) -> dict[str, Any]:
    """The §7 error body: ``errors[]`` plus ``error``/``error_description`` with the fixture's
    leading ``", "``."""
    joined = "".join(f", {message}" for _, message in errors)
    return {
        "status": status,
        "timestamp": "2025-07-02T08:30:00.000000000Z",
        "correlation_id": uuid.uuid4().hex,
        "errors": [
            {
                "errorMessage": message,
                "isFieldError": field is not None,
                "objectName": "Client",
                **({"fieldIdentifier": field} if field is not None else {}),
            }
            for field, message in errors
        ],
        "error": joined,
        "error_description": joined,
    }


def refuse(status: int, *errors: tuple[str | None, str]) -> Refusal:
    return Refusal(httpx.Response(status, json=error_body(status, *errors)))


class SelfServiceFake:
    """The self-service API of one organisation, at ``base``.

    Args:
        base: where it is served (with ``/api/v1``).
        orgno: the organisation the admin token belongs to (its ``consumer``).
        granted: the admin scopes the token carries.
        token: the only bearer token accepted (``None``: any).
        prefixes: the organisation's scope prefixes.
        empty_as_error: answer empty lists with a "does not have any" error, as the API does
            for some (§6 "Empty results").
        clock: the time source (``exp`` defaults, timestamps).
    """

    def __init__(
        self,
        *,
        base: str = "https://selfservice.example/api/v1",
        orgno: str = "991825827",
        granted: Iterable[str] = EVERY_SCOPE,
        token: str | None = None,
        prefixes: Iterable[str] = ("myorg",),
        empty_as_error: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = httpx.URL(base)
        self.orgno = orgno
        self.granted = set(granted)
        self.token = token
        self.prefixes = list(prefixes)
        self.empty_as_error = empty_as_error
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []
        self.clients: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.jwks: dict[str, dict[str, Any]] = {}
        self.scopes: dict[str, dict[str, Any]] = {}
        self.accesses: dict[tuple[str, str], dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []

    # -- seeding ------------------------------------------------------------------------------

    def add_client(self, **fields: Any) -> dict[str, Any]:
        client_id = fields.pop("client_id", None) or str(uuid.uuid4())
        client = {
            "client_id": client_id,
            "client_orgno": fields.pop("client_orgno", self.orgno),
            "integration_type": "maskinporten",
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": [JWT_BEARER],
            "scopes": ["myorg:thing.read"],
            "client_name": "seeded",
            "description": "seeded",
            "active": True,
            "created": self._now(),
            "last_updated": self._now(),
            **_DEFAULT_LIFETIMES,
            **fields,
        }
        self.clients[client_id] = client
        return client

    def add_keys(self, client_id: str, keys: Iterable[dict[str, Any]]) -> None:
        """Keys as stored (no checks: keys stored before 2025 may lack ``use``)."""
        self.jwks[client_id] = {
            "keys": [dict(key) for key in keys],
            "created": self._now(),
            "last_updated": self._now(),
        }

    def add_scope(self, **fields: Any) -> dict[str, Any]:
        scope = self._new_scope(fields)
        self.scopes[scope["name"]] = scope
        return scope

    # -- the transport -------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        try:
            response = self._route(request)
        except Refusal as refusal:
            response = refusal.response
        self.statuses.append(response.status_code)
        return response

    def sent(self, method: str | None = None) -> list[httpx.Request]:
        """The requests with ``method`` (all by default)."""
        return [r for r in self.requests if method is None or r.method == method]

    def _route(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911 - a router
        prefix = self.base.raw_path.decode()
        path = request.url.raw_path.decode().split("?", 1)[0]
        if request.url.host != self.base.host or not path.startswith(prefix + "/"):
            return httpx.Response(404)
        parts = [p for p in path[len(prefix) :].split("/") if p]
        method = request.method
        query = request.url.params
        # Public: no token needed (§6).
        if parts == ["scopes", "all"] and method == "GET":
            return self._ok(self._public_scopes(query))
        if parts == ["delegationsources"] and method == "GET":
            return self._ok([_ALTINN_SOURCE])
        self._authenticate(request)
        if parts[:1] == ["clients"]:
            return self._clients(request, parts[1:])
        if parts[:1] == ["scopes"]:
            self._need(SCOPES_WRITE)
            return self._scopes(request, parts[1:], query)
        if parts == ["prefix"] and method == "GET":
            self._need(SCOPES_WRITE)
            return self._list(list(self.prefixes), "prefixes")
        return httpx.Response(404)

    def _authenticate(self, request: httpx.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token or (self.token is not None and token != self.token):
            raise Refusal(
                httpx.Response(
                    401,
                    json={"error": "invalid_token", "error_description": "Invalid token"},
                )
            )

    def _need(self, *scopes: str) -> None:
        if not self.granted & set(scopes):
            raise refuse(403, (None, f"Missing scope, one of: {', '.join(scopes)}"))

    # -- clients -------------------------------------------------------------------------------

    def _clients(self, request: httpx.Request, rest: list[str]) -> httpx.Response:  # noqa: PLR0911
        method = request.method
        if not rest:
            if method == "GET":
                self._need(READ, WRITE, MODIFY)
                mine = [
                    self._shown(c)
                    for c in self.clients.values()
                    if c["active"] and c["client_orgno"] == self.orgno
                ]
                return self._ok(mine)
            if method == "POST":
                self._need(WRITE)
                return self._ok(self._create(_body(request)))
            return httpx.Response(405)
        client = self._client(rest[0])
        if len(rest) == 1:
            if method == "GET":
                self._need(READ, WRITE, MODIFY)
                return self._ok(self._shown(client))
            if method == "PUT":
                self._need(MODIFY, WRITE)
                return self._ok(self._update(client, _body(request)))
            if method == "DELETE":
                self._need(WRITE)
                client["active"] = False
                return httpx.Response(200)
            return httpx.Response(405)
        if rest[1] == "jwks":
            return self._keys(request, client, rest[2:])
        return httpx.Response(404)

    def _client(self, client_id: str) -> dict[str, Any]:
        client = self.clients.get(client_id)
        if client is None or not client["active"]:
            raise refuse(404, (None, f"Client {client_id} not found"))
        if client["client_orgno"] != self.orgno:
            raise refuse(403, (None, "Client belongs to another organization"))
        return client

    def _shown(self, client: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in client.items() if k != "client_secret"}

    def _check_client(self, body: dict[str, Any]) -> None:
        errors: list[tuple[str | None, str]] = []
        kind = body.get("integration_type")
        if kind not in _INTEGRATION_TYPES:
            errors.append(("integration_type", f"Invalid integration_type: {kind}"))
        method = body.get("token_endpoint_auth_method", "private_key_jwt")
        if method not in _AUTH_METHODS:
            errors.append(("token_endpoint_auth_method", f"Invalid value: {method}"))
        if kind in ("maskinporten", "krr"):
            if not body.get("scopes"):
                errors.append(("scopes", "A maskinporten client needs at least one scope"))
            if body.get("grant_types") != [JWT_BEARER]:
                errors.append(("grant_types", "Maskinporten clients use jwt-bearer"))
        errors.extend(
            (name, f"{name} must be greater than 0")
            for name in _DEFAULT_LIFETIMES
            if body.get(name) == 0
        )
        if errors:
            raise refuse(400, *errors)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        if "client_id" in body:
            raise refuse(400, ("client_id", "client_id is assigned by the server"))
        self._check_client(body)
        client = {
            **_DEFAULT_LIFETIMES,
            **body,
            "client_id": str(uuid.uuid4()),
            "client_orgno": self.orgno,
            "active": True,
            "created": self._now(),
            "last_updated": self._now(),
        }
        self.clients[client["client_id"]] = client
        shown = self._shown(client)
        if str(client.get("token_endpoint_auth_method", "")).startswith("client_secret_"):
            secret = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")
            self.secrets[client["client_id"]] = secret
            shown["client_secret"] = secret  # only in this answer
        return shown

    def _update(self, client: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if body.get("integration_type", client["integration_type"]) != client["integration_type"]:
            raise refuse(400, ("integration_type", "integration_type cannot be changed"))
        self._check_client({**body, "integration_type": client["integration_type"]})
        kept = {k: client[k] for k in ("client_id", "client_orgno", "created", "active")}
        client.clear()
        client.update({**_DEFAULT_LIFETIMES, **body, **kept, "last_updated": self._now()})
        return self._shown(client)

    # -- keys ----------------------------------------------------------------------------------

    def _keys(
        self, request: httpx.Request, client: dict[str, Any], rest: list[str]
    ) -> httpx.Response:
        method = request.method
        client_id = client["client_id"]
        stored = self.jwks.get(client_id)
        if rest:
            self._need(WRITE)
            if method != "DELETE" or len(rest) != 1:
                return httpx.Response(405)
            kept = [k for k in (stored or {}).get("keys", []) if k.get("kid") != rest[0]]
            if stored is None or len(kept) == len(stored["keys"]):
                raise refuse(404, (None, f"No key {rest[0]}"))
            stored["keys"] = kept
            return httpx.Response(200)
        if method == "GET":
            self._need(READ, WRITE, MODIFY)
            if not stored or not stored["keys"]:
                raise refuse(404, (None, "Client has no jwks"))
            return self._ok(stored)
        if method in ("POST", "PUT"):
            self._need(WRITE)
            keys = self._check_keys(_body(request))
            now = self._now()
            created = stored["created"] if stored else now
            self.jwks[client_id] = {"keys": keys, "created": created, "last_updated": now}
            return self._ok(self.jwks[client_id])
        if method == "DELETE":
            self._need(WRITE)
            self.jwks.pop(client_id, None)
            return httpx.Response(200)
        return httpx.Response(405)

    def _check_keys(self, body: Any) -> list[dict[str, Any]]:
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise refuse(400, ("keys", "The jwks must hold at least one key"))
        if len(keys) > 5:
            raise refuse(400, ("keys", "A client can have at most 5 keys"))
        kids = [key.get("kid") if isinstance(key, dict) else None for key in keys]
        for index, kid in enumerate(kids):
            if kid is not None and kids.index(kid) != index:
                raise refuse(400, (f"keys[{index}]", f"Duplicate kid {kid}"))
        return [self._check_key(key, f"keys[{index}]") for index, key in enumerate(keys)]

    def _check_key(self, key: Any, where: str) -> dict[str, Any]:
        if not isinstance(key, dict):
            raise refuse(400, (where, "Not a JWK"))
        missing = [m for m in ("kty", "alg", "use", "kid", "n", "e") if not key.get(m)]
        if missing:
            raise refuse(400, (where, f"Missing {', '.join(missing)}"))
        if key["kty"] != "RSA" or key["alg"] not in ("RS256", "RS384", "RS512"):
            raise refuse(400, (where, "Only RSA keys with RS256, RS384 or RS512"))
        if key["use"] != "sig":
            raise refuse(400, (where, "use must be sig"))
        if any(m in key for m in ("d", "p", "q", "dp", "dq", "qi")):
            raise refuse(400, (where, "Private keys are not accepted"))
        if not isinstance(key["kid"], str) or not _KID.fullmatch(key["kid"]):
            raise refuse(400, (where, "Invalid kid"))
        modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
        if int.from_bytes(modulus, "big").bit_length() < 2048:
            raise refuse(400, (where, "RSA keys must be at least 2048 bits"))
        now = int(self.clock())
        exp = key.get("exp")
        if exp is None:
            exp = now + _YEAR  # left out (or re-posted without it): a year from now
        elif not isinstance(exp, int) or exp > now + _YEAR:
            raise refuse(400, (where, "exp must be at most one year from now"))
        return {**key, "exp": exp}

    # -- scopes and access ---------------------------------------------------------------------

    def _new_scope(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        return {
            "at_max_age": 0,
            "authorization_max_lifetime": 0,
            "allowed_integration_types": ["maskinporten"],
            "token_type": "SELF_CONTAINED",
            "visibility": "PUBLIC",
            "requires_user_consent": False,
            "requires_user_authentication": False,
            "requires_pseudonymous_tokens": False,
            "accessible_for_all": False,
            "active": True,
            **body,
            "name": f"{body['prefix']}:{body['subscope']}",
            "owner_orgno": body.get("owner_orgno", self.orgno),
            "created": now,
            "last_updated": now,
        }

    def _scope(self, query: httpx.QueryParams) -> dict[str, Any]:
        name = query.get("scope")
        scope = self.scopes.get(name or "")
        if scope is None or scope["owner_orgno"] != self.orgno:
            raise refuse(404, (None, f"Scope {name} not found"))
        return scope

    def _scopes(  # noqa: PLR0911 - a router
        self, request: httpx.Request, rest: list[str], query: httpx.QueryParams
    ) -> httpx.Response:
        method = request.method
        if not rest:
            if method == "GET" and "scope" in query:
                return self._ok(self._scope(query))
            if method == "GET":
                inactive = query.get("inactive") == "true"
                mine = [
                    s
                    for s in self.scopes.values()
                    if s["owner_orgno"] == self.orgno and (s["active"] or inactive)
                ]
                return self._list(mine, "scopes")
            if method == "POST":
                return self._ok(self._create_scope(_body(request)))
            if method == "PUT":
                return self._ok(self._update_scope(self._scope(query), _body(request)))
            if method == "DELETE":
                scope = self._scope(query)
                scope.update(active=False, last_updated=self._now())
                return self._ok(scope)
            return httpx.Response(405)
        if rest == ["access", "all"] and method == "GET":
            return self._list(list(self.received), "accesses")
        if rest == ["access"] and method == "GET":
            name = self._scope(query)["name"]
            entries = [a for (s, _), a in self.accesses.items() if s == name]
            return self._list(entries, "accesses")
        if len(rest) == 2 and rest[0] == "access" and method in ("PUT", "DELETE"):
            return self._ok(self._access(self._scope(query)["name"], rest[1], method))
        return httpx.Response(404)

    def _create_scope(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("prefix", "subscope", "description"):
            if not body.get(name):
                raise refuse(400, (name, f"{name} is required"))
        if body["prefix"] not in self.prefixes:
            raise refuse(403, ("prefix", f"Prefix {body['prefix']} is not yours"))
        existing = self.scopes.get(f"{body['prefix']}:{body['subscope']}")
        if existing is not None:
            if not existing["active"]:
                raise refuse(409, (None, "Scope exists and is inactive"))
            raise refuse(400, ("subscope", "Scope exists"))
        scope = self._new_scope({k: v for k, v in body.items() if k != "name"})
        self.scopes[scope["name"]] = scope
        return scope

    def _update_scope(self, scope: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        for name in ("prefix", "subscope"):
            if body.get(name, scope[name]) != scope[name]:
                raise refuse(400, (name, f"{name} cannot be changed"))
        kept = {k: scope[k] for k in ("name", "prefix", "subscope", "owner_orgno", "created")}
        scope.update({**body, **kept, "last_updated": self._now()})
        return scope

    def _access(self, scope: str, orgno: str, method: str) -> dict[str, Any]:
        if not re.fullmatch(r"\d{9}", orgno):
            raise refuse(400, ("consumer_orgno", f"Invalid consumer orgno {orgno}"))
        entry = self.accesses.get((scope, orgno))
        if entry is None:
            if method == "DELETE":
                raise refuse(404, (None, f"{orgno} has no access to {scope}"))
            entry = self.accesses[(scope, orgno)] = {
                "scope": scope,
                "consumer_orgno": orgno,
                "owner_orgno": self.orgno,
                "prefix": None,
                "created": self._now(),
            }
        entry["state"] = "APPROVED" if method == "PUT" else "DENIED"
        entry["last_updated"] = self._now()
        return entry

    def _public_scopes(self, query: httpx.QueryParams) -> list[dict[str, Any]]:
        found = []
        for scope in self.scopes.values():
            if scope["visibility"] != "PUBLIC":
                continue
            if query.get("inactive") != "true" and not scope["active"]:
                continue
            if (
                "accessible_for_all" in query
                and str(scope["accessible_for_all"]).lower() != (query["accessible_for_all"])
            ):
                continue
            kind = query.get("integration_type")
            if kind and kind.lower() not in scope["allowed_integration_types"]:
                continue
            found.append(scope)
        return found

    # -- answers -------------------------------------------------------------------------------

    def _list(self, items: list[Any], what: str) -> httpx.Response:
        if not items and self.empty_as_error:
            raise refuse(404, (None, f"Organization {self.orgno} does not have any {what}"))
        return self._ok(items)

    @staticmethod
    def _ok(body: Any) -> httpx.Response:
        return httpx.Response(200, json=body)

    def _now(self) -> str:
        moment = datetime.fromtimestamp(self.clock(), UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ALTINN_SOURCE = {
    "name": "altinn",
    "issuer": "https://tt02.altinn.no/",
    "last_updated": "2023-01-01T00:00:00.000Z",
    "created": "2023-01-01T00:00:00.000Z",
}


def _body(request: httpx.Request) -> Any:
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        raise refuse(400, (None, "The body is not JSON")) from None
    if not isinstance(body, dict):
        raise refuse(400, (None, "The body must be a JSON object"))
    return body


class Served:
    """An ``httpx`` handler (a fake like `SelfServiceFake`) as an ASGI application, for a
    command that talks to a real socket (``uvicorn_serving``)."""

    def __init__(self, handle: Callable[[httpx.Request], httpx.Response]) -> None:
        self._handle = handle

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        content = b""
        while True:
            message = await receive()
            content += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host = dict(headers).get("host", "localhost")
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path") or scope["path"].encode()
        url = f"http://{host}{path.decode('latin-1')}" + (f"?{query}" if query else "")
        request = httpx.Request(scope["method"], url, headers=headers, content=content)
        response = self._handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers.items()
                    if k.lower() != "content-length"
                ]
                + [(b"content-length", str(len(response.content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": response.content})
