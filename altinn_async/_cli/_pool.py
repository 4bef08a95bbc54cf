"""A bounded pool of workers whose first failure is raised as itself, not as a group."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["each"]

T = TypeVar("T")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def each(
    items: AsyncIterable[T] | Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
) -> None:
    """Run ``work(item)`` for every item, at most ``concurrency`` at once, in order of arrival.

    Items are taken from ``items`` only as fast as workers are free, so an endless or huge
    source costs no memory, and cancelling costs as little as ``concurrency`` tasks. The first
    failure cancels the rest and is raised itself (a task group would wrap it in a group).
    """
    send, receive = anyio.create_memory_object_stream[T]()

    async def worker(stream: MemoryObjectReceiveStream[T]) -> None:
        async with stream:
            async for item in stream:
                await work(item)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker, receive.clone())
            receive.close()
            async with send:
                if isinstance(items, AsyncIterable):
                    async for item in items:
                        await send.send(item)
                else:
                    for item in items:
                        await send.send(item)
    except BaseExceptionGroup as failures:
        leaves = _leaves(failures)
        cancelled = anyio.get_cancelled_exc_class()
        first = next((leaf for leaf in leaves if not isinstance(leaf, cancelled)), leaves[0])
        raise first from None
