"""Correspondence's JSON (``altinn3-messaging.md`` §1.4) and its downloads (§1.5).

System.Text.Json with camelCase names, ``JsonStringEnumConverter`` and nulls written;
``DateTimeOffset`` values in UTC with an offset (``+00:00``).
"""

from __future__ import annotations

import struct
import urllib.parse
from collections.abc import Iterator
from typing import Any

from .._toolkit.responses import content_disposition
from .model import Attachment, Correspondence, Status, format_offset

_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".dcm": "application/dicom",
    ".dicom": "application/dicom",
}
_INLINE = frozenset({".pdf", ".png", ".jpg", ".jpeg", ".gif", ".bmp"})

ALLOWED_EXTENSIONS = (
    *(".doc", ".xls", ".docx", ".xlsx", ".ppt", ".pps", ".zip", ".pdf", ".html", ".txt"),
    *(".xml", ".jpg", ".jpeg", ".gif", ".bmp", ".png", ".json", ".csv", ".dcm", ".dicom"),
)
"""The file types a sender may upload."""

_REPLY_HEADING = {"nb": "Svarvalg:", "nn": "Svarval:", "en": "Reply options:"}

_BLANK_CONTENT = {
    "language": "no",
    "messageTitle": "",
    "messageSummary": "",
    "messageBody": "",
    "attachments": [],
}


def extension(file_name: str) -> str:
    """The lower-case extension with its dot (``""`` when there is none)."""
    _, dot, ext = file_name.rpartition(".")
    return f".{ext.lower()}" if dot else ""


def content_type(file_name: str) -> str:
    """The download's ``Content-Type``, from the extension (``FileDownloadResponseHelper``)."""
    return _TYPES.get(extension(file_name), "application/octet-stream")


def data_type(file_name: str) -> str:
    """The attachment's ``dataType``: its media type, without parameters."""
    return content_type(file_name).split(";", 1)[0]


def disposition(file_name: str) -> str:
    """``inline; filename*=…`` for what browsers show, ``attachment; …`` (ASP.NET's
    ``File(stream, type, name)``, inferred) for the rest."""
    if extension(file_name) in _INLINE:
        return f"inline; filename*=UTF-8''{urllib.parse.quote(file_name, safe='')}"
    return content_disposition(file_name)


def _time(us: int | None) -> str | None:
    return None if us is None else format_offset(us)


def _attachment(attachment: Attachment, now: int) -> dict[str, Any]:
    purged = attachment.purged is not None and attachment.purged <= now
    status = "Purged" if purged else "Published"
    return {
        "id": attachment.id,
        "fileName": attachment.file_name,
        "displayName": attachment.display_name,
        "isEncrypted": False,
        "checksum": attachment.checksum,
        "sendersReference": attachment.senders_reference,
        "expirationInDays": None,
        "dataLocationType": "AltinnCorrespondenceAttachment",
        "created": format_offset(attachment.created),
        "status": status,
        "statusText": status,
        "statusChanged": format_offset(
            attachment.purged if attachment.purged is not None and purged else attachment.created
        ),
        "dataType": data_type(attachment.file_name),
        "expirationTime": format_offset(attachment.expires),
    }


def _body_with_reply_options(item: Correspondence) -> str:
    if len(item.reply_options) <= 3:
        return item.body
    lines = [f"{text}: {url}" if text else url for url, text in item.reply_options]
    heading = _REPLY_HEADING.get(item.language, _REPLY_HEADING["nb"])
    return f"{item.body}\n\n{heading}\n" + "\n".join(lines)


def _content(item: Correspondence, now: int, *, append_replies: bool) -> dict[str, Any]:
    attachments = sorted(item.attachments, key=lambda a: (a.created, a.id))
    return {
        "language": item.language,
        "messageTitle": item.title,
        "messageSummary": item.summary,
        "messageBody": _body_with_reply_options(item) if append_replies else item.body,
        "attachments": [_attachment(a, now) for a in attachments],
    }


