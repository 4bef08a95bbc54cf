"""Downloads to disk: safe names, whole files or none, and bodies cut short (defects 5, 12)."""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

import altinn_async as altinn
from altinn_async._files import download_to, sweep_partials

URL = "https://platform.example/storage/api/v1/instances/1/guid/data/d1"
FAST = altinn.RetryPolicy(backoff=0.001)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("vedtak.pdf", "vedtak.pdf"),
        ("../../evil.txt", "evil.txt"),
        ("..", "download"),
        ("/etc/passwd", "passwd"),
        ("C:\\Windows\\win.ini", "win.ini"),
        (".bashrc", "bashrc"),
        ("...", "download"),
        ("a\x00b\x1f.pdf", "a_b_.pdf"),
        ('what?<>:"|*.txt', "what_______.txt"),
        ("trailing. ", "trailing"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("", "download"),
        (None, "download"),
        ("Søknad om støtte.pdf", "Søknad om støtte.pdf"),
    ],
)
def test_safe_filename(name: str | None, safe: str) -> None:
    assert altinn.safe_filename(name) == safe


def test_long_names_keep_their_extension_within_200_bytes() -> None:
    name = "æ" * 300 + ".pdf"
    safe = altinn.safe_filename(name)
    assert safe.endswith(".pdf")
    assert len(safe.encode()) <= 200
    safe.encode().decode()  # not cut in the middle of a character


class Cut(httpx.AsyncByteStream):
    """A body that breaks off after ``after`` bytes, as a dropped connection does."""

    def __init__(self, body: bytes, after: int) -> None:
        self.body, self.after = body, after

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body[: self.after]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


class Server:
    def __init__(self, body: bytes, cuts: int) -> None:
        self.body, self.cuts, self.requests = body, cuts, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        headers = {"Content-Length": str(len(self.body))}
        if self.requests <= self.cuts:
            return httpx.Response(200, headers=headers, stream=Cut(self.body, len(self.body) // 3))
        return httpx.Response(200, headers=headers, content=self.body)


async def test_a_body_cut_short_starts_the_download_again(tmp_path: Path) -> None:
    body = bytes(range(256)) * 4096
    server = Server(body, cuts=2)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        size = await download_to(http, URL, tmp_path / "data.bin", policy=FAST)
    assert size == len(body)
    assert (tmp_path / "data.bin").read_bytes() == body
    assert server.requests == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


async def test_a_body_cut_short_every_time_is_a_network_error_and_no_file(tmp_path: Path) -> None:
    server = Server(b"x" * 10_000, cuts=100)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        with pytest.raises(altinn.NetworkError, match="RemoteProtocolError"):
            await download_to(
                http, URL, tmp_path / "data.bin", policy=altinn.RetryPolicy(attempts=3, backoff=0)
            )
    assert server.requests == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [1000, 500_000])  # read whole, and streamed
async def test_a_body_of_the_wrong_size_is_fetched_again(tmp_path: Path, size: int) -> None:
    body = b"x" * size
    answers = [body[: size // 2], body]

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers.pop(0))  # whole, as far as HTTP can tell

    async with httpx.AsyncClient(transport=httpx.MockTransport(proxy)) as http:
        written = await download_to(
            http, URL, tmp_path / "data.bin", policy=FAST, expected_size=size
        )
    assert written == size
    assert (tmp_path / "data.bin").read_bytes() == body
    assert answers == []


async def test_a_body_always_of_the_wrong_size_leaves_no_file(tmp_path: Path) -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"short")

    async with httpx.AsyncClient(transport=httpx.MockTransport(proxy)) as http:
        with pytest.raises(altinn.NetworkError, match="5 bytes where 10 were expected"):
            await download_to(
                http,
                URL,
                tmp_path / "data.bin",
                policy=altinn.RetryPolicy(attempts=2, backoff=0),
                expected_size=10,
            )
    assert list(tmp_path.iterdir()) == []


async def test_an_error_status_is_an_api_error_and_no_file(tmp_path: Path) -> None:
    def gone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, text="Unable to find requested data item")

    async with httpx.AsyncClient(transport=httpx.MockTransport(gone)) as http:
        with pytest.raises(altinn.APIError, match="Unable to find"):
            await download_to(http, URL, tmp_path / "data.bin", policy=FAST)
    assert list(tmp_path.iterdir()) == []


