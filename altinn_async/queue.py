"""A Storage harvest cut into shards that run as jobs of `arq <https://arq-docs.helpmanual.io>`_
workers on several processes or machines, with each shard's checkpoint and output in Redis
(``pip install 'altinn-async[queue]'``).

A `plan_harvest` cuts the instances of an org (or of some of its apps) into shards, one per app
and window of ``created`` time; the windows together list exactly what one query lists.
`enqueue_harvest` puts the shards on an arq queue; each worker (`worker_settings`) runs
`harvest_shard`; `wait_for_harvest` waits for every shard and `merge_harvest` writes their
outputs into one JSON Lines file.

Exactly once. A shard pages its list with the library's `StorageInstances` source. After each
page one Lua script, atomic in Redis, appends the page's records to the shard's output list, adds
their ids to the shard's set of written ids (a record whose id is in the set already is not
appended) and moves the shard's position past the page. A worker killed in the middle of a page
leaves the checkpoint at the page before: arq runs the job again once the dead worker's lease
(``arq:in-progress:{job}``, ``job_timeout`` + 10 s) has expired, and the next attempt lists from
the saved position, so nothing is written twice and nothing is lost. Each attempt takes the
shard over with a new owner token, and a commit by any other token is refused: a worker that
was only slow, not dead, cannot write beside the attempt that replaced it.

The records wait in Redis until `merge_harvest` writes them out (`delete_harvest` removes a
run; its keys also expire a week after their last change), so Redis needs the memory of the
harvest's JSON. With an ``encryption_key`` (`worker_settings`, `merge_harvest`) they are kept
there encrypted, as `altinn_async.redis` keeps tokens. Data elements (``download=True``) go to
the workers' ``files`` folder, which they must share.

Keys (``{namespace}`` is ``altinn_async:harvest`` unless given; the ``{run.shard}`` hash tag
keeps a shard's keys in one Redis Cluster slot)::

    {namespace}:{run}:plan                  the plan (JSON)
    {namespace}:{{run}.{shard}}:state       hash: owner, worker, attempt, position, finished,
                                            items, pages
    {namespace}:{{run}.{shard}}:ids         set: the instance ids written
    {namespace}:{{run}.{shard}}:items       list: the records written (JSON), in order
    {namespace}:{{run}.{shard}}:unconfirmed set: ids written but not confirmed yet (complete=)

Example, a worker module (``arq harvest_worker.WorkerSettings``)::

    import contextlib
    import os

    import httpx
    from arq.connections import RedisSettings

    import altinn_async as altinn
    from altinn_async.queue import worker_settings

    @contextlib.asynccontextmanager
    async def connect():
        auth = altinn.AltinnExchangeAuth(altinn.MaskinportenAuth(
            client_id="my-client-id", scopes=["altinn:serviceowner/instances.read"],
            key=altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id"),
            environment=altinn.TEST))
        async with auth, httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform) as http:
            yield altinn.StorageClient(http)

    WorkerSettings = worker_settings(
        connect, redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]))

and the coordinator::

    import os
    from datetime import UTC, datetime

    import arq
    from arq.connections import RedisSettings

    from altinn_async.queue import enqueue_harvest, merge_harvest, plan_harvest, wait_for_harvest

    plan = plan_harvest("ttd", app_ids=["ttd/app"], start=datetime(2024, 1, 1, tzinfo=UTC),
                        end=datetime(2027, 1, 1, tzinfo=UTC), windows=8)
    pool = await arq.create_pool(RedisSettings.from_dsn(os.environ["REDIS_URL"]))
    run = await enqueue_harvest(pool, plan)
    await wait_for_harvest(pool, run)
    await merge_harvest(pool, run, "instances.jsonl")
    await pool.aclose()
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import attrs
import redis.asyncio
from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job, JobStatus
from arq.worker import Retry, func

from ._files import deferred_sync, sweep_partials, sync_files
from ._harvest import StorageInstances, item_filename
from ._retry import Pacer, pacing
from ._storage import StorageClient, split_time
from .exceptions import AltinnError, ConfigurationError
from .redis import _Sealer

__all__ = [
    "DEFAULT_NAMESPACE",
    "HarvestPlan",
    "Shard",
    "ShardTakenOverError",
    "delete_harvest",
    "enqueue_harvest",
    "harvest_shard",
    "load_plan",
    "merge_harvest",
    "plan_harvest",
    "shard_state",
    "wait_for_harvest",
    "worker_settings",
]

DEFAULT_NAMESPACE = "altinn_async:harvest"
TASK = "harvest_shard"
_PARTS = ("state", "ids", "items", "unconfirmed")
_RUNNING = (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)
T = TypeVar("T")
_TTL_MS = 7 * 24 * 3600 * 1000  # a run's keys live a week after their last change

# KEYS: state, ids, items, unconfirmed. ARGV: owner, worker, ttl (ms), attempt. Returns the
# state as a flat list.
_CLAIM = """
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'worker', ARGV[2], 'attempt', ARGV[4])
redis.call('HSETNX', KEYS[1], 'items', 0)
redis.call('HSETNX', KEYS[1], 'pages', 0)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: state, ids, items, unconfirmed. ARGV: owner, position ('' for the end), finished
# ('0'/'1'), ttl (ms), confirms ('0'/'1'), then an id and its record for each item of the page.
# Returns how many records were appended, or -1 when another attempt owns the shard (nothing is
# changed then). With confirms, each id appended is also one to confirm.
_COMMIT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
local added = 0
for i = 6, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('RPUSH', KEYS[3], ARGV[i + 1])
    if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[i]) end
    added = added + 1
  end
