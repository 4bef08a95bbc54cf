"""Every Python example in the README runs as written, against the served emulator, and closes
every HTTP client it opens.

The examples name ``altinn.TEST``; here it points at an emulator on 127.0.0.1 seeded with the
clients, keys and users the examples name. Nothing else of the examples is changed.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
import redis
from arq.worker import Worker

import altinn_async as altinn
from altinn_async.testing import DEFAULT_PID, Emulator

from .helpers import uvicorn_serving

pytest_plugins = ["pytester"]

README = Path(__file__).parent.parent / "README.md"
MAILBOX = 14
MAILBOX_SCOPES = [
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[str, str]]:
    """(the section heading, the code) of every ```python block."""
    text = README.read_text()
    blocks = []
    for match in _BLOCK.finditer(text):
        heading = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)[-1]
        blocks.append((heading, match.group(1)))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_the_examples_this_test_knows() -> None:
    assert [heading for heading, _ in BLOCKS] == [
        "Maskinporten, then an Altinn token",
        "Maskinporten self-service",
        "ID-porten: a person logs in, Altinn is called as them",
        "Several processes: Redis",
        "Altinn 2 (legacy)",
        "Bulk harvests",
        "Harvests on several machines: arq",
        "Altinn 3 messaging: Dialogporten, Correspondence, Authorized Parties",
        "FastAPI backends",
        "The emulator: `altinn_async.testing`",
        "The emulator: `altinn_async.testing`",  # the pytest plugin's sample test
    ]


@attrs.define
class Playground:
    emulator: Emulator
    url: str


@pytest.fixture
def playground(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Playground]:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "client.pem").write_bytes(pem)
    key = altinn.SigningKey.from_pem(pem, kid="my-key-id")
    for name in ("admin.pem", "client-2.pem"):
        (tmp_path / name).write_bytes(
            rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    emulator = Emulator()
    emulator.add_maskinporten_client(
        "my-client-id", org_number="405003309", scopes=["altinn:serviceowner/instances.read",
        *MAILBOX_SCOPES], jwks=[key.public_jwk],
    )  # fmt: skip
    # The self-service example: an admin client of the same organisation, and the scope in
    # Digdir's registry (Altinn's), which the organisation has access to.
    admin = altinn.SigningKey.from_pem((tmp_path / "admin.pem").read_bytes(), kid="admin-key-id")
    emulator.add_maskinporten_client(
        "my-admin-client-id", org_number="405003309", scopes=altinn.ADMIN_SCOPES,
        jwks=[admin.public_jwk],
    )  # fmt: skip
    emulator.add_api_scope("altinn:serviceowner/instances.read", owner_org="991825827")
    emulator.grant_scope_access("altinn:serviceowner/instances.read", "405003309")
    emulator.add_organization("310000001", name="MOTTAKER AS")
    emulator.add_organization("310000002", parent="310000001")
    emulator.add_system_user(client_id="my-client-id", customer_org="310000001")
    now = time.time()
    emulator.generate_mailbox(
        "310000001", MAILBOX, seed=5, start=now - 5 * 86_400, attachments_per=(1, 1)
    )
    emulator.add_instances("ttd", "app", 30)
    person = emulator.person(DEFAULT_PID)
    for _ in range(3):
        emulator.add_instance("ttd", "app", party_id=person.party_id)
    emulator.add_idporten_client(
        "my-web-client",
        redirect_uris=["https://app.example/callback", "https://app.example/auth/callback"],
        client_secret="my-client-secret", scopes=["openid", "altinn:instances.read"],
        post_logout_redirect_uris=["https://app.example/logged-out"],
    )  # fmt: skip
    emulator.add_api_key("the-api-key")
    emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    emulator.add_altinn2_message(
        DEFAULT_PID, subject="Vedtak", service_owner="NAV",
        attachments=[("../../vedtak.pdf", b"%PDF-1.4", "application/pdf")],
    )  # fmt: skip
    monkeypatch.setenv("ALTINN_USER", "ola")
    monkeypatch.setenv("ALTINN_PASSWORD", "Passord1")
    monkeypatch.setenv("ALTINN_API_KEY", "the-api-key")
    monkeypatch.setenv("SESSION_SECRET", "a-session-secret-of-at-least-32-bytes")
    monkeypatch.chdir(tmp_path)
    with emulator.serve() as url:
        monkeypatch.setattr(altinn, "TEST", emulator.environment_for(url))
        yield Playground(emulator, url)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[httpx.AsyncClient]:
    """Every httpx.AsyncClient made while the example runs."""
    made: list[httpx.AsyncClient] = []
    original = httpx.AsyncClient.__init__

    def tracking(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", tracking)
    return made


def run(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace


def block(heading: str) -> str:
    return next(code for title, code in BLOCKS if title == heading)


def test_maskinporten_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Maskinporten, then an Altinn token"))
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 20
    assert all(line.split()[1].startswith("ttd/") for line in printed)
    assert playground.emulator.requests["maskinporten.token"] == 1
    assert opened
    assert all(client.is_closed for client in opened)


def test_selfservice_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Maskinporten self-service"))
    assert capsys.readouterr().out.strip() == "('key-2',)"
    requests = playground.emulator.requests
    assert requests["selfservice.clients"] == 1  # the create
    assert requests["maskinporten.token"] == 2  # the admin token, then the new client's
    # The new client's one grant was signed with key-1 (its token outlives the rotation).
    created = [g for g in playground.emulator.grants if g.client_id != "my-admin-client-id"]
    assert [g.kid for g in created] == ["key-1"]
    assert all(client.is_closed for client in opened)


def test_idporten_web_backend_example(
    playground: Playground, opened: list[httpx.AsyncClient]
) -> None:
    routes = run(block("ID-porten: a person logs in, Altinn is called as them"))
    party = playground.emulator.person(DEFAULT_PID).party_id

    async def browse() -> tuple[str, list[str], str]:
        url = await routes["login"]("web-session-1")
        callback_url = await playground.emulator.idporten_login(url, pid=DEFAULT_PID)
        said = await routes["callback"]("web-session-1", callback_url)
        first = await routes["my_instances"]("web-session-1", party)
        again = await routes["my_instances"]("web-session-1", party)
        assert again == first
        bye = await routes["logout"]("web-session-1")
        with pytest.raises(altinn.LoginRequiredError):
            await routes["my_instances"]("web-session-1", party)
        await routes["shutdown"]()
        return said, first, bye

    said, instances, bye = anyio.run(browse)
    assert said == "logged in at idporten-loa-substantial"
    assert len(instances) == 3
    assert "post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Flogged-out" in bye
    assert playground.emulator.requests["authentication.exchange"] == 1  # one exchange, 2 calls
    assert all(client.is_closed for client in opened)


def test_redis_example(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "ab" * 32)
    for _ in range(2):  # a second process: its tokens come from Redis
        run(block("Several processes: Redis"))
    printed = capsys.readouterr().out.splitlines()
    stores = (
        "RedisTokenStore(namespace='altinn_async') RedisPendingLoginStore(namespace='altinn_async')"
    )
    assert printed[3] == printed[7] == stores  # no secret in a repr
    assert printed[:3] == printed[4:7]
    assert len(printed) == 8
    assert all(len(line.split("/")) == 2 for line in printed[:3])  # party id / instance guid
    assert playground.emulator.requests["maskinporten.token"] == 1
    assert playground.emulator.requests["authentication.exchange"] == 1
    assert playground.emulator.requests["storage.instances"] == 2
    with redis.Redis.from_url(redis_url) as server:
        assert len(server.keys("altinn_async:token:*")) == 2  # the two tokens, encrypted
    assert all(client.is_closed for client in opened)


def test_altinn2_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Altinn 2 (legacy)"))
    printed = capsys.readouterr().out
    assert "Vedtak -> attachments/vedtak.pdf" in printed  # the "../../" stayed out
    assert Path("attachments/vedtak.pdf").read_bytes() == b"%PDF-1.4"
    assert all(client.is_closed for client in opened)


def test_harvest_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Bulk harvests"))
    assert capsys.readouterr().out.strip() == "33 instances, 30 files"  # 3 have no data
    lines = Path("instances.jsonl").read_text().splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == len(lines) == 33
    run(block("Bulk harvests"))  # resumed: nothing new, nothing twice
    assert capsys.readouterr().out.strip() == "0 instances, 0 files"
    assert len(Path("instances.jsonl").read_text().splitlines()) == 33
    assert all(client.is_closed for client in opened)


def test_queue_example(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "ab" * 32)
    module = run(block("Harvests on several machines: arq"))  # not __main__: nothing runs yet
    workers: list[Worker] = []

    async def deploy() -> None:
        # What `arq harvest_worker.WorkerSettings` starts, twice (here, in this process), and
        # `python harvest_worker.py`.
        workers.extend(
            Worker(**module["WorkerSettings"], handle_signals=False, poll_delay=0.05)
            for _ in range(2)
        )
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for worker in workers:
                    group.start_soon(worker.main)
                await module["main"]()
                group.cancel_scope.cancel()
        with warnings.catch_warnings():
            # arq closes its pool with redis-py 5's deprecated close(): arq's, not ours.
            warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
            for worker in workers:
                await worker.close()

    anyio.run(deploy)
    assert capsys.readouterr().out.strip() == "33 instances from 8 shards"
    lines = Path("instances.jsonl").read_text().splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == len(lines) == 33
    assert len([p for p in Path("data").rglob("*") if p.is_file()]) == 30  # 3 have no data
    assert sum(worker.jobs_complete for worker in workers) == 8
    with redis.Redis.from_url(redis_url) as server:
        assert server.keys("altinn_async:harvest:*") == []  # delete_harvest removed the run
    assert all(client.is_closed for client in opened)


def test_messaging_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Altinn 3 messaging: Dialogporten, Correspondence, Authorized Parties"))
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 4  # three dialogs, then the summary
    assert printed[-1] == f"{MAILBOX} dialogs, {MAILBOX} attachments"
    lines = Path("mailbox.jsonl").read_text().splitlines()
    assert len({json.loads(line)["dialog"]["id"] for line in lines}) == len(lines) == MAILBOX
    run(block("Altinn 3 messaging: Dialogporten, Correspondence, Authorized Parties"))
    assert capsys.readouterr().out.strip().splitlines()[-1] == "0 dialogs, 0 attachments"
    assert playground.emulator.requests["correspondence.markasread"] == 0
    assert all(client.is_closed for client in opened)


def test_fastapi_example(playground: Playground) -> None:
    namespace = run(block("FastAPI backends"))
    party = playground.emulator.person(DEFAULT_PID).party_id

    async def call(base: str) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        key = altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")
        async with (
            altinn.AltinnExchangeAuth(
                altinn.MaskinportenAuth(
                    client_id="my-client-id", key=key, environment=altinn.TEST,
                    scopes=["altinn:serviceowner/instances.read"],
                )
            ) as auth,
            httpx.AsyncClient(base_url=base) as http,
        ):  # fmt: skip
            bearer = (await auth.get_token()).access_token
            good = await http.get("/whoami", headers={"Authorization": f"Bearer {bearer}"})
            bad = await http.get("/whoami")
            # A person logs in (the emulator plays the browser; the cookies are Secure, so
            # they are carried by hand over this plain-http loopback).
            start = await http.get("/auth/login", params={"next": "/my-instances"})
            callback = await playground.emulator.idporten_login(start.headers["location"])
            query = httpx.URL(callback).query.decode()
            done = await http.get(
                f"/auth/callback?{query}",
                headers={"cookie": start.headers["set-cookie"].split(";")[0]},
            )
            session = done.headers["set-cookie"].split(";")[0]
            mine = await http.get(
                "/my-instances", params={"party_id": party}, headers={"cookie": session}
            )
            return good, bad, mine

    with uvicorn_serving(lambda _: namespace["app"]) as url:
        good, bad, mine = anyio.run(call, url)
    assert good.json() == {"org": "ttd", "org_number": "405003309"}
    assert bad.status_code == 401
    assert len(mine.json()) == 3
    assert all(i.startswith(f"{party}/") for i in mine.json())


def test_emulator_example(opened: list[httpx.AsyncClient]) -> None:
    run(block("The emulator: `altinn_async.testing`"))
    assert opened
    assert all(client.is_closed for client in opened)


def test_no_example_needs_a_secret_in_its_code() -> None:
    # The examples read their secrets from the environment: nothing of the test's is in them.
    for _, code in BLOCKS:
        assert "Passord1" not in code
        assert "the-api-key" not in code


def test_pytest_plugin_example(pytester: pytest.Pytester) -> None:
    # The sample test, as a team's test file, run by pytest with the plugin as installed.
    _, sample = [code for title, code in BLOCKS if title == "The emulator: `altinn_async.testing`"]
    pytester.makepyfile(test_sample=sample)
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "--strict-markers", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_count_instances?asyncio? PASSED*", "*test_count_instances?trio? PASSED*"]
    )
