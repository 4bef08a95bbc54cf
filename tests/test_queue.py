"""Harvest shards as jobs of 4 real arq worker processes on a real Redis, against the served
emulator: the merged output is exactly the set one process lists, also when a worker is killed
with SIGKILL in the middle of a shard (another worker runs the shard again after its lease).

arq runs on asyncio (and ``redis.asyncio`` with it), so these tests do too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import attrs
import httpx
import pytest
from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, result_key_prefix
from arq.jobs import serialize_result
from arq.utils import timestamp_ms
from arq.worker import Retry, Worker

import altinn_async as altinn
from altinn_async.queue import (
    HarvestPlan,
    Shard,
    ShardTakenOverError,
    enqueue_harvest,
    harvest_shard,
    load_plan,
    merge_harvest,
    plan_harvest,
    shard_state,
    wait_for_harvest,
    worker_settings,
)
from altinn_async.testing import Emulator

from .helpers import private_pem, signing_key

# As in shard_worker.py (which reads its settings from the environment when imported).
CLIENT = "shard-harvester"
KID = "shard-kid"
READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"  # confirmations
ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
JOB_TIMEOUT = 6.0  # arq's lease on a shard is this + 10 s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # arq and redis.asyncio are built on asyncio: they do not run on trio


@attrs.define
class Served:
    emulator: Emulator
    url: str
    ids: list[str]
    tmp: Path
    key_file: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emulator = Emulator()
    key = signing_key(KID)
    emulator.add_maskinporten_client(
        CLIENT, org_number="405003309", scopes=[READ], jwks=[key.public_jwk]
    )
    # Created over the last 90 days, at random.
    seeded = emulator.add_instances("ttd", "app", 240, seed=1)
    seeded += emulator.add_instances("ttd", "other", 160, seed=2)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(private_pem())
    with emulator.serve() as url:
        yield Served(emulator, url, [i["id"] for i in seeded], tmp_path, key_file)


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    made = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def workers(served: Served, redis_url: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    environment = {
        **os.environ,
        "SHARD_EMULATOR": served.url,
        "SHARD_KEY": str(served.key_file),
        "SHARD_REDIS": redis_url,
        "SHARD_FILES": str(served.tmp / "data"),
        "SHARD_JOB_TIMEOUT": str(JOB_TIMEOUT),
    }
    processes = []
    for number in range(WORKERS):
        with (served.tmp / f"worker-{number}.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "arq", "tests.shard_worker.WorkerSettings"],
                    cwd=ROOT,
                    env=environment,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def single_process_ids(served: Served) -> list[str]:
    environment = served.emulator.environment_for(served.url)
    key = altinn.SigningKey.from_pem(served.key_file.read_bytes(), kid=KID)
    auth = altinn.AltinnExchangeAuth(
        altinn.MaskinportenAuth(client_id=CLIENT, scopes=[READ], key=key, environment=environment)
    )
    async with auth, httpx.AsyncClient(auth=auth, base_url=environment.platform) as http:
        storage = altinn.StorageClient(http)
        return [instance["id"] async for instance in storage.instances(org="ttd", size=50)]


def _plan(windows: int) -> HarvestPlan:
    now = dt.datetime.now(dt.UTC)
    return plan_harvest(
        "ttd",
        app_ids=["ttd/app", "ttd/other"],
        start=now - dt.timedelta(days=91),
        end=now,
        windows=windows,
        size=10,
        download=True,
    )


def _written(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _log(served: Served) -> str:
    return "\n".join(p.read_text() for p in sorted(served.tmp.glob("worker-*.log")))


async def test_4_workers_harvest_12_shards_into_exactly_the_single_process_set(
    served: Served, pool: ArqRedis, workers: list[subprocess.Popen[bytes]]
) -> None:
    expected = await single_process_ids(served)
    assert sorted(expected) == sorted(served.ids)
    plan = _plan(6)
    assert len(plan.shards) == 12
    run = await enqueue_harvest(pool, plan)
    assert (await load_plan(pool, run)) == plan
    with anyio.fail_after(60):
        results = await wait_for_harvest(pool, run, poll=0.1)
    out = served.tmp / "out.jsonl"
    assert await merge_harvest(pool, run, out) == len(expected)
    written = _written(out)
    assert len(written) == len(set(written))  # no duplicate: a check, not the mechanism
    assert sorted(written) == sorted(expected)
    assert [r["shard"] for r in results] == list(range(1, 13))
    assert sum(r["items"] for r in results) == len(expected)
    assert all(r["attempt"] == 1 and r["written"] == r["items"] for r in results)
    owners = {(await shard_state(pool, shard))["worker"] for shard in plan.shards}
    assert len(owners) > 1, _log(served)  # the shards ran on several workers
    files = [p for p in (served.tmp / "data").rglob("*") if p.is_file()]
    assert len(files) == len(expected)  # one data element each


async def test_a_worker_killed_mid_shard_its_shard_reruns_elsewhere_and_the_set_is_exact(
    served: Served, pool: ArqRedis, workers: list[subprocess.Popen[bytes]]
) -> None:
    # Slow downloads: a shard of ~50 instances takes over a second, so the kill lands inside one.
    served.emulator.inject_fault("storage.data", status=0, delay=0.05, times=10**6)
    expected = await single_process_ids(served)
    plan = _plan(4)
    assert len(plan.shards) == 8
    run = await enqueue_harvest(pool, plan)
    pids = {process.pid: process for process in workers}
    victim = None
    with anyio.fail_after(30):
        # A shard with pages committed but not finished, and the worker running it.
        while victim is None:
            for shard in plan.shards:
                state = await shard_state(pool, shard)
                if state.get("finished") == "0" and int(state.get("pages", 0)) >= 1:
                    pid = int(state["worker"].rsplit(":", 1)[1])
                    assert pid in pids
                    victim, killed_at, shard_number = pids[pid], int(state["items"]), shard.number
                    os.kill(pid, signal.SIGKILL)
                    break
            else:
                await anyio.sleep(0.02)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    with anyio.fail_after(60):
        results = await wait_for_harvest(pool, run, poll=0.1)
    out = served.tmp / "out.jsonl"
    assert await merge_harvest(pool, run, out) == len(expected)
    written = _written(out)
    assert len(written) == len(set(written))
    assert sorted(written) == sorted(expected)
    rerun = results[shard_number - 1]
    assert rerun["attempt"] == 2, _log(served)  # arq ran it again after the dead worker's lease
    # The second attempt went on from the checkpoint: it wrote only what the first had not.
    assert 0 < rerun["written"] <= rerun["items"] - killed_at
    finisher = (await shard_state(pool, plan.shards[shard_number - 1]))["worker"]
    assert int(finisher.rsplit(":", 1)[1]) != victim.pid  # another worker finished it
    assert all(r["attempt"] == 1 for r in results if r["shard"] != shard_number)
    assert sum(r["items"] for r in results) == len(expected)
    files = [p for p in (served.tmp / "data").rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".")]  # no half-written download left
    assert len(files) == len(expected)
    for path in files:
        assert path.read_bytes().endswith(b"</Skjema>\n"), path  # each one complete


# --- one shard in this process: the checkpoint's rules --------------------------------------


@pytest.fixture
async def served_here() -> AsyncIterator[tuple[Emulator, httpx.AsyncClient]]:
    emulator = Emulator()
    key = signing_key(KID)
    emulator.add_maskinporten_client(
        CLIENT, org_number="405003309", scopes=[READ, WRITE], jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 45, seed=3)
    environment = emulator.environment
    async with (
        httpx.AsyncClient(transport=emulator.transport()) as token_http,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id=CLIENT, key=key, scopes=[READ, WRITE], environment=environment,
                http_client=token_http,
            )
        ) as auth,
        httpx.AsyncClient(
            transport=emulator.transport(), base_url=environment.platform, auth=auth
        ) as http,
    ):  # fmt: skip
        yield emulator, http


def _settings(storage: altinn.StorageClient, **options: Any) -> dict[str, Any]:
    """A worker's settings whose `connect` gives ``storage`` (this process's client)."""

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[altinn.StorageClient]:
        yield storage

    options.setdefault("redis_settings", RedisSettings())
    return worker_settings(connect, **options)


async def test_an_attempt_taken_over_writes_nothing_more_and_a_finished_shard_reruns_as_a_no_op(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis, tmp_path: Path
) -> None:
    emulator, http = served_here
    client = altinn.StorageClient(http)
    expected = [i["id"] async for i in client.instances(org="ttd")]
    now = dt.datetime.now(dt.UTC)
    plan = plan_harvest(
        "ttd", app_ids=["ttd/app"], start=now - dt.timedelta(days=91), end=now, windows=1,
        size=10,
    )  # fmt: skip
    (shard,) = plan.shards
    assert Shard.from_json(json.loads(json.dumps(shard.as_json()))) == shard
    run = await enqueue_harvest(pool, plan)
    key = bytes(range(32))

    settings = _settings(client, encryption_key=key)
    ctx: dict[str, Any] = {"redis": pool, "job_try": 1}
    await settings["on_startup"](ctx)  # what the arq worker does when it starts
    emulator.inject_fault("storage.instances", status=0, delay=0.2, times=10**6)
    failure: list[BaseException] = []

    async def first() -> None:
        try:
            await harvest_shard(ctx, shard.as_json())
        except ShardTakenOverError as exc:
            failure.append(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(first)
            while True:  # polling another process's progress, in Redis
                if int((await shard_state(pool, shard)).get("pages", 0)) >= 1:
                    break
                await anyio.sleep(0.01)
            # Another attempt takes the shard over while this one lists its next page.
            taking = pool.hset(shard.key("state"), "owner", "another-attempt")
            await cast("Awaitable[int]", taking)  # redis-py 5 types it as sync or async
    assert len(failure) == 1
    assert (await shard_state(pool, shard))["items"] == "10"  # the refused page left no trace
    emulator.clear_faults()
    second = await harvest_shard({**ctx, "job_try": 2}, shard.as_json())
    assert second == {"shard": 1, "items": 45, "written": 35, "attempt": 2}
    # arq may deliver a job once more (its worker died after the shard's last commit).
    third = await harvest_shard({**ctx, "job_try": 3}, shard.as_json())
    assert third == {"shard": 1, "items": 45, "written": 0, "attempt": 3}
    # Encrypted at rest: no instance id nor owner in the stored records.
    stored = b"".join(await cast("Awaitable[list[bytes]]", pool.lrange(shard.key("items"), 0, -1)))
    assert b"instanceOwner" not in stored
    assert not [i for i in expected if i.split("/")[1].encode() in stored]
    out = tmp_path / "out.jsonl"
    with pytest.raises(altinn.ConfigurationError):  # EncryptedValueError: it is JSON, not ours
        await merge_harvest(pool, run, out, encryption_key=bytes(range(1, 33)))
    assert await merge_harvest(pool, run, out, encryption_key=key) == 45
    assert sorted(_written(out)) == sorted(expected)
    await settings["on_shutdown"](ctx)


def test_a_plan_takes_apps_of_its_org_only() -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(altinn.ConfigurationError, match="not an app of ttd"):
        plan_harvest("ttd", app_ids=["skd/app"], start=now - dt.timedelta(days=1), end=now,
                     windows=2)  # fmt: skip
    plan = plan_harvest("ttd", start=now - dt.timedelta(days=1), end=now, windows=3)
    assert [s.app_id for s in plan.shards] == [None] * 3
    assert plan.shards[0].created[0] is None  # the first window takes everything before start
    assert plan.shards[-1].created[1] is None  # the last everything after end
    assert HarvestPlan.from_json(json.loads(json.dumps(plan.as_json()))) == plan


async def test_a_failed_request_has_arq_run_the_shard_again_until_its_last_try(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis
) -> None:
    emulator, http = served_here
    impatient = altinn.StorageClient(http, retry=altinn.RetryPolicy(attempts=1))

    settings = _settings(impatient, max_tries=3)
    ctx: dict[str, Any] = {"redis": pool}
    await settings["on_startup"](ctx)
    now = dt.datetime.now(dt.UTC)
    (shard,) = plan_harvest(
        "ttd", start=now - dt.timedelta(days=91), end=now, windows=1, size=10
    ).shards
    emulator.inject_fault("storage.instances", status=503, times=2)
    with pytest.raises(Retry) as again:
        await harvest_shard({**ctx, "job_try": 1}, shard.as_json())
    assert isinstance(again.value.__cause__, altinn.APIError)
    assert again.value.defer_score == 5000
    with pytest.raises(altinn.APIError):  # the last try: the error itself
        await harvest_shard({**ctx, "job_try": 3}, shard.as_json())
    done = await harvest_shard({**ctx, "job_try": 3}, shard.as_json())
    assert done["items"] == done["written"] == 45
    await settings["on_shutdown"](ctx)


async def test_shards_by_party_list_those_parties_instances_exactly(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis, tmp_path: Path
) -> None:
    _, http = served_here
    client = altinn.StorageClient(http)
    every = [i async for i in client.instances(org="ttd")]
    parties = sorted({i["instanceOwner"]["partyId"] for i in every})[:3]
    expected = [i["id"] for i in every if i["instanceOwner"]["partyId"] in parties]
    now = dt.datetime.now(dt.UTC)
    plan = plan_harvest(
        "ttd", party_ids=parties, start=now - dt.timedelta(days=91), end=now, windows=2, size=5
    )
    assert [s.party_id for s in plan.shards] == [p for p in parties for _ in range(2)]
    run = await enqueue_harvest(pool, plan)
    ctx: dict[str, Any] = {"redis": pool, "altinn_storage": client, "job_try": 1}
    for shard in plan.shards:
        await harvest_shard(ctx, shard.as_json())
    out = tmp_path / "out.jsonl"
    assert await merge_harvest(pool, run, out) == len(expected)
    assert sorted(_written(out)) == sorted(expected)


async def _end_job_as_taken_over(pool: ArqRedis, shard: Shard) -> None:
    """What arq leaves when an attempt that was taken over ends its job: the job's result is
    the attempt's `ShardTakenOverError`, and the job is off the queue (whoever took over has
    no job of its own)."""
    now = timestamp_ms()
    result = serialize_result(
        "harvest_shard", (shard.as_json(),), {}, 1, now, False,  # noqa: FBT003 - arq's signature
        ShardTakenOverError(f"shard {shard.number} of run {shard.run} was taken over"),
        now, now, f"{shard.job_id}:harvest_shard", default_queue_name, shard.job_id,
    )  # fmt: skip
    assert result is not None
    await pool.set(result_key_prefix + shard.job_id, result)
    await pool.zrem(default_queue_name, shard.job_id)


async def test_a_shard_whose_taking_over_attempt_died_too_is_enqueued_again_once_stalled(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis, redis_url: str, tmp_path: Path
) -> None:
    _, http = served_here
    client = altinn.StorageClient(http)
    expected = [i["id"] async for i in client.instances(org="ttd")]
    now = dt.datetime.now(dt.UTC)
    plan = plan_harvest("ttd", start=now - dt.timedelta(days=91), end=now, windows=1, size=10)
    (shard,) = plan.shards
    run = await enqueue_harvest(pool, plan)
    # The attempt that took over claimed the shard and died; the one it took over ended the job.
    claim = pool.hset(shard.key("state"), mapping={"owner": "dead", "pages": 0, "items": 0})
    await cast("Awaitable[int]", claim)
    await _end_job_as_taken_over(pool, shard)

    settings = _settings(client, redis_settings=RedisSettings.from_dsn(redis_url), poll_delay=0.05)
    worker = Worker(**settings, handle_signals=False)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.main)
            results = await wait_for_harvest(pool, run, poll=0.05, stalled=0.5)
            group.cancel_scope.cancel()
    with warnings.catch_warnings():
        # arq closes its pool with redis-py 5's deprecated close(): arq's, not ours.
        warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
        await worker.close()
    assert results == [{"shard": 1, "items": 45, "written": 45, "attempt": 1}]
    assert await pool.exists(result_key_prefix + f"{shard.job_id}:again:1")
    out = tmp_path / "out.jsonl"
    assert await merge_harvest(pool, run, out) == 45
    assert sorted(_written(out)) == sorted(expected)


async def test_a_finished_shard_is_done_whatever_its_last_job_said(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis
) -> None:
    _, http = served_here
    client = altinn.StorageClient(http)

    settings = _settings(client)
    ctx: dict[str, Any] = {"redis": pool, "job_try": 2}
    await settings["on_startup"](ctx)
    now = dt.datetime.now(dt.UTC)
    plan = plan_harvest("ttd", start=now - dt.timedelta(days=91), end=now, windows=1, size=10)
    run = await enqueue_harvest(pool, plan)
    (shard,) = plan.shards
    await harvest_shard(ctx, shard.as_json())  # the attempt that took over finished it...
    await _end_job_as_taken_over(pool, shard)  # ...before the one it took over ended the job
    with anyio.fail_after(10):
        results = await wait_for_harvest(pool, run, poll=0.05, stalled=0.2)
    assert results == [{"shard": 1, "items": 45, "written": None, "attempt": 2}]
    await settings["on_shutdown"](ctx)


async def test_a_workers_shards_share_its_pace_a_retry_after_pauses_them_all(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis
) -> None:
    emulator, http = served_here
    client = altinn.StorageClient(http)

    with pytest.raises(altinn.ConfigurationError, match="rate limit"):
        _settings(client, rate_limit=0)
    settings = _settings(client, rate_limit=200)
    ctx: dict[str, Any] = {"redis": pool, "job_try": 1}
    await settings["on_startup"](ctx)
    pacer = ctx["altinn_pacer"]
    now = dt.datetime.now(dt.UTC)
    shards = plan_harvest(
        "ttd", start=now - dt.timedelta(days=91), end=now, windows=2, size=10
    ).shards
    emulator.inject_fault("storage.instances", status=429, headers={"Retry-After": "0.05"})
    async with anyio.create_task_group() as group:  # two shards at once, as arq's max_jobs
        for shard in shards:
            group.start_soon(harvest_shard, ctx, shard.as_json())
    assert (pacer.pauses, pacer.retries) == (1, 1)  # the one 429, seen by the worker's pacer
    assert pacer.paused > 0  # every request waited its turn at 200 a second
    states = [await shard_state(pool, s) for s in shards]
    assert sum(int(state["items"]) for state in states) == 45
    await settings["on_shutdown"](ctx)


async def test_the_download_queue_each_instance_confirmed_once_written_leftovers_first(
    served_here: tuple[Emulator, httpx.AsyncClient], pool: ArqRedis, tmp_path: Path
) -> None:
    emulator, http = served_here
    client = altinn.StorageClient(http)

    settings = _settings(client, max_tries=3)
    ctx: dict[str, Any] = {"redis": pool}
    await settings["on_startup"](ctx)
    now = dt.datetime.now(dt.UTC)
    plan = plan_harvest(
        "ttd", start=now - dt.timedelta(days=91), end=now, windows=1, size=10,
        exclude_confirmed_by="ttd", complete=True,
    )  # fmt: skip
    (shard,) = plan.shards
    assert Shard.from_json(json.loads(json.dumps(shard.as_json()))) == shard
    run = await enqueue_harvest(pool, plan)
    # Storage refuses confirmations for a while: the first page is written, not confirmed.
    emulator.inject_fault("storage.complete", status=503, times=10**6)
    with pytest.raises(Retry):
        await harvest_shard({**ctx, "job_try": 1}, shard.as_json())
    state = await shard_state(pool, shard)
    assert (state["items"], state["finished"]) == ("10", "0")
    left = await cast("Awaitable[int]", pool.scard(shard.key("unconfirmed")))
    assert left == 10
    emulator.clear_faults()
    done = await harvest_shard({**ctx, "job_try": 2}, shard.as_json())
    assert (done["items"], done["written"]) == (45, 35)
    assert await cast("Awaitable[int]", pool.scard(shard.key("unconfirmed"))) == 0
    # Each written instance confirmed once it was in the output, the first page's on the rerun.
    assert emulator.requests["storage.complete"] >= 45
    assert [i async for i in client.instances(org="ttd", exclude_confirmed_by="ttd")] == []
    assert await merge_harvest(pool, run, tmp_path / "out.jsonl") == 45
    await settings["on_shutdown"](ctx)
