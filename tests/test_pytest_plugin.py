"""The pytest plugin, tested as plugins are: inner test sessions (pytester) that use its fixtures
and markers on asyncio and trio, and whose outcomes and messages are asserted here."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import _altinn_async_pytest as entry
import altinn_async.testing.pytest_plugin as plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent

# Every inner test runs on both backends, with warnings as errors (the inner session has no
# pyproject of ours to say so).
CONFTEST = """
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""


def line(text: str) -> str:
    """An fnmatch pattern for a line holding ``text`` (its ``[``, ``*`` and ``?`` match any one
    character: fnmatch has no escape that Python's re does not warn about)."""
    return "*" + re.sub(r"[\[*?]", "?", text) + "*"


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return pytester.runpytest(
        "-p", "anyio", "-p", "no:cacheprovider", "-W", "error", "--strict-markers", "-rs", *args
    )  # fmt: skip


# -- registration ------------------------------------------------------------------------------


def test_the_entry_point_is_declared_and_installed() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["pytest11"] == {"altinn_async": "_altinn_async_pytest"}
    (installed,) = [
        ep
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.dist is not None and ep.dist.name == "altinn-async"
    ]
    assert (installed.name, installed.value) == ("altinn_async", entry.__name__)
    assert installed.load() is entry


def _imported_by(statement: str) -> list[str]:
    """What of the library, httpx and the extras importing ``statement`` imports, in a fresh
    interpreter with warnings as errors (a warning fails it)."""
    watched = [
        "altinn_async", "httpx", "httpx2", "cryptography", "uvicorn", "fastapi", "redis", "arq",
        "httpx_aiohttp", "trio", "playwright",
    ]  # fmt: skip
    code = f"import sys; {statement}; print([m for m in {watched!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stderr == ""
    return list(eval(done.stdout))  # noqa: S307 - a list of names this test printed


def test_loading_the_plugin_imports_nothing_of_the_library() -> None:
    # pytest loads the entry point in every session on the machine: it must cost nothing, and
    # leave an application's httpx2.alias_httpx() (in its conftest) before any import of httpx.
    assert _imported_by("import _altinn_async_pytest") == []


def test_the_fixtures_import_the_library_but_no_extra() -> None:
    # httpx2 too where it is installed (the library's seam imports it then).
    imported = set(_imported_by("import altinn_async.testing.pytest_plugin")) - {"httpx2"}
    assert imported == {"altinn_async", "httpx", "cryptography"}


def test_a_session_that_uses_no_fixture_of_it_never_imports_the_library(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_inner="""
        import sys

        def test_untouched():
            assert [m for m in ("altinn_async", "httpx") if m in sys.modules] == []

        def test_last(altinn_emulator):
            assert "altinn_async" in sys.modules
            assert altinn_emulator.environment.name
        """
    )
    # A subprocess: this session has imported everything already.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)


def test_the_fixtures_docstrings_name_the_defaults() -> None:
    # They live in the entry module, which may not import the constants.
    assert plugin.MARKERS is entry.MARKERS
    assert plugin.DEFAULT_KID in (entry.altinn_signing_key.__doc__ or "")
    client_doc = entry.altinn_maskinporten_client.__doc__ or ""
    for default in (plugin.DEFAULT_CLIENT_ID, plugin.DEFAULT_ORG_NUMBER, *plugin.DEFAULT_SCOPES):
        assert default in client_doc


