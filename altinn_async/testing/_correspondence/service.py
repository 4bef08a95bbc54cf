"""The Correspondence endpoints under ``/platform/correspondence/api/v1`` (``altinn3-messaging.md``
§1.2, ``CorrespondenceController.cs`` and the handlers it calls): the list, a correspondence's
overview, details and content, marking it read, confirming and purging it, and downloading its
attachments one by one or all in a zip.

What each handler checks, in order: the ``Accept`` header (406), the token and the policy
(401/403/302), model binding (400), then the handler: the correspondence (404/1001), the PDP
(401/4001), and the handler's own rules. ``Ocp-Apim-Subscription-Key`` is accepted and ignored.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .._events import EventsSeeding
from .._toolkit.asgi import Request, Response
from .._toolkit.jose import IssuedTokens
from .._toolkit.parties import PartyDirectory
from .._toolkit.responses import JSON_UTF8, content_disposition, empty_response, json_bytes
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from . import errors
from .access import (
    DialogTokenVerifier,
    Gate,
    Policy,
    Principal,
    default_party,
    no_access,
    parse_party,
)
from .events import RECEIVER_READ, register
from .model import US, Correspondence, CorrespondenceStore, Status, StatusEntry, seconds_to_us
from .query import LIMIT, ListQuery, Role, parse_list_query
from .render import content_type, details, disposition, overview, zip_length, zip_stream

if TYPE_CHECKING:
    from collections.abc import Iterable

API = "/platform/correspondence/api/v1"
_ITEM = rf"{API}/correspondence/(?P<id>[^/]+)"
JSON = "application/json"

FETCHED_DEBOUNCE = 15 * US
"""A recipient's repeated GETs within 15 s record one Fetched (per party)."""

CONFIRM_DELAY = 4 * US
"""``POST /confirm`` commits Confirmed in a job scheduled 4 s later."""


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        # The route constraint {correspondenceId:guid} does not match: no such endpoint.
        raise Refusal(empty_response(404)) from None


