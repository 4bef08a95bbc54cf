"""Instances and data elements as Storage's JSON shows them, with self links for an origin."""

from __future__ import annotations

from typing import Any

from .._toolkit.responses import json_bytes
from .model import API, StoredInstance


def instance_bytes(instance: StoredInstance, origin: str) -> bytes:
    """The serialized instance JSON for ``origin``, cached on the instance. An unchanged
    generated instance is rendered by its set, without building its document."""
    cached = instance.rendered.get(origin)
    if cached is None:
        if instance.generated is not None:
            cached = instance.generated.source.render(instance, origin)
        else:
            cached = json_bytes(render_instance(instance, origin))
        instance.rendered[origin] = cached
    return cached


def render_instance(instance: StoredInstance, origin: str) -> dict[str, Any]:
    """The instance JSON with self links for ``origin`` (nulls are never stored)."""
    base = f"{origin}{API}/instances/{instance.party_id}/{instance.guid}"
    apps = f"{origin}/{instance.org}/{instance.app}/instances/{instance.party_id}/{instance.guid}"
    rendered: dict[str, Any] = {}
    for key, value in instance.document.items():
        if key == "data":
            rendered["data"] = [render_data_element(d, base, apps) for d in value]
        else:
            rendered[key] = value
        if key == "org":
            rendered["selfLinks"] = {"apps": apps, "platform": base}
    return rendered


def render_data_element(element: dict[str, Any], instance_base: str, apps: str) -> dict[str, Any]:
    """A data element with its self links."""
    rendered: dict[str, Any] = {}
    for key, value in element.items():
        rendered[key] = value
        if key == "blobStoragePath":
            rendered["selfLinks"] = {
                "apps": f"{apps}/data/{element['id']}",
                "platform": f"{instance_base}/data/{element['id']}",
            }
    return rendered
