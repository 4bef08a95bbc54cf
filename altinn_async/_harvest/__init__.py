"""Bulk harvesting: sources paged at once, a bounded worker pool, sinks, and a checkpoint that
makes the output hold every item exactly once, however often a run is killed and resumed."""

from ._checkpoint import Checkpoint, SourceState
from ._engine import Harvest, HarvestError, HarvestStats, HarvestSummary
from ._mailbox import DialogportenMailbox
from ._sinks import FolderSink, JsonLinesSink, Sink, item_filename
from ._sources import (
    Altinn2Messages,
    EventFeed,
    HarvestSource,
    PageSource,
    PaginatorSource,
    StorageInstances,
)

__all__ = [
    "Altinn2Messages",
    "Checkpoint",
    "DialogportenMailbox",
    "EventFeed",
    "FolderSink",
    "Harvest",
    "HarvestError",
    "HarvestSource",
    "HarvestStats",
    "HarvestSummary",
    "JsonLinesSink",
    "PageSource",
    "PaginatorSource",
    "Sink",
    "SourceState",
    "StorageInstances",
    "item_filename",
]