def _common(
    item: Correspondence, now: int, *, show_content: bool, overview: bool
) -> dict[str, Any]:
    highest = item.highest(now)
    references = (
        [{"referenceValue": item.dialog_id, "referenceType": "DialogportenDialogId"}]
        if item.dialog_id is not None
        else []
    )
    return {
        "correspondenceId": item.id,
        "recipient": item.recipient,
        "resourceId": item.resource,
        "sender": f"urn:altinn:organization:identifier-no:{item.sender}",
        "sendersReference": item.senders_reference,
        "messageSender": item.message_sender or "",
        "requestedPublishTime": format_offset(item.requested_publish),
        "dueDateTime": _time(item.due),
        "created": format_offset(item.created),
        "published": _time(item.first(Status.Published, now)),
        "read": _time(item.first(Status.Read, now)),
        "status": highest.status.name,
        "statusText": highest.status.name,
        "statusChanged": format_offset(highest.changed),
        "altinn2CorrespondenceId": item.altinn2_id,
        "isConfirmationNeeded": item.confirmation_needed,
        "isConfidential": False,
        "allowForwarding": False,
        "ignoreReservation": False,
        "propertyList": {},
        "externalReferences": references,
        "replyOptions": [{"linkURL": url, "linkText": text} for url, text in item.reply_options],
        "notification": None,
        "notifications": [],
        "content": _content(item, now, append_replies=overview)
        if show_content
        else dict(_BLANK_CONTENT),
    }


def overview(item: Correspondence, now: int, *, show_content: bool) -> dict[str, Any]:
    """``CorrespondenceOverviewExt``; more than three reply options are appended to the body."""
    return _common(item, now, show_content=show_content, overview=True)


def details(item: Correspondence, now: int, *, show_content: bool) -> dict[str, Any]:
    """``CorrespondenceDetailsExt``: the overview's fields (the body as sent) with the status
    history, the notifications (none: the emulator sends none) and the system label."""
    document = _common(item, now, show_content=show_content, overview=False)
    document["statusHistory"] = [
        {
            "status": entry.status.name,
            "statusText": entry.status.name,
            "statusChanged": format_offset(entry.changed),
        }
        for entry in item.history(now)
    ]
    document["systemLabel"] = "Default"
    return document


# -- the zip of all attachments ------------------------------------------------------------------

_DOS_TIME = 0
_DOS_DATE = (1980 - 1980) << 9 | 1 << 5 | 1  # 1980-01-01: the bytes stay the same in every run
_UTF8_FLAG = 0x0800


def _local_header(name: bytes, attachment: Attachment) -> bytes:
    return struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        20,
        _UTF8_FLAG,
        0,  # stored
        _DOS_TIME,
        _DOS_DATE,
        attachment.crc32,
        attachment.size,
        attachment.size,
        len(name),
        0,
    )


def _central_entry(name: bytes, attachment: Attachment, offset: int) -> bytes:
    return struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        _UTF8_FLAG,
        0,
        _DOS_TIME,
        _DOS_DATE,
        attachment.crc32,
        attachment.size,
        attachment.size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        offset,
    )


def zip_length(attachments: list[Attachment]) -> int:
    """The size of `zip_stream`'s archive (known before any byte is sent)."""
    total = 22
    for attachment in attachments:
        name = len(attachment.file_name.encode())
        total += 30 + name + attachment.size + 46 + name
    return total


def zip_stream(attachments: list[Attachment]) -> Iterator[bytes]:
    """A stored (uncompressed) zip of the attachments, streamed: the CRCs are known up front,
    so no data descriptors and no seeking."""
    central: list[bytes] = []
    offset = 0
    for attachment in attachments:
        name = attachment.file_name.encode()
        header = _local_header(name, attachment)
        central.append(_central_entry(name, attachment, offset))
        yield header + name
        yield from attachment.chunks()
        offset += len(header) + len(name) + attachment.size
    directory = b"".join(
        c + a.file_name.encode() for c, a in zip(central, attachments, strict=True)
    )
    yield directory
    yield struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        len(attachments),
        len(attachments),
        len(directory),
        offset,
        0,
    )