end
redis.call('HSET', KEYS[1], 'position', ARGV[2], 'finished', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'items', added)
redis.call('HINCRBY', KEYS[1], 'pages', 1)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return added
"""


class ShardTakenOverError(AltinnError):
    """Another attempt took the shard over (this worker's lease had expired): this attempt
    stopped without writing, and the other one finishes the shard."""


@attrs.frozen
class Shard:
    """One shard of a harvest: an app (or the whole org), of one party or all, in one window of
    ``created`` time.

    Attributes:
        run: the run's id.
        number: the shard's number in the plan, from 1.
        org: the service owner.
        app_id: ``org/app``, or ``None`` for every app of the org.
        created: the window, ISO 8601 (``None``: no bound on that side).
        size: the page size.
        download: download each instance's data elements (into the worker's ``files``).
        namespace: the prefix of the run's Redis keys.
        party_id: the instance owner's party id, or ``None`` for every party.
        exclude_confirmed_by: list only instances this org has not confirmed (the service
            owner's download queue).
        complete: confirm each instance (``POST .../complete``) once it is in the shard's
            output.
    """

    run: str
    number: int
    org: str
    app_id: str | None
    created: tuple[str | None, str | None]
    size: int = 100
    download: bool = False
    namespace: str = DEFAULT_NAMESPACE
    party_id: str | None = None
    exclude_confirmed_by: str | None = None
    complete: bool = False

    @property
    def job_id(self) -> str:
        """The shard's arq job id (so it is enqueued once)."""
        return f"{self.namespace}:{self.run}:{self.number}"

    def key(self, part: str) -> str:
        """One of the shard's Redis keys: ``state``, ``ids``, ``items`` or ``unconfirmed``."""
        return f"{self.namespace}:{{{self.run}.{self.number}}}:{part}"

    def as_json(self) -> dict[str, Any]:
        """The shard as JSON (what the job is given)."""
        values = attrs.asdict(self)
        values["created"] = list(self.created)
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Shard:
        """The shard from `as_json`."""
        start, end = values["created"]
        return cls(
            run=str(values["run"]),
            number=int(values["number"]),
            org=str(values["org"]),
            app_id=None if values.get("app_id") is None else str(values["app_id"]),
            created=(start, end),
            size=int(values.get("size", 100)),
            download=bool(values.get("download", False)),
            namespace=str(values.get("namespace", DEFAULT_NAMESPACE)),
            party_id=None if values.get("party_id") is None else str(values["party_id"]),
            exclude_confirmed_by=(
                None
                if values.get("exclude_confirmed_by") is None
                else str(values["exclude_confirmed_by"])
            ),
            complete=bool(values.get("complete", False)),
        )

    def source(self, storage: StorageClient) -> StorageInstances:
        """The shard's list, as a harvest source."""
        start, end = (None if t is None else datetime.fromisoformat(t) for t in self.created)
        query: dict[str, Any] = {"org": self.org, "created": (start, end), "size": self.size}
        if self.app_id is not None:
            query["app_id"] = self.app_id
        if self.party_id is not None:
            query["party_id"] = self.party_id
        if self.exclude_confirmed_by is not None:
            query["exclude_confirmed_by"] = self.exclude_confirmed_by
        return StorageInstances(
            storage,
            name=f"shard.{self.number}",
            download=self.download,
            complete=self.complete,
            **query,
        )


@attrs.frozen
class HarvestPlan:
    """A harvest cut into shards (`plan_harvest`).

    Attributes:
        run: the run's id.
        shards: the shards, numbered from 1.
    """

    run: str
    shards: tuple[Shard, ...]

    def as_json(self) -> dict[str, Any]:
        """The plan as JSON."""
        return {"run": self.run, "shards": [shard.as_json() for shard in self.shards]}

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> HarvestPlan:
        """The plan from `as_json`."""
        return cls(str(values["run"]), tuple(Shard.from_json(s) for s in values["shards"]))


def plan_harvest(
    org: str,
    *,
    start: datetime,
    end: datetime,
    windows: int,
    app_ids: Sequence[str] | None = None,
    party_ids: Sequence[int | str] | None = None,
    size: int = 100,
    download: bool = False,
    exclude_confirmed_by: str | None = None,
    complete: bool = False,
    run: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> HarvestPlan:
    """The instances of ``org`` (or of ``app_ids``, of ``party_ids``) cut into one shard per
    app, party and window.

    The windows are `split_time`'s: equal slices of ``start``..``end`` on ``created``, the first
    also taking everything before ``start``, the last everything after ``end``, so the shards
    together list exactly what one query lists.

    Args:
        org: the service owner.
        start: an aware datetime near the oldest instance.
        end: an aware datetime near the newest.
        windows: windows per app.
        app_ids: ``org/app`` ids (default: the whole org, one shard per window).
        party_ids: instance owners' party ids: only their instances, a shard per party
            (default: every party's, not split by party).
        size: the page size.
        download: download the data elements too.
        exclude_confirmed_by: list only instances this org has not confirmed yet.
        complete: confirm each instance once it is in its shard's output (with
            ``exclude_confirmed_by=org``: the service owner's download queue, harvested once).
        run: the run's id (default: a random one).
        namespace: the prefix of the run's Redis keys.

    Raises:
        ConfigurationError: no org, an app of another org, or bad windows.
    """
    if not org:
        raise ConfigurationError("a harvest plan needs an org")
    apps: list[str | None] = list(app_ids) if app_ids else [None]
    for app in apps:
        if app is not None and not app.startswith(f"{org}/"):
            raise ConfigurationError(f"{app!r} is not an app of {org} (give org/app)")
    parties: list[str | None] = [str(p) for p in party_ids] if party_ids else [None]
    cuts = split_time(start, end, windows)
    run_id = run or secrets.token_hex(8)
    shards: list[Shard] = []
    for app in apps:
        for party in parties:
            for low, high in cuts:
                window = (
                    None if low is None else low.isoformat(),
                    None if high is None else high.isoformat(),
                )
                shard = Shard(
                    run=run_id, number=len(shards) + 1, org=org, app_id=app, created=window,
                    size=size, download=download, namespace=namespace, party_id=party,
                    exclude_confirmed_by=exclude_confirmed_by, complete=complete,
                )  # fmt: skip
                shards.append(shard)
    return HarvestPlan(run_id, tuple(shards))


# -- the worker ---------------------------------------------------------------------------------


def worker_settings(
    connect: Callable[[], AbstractAsyncContextManager[StorageClient]],
    *,
    redis_settings: RedisSettings,
    files: str | os.PathLike[str] | None = None,
    concurrency: int = 4,
    encryption_key: bytes | None = None,
    job_timeout: float = 3600.0,
    max_tries: int = 5,
    rate_limit: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The settings of an arq worker that runs harvest shards (``arq module.WorkerSettings``).

    The worker opens ``connect()`` once, when it starts (the Maskinporten and exchange auth and
    the HTTP client inside it), and closes it when it stops.

    A shard must finish within ``job_timeout`` (arq fails a job that runs longer). A worker that
    dies holds its shard until ``job_timeout`` + 10 s have passed (arq's lease); then another
    worker runs it again, up to ``max_tries`` attempts in all.

    Args:
        connect: makes the Storage client, as an async context manager.
        redis_settings: the Redis of the queue and of the checkpoints.
        files: the folder for downloaded data (``{files}/{instance id}/``), shared by the
            workers; ``None`` keeps no files.
        concurrency: instances worked on at once within a shard.
        encryption_key: 32 bytes: the records are kept in Redis encrypted with it (AES-256-GCM,
            as `altinn_async.redis` keeps tokens); `merge_harvest` needs the same key.
        job_timeout: seconds a shard may take.
        max_tries: attempts of a shard, at most.
        rate_limit: requests per second this worker sends, at most, over all its shards
            (``None``: no limit). As in a `Harvest`, one ``Retry-After`` pauses every request
            of the worker until it has passed.
        options: more `arq.worker.Worker` arguments (``max_jobs``, ``poll_delay``, ...).
    """
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    folder = None if files is None else Path(files)
    sealer = None if encryption_key is None else _Sealer(encryption_key)
    pacer = Pacer(rate_limit)  # checks the rate now, before a worker starts

    async def startup(ctx: dict[str, Any]) -> None:
        stack = AsyncExitStack()
        ctx["altinn_stack"] = stack
        ctx["altinn_storage"] = await stack.enter_async_context(connect())
        ctx["altinn_files"] = folder
        ctx["altinn_concurrency"] = concurrency
        ctx["altinn_sealer"] = sealer
        ctx["altinn_max_tries"] = max_tries
        ctx["altinn_pacer"] = pacer

    async def shutdown(ctx: dict[str, Any]) -> None:
        stack = ctx.pop("altinn_stack", None)
        if isinstance(stack, AsyncExitStack):
            await stack.aclose()

    return {
        "functions": [func(harvest_shard, name=TASK, max_tries=max_tries)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings,
        "job_timeout": job_timeout,
        "max_tries": max_tries,
        **options,
    }


def _sweep(folder: Path) -> None:
    if folder.is_dir():
        sweep_partials(folder)


async def _done(value: Awaitable[T] | T) -> T:
    """A ``redis.asyncio`` command's answer (its types allow the synchronous client's too)."""
    if inspect.isawaitable(value):
        return cast("T", await value)
    return value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def harvest_shard(ctx: dict[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The arq job: harvest one shard, from its checkpoint, into its Redis output.

    Returns ``{"shard", "items", "written", "attempt"}``: the shard's items in all, those this
    attempt wrote, and arq's attempt number.

    A request that failed after the client's own retries (`AltinnError`, other than a
    `ConfigurationError`) has arq run the shard again later (`arq.worker.Retry`, after 5 s times
    the attempt, at most a minute), from its checkpoint, until the worker's ``max_tries``; the
    last attempt raises the error itself.

    Raises:
        ShardTakenOverError: another attempt owns the shard now.
        AltinnError: the last attempt failed.
    """
    shard = Shard.from_json(spec)
    client: redis.asyncio.Redis = ctx["redis"]
    keys = [shard.key(part) for part in _PARTS]
    owner = secrets.token_hex(16)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    attempt = int(ctx.get("job_try", 1))
    flat = await client.register_script(_CLAIM)(keys=keys, args=[owner, worker, _TTL_MS, attempt])
    state = {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}
    pacer = ctx.get("altinn_pacer")
    try:
        with pacing(pacer if isinstance(pacer, Pacer) else Pacer()):
            # What an earlier attempt wrote but could not confirm, first.
            leftovers = await _done(client.smembers(keys[3]))
            await _confirm(shard, ctx, keys, [_text(key) for key in leftovers])
            if state.get("finished") == "1":
                return {"shard": shard.number, "items": int(state["items"]), "written": 0,
                        "attempt": attempt}  # fmt: skip
            written = await _run(shard, ctx, keys, owner, state.get("position") or None)
    except AltinnError as exc:
        tries = int(ctx.get("altinn_max_tries", 1))
        if isinstance(exc, ShardTakenOverError | ConfigurationError) or attempt >= tries:
            raise
        raise Retry(defer=min(60.0, 5.0 * attempt)) from exc
    total = int(await _done(client.hget(keys[0], "items")) or 0)
    return {"shard": shard.number, "items": total, "written": written, "attempt": attempt}


async def _run(
    shard: Shard, ctx: dict[str, Any], keys: list[str], owner: str, position: str | None
) -> int:
    """List the shard from ``position`` to its end, committing each page; returns how many
    records this attempt appended."""
    client: redis.asyncio.Redis = ctx["redis"]
    files: Path | None = ctx.get("altinn_files")
    sealer: _Sealer | None = ctx.get("altinn_sealer")
    commit = client.register_script(_COMMIT)
    confirms = "1" if shard.complete else "0"
    source = shard.source(ctx["altinn_storage"])
    limiter = anyio.CapacityLimiter(int(ctx.get("altinn_concurrency", 4)))
    written = 0
    async for page in source.open(position).pages():
        items = page.items
        ids = [source.key(item) for item in items]
        known = await _done(client.smismember(keys[1], ids)) if ids else []
        todo = [(key, item) for key, item, seen in zip(ids, items, known, strict=True) if not seen]
        records: dict[str, str] = {}

        async def work(key: str, item: dict[str, Any], records: dict[str, str]) -> None:
            async with limiter:
                folder = None if files is None else files / item_filename(key)
                if folder is not None:
                    # What a killed attempt's download of this item left (the item is this
                    # shard's alone, and this attempt owns the shard).
                    await anyio.to_thread.run_sync(_sweep, folder)
                await source.fetch(item, folder)
                line = json.dumps(source.record(item), ensure_ascii=False, separators=(",", ":"))
                records[key] = line if sealer is None else sealer.seal(keys[2], line.encode())

        with deferred_sync() as downloaded:
            try:
                async with anyio.create_task_group() as group:
                    for key, item in todo:
                        group.start_soon(work, key, item, records)
            except BaseExceptionGroup as failures:
                raise _first(failures) from None
        # The files are durable before the checkpoint says their items are done.
        await anyio.to_thread.run_sync(sync_files, downloaded)
        pairs = [value for key, _ in todo for value in (key, records[key])]
        last = page.next is None
        added = await commit(
            keys=keys,
            args=[owner, page.next or "", "1" if last else "0", _TTL_MS, confirms, *pairs],
        )
        if added < 0:
            raise ShardTakenOverError(f"shard {shard.number} of run {shard.run} was taken over")
        written += added
        if source.confirms:
            await _confirm(shard, ctx, keys, [key for key, _ in todo])
    return written


async def _confirm(shard: Shard, ctx: dict[str, Any], keys: list[str], ids: list[str]) -> None:
    """Confirm instances written to the shard's output (each taken off its set to confirm once
    Storage has it; what fails stays there for the next attempt)."""
    if not ids or not shard.complete:
        return
    client: redis.asyncio.Redis = ctx["redis"]
    source = shard.source(ctx["altinn_storage"])
    limiter = anyio.CapacityLimiter(int(ctx.get("altinn_concurrency", 4)))

    async def confirm(key: str) -> None:
        async with limiter:
            await source.confirm(key)
            await _done(client.srem(keys[3], key))

    try:
        async with anyio.create_task_group() as group:
            for key in ids:
                group.start_soon(confirm, key)
    except BaseExceptionGroup as failures:
        raise _first(failures) from None


def _first(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first failure in a task group's, not a cancellation."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [failures]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[:0] = exc.exceptions
        else:
            leaves.append(exc)
    cancelled = anyio.get_cancelled_exc_class()
    return next((exc for exc in leaves if not isinstance(exc, cancelled)), leaves[0])


# -- the coordinator ----------------------------------------------------------------------------


def _plan_key(namespace: str, run: str) -> str:
    return f"{namespace}:{run}:plan"


async def enqueue_harvest(pool: ArqRedis, plan: HarvestPlan) -> str:
    """Store the plan and put each of its shards on the queue; returns the run's id.

    A shard already enqueued (the same run given again) is not enqueued twice.
    """
    if not plan.shards:
        raise ConfigurationError("the plan has no shards")
    namespace = plan.shards[0].namespace
    await pool.set(_plan_key(namespace, plan.run), json.dumps(plan.as_json()), px=_TTL_MS)
    for shard in plan.shards:
        await pool.enqueue_job(TASK, shard.as_json(), _job_id=shard.job_id)
    return plan.run


async def load_plan(
    client: redis.asyncio.Redis, run: str, *, namespace: str = DEFAULT_NAMESPACE
) -> HarvestPlan:
    """The plan of a run enqueued earlier.

    Raises:
        ConfigurationError: no such run (or it expired).
    """
    stored = await client.get(_plan_key(namespace, run))
    if stored is None:
        raise ConfigurationError(f"no harvest run {run!r} in Redis (under {namespace})")
    return HarvestPlan.from_json(json.loads(stored))


async def wait_for_harvest(
    pool: ArqRedis,
    run: str,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    poll: float = 0.5,
    stalled: float = 3610.0,
) -> list[dict[str, Any]]:
    """Wait for every shard of the run (bound it with ``anyio.fail_after``); returns, in plan
    order, what the job that finished each shard returned (``{"shard", "items", "written",
    "attempt"}``; ``written`` is ``None`` when that job's result is gone).

    A shard is done when its checkpoint says so, not when its arq job ends: an attempt that
    was taken over (its worker paused past its lease while another ran the shard again) ends
    the job with `ShardTakenOverError`, possibly after the attempt that finished the shard.
    While the attempt that took over makes progress, this waits for it; when the checkpoint of
    such a shard has not moved for ``stalled`` seconds (that attempt's worker died too, and arq
    has no job left to run again), the shard is enqueued again, from its checkpoint. Set
    ``stalled`` to the workers' ``job_timeout`` + 10 s (arq's lease).

    Raises:
        Exception: the first shard that failed for good, as arq reports it.
        ConfigurationError: no such run, or a shard whose job is gone without finishing it.
    """
    plan = await load_plan(pool, run, namespace=namespace)
    return [await _wait_for_shard(pool, shard, poll=poll, stalled=stalled) for shard in plan.shards]


async def _shard_done(pool: ArqRedis, shard: Shard, state: Mapping[str, str]) -> bool:
    """Listed to its end, and every instance it wrote confirmed (with ``complete``)."""
    if state.get("finished") != "1":
        return False
    return not await _done(pool.scard(shard.key("unconfirmed")))


async def _wait_for_shard(
    pool: ArqRedis, shard: Shard, *, poll: float, stalled: float
) -> dict[str, Any]:
    job = Job(shard.job_id, pool)
    again = 0
    progress: tuple[str | None, str | None] | None = None
    since = anyio.current_time()
    while True:
        state = await shard_state(pool, shard)
        status = await job.status()
        if await _shard_done(pool, shard, state):
            if status in _RUNNING:
                await anyio.sleep(poll)  # its job is returning (or is a rerun, a no-op)
                continue
            info = await job.result_info()
            if info is not None and info.success and isinstance(info.result, dict):
                return info.result
            return {"shard": shard.number, "items": int(state["items"]), "written": None,
                    "attempt": int(state.get("attempt", 0))}  # fmt: skip
        if status in _RUNNING:
            since = anyio.current_time()  # arq has it in hand
        elif status is JobStatus.not_found:
            raise ConfigurationError(
                f"shard {shard.number} of run {shard.run}: its job {job.job_id} is gone and the "
                "shard is not finished (its result expired, or it was never enqueued); "
                "enqueue_harvest the plan again"
            )
        else:
            info = await job.result_info()
            failure = None if info is None or info.success else info.result
            if not isinstance(failure, ShardTakenOverError):
                if await _shard_done(pool, shard, await shard_state(pool, shard)):
                    continue  # it finished just now
                if isinstance(failure, BaseException):
                    raise failure
                raise ConfigurationError(
                    f"shard {shard.number} of run {shard.run}: its job ended without finishing it"
                )
            # Taken over: the attempt that took over has no job of its own to watch.
            moved = (state.get("owner"), state.get("pages"))
            if moved != progress:
                progress, since = moved, anyio.current_time()
            elif anyio.current_time() - since >= stalled:
                again += 1
                job_id = f"{shard.job_id}:again:{again}"
                await pool.enqueue_job(TASK, shard.as_json(), _job_id=job_id)
                job = Job(job_id, pool)
                since = anyio.current_time()
        await anyio.sleep(poll)


async def merge_harvest(
    client: redis.asyncio.Redis,
    run: str,
    path: str | os.PathLike[str],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    encryption_key: bytes | None = None,
    chunk: int = 1000,
) -> int:
    """Write the outputs of every shard, in plan order, into one JSON Lines file; returns how
    many lines. The file appears whole or not at all (written beside it, then renamed).

    Args:
        client: the Redis of the checkpoints.
        run: the run's id.
        path: the JSON Lines file.
        namespace: the prefix of the run's Redis keys.
        encryption_key: the workers' ``encryption_key``, if they had one.
        chunk: records read from Redis at a time.

    Raises:
        ConfigurationError: a shard is not finished, or its output does not match its
            checkpoint.
        EncryptedValueError: a record that the key does not open.
    """
    plan = await load_plan(client, run, namespace=namespace)
    sealer = None if encryption_key is None else _Sealer(encryption_key)
    final = Path(path)
    partial = final.with_name(f".{final.name}.partial")
    lines = 0
    with partial.open("wb") as file:
        for shard in plan.shards:
            state = await shard_state(client, shard)
            if state.get("finished") != "1":
                raise ConfigurationError(f"shard {shard.number} of run {run} is not finished")
            count = await _done(client.llen(shard.key("items")))
            ids = await _done(client.scard(shard.key("ids")))
            if count != int(state["items"]) or count != ids:
                raise ConfigurationError(
                    f"shard {shard.number} of run {run}: its output does not match its checkpoint"
                )
            for offset in range(0, count, chunk):
                end = offset + chunk - 1
                for stored in await _done(client.lrange(shard.key("items"), offset, end)):
                    record = stored if isinstance(stored, bytes) else stored.encode()
                    if sealer is not None:
                        record = sealer.open(shard.key("items"), record)
                    file.write(record)
                    file.write(b"\n")
                    lines += 1
        file.flush()
        os.fsync(file.fileno())
    partial.replace(final)
    return lines


async def shard_state(client: redis.asyncio.Redis, shard: Shard) -> dict[str, str]:
    """A shard's checkpoint (progress): ``owner``, ``worker`` (``host:pid`` of the last attempt),
    ``attempt`` (arq's try number of the last attempt), ``position``, ``finished`` (``"1"`` when
    done), ``items`` and ``pages``; empty before the shard first starts."""
    stored = await _done(client.hgetall(shard.key("state")))
    return {_text(k): _text(v) for k, v in stored.items()}


async def delete_harvest(
    client: redis.asyncio.Redis, run: str, *, namespace: str = DEFAULT_NAMESPACE
) -> None:
    """Remove a run's checkpoints and outputs from Redis (the arq results expire by themselves)."""
    plan = await load_plan(client, run, namespace=namespace)
    for shard in plan.shards:
        await client.delete(*(shard.key(part) for part in _PARTS))
    await client.delete(_plan_key(namespace, run))