def test_the_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for name in plugin.MARKERS:
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}(*"])


def test_strict_markers_still_catches_a_misspelt_one(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.altinn_instance("ttd", "app", 3)
        def test_typo(altinn_emulator):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*'altinn_instance' not found in `markers`*"])


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    result = run(pytester, "def test_it(altinn_emulator):\n    pass\n", "-p", "no:altinn_async")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'altinn_emulator' not found*"])


# -- the fixtures ------------------------------------------------------------------------------


def test_five_lines_in_process_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import httpx
        import pytest
        import altinn_async as altinn
        from altinn_async.testing import assert_exchanged, assert_granted, assert_served

        pytestmark = pytest.mark.anyio

        async def my_job(auth, environment, transport):
            async with httpx.AsyncClient(
                transport=transport, auth=auth, base_url=environment.platform
            ) as http:
                return [i async for i in altinn.StorageClient(http).instances(app_id="ttd/app")]

        async def test_my_job(altinn_emulator, altinn_exchange_auth, altinn_environment):
            altinn_emulator.add_instances("ttd", "app", 3)
            found = await my_job(altinn_exchange_auth, altinn_environment,
                                 altinn_emulator.transport())
            assert len(found) == 3
            assert altinn_emulator.requests["maskinporten.token"] == 1
            assert_served(altinn_emulator, "authentication.exchange", times=1)
            assert_granted(altinn_emulator, client_id="altinn-test-client",
                           scopes=["altinn:serviceowner/instances.read"])
            assert_exchanged(altinn_emulator, provider="maskinporten",
                             claims={"urn:altinn:org": "ttd", "urn:altinn:orgNumber": "405003309"})
            assert altinn_environment == altinn_emulator.environment
        """,
        "-v",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_my_job?asyncio? PASSED*", "*test_my_job?trio? PASSED*"])


def test_served_tests_get_the_served_environment(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        import altinn_async as altinn

        pytestmark = pytest.mark.anyio

        @pytest.fixture
        def my_service(altinn_emulator_url):
            return f"uses {altinn_emulator_url}"

        @pytest.mark.altinn_instances("ttd", "app", 4)
        async def test_served(altinn_emulator, altinn_emulator_url, altinn_environment,
                              altinn_http):
            assert altinn_emulator_url.startswith("http://127.0.0.1:")
            assert altinn_environment == altinn_emulator.environment_for(altinn_emulator_url)
            assert str(altinn_http.base_url) == f"{altinn_environment.platform}/"
            found = [i async for i in altinn.StorageClient(altinn_http).instances(app_id="ttd/app")]
            assert len(found) == 4
            # The grant went over the socket, to the served origin's Maskinporten.
            aud = altinn_emulator.last_grant.claims["aud"]
            assert aud == f"{altinn_emulator_url}/maskinporten/"

        async def test_a_fixture_that_serves_makes_the_test_served(my_service, altinn_environment,
                                                                   altinn_emulator):
            assert altinn_environment != altinn_emulator.environment
            assert my_service.endswith(altinn_environment.platform.removesuffix("/platform"))

        async def test_in_process_otherwise(altinn_emulator, altinn_environment, altinn_http):
            assert altinn_environment == altinn_emulator.environment
            assert str(altinn_http.base_url) == "http://altinn.localhost/platform/"
        """,
    )
    result.assert_outcomes(passed=6)


def test_the_markers_seed_the_emulator(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        import altinn_async as altinn
        from altinn_async.testing import assert_granted

        pytestmark = [pytest.mark.anyio, pytest.mark.altinn_instances("digdir", "module-app", 2)]

        PID = "02918299725"

        @pytest.mark.altinn_emulator(events_delay=0, altinn_token_lifetime=60)
        @pytest.mark.altinn_person(PID, name="Kari Nordmann", party_id=51234567)
        @pytest.mark.altinn_instances("digdir", "app", 3, seed=7)
        @pytest.mark.altinn_instances("digdir", "app", 1)
        @pytest.mark.altinn_mailbox("310000001", 5, seed=2)
        @pytest.mark.altinn_maskinporten_client(
            "altinn:serviceowner/instances.read", "altinn:events.subscribe",
            client_id="my-client", org_number="991825827",
        )
        async def test_seeded(altinn_emulator, altinn_maskinporten_client, altinn_maskinporten_auth,
                              altinn_http):
            assert altinn_emulator.person(PID).name == "Kari Nordmann"
            assert altinn_emulator.person(PID).party_id == 51234567
            storage = altinn.StorageClient(altinn_http)
            app = [i async for i in storage.instances(app_id="digdir/app")]
            module = [i async for i in storage.instances(app_id="digdir/module-app")]
            assert (len(app), len(module)) == (4, 2)
            client = altinn_maskinporten_client
            assert (client.client_id, client.org_number) == ("my-client", "991825827")
            assert client.scopes == (
                "altinn:serviceowner/instances.read", "altinn:events.subscribe"
            )
            assert altinn_maskinporten_auth.scopes == client.scopes
            assert_granted(altinn_emulator, client_id="my-client", scopes=client.scopes)
            exchange = altinn_emulator.last_exchange
            assert exchange.altinn_claims["exp"] - exchange.altinn_claims["iat"] == 60
            assert "dialogs=5" in repr(altinn_emulator)  # the mailbox's, one per message

        class TestAClass:
            pytestmark = pytest.mark.altinn_emulator(events_delay=5)

            @pytest.mark.altinn_emulator(altinn2=False)
            def test_the_closest_marker_counts(self, altinn_emulator):
                assert altinn_emulator.environment.altinn2 is None

        KEYS = []

        def test_one_key_per_session(altinn_signing_key):
            KEYS.append(altinn_signing_key)
            assert altinn_signing_key.key_id == "altinn-test-key"

        def test_one_key_per_session_again(altinn_signing_key):
            assert KEYS == [altinn_signing_key]
        """,
    )
    result.assert_outcomes(passed=5)


def test_sync_fixtures_work_in_any_test(pytester: pytest.Pytester) -> None:
    # No anyio marker: a plain test (or another runner's) with the synchronous fixtures.
    result = run(
        pytester,
        """
        import anyio
        import httpx
        import altinn_async as altinn

        def test_plain(altinn_emulator, altinn_maskinporten_client, altinn_environment):
            client = altinn_maskinporten_client

            async def token():
                async with httpx.AsyncClient(transport=altinn_emulator.transport()) as http:
                    async with altinn.MaskinportenAuth(
                        client_id=client.client_id, key=client.key, scopes=client.scopes,
                        environment=altinn_environment, http_client=http,
                    ) as auth:
                        return await auth.get_token()

            assert anyio.run(token).scopes == client.scopes
            assert altinn_emulator.requests["maskinporten.token"] == 1
        """,
    )
    result.assert_outcomes(passed=1)


def test_the_async_fixtures_close_what_they_open(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        OPENED = []

        @pytest.mark.anyio
        async def test_use(altinn_http, altinn_emulator_url):
            OPENED.append(altinn_http)
            assert not altinn_http.is_closed

        @pytest.mark.anyio
        async def test_use_in_process(altinn_http):
            OPENED.append(altinn_http)

        def test_closed():
            assert len(OPENED) == 4
            assert all(http.is_closed for http in OPENED)
        """,
    )
    result.assert_outcomes(passed=5)


# -- failures and skips ------------------------------------------------------------------------


def test_assertion_helpers_fail_with_what_was_served(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        import altinn_async as altinn
        from altinn_async.testing import assert_exchanged, assert_granted, assert_served

        pytestmark = pytest.mark.anyio

        async def test_served_too_little(altinn_emulator, altinn_maskinporten_auth):
            await altinn_maskinporten_auth.get_token()
            assert_served(altinn_emulator, "maskinporten.token", times=2)

        async def test_granted_other_scopes(altinn_emulator, altinn_maskinporten_auth):
            await altinn_maskinporten_auth.get_token()
            assert_granted(altinn_emulator, scopes=["altinn:serviceowner/instances.write"])

        def test_nothing_exchanged(altinn_emulator):
            assert_exchanged(altinn_emulator)
        """,
    )
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(
        [
            line(
                "E       AssertionError: the emulator served 'maskinporten.token' once, expected "
                "2 times; it served: maskinporten.token once"
            ),
            line(
                "E       AssertionError: the last grant Maskinporten accepted (of 1) does not "
                "match: scopes are ['altinn:serviceowner/instances.read'], expected "
                "['altinn:serviceowner/instances.write']. Its claims: {"
            ),
            line(
                "E       AssertionError: Altinn authentication exchanged no token; it answered "
                "'authentication.exchange' 0 times"
            ),
        ]
    )
    # The helpers hide their own frames: the test's line is what the report shows.
    assert "__tracebackhide__" not in result.stdout.str()


def test_a_misused_marker_fails_the_setup_saying_which(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest

        @pytest.mark.altinn_instances("ttd", "app")
        def test_no_count(altinn_emulator):
            pass

        @pytest.mark.altinn_person("123")
        def test_bad_pid(altinn_emulator):
            pass

        @pytest.mark.altinn_emulator(no_such_option=1)
        def test_bad_option(altinn_emulator):
            pass

        @pytest.mark.altinn_maskinporten_client(scopes=["a:b"])
        def test_scopes_as_keyword(altinn_maskinporten_client):
            pass
        """,
    )
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.altinn_instances: *missing 1 required positional argument: 'count'",
            "*@pytest.mark.altinn_person: pid must be an 11-digit national identity number*",
            "*@pytest.mark.altinn_emulator: *unexpected keyword argument 'no_such_option'",
            line(
                "@pytest.mark.altinn_maskinporten_client: takes scopes, client_id= and "
                "org_number=, not ['scopes']"
            ),
        ]
    )
    assert "During handling" not in result.stdout.str()


def test_without_uvicorn_the_served_fixture_skips_saying_what_to_install(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        CONFTEST
        + textwrap.dedent(
            """
            import sys

            @pytest.fixture(autouse=True)
            def no_uvicorn(monkeypatch):
                monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn fails
            """
        )
    )
    pytester.makepyfile(
        test_inner="""
        import pytest

        @pytest.mark.anyio
        async def test_served(altinn_emulator_url):
            pass

        @pytest.mark.anyio
        async def test_in_process(altinn_http):
            assert (await altinn_http.get("/storage/api/v1/instances?org=ttd")).status_code == 200
        """
    )
    result = pytester.runpytest("-p", "anyio", "-W", "error", "--strict-markers", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED ?2? *"
            + line(
                "altinn_emulator_url serves the emulator on a port, which needs uvicorn: "
                "pip install 'altinn-async[emulator]'"
            )
        ]
    )