async def test_a_cancelled_download_leaves_nothing(tmp_path: Path) -> None:
    started = anyio.Event()

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            while True:
                started.set()
                yield b"x" * 65536
                await anyio.sleep(0.001)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(
            functools.partial(download_to, http, URL, tmp_path / "big.bin", policy=FAST)
        )
        await started.wait()
        await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert list(tmp_path.iterdir()) == []


def test_sweep_removes_what_a_killed_download_left(tmp_path: Path) -> None:
    (tmp_path / "m1").mkdir()
    (tmp_path / "m1" / ".a.pdf.partial").write_bytes(b"half")
    (tmp_path / "m1" / "a.pdf").write_bytes(b"whole")
    (tmp_path / ".b.partial").write_bytes(b"half")
    assert sweep_partials(tmp_path) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["a.pdf"]
    assert sweep_partials(tmp_path / "missing") == 0


async def test_storage_download_to_uses_the_elements_name_safely(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<xml/>")

    element = {
        "id": "d1",
        "filename": "../../../etc/cron.d/evil",
        "selfLinks": {"platform": URL},
    }
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="https://platform.example"
    ) as http:
        storage = altinn.StorageClient(http)
        path = await storage.download_to(element, tmp_path / "out")
        named = await storage.download_to(element, tmp_path / "out", filename="model.xml")
    assert path == tmp_path / "out" / "evil"
    assert named == tmp_path / "out" / "model.xml"
    assert path.read_bytes() == b"<xml/>"


# --- the MD5 the metadata gives ------------------------------------------------------------------


def _md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("size", [1000, 500_000])  # read whole, and streamed
async def test_a_body_with_the_wrong_md5_is_fetched_again(tmp_path: Path, size: int) -> None:
    body = bytes(range(256)) * (size // 256)
    answers = [b"y" + body[1:], body]

    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers.pop(0))

    async with httpx.AsyncClient(transport=httpx.MockTransport(proxy)) as http:
        written = await download_to(
            http, URL, tmp_path / "data.bin", policy=FAST, expected_md5=_md5(body).upper()
        )
    assert written == len(body)
    assert (tmp_path / "data.bin").read_bytes() == body
    assert answers == []


@pytest.mark.parametrize("size", [1000, 500_000])
async def test_a_body_always_with_the_wrong_md5_is_a_checksum_error_and_no_file(
    tmp_path: Path, size: int
) -> None:
    requests = 0

    def proxy(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(200, content=b"z" * size)

    expected = _md5(b"what the metadata says")
    async with httpx.AsyncClient(transport=httpx.MockTransport(proxy)) as http:
        with pytest.raises(altinn.exceptions.ChecksumMismatchError) as info:
            await download_to(
                http,
                URL,
                tmp_path / "data.bin",
                policy=altinn.RetryPolicy(attempts=3, backoff=0),
                expected_md5=expected,
            )
    assert requests == 3
    assert isinstance(info.value, altinn.NetworkError)
    assert info.value.expected == expected
    assert info.value.actual == _md5(b"z" * size)
    assert expected in str(info.value)
    assert list(tmp_path.iterdir()) == []


async def test_a_base64_md5_is_read_too(tmp_path: Path) -> None:
    body = b"%PDF-1.7 ..."
    b64 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await download_to(http, URL, tmp_path / "a.pdf", policy=FAST, expected_md5=b64)
    assert (tmp_path / "a.pdf").read_bytes() == body


@pytest.mark.parametrize("bad", ["", "abc", "g" * 32, "not base64 at all!!!!!!!"])
async def test_a_checksum_that_is_not_an_md5_is_refused_before_any_request(
    tmp_path: Path, bad: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(altinn.ConfigurationError, match="not an MD5"):
            await download_to(http, URL, tmp_path / "a.pdf", policy=FAST, expected_md5=bad)
