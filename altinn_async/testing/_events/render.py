"""CloudEvents as the Events API writes them: the CloudNative SDK's structured JSON of an event
read back from Postgres ``jsonb``, and the list joined with ``", "``.

Read from altinn-events: ``src/Events/Formatters/CloudEventJsonOutputFormatter.cs`` (``[``,
the events joined by ``", "``, ``]``; ``application/cloudevents+json``) and
``src/Events/Repository/CloudEventRepository.cs`` (each event is the ``jsonb`` column decoded
by ``JsonEventFormatter``). ``jsonb`` keeps object keys shortest first, then bytewise, and the
SDK writes ``specversion`` first, then the attributes in the order it read them, then ``data``;
its ``Utf8JsonWriter`` escapes as ``JavaScriptEncoder.Default`` does (non-ASCII and
``"&'+<>``` as ``\\uXXXX``).
"""

from __future__ import annotations

import json
from typing import Any

from .._toolkit.dotnet import format_ticks
from .model import CloudEvent

CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"

_ESCAPED = frozenset("\"&'+<>`")
_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def jsonb_order(value: Any) -> Any:
    """``value`` with every object's keys in ``jsonb`` order (shorter first, then bytewise)."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(str(k).encode()), str(k).encode()))
        return {str(k): jsonb_order(value[k]) for k in keys}
    if isinstance(value, list | tuple):
        return [jsonb_order(v) for v in value]
    return value


def event_document(event: CloudEvent, origin: str) -> dict[str, Any]:
    """The event as the API shows it to a request at ``origin``, members in the API's order."""
    attributes: dict[str, Any] = {
        "id": event.id,
        "time": format_ticks(event.time),
        "type": event.type,
        "source": event.source_at(origin),
    }
    optional = {
        "subject": event.subject,
        "resource": event.resource,
        "resourceinstance": event.resource_instance,
        "alternativesubject": event.alternative_subject,
        "datacontenttype": event.data_content_type,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    document: dict[str, Any] = {"specversion": "1.0", **jsonb_order(attributes)}
    if event.data is not None:
        document["data"] = jsonb_order(event.data)
    return document


def _string(text: str) -> str:
    parts = ['"']
    for character in text:
        code = ord(character)
        if character in _SHORT:
            parts.append(_SHORT[character])
        elif code < 0x20 or code > 0x7E or character in _ESCAPED:
            if code > 0xFFFF:
                code -= 0x10000
                parts.append(f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                parts.append(f"\\u{code:04X}")
        else:
            parts.append(character)
    parts.append('"')
    return "".join(parts)


def stj_json(value: Any) -> str:
    """Compact JSON as System.Text.Json's ``Utf8JsonWriter`` writes it by default."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{stj_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(stj_json(v) for v in value) + "]"
    return json.dumps(value)


def event_bytes(event: CloudEvent, origin: str) -> bytes:
    """One event's JSON."""
    return stj_json(event_document(event, origin)).encode()


def events_body(events: list[CloudEvent], origin: str) -> bytes:
    """The list's body: ``[`` the events joined with ``", "`` ``]``."""
    return b"[" + b", ".join(event_bytes(e, origin) for e in events) + b"]"