class CorrespondenceService:
    """The emulated Correspondence API.

    Args:
        shared: the lock and the clock.
        store: the correspondences.
        parties: who may act for whom (the PDP).
        altinn: the Altinn tokens.
        maskinporten: the Maskinporten access tokens.
        events: the Events seeding (read events are registered there).
        dialog_token_claims: ``(token, request origin, now) -> verified claims or None`` for
            Dialogporten's dialog tokens; settable later as the attribute of the same name.
    """

    def __init__(
        self,
        shared: SharedState,
        store: CorrespondenceStore,
        *,
        parties: PartyDirectory,
        altinn: IssuedTokens,
        maskinporten: IssuedTokens,
        events: EventsSeeding,
        dialog_token_claims: DialogTokenVerifier,
    ) -> None:
        self._shared = shared
        self._store = store
        self._events = events
        self._gate = Gate(altinn, maskinporten, dialog_token_claims, parties)
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"CorrespondenceService({self._store!r})"

    @property
    def dialog_token_claims(self) -> DialogTokenVerifier:
        """The dialog-token verifier."""
        return self._gate.dialog_token_claims

    @dialog_token_claims.setter
    def dialog_token_claims(self, verifier: DialogTokenVerifier) -> None:
        self._gate.dialog_token_claims = verifier

    def _now(self) -> int:
        return seconds_to_us(self._shared.clock())

    def _enter(self, request: Request, policy: Policy, produces: str | None = JSON) -> Principal:
        if produces is not None:
            errors.check_accept(request, produces)
        return self._gate.authenticate(request, policy, self._shared.clock())

    def _find(self, request: Request) -> Correspondence:
        """The correspondence the path names (lock held)."""
        found = self._store.by_id.get(_guid(request.path_params["id"]))
        if found is None:
            raise errors.problem(errors.NOT_FOUND)
        return found

    def _as_recipient(self, request: Request, principal: Principal, now: int) -> Correspondence:
        """The path's correspondence, which the caller must read as its recipient and see
        (lock held)."""
        item = self._find(request)
        if not self._gate.recipient_of(principal, item):
            raise no_access()
        if not item.visible_to_recipient(now):
            raise errors.problem(errors.NOT_FOUND)
        return item

    @staticmethod
    def _fetched(item: Correspondence, principal: Principal, now: int) -> None:
        """Record Fetched, once per party in 15 s (lock held)."""
        key = principal.key
        recent = any(
            s.status == Status.Fetched and s.by == key and now - s.changed < FETCHED_DEBOUNCE
            for s in item.statuses
        )
        if not recent:
            item.statuses.append(StatusEntry(Status.Fetched, now, key))

    # -- the list ------------------------------------------------------------------------------

    @route("GET", rf"{API}/correspondence", "correspondence.list")
    async def list(self, request: Request) -> Response:
        """``GET /correspondence?resourceId=…&role=…``: up to 1000 ids, newest
        ``requestedPublishTime`` first, no paging, no tie-breaker."""
        principal = self._enter(request, Policy.SENDER_OR_RECIPIENT)
        query = parse_list_query(request)
        if query.on_behalf_of is not None:
            party = parse_party(query.on_behalf_of)
        else:
            party = default_party(principal)
        if party is None:
            raise no_access()
        now = self._now()
        with self._shared.lock:
            as_recipient = query.role in (Role.Recipient, Role.RecipientAndSender) and (
                self._gate.reads_for(principal, party, query.resource)
            )
            as_sender = query.role in (Role.Sender, Role.RecipientAndSender) and (
                self._gate.sends_as(principal, party)
            )
            if not as_recipient and not as_sender:
                raise no_access()
            found: list[Correspondence] = []
            if as_recipient:
                found.extend(
                    i
                    for i in self._store.received(party, query.resource)
                    if _recipient_match(i, query, now)
                )
            if as_sender:
                org = party.rpartition(":")[2]
                seen = {i.id for i in found}
                found.extend(
                    i
                    for i in self._store.sent(org, query.resource)
                    if i.id not in seen and _sender_match(i, query, now)
                )
                if as_recipient:
                    found.sort(key=lambda i: (-i.requested_publish, i.tie))
            ids = [item.id for item in found[:LIMIT]]
        return Response(200, json_bytes({"ids": ids}), [("content-type", JSON_UTF8)])

    # -- one correspondence --------------------------------------------------------------------

    def _read(self, request: Request, *, with_details: bool) -> Response:
        principal = self._enter(request, Policy.SENDER_OR_RECIPIENT)
        now = self._now()
        with self._shared.lock:
            item = self._find(request)
        for attachment in item.attachments:
            # The MD5 of generated bytes is computed once, on first use: not with the lock held.
            _ = attachment.checksum
        with self._shared.lock:
            recipient = principal.reads and self._gate.recipient_of(principal, item)
            sender = not recipient and self._gate.sender_of(principal, item)
            if not recipient and not sender:
                raise no_access()
            if recipient:
                if not item.visible_to_recipient(now):
                    raise errors.problem(errors.NOT_FOUND)
                self._fetched(item, principal, now)
            published = item.has_been(Status.Published, now)
            show = recipient or not published
            render = details if with_details else overview
            document = render(item, now, show_content=show)
        return Response(200, json_bytes(document), [("content-type", JSON_UTF8)])

    @route("GET", _ITEM, "correspondence.overview")
    async def get_overview(self, request: Request) -> Response:
        """``GET /correspondence/{id}``: the overview; a recipient's records Fetched."""
        return self._read(request, with_details=False)

    @route("GET", rf"{_ITEM}/details", "correspondence.details")
    async def get_details(self, request: Request) -> Response:
        """``GET /correspondence/{id}/details``: with the status history; records Fetched."""
        return self._read(request, with_details=True)

    @route("GET", rf"{_ITEM}/content", "correspondence.content")
    async def content(self, request: Request) -> Response:
        """``GET /correspondence/{id}/content``: the body as markdown text; records Fetched and
        Read (the first time), and the receiver-read event."""
        principal = self._enter(request, Policy.RECIPIENT, produces="text/plain")
        now = self._now()
        with self._shared.lock:
            item = self._as_recipient(request, principal, now)
            self._fetched(item, principal, now)
            first_read = not item.has_been(Status.Read, now)
            if first_read:
                item.statuses.append(StatusEntry(Status.Read, now, principal.key))
            body = item.body
        if first_read:
            register(self._events, item, RECEIVER_READ, origin=request.origin, at=now)
        return Response(200, body.encode(), [("content-type", "text/plain; charset=utf-8")])

    @route("POST", rf"{_ITEM}/markasread", "correspondence.markasread")
    async def mark_as_read(self, request: Request) -> Response:
        """``POST /correspondence/{id}/markasread``: needs Fetched (1024), once (1040)."""
        principal = self._enter(request, Policy.RECIPIENT)
        now = self._now()
        with self._shared.lock:
            item = self._as_recipient(request, principal, now)
            if not item.has_been(Status.Fetched, now):
                raise errors.problem(errors.READ_BEFORE_FETCHED)
            if item.has_been(Status.Read, now):
                raise errors.problem(errors.ALREADY_READ)
            item.statuses.append(StatusEntry(Status.Read, now, principal.key))
        register(self._events, item, RECEIVER_READ, origin=request.origin, at=now)
        return errors.uuid_string(item.id)

    @route("POST", rf"{_ITEM}/confirm", "correspondence.confirm")
    async def confirm(self, request: Request) -> Response:
        """``POST /correspondence/{id}/confirm``: needs Fetched (1025), once (1041, also while
        the first confirmation waits to be committed); Confirmed appears 4 s later."""
        principal = self._enter(request, Policy.RECIPIENT)
        now = self._now()
        with self._shared.lock:
            item = self._as_recipient(request, principal, now)
            if not item.has_been(Status.Fetched, now):
                raise errors.problem(errors.CONFIRM_BEFORE_FETCHED)
            if item.pending(Status.Confirmed):
                raise errors.problem(errors.ALREADY_CONFIRMED)
            item.statuses.append(StatusEntry(Status.Confirmed, now + CONFIRM_DELAY, principal.key))
        return errors.uuid_string(item.id)

    @route("DELETE", rf"{_ITEM}/purge", "correspondence.purge")
    async def purge(self, request: Request) -> Response:
        """``DELETE /correspondence/{id}/purge``: the recipient's PurgedByRecipient (1026 while
        a required confirmation is missing), or the sender's PurgedByAltinn before publishing
        (1013 after). The attachments are purged with it."""
        principal = self._enter(request, Policy.SENDER_OR_RECIPIENT)
        now = self._now()
        with self._shared.lock:
            item = self._find(request)
            recipient = principal.reads and self._gate.recipient_of(principal, item)
            sender = not recipient and self._gate.sender_of(principal, item)
            if not recipient and not sender:
                raise no_access()
            if item.purged(now):
                raise errors.problem(errors.ALREADY_PURGED)
            if recipient:
                if not item.visible_to_recipient(now):
                    raise errors.problem(errors.NOT_FOUND)
                if item.confirmation_needed and not item.has_been(Status.Confirmed, now):
                    raise errors.problem(errors.PURGE_BEFORE_CONFIRMED)
                status = Status.PurgedByRecipient
            else:
                if item.has_been(Status.Published, now):
                    raise errors.problem(errors.SENDER_PURGE_PUBLISHED)
                status = Status.PurgedByAltinn
            item.statuses.append(StatusEntry(status, now, principal.key))
            for attachment in item.attachments:
                if attachment.purged is None:
                    attachment.purged = now
        return errors.uuid_string(item.id)

    # -- downloads -----------------------------------------------------------------------------

    def _downloadable(self, request: Request, principal: Principal) -> Correspondence:
        """The correspondence whose attachments the caller may download (lock held)."""
        item = self._find(request)
        if not self._gate.recipient_of(principal, item):
            raise no_access()
        return item

    @staticmethod
    def _check_attachment_state(
        item: Correspondence, *, expired: bool, purged: bool, now: int
    ) -> None:
        if purged:
            raise errors.problem(errors.ATTACHMENT_PURGED)
        if expired:
            raise errors.problem(errors.ATTACHMENT_EXPIRED)
        if not item.visible_to_recipient(now):
            raise errors.problem(errors.NOT_FOUND)

    @route(
        "GET",
        rf"{_ITEM}/attachment/(?P<attachment>[^/]+)/download",
        "correspondence.download",
    )
    async def download(self, request: Request) -> Response:
        """``GET /correspondence/{id}/attachment/{attachmentId}/download``: the bytes, streamed;
        records AttachmentsDownloaded."""
        principal = self._enter(request, Policy.DOWNLOAD, produces=None)
        attachment_id = _guid(request.path_params["attachment"])
        now = self._now()
        with self._shared.lock:
            item = self._find(request)
            attachment = item.attachment(attachment_id)
            if attachment is None:
                raise errors.problem(errors.ATTACHMENT_NOT_FOUND)
            if not self._gate.recipient_of(principal, item):
                raise no_access()
            self._check_attachment_state(
                item,
                expired=attachment.expires <= now,
                purged=attachment.purged is not None and attachment.purged <= now,
                now=now,
            )
            item.statuses.append(StatusEntry(Status.AttachmentsDownloaded, now, principal.key))
        headers = [
            ("content-type", content_type(attachment.file_name)),
            ("content-disposition", disposition(attachment.file_name)),
        ]
        return Response(
            200, b"", headers, stream=attachment.chunks(), stream_length=attachment.size
        )

    @route("GET", rf"{_ITEM}/attachments/downloadall", "correspondence.downloadall")
    async def download_all(self, request: Request) -> Response:
        """``GET /correspondence/{id}/attachments/downloadall``: every attachment in one zip,
        streamed with its Content-Length; records AttachmentsDownloaded."""
        principal = self._enter(request, Policy.DOWNLOAD, produces=None)
        now = self._now()
        with self._shared.lock:
            item = self._downloadable(request, principal)
            attachments = sorted(item.attachments, key=lambda a: (a.created, a.id))
            if not attachments:
                raise errors.problem(errors.ATTACHMENT_NOT_FOUND)
            self._check_attachment_state(
                item,
                expired=any(a.expires <= now for a in attachments),
                purged=any(a.purged is not None and a.purged <= now for a in attachments),
                now=now,
            )
            item.statuses.append(StatusEntry(Status.AttachmentsDownloaded, now, principal.key))
        chunks: Iterable[bytes] = zip_stream(attachments)
        headers = [
            ("content-type", "application/zip"),
            ("content-disposition", content_disposition("attachments.zip")),
        ]
        return Response(200, b"", headers, stream=chunks, stream_length=zip_length(attachments))


