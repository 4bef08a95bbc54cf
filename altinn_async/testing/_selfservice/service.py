"""The self-service API under ``/samarbeid/api/v1`` (``maskinporten-selfservice.md`` §3-§9):
clients, their keys and secrets, API scopes and their access lists, prefixes and delegation
sources, for the organisation of a Maskinporten admin token.

A Maskinporten client created here is the emulated Maskinporten's client at once: its scopes
and keys are Maskinporten's record, changed under the shared lock. A changed key set reaches the
token endpoint after ``propagation_delay`` seconds (Digdir says "0-2 minutter"); until then
Maskinporten uses the set before it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._maskinporten import (
    APPROVED,
    DENIED,
    ApiScope,
    ClientKey,
    MaskinportenClient,
    MaskinportenStore,
    ScopeAccess,
    ScopeRefusal,
    scope_refusal,
)
from .._toolkit.asgi import Request, Response
from .._toolkit.jose import IssuedTokens, sha256_hex
from .._toolkit.register import ORG_NUMBER
from .._toolkit.responses import empty_response, json_response
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from .auth import CHANGES, CONSUMES, CREATES, PROVIDES, READS, Admin, AdminGate
from .clients import (
    MASKINPORTEN_TYPES,
    SECRET_METHODS,
    ClientRequest,
    parse_client,
    render_client,
    seeded_fields,
)
from .errors import (
    JSON,
    ApiError,
    FieldError,
    bad_request,
    conflict,
    forbidden,
    invalid,
    iso_ms,
    not_found,
)
from .keys import parse_jwks
from .model import ClientRegistration, SelfServiceStore
from .registry import (
    ScopeRequest,
    parse_scope,
    render_access,
    render_scope,
    valid_org_number,
)

PREFIX = "/samarbeid"
_BASE = rf"{PREFIX}(?P<api>/api/v1)?"
_CLIENT = rf"{_BASE}/clients/(?P<id>[^/]+)"
DELEGATION_SOURCE = "altinn"


def api_base_for(origin: str) -> str:
    """The API's base URL at an origin (``{origin}/samarbeid/api/v1``)."""
    return f"{origin}{PREFIX}/api/v1"


def delegation_source_for(origin: str) -> str:
    """The issuer of Altinn as a delegation source (the emulated Altinn's, as Maskinporten
    writes it into ``delegation_source``)."""
    return f"{origin}/"


