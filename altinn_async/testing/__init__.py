"""Test helpers: a local emulator of Maskinporten, ID-porten, Altinn authentication, Altinn
Storage and Events, Dialogporten, Correspondence, Authorized Parties and the legacy Altinn 2 REST
API, and a throwaway certificate authority for enterprise certificates.

The emulator is a product to test your own code against: it enforces the rules the real services
enforce and refuses what they refuse, with their error bodies. Use it in-process::

    from altinn_async.testing import Emulator

    emu = Emulator()
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        ...

or on a real port (needs the ``emulator`` extra): in the background with
``with emu.serve() as base_url: ...``, or in the foreground with ``emu.server(port=8080).run()``.

What it served is on record: `Emulator.requests` per endpoint, `Emulator.grants` and
`Emulator.exchanges` (claims, never tokens); `assert_served`, `assert_granted` and
`assert_exchanged` check them with messages that show what it did serve. The pytest plugin
(`altinn_async.testing.pytest_plugin`, registered when the package is installed) gives tests a
seeded emulator, a key, a client and its auth as fixtures.
"""

from ._assertions import assert_exchanged, assert_granted, assert_served
from ._authentication import ExchangeRecord
from ._certificates import CertificateAuthority, IssuedCertificate
from ._emulator import DEFAULT_PID, ENDPOINTS, FAULT_KINDS, Emulator
from ._maskinporten import GrantRecord
from ._server import EmulatorServer
from ._toolkit.register import Person

__all__ = [
    "DEFAULT_PID",
    "ENDPOINTS",
    "FAULT_KINDS",
    "CertificateAuthority",
    "Emulator",
    "EmulatorServer",
    "ExchangeRecord",
    "GrantRecord",
    "IssuedCertificate",
    "Person",
    "assert_exchanged",
    "assert_granted",
    "assert_served",
]
