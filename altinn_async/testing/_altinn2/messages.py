"""The message box: ``GET /api/{who}/messages`` (newest first, the database cap, OData, at most
50) and a message with its forms, form data, attachments and print (``altinn-protocol.md``
§4.3, §4.4, §7 item 22)."""

from __future__ import annotations

import datetime as dt
import re

from .._toolkit.asgi import Request, Response
from .._toolkit.responses import content_disposition, empty_response
from .._toolkit.router import Refusal, route
from .gate import PREFIX, Handlers, refuse
from .generate import pdf_document
from .hal import hal_list, hal_resource, negotiate, odata_options, self_link
from .localtime import local_time, local_to_ms, net_datetime, to_local
from .model import FORM_TASK, LANGUAGES, MESSAGE_SCHEMA, Form, Message, Reportee
from .odata import parse_datetime
from .render import attachment_json, form_json, form_links, message_json, message_links

END_USER_CAP = 50  # "Lister i APIet er begrenset i kode til å maksimalt inneholde 50 elementer"

# Scopes (altinn-protocol.md §6.3). Cookie and certificate logins are not scope-limited.
LIST_SCOPES = frozenset({"altinn:enduser", "altinn:instances.meta", "altinn:instances.read"})
READ_SCOPES = frozenset({"altinn:enduser", "altinn:instances.read"})

_MESSAGES = rf"(?i){PREFIX}/(?P<who>[^/]+)/messages"
_MESSAGE = rf"{_MESSAGES}/(?P<message_id>[^/]+)"
_MESSAGE_ID = re.compile(r"([abcABC])(\d{1,18})")


def _language(request: Request) -> int:
    value = request.param("language")
    if value is not None and value.strip().isdigit() and int(value) in LANGUAGES:
        return int(value)
    return 1044


def _date_bound(value: str, *, end: bool) -> int:
    """``dateFrom``/``dateTo``: an ISO date or date-time in local time; a bare ``dateTo`` date
    includes that whole day."""
    moment = parse_datetime(value, to_local)
    if end and len(value.strip()) == 10:
        moment += dt.timedelta(days=1) - dt.timedelta(milliseconds=1)
    return local_to_ms(moment)


def _date_bounds(request: Request) -> tuple[int | None, int | None]:
    date_from, date_to = request.param("dateFrom"), request.param("dateTo")
    try:
        low = _date_bound(date_from, end=False) if date_from else None
        high = _date_bound(date_to, end=True) if date_to else None
    except ValueError:
        raise refuse(400, "The dateFrom or dateTo parameter is not a valid date.") from None
    return low, high


def _messages_base(request: Request) -> str:
    return f"{request.origin}{PREFIX}/{request.path_params['who']}/messages"