class SelfService:
    """The emulated self-service API.

    Args:
        shared: the lock and the clock.
        maskinporten: the emulated Maskinporten's records (clients, scope registry).
        store: the registrations only this API keeps.
        tokens: the access tokens of the emulated Maskinporten (the admin tokens).
        propagation_delay: seconds before a changed key set reaches the token endpoint.
        strict: require the application type, authentication method and grant types of a
            client and refuse unknown fields (lenient: fill them in, ignore unknown fields).
        legacy_paths: also serve the un-prefixed paths (``/samarbeid/clients/``...).
        require_certificate: accept only admin tokens of clients that authenticated with an
            enterprise certificate.
        empty_list_errors: answer an empty list of prefixes, scopes or accesses with 404
            "does not have any" instead of ``[]``, as the real API sometimes does.
        known_organization: whether an organisation number is known beyond its check digit
            (organisations added to the emulator).
    """

    def __init__(
        self,
        shared: SharedState,
        maskinporten: MaskinportenStore,
        store: SelfServiceStore,
        tokens: IssuedTokens,
        *,
        propagation_delay: float = 0.0,
        strict: bool = False,
        legacy_paths: bool = False,
        require_certificate: bool = False,
        empty_list_errors: bool = False,
        known_organization: Callable[[str], bool] = lambda org_number: False,
    ) -> None:
        self._shared = shared
        self._mp = maskinporten
        self._store = store
        self._gate = AdminGate(tokens, require_certificate=require_certificate)
        self.propagation_delay = propagation_delay
        self.strict = strict
        self.legacy_paths = legacy_paths
        self.empty_list_errors = empty_list_errors
        self._known_organization = known_organization
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"SelfService({self._store!r}, propagation_delay={self.propagation_delay})"

    # -- the request ---------------------------------------------------------------------------

    def _open(self, request: Request) -> float:
        """The clock's now, after refusing a legacy path that is not served."""
        if not request.path_params.get("api") and not self.legacy_paths:
            raise Refusal(empty_response(404))
        return self._shared.clock()

    def _admin(self, request: Request, any_of: Iterable[str]) -> tuple[Admin, float]:
        now = self._open(request)
        admin = self._gate.authenticate(request, now)
        admin.require(any_of, now)
        return admin, now

    @staticmethod
    def _body(request: Request, now: float) -> Any:
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        if content_type and not (content_type == JSON or content_type.endswith("+json")):
            raise ApiError(415, now, f"Content-Type {content_type} is not supported: send {JSON}")
        try:
            return json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad_request(now, "The request body is not valid JSON") from None

    @staticmethod
    def _json(document: Any, status: int = 200) -> Response:
        return json_response(document, status, content_type=JSON)

    def _empty_list(self, now: float, document: list[Any], what: str, org: str) -> Response:
        if not document and self.empty_list_errors:
            raise not_found(now, f"Organization {org} does not have any {what}")
        return self._json(document)

    # -- clients -------------------------------------------------------------------------------

    def _registration(self, client_id: str, now: float) -> ClientRegistration | None:
        """The registration of a client (lock held); a client seeded straight into
        Maskinporten gets one the first time the API sees it."""
        found = self._store.registrations.get(client_id)
        if found is not None:
            return found
        client = self._mp.clients.get(client_id)
        if client is None:
            return None
        registration = ClientRegistration(
            client_id=client_id,
            client_orgno=client.org_number,
            supplier_orgno=None,
            integration_type=client.integration_type,
            fields=seeded_fields(client_id),
            created=now,
            last_updated=now,
            scopes=tuple(sorted(client.scopes)),
            active=client.active,
            jwks_created=now if client.keys else None,
            jwks_updated=now if client.keys else None,
        )
        self._store.registrations[client_id] = registration
        return registration

    @staticmethod
    def _owns(admin: Admin, registration: ClientRegistration) -> bool:
        return registration.client_orgno == admin.org_number or (
            admin.supplier and registration.supplier_orgno == admin.org_number
        )

    def _client(self, request: Request, admin: Admin, now: float) -> ClientRegistration:
        """The path's client (lock held): 404 unknown or deleted, 403 another org's."""
        client_id = request.path_params["id"]
        registration = self._registration(client_id, now)
        if registration is None or not registration.active:
            raise not_found(now, f"Client {client_id} not found")
        if not self._owns(admin, registration):
            raise forbidden(
                now, f"Client {client_id} belongs to another organization than {admin.org_number}"
            )
        return registration

    def _scopes_of(self, registration: ClientRegistration) -> tuple[str, ...]:
        client = self._mp.clients.get(registration.client_id)
        if client is None or frozenset(registration.scopes) == client.scopes:
            return registration.scopes
        return tuple(sorted(client.scopes))  # re-seeded since

    def _keys_of(self, registration: ClientRegistration) -> Mapping[str, ClientKey]:
        client = self._mp.clients.get(registration.client_id)
        return client.keys if client is not None else registration.keys

    def _render(self, registration: ClientRegistration) -> dict[str, Any]:
        return render_client(registration, self._scopes_of(registration))

    def _check_scopes(
        self,
        request: ClientRequest,
        org_number: str,
        now: float,
        kept: Iterable[str] = (),
    ) -> None:
        """§9.5: every scope the registry must allow exists, is active, allows the integration
        type and is APPROVED for the organisation (or accessible for all).

        ``kept`` are scopes the client already has, which a PUT keeps without a new check (a
        seeded client's scopes are trusted as they are; Maskinporten still checks registered
        ones at every grant).
        """
        errors: list[FieldError] = []
        trusted = frozenset(kept)
        for scope in request.registry_scopes:
            if scope in trusted:
                continue
            registered = self._mp.api_scopes.get(scope)
            if registered is None:
                errors.append(FieldError("scopes", f"scope {scope} does not exist"))
                continue
            refusal = scope_refusal(
                registered, self._mp.scope_access, org_number, request.integration_type
            )
            if refusal is ScopeRefusal.INACTIVE:
                errors.append(FieldError("scopes", f"scope {scope} is not active"))
            elif refusal is ScopeRefusal.INCOMPATIBLE:
                errors.append(
                    FieldError(
                        "scopes",
                        f"scope {scope} is not allowed for integration_type "
                        f"{request.integration_type} (allowed_integration_types: "
                        f"{', '.join(registered.allowed_integration_types)})",
                    )
                )
            elif refusal is ScopeRefusal.NO_ACCESS:
                errors.append(
                    FieldError(
                        "scopes",
                        f"organization {org_number} has not been granted access to scope "
                        f"{scope}: ask its owner ({registered.owner_org}) for access",
                    )
                )
        if errors:
            raise invalid(now, errors)

    def _parsed(
        self, body: Any, now: float, existing: ClientRegistration | None = None
    ) -> ClientRequest:
        parsed = parse_client(body, strict=self.strict, existing=existing)
        if isinstance(parsed, list):
            raise invalid(now, parsed)
        return parsed

    @route(["GET", "POST"], rf"{_BASE}/clients/?", "selfservice.clients")
    async def clients(self, request: Request) -> Response:
        """``GET /clients`` (the org's clients) and ``POST /clients`` (create one)."""
        if request.method == "POST":
            return self._create_client(request)
        admin, now = self._admin(request, READS)
        with self._shared.lock:
            for client in list(self._mp.clients.values()):
                if client.org_number == admin.org_number:
                    self._registration(client.client_id, now)
            listed = sorted(
                (
                    r
                    for r in self._store.registrations.values()
                    if r.active and self._owns(admin, r)
                ),
                key=lambda r: (r.created, r.client_id),
            )
            document = [self._render(r) for r in listed]
        return self._json(document)

    def _create_client(self, request: Request) -> Response:
        admin, now = self._admin(request, CREATES)
        parsed = self._parsed(self._body(request, now), now)
        owner, supplier = admin.org_number, None
        if parsed.client_orgno is not None and parsed.client_orgno != admin.org_number:
            if not admin.supplier:
                raise forbidden(
                    now,
                    f"client_orgno {parsed.client_orgno} is another organization: only a "
                    "supplier (idporten:dcr.supplier) may create clients for others",
                )
            owner, supplier = parsed.client_orgno, admin.org_number
        client_id = str(uuid.uuid4())
        secret = (
            secrets.token_urlsafe(48)
            if parsed.fields["token_endpoint_auth_method"] in SECRET_METHODS
            else None
        )
        with self._shared.lock:
            self._check_scopes(parsed, owner, now)
            registration = ClientRegistration(
                client_id=client_id,
                client_orgno=owner,
                supplier_orgno=supplier,
                integration_type=parsed.integration_type,
                fields=parsed.fields,
                created=now,
                last_updated=now,
                scopes=parsed.scopes,
                secret_digest=sha256_hex(secret) if secret is not None else None,
            )
            self._store.registrations[client_id] = registration
            if parsed.integration_type in MASKINPORTEN_TYPES:
                self._mp.clients[client_id] = MaskinportenClient(
                    client_id=client_id,
                    org_number=owner,
                    scopes=frozenset(parsed.scopes),
                    releases=[],
                    requires_registered_key=False,
                    integration_type=parsed.integration_type,
                )
            document = self._render(registration)
        if secret is not None:
            document["client_secret"] = secret
        return self._json(document)

    @route(["GET", "PUT", "DELETE"], rf"{_CLIENT}/?", "selfservice.client")
    async def client(self, request: Request) -> Response:
        """``GET``, ``PUT`` (replace the model) and ``DELETE`` (deactivate) one client."""
        if request.method == "PUT":
            return self._update_client(request)
        if request.method == "DELETE":
            admin, now = self._admin(request, CREATES)
            with self._shared.lock:
                registration = self._client(request, admin, now)
                registration.active = False
                registration.last_updated = now
                client = self._mp.clients.get(registration.client_id)
                if client is not None:
                    client.active = False
            return empty_response(200)
        admin, now = self._admin(request, READS)
        with self._shared.lock:
            document = self._render(self._client(request, admin, now))
        return self._json(document)

    def _update_client(self, request: Request) -> Response:
        admin, now = self._admin(request, CHANGES)
        body = self._body(request, now)
        with self._shared.lock:
            registration = self._client(request, admin, now)
            parsed = self._parsed(body, now, registration)
            if parsed.client_orgno not in (None, registration.client_orgno):
                raise invalid(
                    now,
                    [FieldError("client_orgno", "client_orgno cannot change: the client's owner")],
                )
            self._check_scopes(
                parsed, registration.client_orgno, now, kept=self._scopes_of(registration)
            )
            if parsed.fields["token_endpoint_auth_method"] not in SECRET_METHODS:
                registration.secret_digest = None  # leaving client_secret_* deletes the secret
            registration.fields = parsed.fields
            registration.scopes = parsed.scopes
            registration.last_updated = now
            client = self._mp.clients.get(registration.client_id)
            if client is not None:
                client.scopes = frozenset(parsed.scopes)
            document = self._render(registration)
        return self._json(document)

    @route("POST", rf"{_CLIENT}/secret", "selfservice.client_secret")
    async def client_secret(self, request: Request) -> Response:
        """``POST /clients/{id}/secret``: a new secret, shown in this answer only."""
        admin, now = self._admin(request, CHANGES)
        secret = secrets.token_urlsafe(48)
        with self._shared.lock:
            registration = self._client(request, admin, now)
            method = registration.fields["token_endpoint_auth_method"]
            if method not in SECRET_METHODS:
                raise bad_request(
                    now,
                    f"Client {registration.client_id} authenticates with {method}, not a secret",
                )
            registration.secret_digest = sha256_hex(secret)
            registration.last_updated = now
            document = self._render(registration)
        document["client_secret"] = secret
        return self._json(document)

    # -- keys ----------------------------------------------------------------------------------

    def _set_keys(
        self, registration: ClientRegistration, keys: Mapping[str, ClientKey], now: float
    ) -> None:
        """Replace the client's key set (lock held); Maskinporten uses it after the delay."""
        client = self._mp.clients.get(registration.client_id)
        if client is not None:
            client.release(keys, now + self.propagation_delay)
        else:
            registration.keys = dict(keys)
        if not keys:
            registration.jwks_created = registration.jwks_updated = None
        else:
            if registration.jwks_created is None:
                registration.jwks_created = now
            registration.jwks_updated = now

    def _render_jwks(self, registration: ClientRegistration) -> dict[str, Any]:
        keys = self._keys_of(registration)
        created = registration.jwks_created or registration.created
        updated = registration.jwks_updated or created
        listed = []
        for key in keys.values():
            jwk = dict(key.jwk)
            if "exp" not in jwk and key.expires_at is not None:
                jwk["exp"] = int(key.expires_at)  # a seeded key's key_expires_at
            listed.append(jwk)
        return {
            "keys": listed,
            "created": iso_ms(created),
            "last_updated": iso_ms(updated),
        }

    @route(["GET", "POST", "PUT", "DELETE"], rf"{_CLIENT}/jwks", "selfservice.jwks")
    async def jwks(self, request: Request) -> Response:
        """The client's JWK set: ``GET``, ``POST``/``PUT`` (replace it), ``DELETE`` (remove
        every key)."""
        if request.method in ("GET", "HEAD"):
            admin, now = self._admin(request, READS)
            with self._shared.lock:
                registration = self._client(request, admin, now)
                if not self._keys_of(registration):
                    raise not_found(now, f"Client {registration.client_id} has no keys (JWKS)")
                document = self._render_jwks(registration)
            return self._json(document)
        admin, now = self._admin(request, CHANGES)
        if request.method == "DELETE":
            with self._shared.lock:
                self._set_keys(self._client(request, admin, now), {}, now)
            return empty_response(200)
        body = self._body(request, now)
        with self._shared.lock:
            self._client(request, admin, now)  # 404 and 403 before the body's 400
        keys = parse_jwks(body, now)
        with self._shared.lock:
            registration = self._client(request, admin, now)
            self._set_keys(registration, keys, now)
            document = self._render_jwks(registration)
        return self._json(document)

    @route("DELETE", rf"{_CLIENT}/jwks/(?P<kid>[^/]+)", "selfservice.jwk")
    async def jwk(self, request: Request) -> Response:
        """``DELETE /clients/{id}/jwks/{kid}``: remove one key."""
        admin, now = self._admin(request, CHANGES)
        kid = request.path_params["kid"]
        with self._shared.lock:
            registration = self._client(request, admin, now)
            keys = dict(self._keys_of(registration))
            if kid not in keys:
                raise not_found(now, f"Client {registration.client_id} has no key {kid}")
            del keys[kid]
            self._set_keys(registration, keys, now)
        return empty_response(200)

    # -- scopes --------------------------------------------------------------------------------

    def _delegation_sources(self, origin: str) -> tuple[str, ...]:
        return (delegation_source_for(origin),)

    def _scope_param(self, request: Request, now: float) -> str:
        scope = request.param("scope")
        if not scope:
            raise bad_request(now, "The query parameter scope is required (?scope=prefix:name)")
        return scope

    def _own_scope(self, request: Request, admin: Admin, now: float) -> ApiScope:
        """The ``?scope=`` scope (lock held): 404 unknown, 403 another org's."""
        name = self._scope_param(request, now)
        scope = self._mp.api_scopes.get(name)
        if scope is None:
            raise not_found(now, f"Scope {name} not found")
        if scope.owner_org != admin.org_number:
            raise forbidden(
                now, f"Scope {name} belongs to another organization than {admin.org_number}"
            )
        return scope

    def _parsed_scope(
        self, request: Request, body: Any, now: float, existing: ApiScope | None = None
    ) -> ScopeRequest:
        parsed = parse_scope(
            body,
            strict=self.strict,
            delegation_sources=self._delegation_sources(request.origin),
            existing=existing,
        )
        if isinstance(parsed, list):
            raise invalid(now, parsed)
        return parsed

    @staticmethod
    def _flag(request: Request, name: str) -> bool | None:
        value = request.param(name)
        return None if value is None else value.strip().lower() == "true"

    @route(["GET", "POST", "PUT", "DELETE"], rf"{_BASE}/scopes/?", "selfservice.scopes")
    async def scopes(self, request: Request) -> Response:
        """The provider's scopes: ``GET`` (list, ``inactive=true`` for deactivated ones too,
        ``scope=`` to filter), ``POST`` (create), ``PUT ?scope=`` (replace, ``active: true``
        reactivates), ``DELETE ?scope=`` (deactivate)."""
        admin, now = self._admin(request, PROVIDES)
        if request.method == "POST":
            return self._create_scope(request, admin, now)
        if request.method in ("PUT", "DELETE"):
            body = self._body(request, now) if request.method == "PUT" else None
            with self._shared.lock:
                scope = self._own_scope(request, admin, now)
                if body is None:
                    scope.active = False  # scopes are never deleted; accesses stay
                else:
                    self._replace_scope(scope, self._parsed_scope(request, body, now, scope))
                scope.last_updated = now
                document = render_scope(scope)
            return self._json(document)
        inactive = self._flag(request, "inactive") is True
        wanted = request.param("scope")
        with self._shared.lock:
            listed = [
                render_scope(s)
                for s in sorted(self._mp.api_scopes.values(), key=lambda s: s.name)
                if s.owner_org == admin.org_number
                and (s.active or inactive)
                and (not wanted or s.name == wanted)
            ]
        return self._empty_list(now, listed, "scopes", admin.org_number)

    def _create_scope(self, request: Request, admin: Admin, now: float) -> Response:
        parsed = self._parsed_scope(request, self._body(request, now), now)
        with self._shared.lock:
            owner = self._mp.prefixes.get(parsed.prefix)
            if owner != admin.org_number:
                raise forbidden(
                    now,
                    f"Prefix {parsed.prefix} does not belong to organization {admin.org_number}",
                )
            existing = self._mp.api_scopes.get(parsed.name)
            if existing is not None:
                if existing.active:
                    raise conflict(now, f"Scope {parsed.name} already exists")
                raise conflict(
                    now,
                    f"Scope {parsed.name} already exists and is deactivated: reactivate it "
                    "with PUT and active: true",
                )
            scope = ApiScope(
                prefix=parsed.prefix,
                subscope=parsed.subscope,
                owner_org=admin.org_number,
                description=parsed.description,
                long_description=parsed.long_description,
                visibility=parsed.visibility,
                accessible_for_all=parsed.accessible_for_all,
                allowed_integration_types=parsed.allowed_integration_types,
                at_max_age=parsed.at_max_age,
                delegation_source=parsed.delegation_source,
                active=True,
                created=now,
                last_updated=now,
                extra=parsed.extra,
            )
            self._mp.api_scopes[scope.name] = scope
            document = render_scope(scope)
        return self._json(document)

    @staticmethod
    def _replace_scope(scope: ApiScope, parsed: ScopeRequest) -> None:
        scope.description = parsed.description
        scope.long_description = parsed.long_description
        scope.visibility = parsed.visibility
        scope.accessible_for_all = parsed.accessible_for_all
        scope.allowed_integration_types = parsed.allowed_integration_types
        scope.at_max_age = parsed.at_max_age
        scope.delegation_source = parsed.delegation_source
        scope.extra = parsed.extra
        if parsed.active is not None:
            scope.active = parsed.active

    @route("GET", rf"{_BASE}/scopes/scope", "selfservice.scope")
    async def scope(self, request: Request) -> Response:
        """``GET /scopes/scope?scope=``: one of the provider's scopes."""
        admin, now = self._admin(request, PROVIDES)
        with self._shared.lock:
            document = render_scope(self._own_scope(request, admin, now))
        return self._json(document)

    @route("GET", rf"{_BASE}/scopes/all", "selfservice.scopes_all")
    async def scopes_all(self, request: Request) -> Response:
        """``GET /scopes/all`` (public): every PUBLIC scope, filtered by
        ``accessible_for_all``, ``integration_type`` (any case), ``inactive`` and
        ``delegated_sources``."""
        now = self._open(request)
        for_all = self._flag(request, "accessible_for_all")
        inactive = self._flag(request, "inactive") is True
        delegated = self._flag(request, "delegated_sources")
        kind = (request.param("integration_type") or "").lower() or None
        with self._shared.lock:
            document = [
                render_scope(s)
                for s in sorted(self._mp.api_scopes.values(), key=lambda s: s.name)
                if s.visibility == "PUBLIC"
                and (s.active or inactive)
                and (for_all is None or s.accessible_for_all == for_all)
                and (kind is None or s.allows(kind))
                and (not delegated or s.delegation_source is not None)
            ]
        if delegated and not document and self.empty_list_errors:
            raise not_found(
                now, "The scope registry does not have any scopes with a delegation source"
            )
        return self._json(document)

    # -- access --------------------------------------------------------------------------------

    @route("GET", rf"{_BASE}/scopes/access/all", "selfservice.access_all")
    async def access_all(self, request: Request) -> Response:
        """``GET /scopes/access/all``: the accesses granted to the caller's organisation."""
        admin, now = self._admin(request, CONSUMES)
        kind = (request.param("integration_type") or "").lower() or None
        inactive = self._flag(request, "inactive") is not False
        with self._shared.lock:
            document = []
            for (name, consumer), entry in sorted(self._mp.scope_access.items()):
                scope = self._mp.api_scopes.get(name)
                if consumer != admin.org_number or scope is None:
                    continue
                if (kind is not None and not scope.allows(kind)) or (
                    not inactive and not scope.active
                ):
                    continue
                document.append(render_access(entry, scope.owner_org))
        return self._empty_list(now, document, "accesses", admin.org_number)

    @route("GET", rf"{_BASE}/scopes/access", "selfservice.access")
    async def access(self, request: Request) -> Response:
        """``GET /scopes/access?scope=``: who has (or had) access to one of the provider's
        scopes."""
        admin, now = self._admin(request, PROVIDES)
        with self._shared.lock:
            scope = self._own_scope(request, admin, now)
            document = [
                render_access(entry, scope.owner_org)
                for (name, _), entry in sorted(self._mp.scope_access.items())
                if name == scope.name
            ]
        return self._empty_list(now, document, "accesses", admin.org_number)

    @route(["PUT", "DELETE"], rf"{_BASE}/scopes/access/(?P<org>[^/]+)", "selfservice.access_org")
    async def access_org(self, request: Request) -> Response:
        """``PUT /scopes/access/{orgno}?scope=`` (grant, or re-approve) and ``DELETE`` (deny)."""
        admin, now = self._admin(request, PROVIDES)
        consumer = request.path_params["org"]
        with self._shared.lock:
            scope = self._own_scope(request, admin, now)
            key = (scope.name, consumer)
            entry = self._mp.scope_access.get(key)
            if request.method == "DELETE":
                if entry is None:
                    raise not_found(now, f"Organization {consumer} has no access to {scope.name}")
                entry.state, entry.last_updated = DENIED, now
            else:
                if not self._valid_consumer(consumer):
                    raise bad_request(
                        now,
                        f"Invalid consumer organization number {consumer}: not a 9-digit number "
                        "of a known organization",
                    )
                if entry is None:
                    entry = ScopeAccess(scope.name, consumer, APPROVED, now, now)
                    self._mp.scope_access[key] = entry
                elif entry.state != APPROVED:
                    entry.state, entry.last_updated = APPROVED, now
            document = render_access(entry, scope.owner_org)
        return self._json(document)

    def _valid_consumer(self, org_number: str) -> bool:
        """9 digits, and a valid check digit or an organisation the emulator knows (lock
        held)."""
        if not ORG_NUMBER.fullmatch(org_number):
            return False
        return (
            valid_org_number(org_number)
            or self._known_organization(org_number)
            or any(c.org_number == org_number for c in self._mp.clients.values())
        )

    # -- prefixes and delegation sources -------------------------------------------------------

    @route("GET", rf"{_BASE}/prefix", "selfservice.prefix")
    async def prefix(self, request: Request) -> Response:
        """``GET /prefix``: the organisation's prefixes."""
        admin, now = self._admin(request, PROVIDES)
        with self._shared.lock:
            document = sorted(p for p, org in self._mp.prefixes.items() if org == admin.org_number)
        return self._empty_list(now, document, "prefixes", admin.org_number)

    @route("GET", rf"{_BASE}/delegationsources", "selfservice.delegationsources")
    async def delegationsources(self, request: Request) -> Response:
        """``GET /delegationsources`` (public): Altinn, the one delegation source."""
        self._open(request)
        stamp = iso_ms(self._store.created)
        return self._json(
            [
                {
                    "name": DELEGATION_SOURCE,
                    "issuer": delegation_source_for(request.origin),
                    "last_updated": stamp,
                    "created": stamp,
                }
            ]
        )


HANDLERS = (SelfService,)
"""The classes that declare the self-service API's routes."""