def _common_match(item: Correspondence, query: ListQuery, now: int) -> bool:
    if query.senders_reference is not None and item.senders_reference != query.senders_reference:
        return False
    if query.idempotent_key is not None and item.idempotent_key != query.idempotent_key:
        return False
    if query.altinn2_id is not None and item.altinn2_id != query.altinn2_id:
        return False
    if query.least is not None and not item.requested_publish > query.least:
        return False
    return query.most is None or item.requested_publish < query.most


def _recipient_match(item: Correspondence, query: ListQuery, now: int) -> bool:
    """The recipient's filters: with ``status``, ever had it (never the hidden ones); without,
    a latest status that is not Initialized, ReadyForPublish or Failed. Purged ones stay."""
    if not _common_match(item, query, now):
        return False
    hidden = (Status.Initialized, Status.ReadyForPublish, Status.Failed)
    if query.status is not None:
        return query.status not in hidden and item.has_been(query.status, now)
    return item.latest(now).status not in hidden


def _sender_match(item: Correspondence, query: ListQuery, now: int) -> bool:
    """The sender's filters: with ``status``, ever had it (inferred, as for recipients)."""
    if not _common_match(item, query, now):
        return False
    return query.status is None or item.has_been(query.status, now)


HANDLERS = (CorrespondenceService,)
"""The classes that declare Correspondence's routes."""