class MessageBox(Handlers):
    """The message box endpoints."""

    def _box_owner(self, request: Request, wanted: frozenset[str]) -> Reportee:
        user = self._gate.end_user(request, wanted)
        return self._gate.party(user, request.path_params["who"])

    @route("GET", _MESSAGES, "altinn2.messages")
    async def messages(self, request: Request) -> Response:
        """``GET /{who}/messages``."""
        party = self._box_owner(request, LIST_SCOPES)
        mode = negotiate(request)
        language = _language(request)
        query = odata_options(request, MESSAGE_SCHEMA, "Message")
        low, high = _date_bounds(request)
        with self._shared.lock:
            box = self._store.box(party.party_id)
            if low is not None or high is not None:
                box = [
                    m
                    for m in box
                    if (low is None or m.last_changed >= low)
                    and (high is None or m.last_changed <= high)
                ]
            limit_reached = len(box) > self._db_cap
            visible = box[: self._db_cap]
            selected = query.apply(visible, lambda m: m.props(language), cap=END_USER_CAP)
        base = _messages_base(request)
        items = [
            (
                message_json(m, language, detail=False),
                message_links(m, base, request.origin, detail=False),
            )
            for m in selected
        ]
        links = {
            "self": self_link(request),
            "find": {"href": f"{base}/{{MessageId}}", "isTemplated": True},
        }
        headers = [("x-warning-limitreached", "true")] if limit_reached else []
        return hal_list(mode, "messages", items, links, headers=headers)

    def _message(self, request: Request, wanted: frozenset[str] = READ_SCOPES) -> Message:
        party = self._box_owner(request, wanted)
        found = _MESSAGE_ID.fullmatch(request.path_params["message_id"])
        with self._shared.lock:
            message = self._store.messages.get(int(found.group(2))) if found else None
        if (
            found is None
            or message is None
            or message.party_id != party.party_id
            or message.message_id != found.group(0).lower()
        ):
            raise Refusal(empty_response(404))
        return message

    @route("GET", _MESSAGE, "altinn2.message")
    async def message(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}``: marks a correspondence read unless
        ``markAsRead=false``."""
        message = self._message(request)
        mode = negotiate(request)
        mark = (request.param("markAsRead") or "true").strip().lower() != "false"
        language = _language(request)
        with self._shared.lock:
            if mark:
                message.mark_read()
            document = message_json(message, language, detail=True)
        links = message_links(message, _messages_base(request), request.origin, detail=True)
        return hal_resource(mode, document, links)

    @route("GET", rf"{_MESSAGE}/forms", "altinn2.forms")
    async def forms(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms``."""
        message = self._message(request)
        mode = negotiate(request)
        base = f"{_messages_base(request)}/{message.message_id}/forms"
        items = [(form_json(f), form_links(base, f.id)) for f in message.forms]
        return hal_list(mode, "forms", items, {"self": self_link(request)})

    def _form(self, request: Request) -> tuple[Message, Form]:
        message = self._message(request)
        form_id = int(request.path_params["form_id"])  # the route admits digits only
        form = next((f for f in message.forms if f.id == form_id), None)
        if form is None:
            raise Refusal(empty_response(404))
        return message, form

    @route("GET", rf"{_MESSAGE}/forms/(?P<form_id>\d+)", "altinn2.form")
    async def form(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms/{formId}``."""
        message, form = self._form(request)
        mode = negotiate(request)
        base = f"{_messages_base(request)}/{message.message_id}/forms"
        return hal_resource(mode, form_json(form), form_links(base, form.id))

    @route("GET", rf"{_MESSAGE}/forms/(?P<form_id>\d+)/formdata", "altinn2.formdata")
    async def formdata(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/forms/{formId}/formdata``: the form's XML."""
        _, form = self._form(request)
        return Response(200, form.xml, [("content-type", "application/xml; charset=utf-8")])

    @route("GET", rf"{_MESSAGE}/attachments", "altinn2.attachments")
    async def attachments(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/attachments``."""
        message = self._message(request)
        mode = negotiate(request)
        base = f"{_messages_base(request)}/{message.message_id}/attachments"
        items = [
            (attachment_json(a), {"self": {"href": f"{base}/{a.id}"}}) for a in message.attachments
        ]
        return hal_list(mode, "attachments", items, {"self": self_link(request)})

    @route("GET", rf"{_MESSAGE}/attachments/(?P<attachment_id>\d+)", "altinn2.attachment")
    async def attachment(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/attachments/{attachmentId}``: the bytes."""
        message = self._message(request)
        wanted = int(request.path_params["attachment_id"])
        attachment = next((a for a in message.attachments if a.id == wanted), None)
        if attachment is None:
            raise Refusal(empty_response(404))
        headers = [
            ("content-type", attachment.content_type),
            ("content-disposition", content_disposition(attachment.file_name)),
        ]
        return Response(
            200, b"", headers, stream=attachment.chunks(), stream_length=attachment.size
        )

    @route("GET", rf"{_MESSAGE}/print", "altinn2.print")
    async def print_pdf(self, request: Request) -> Response:
        """``GET /{who}/messages/{id}/print``: a PDF of a form task."""
        message = self._message(request)
        if message.type != FORM_TASK:
            raise Refusal(empty_response(404))
        lines = [
            message.subject,
            f"{message.service_owner} - {message.service_code}/{message.service_edition}",
            f"Status: {message.status}",
            f"Sist endret: {net_datetime(local_time(message.last_changed))}",
            *(f"Skjema: {form.name}" for form in message.forms),
        ]
        return Response(200, pdf_document(lines), [("content-type", "application/pdf")])
