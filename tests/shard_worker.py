"""An arq worker of harvest shards against a served emulator, for ``test_queue.py``:
``python -m arq tests.shard_worker.WorkerSettings``, configured by the environment."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from arq.connections import RedisSettings

import altinn_async as altinn
from altinn_async.queue import worker_settings
from altinn_async.testing import Emulator

CLIENT = "shard-harvester"
KID = "shard-kid"
READ = "altinn:serviceowner/instances.read"


@contextlib.asynccontextmanager
async def connect() -> AsyncIterator[altinn.StorageClient]:
    environment = Emulator().environment_for(os.environ["SHARD_EMULATOR"])
    key = altinn.SigningKey.from_pem(Path(os.environ["SHARD_KEY"]).read_bytes(), kid=KID)
    auth = altinn.AltinnExchangeAuth(
        altinn.MaskinportenAuth(client_id=CLIENT, scopes=[READ], key=key, environment=environment)
    )
    async with auth, httpx.AsyncClient(auth=auth, base_url=environment.platform) as http:
        yield altinn.StorageClient(http)


WorkerSettings = worker_settings(
    connect,
    redis_settings=RedisSettings.from_dsn(os.environ["SHARD_REDIS"]),
    files=os.environ["SHARD_FILES"],
    concurrency=2,
    job_timeout=float(os.environ.get("SHARD_JOB_TIMEOUT", "8")),
    max_tries=3,
    max_jobs=1,  # one shard at a time: a killed worker takes exactly one shard down
    poll_delay=0.1,
)
