"""The emulator as the demo and ``altinn-async emulator`` seed it: a ready-to-use playground."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .._keys import SigningKey

if TYPE_CHECKING:
    from ..testing import Emulator

__all__ = [
    "DEMO_ADMIN_SCOPES",
    "DEMO_ALTINN2_API_KEY",
    "DEMO_ALTINN2_PASSWORD",
    "DEMO_ALTINN2_USER",
    "DEMO_CLIENT_ID",
    "DEMO_MAILBOX_DIALOGS",
    "DEMO_MAILBOX_RESOURCE",
    "DEMO_MAILBOX_SCOPES",
    "DEMO_ORG",
    "DEMO_ORG_NUMBER",
    "DEMO_PERSON_INSTANCES",
    "DEMO_SCOPES",
    "DEMO_SUBUNIT",
    "DEMO_SYSTEM_USER_ORG",
    "DEMO_WEB_CLIENT",
    "DEMO_WEB_REDIRECT",
    "DEMO_WEB_SECRET",
    "LAZY_INSTANCES",
    "Playground",
    "seed_playground",
]

DEMO_CLIENT_ID = "altinn-async-demo"
DEMO_ADMIN_SCOPES = ("idporten:dcr.read", "idporten:dcr.write", "idporten:scopes.write")
ALTINN_ORG_NUMBER = "991825827"  # Digdir's, the owner of the altinn: scopes
DEMO_ORG = "ttd"
DEMO_ORG_NUMBER = "405003309"
DEMO_SCOPES = ("altinn:serviceowner/instances.read", "altinn:serviceowner/instances.write")
DEMO_WEB_CLIENT = "altinn-async-demo-web"
DEMO_WEB_REDIRECT = "https://app.example/callback"
DEMO_PERSON_INSTANCES = 12
DEMO_SYSTEM_USER_ORG = "310000001"
DEMO_SUBUNIT = "310000002"
DEMO_MAILBOX_SCOPES = (
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
)
DEMO_MAILBOX_DIALOGS = 300
DEMO_MAILBOX_RESOURCE = "skd-melding"
DEMO_SYSTEM_ID = f"{DEMO_ORG_NUMBER}_altinn_async_demo"
# The emulator's own credentials: secrets nowhere else, printed on purpose.
DEMO_WEB_SECRET = "demo-web-secret"
DEMO_ALTINN2_API_KEY = "demo-api-key"
DEMO_ALTINN2_USER = "demo"
DEMO_ALTINN2_PASSWORD = "demo-password"

LAZY_INSTANCES = 10_000
"""From this many instances per app on, they are generated lazily (``generate_instances``):
a million start at once and cost no memory."""


@attrs.frozen
class Playground:
    """A seeded emulator and what it was seeded with.

    Attributes:
        emulator: the emulator.
        key: the Maskinporten client's signing key.
        pem: the same key as PKCS#8 PEM (to write to a file for other programs).
        pid: the TestID person (also the Altinn 2 user), with instances and messages.
        system_user_id: the system user of ``DEMO_SYSTEM_USER_ORG`` for the demo client.
        altinn2_messages: how many Altinn 2 messages the person has.
    """

    emulator: Emulator
    key: SigningKey
    pem: bytes = attrs.field(repr=False)
    pid: str
    system_user_id: str
    altinn2_messages: int


def seed_playground(
    *,
    instances: int,
    apps: int = 1,
    altinn2_messages: int = 60,
    mailbox: int = DEMO_MAILBOX_DIALOGS,
    client_id: str = DEMO_CLIENT_ID,
    latency: float = 0.0,
    altinn_token_lifetime: int = 1800,
) -> Playground:
    """A new emulator seeded with a Maskinporten client (and its key), service-owner instances,
    a person with instances of their own and an Altinn 2 message box, an ID-porten web client,
    an Altinn 2 API key and user, and a system user whose organisation (and its sub-unit) has
    an Altinn 3 mailbox of ``mailbox`` correspondences with attachments.

    Apps with `LAZY_INSTANCES` or more instances get generated ones (never built up front);
    smaller ones get stored ones. ``latency`` and ``altinn_token_lifetime`` go to the
    `Emulator`."""
    from ..testing import DEFAULT_PID, Emulator  # noqa: PLC0415 - only these commands need it

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = SigningKey.from_pem(pem, kid=f"{client_id}-key")
    emulator = Emulator(latency=latency, altinn_token_lifetime=altinn_token_lifetime)
    emulator.add_maskinporten_client(
        client_id,
        org_number=DEMO_ORG_NUMBER,
        scopes=[*DEMO_SCOPES, *DEMO_MAILBOX_SCOPES],
        jwks=[key.public_jwk],
    )
    # An admin client of the same organisation for the self-service API (`clients ...`), and
    # the demo's scopes in Digdir's registry (Altinn's), which the organisation has access to.
    emulator.add_maskinporten_client(
        f"{client_id}-admin",
        org_number=DEMO_ORG_NUMBER,
        scopes=DEMO_ADMIN_SCOPES,
        jwks=[key.public_jwk],
    )
    for scope in DEMO_SCOPES:
        emulator.add_api_scope(scope, owner_org=ALTINN_ORG_NUMBER)
        emulator.grant_scope_access(scope, DEMO_ORG_NUMBER)
    system_user_id = emulator.add_system_user(
        client_id=client_id, customer_org=DEMO_SYSTEM_USER_ORG, system_id=DEMO_SYSTEM_ID
    )
    emulator.add_organization(DEMO_SYSTEM_USER_ORG, name="DEMO MOTTAKER AS")
    emulator.add_organization(
        DEMO_SUBUNIT, name="DEMO MOTTAKER AS AVD NORD", parent=DEMO_SYSTEM_USER_ORG
    )
    if mailbox:
        # Sent over the last 20 days: attachments expire after 14, so some are gone already.
        now = time.time()
        sub = mailbox // 6
        for party, count, seed in (
            (DEMO_SYSTEM_USER_ORG, mailbox - sub, 7),
            (DEMO_SUBUNIT, sub, 8),
        ):
            emulator.generate_mailbox(
                party,
                count,
                seed=seed,
                resource=DEMO_MAILBOX_RESOURCE,
                start=now - 20 * 86400,
                end=now,
            )
    person = emulator.person(DEFAULT_PID)
    for _ in range(DEMO_PERSON_INSTANCES):
        emulator.add_instance(DEMO_ORG, "app-1", party_id=person.party_id)
    emulator.add_idporten_client(
        DEMO_WEB_CLIENT,
        redirect_uris=[DEMO_WEB_REDIRECT],
        client_secret=DEMO_WEB_SECRET,
        scopes=["openid", "profile", "altinn:instances.read"],
    )
    per_app, extra = divmod(instances, max(apps, 1))
    for index in range(max(apps, 1)):
        count = per_app + (1 if index < extra else 0)
        if count >= LAZY_INSTANCES:
            emulator.generate_instances(DEMO_ORG, f"app-{index + 1}", count, seed=index)
        elif count:
            emulator.add_instances(DEMO_ORG, f"app-{index + 1}", count, seed=index)
    emulator.add_api_key(DEMO_ALTINN2_API_KEY, service_owner=True)
    emulator.add_altinn2_user(DEMO_ALTINN2_USER, DEMO_ALTINN2_PASSWORD, pid=DEFAULT_PID)
    if altinn2_messages:
        emulator.add_altinn2_messages(DEFAULT_PID, altinn2_messages, seed=1)
    return Playground(
        emulator=emulator,
        key=key,
        pem=pem,
        pid=DEFAULT_PID,
        system_user_id=system_user_id,
        altinn2_messages=altinn2_messages,
    )
