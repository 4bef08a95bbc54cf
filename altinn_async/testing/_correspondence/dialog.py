"""How a correspondence appears in Dialogporten (``altinn3-messaging.md`` §2.8, from
``CreateDialogRequestMapper.cs``): the keyword arguments of the emulated Dialogporten's
``add_dialog``.

URLs start with the literal ``{platform}``, which Dialogporten replaces with
``{request origin}/platform`` when it renders a dialog, so the links point at the emulated
Correspondence of whatever origin the client used.
"""

from __future__ import annotations

from typing import Any

from .model import US, Correspondence, Status
from .render import data_type

PLATFORM = "{platform}"
API = f"{PLATFORM}/correspondence/api/v1/correspondence"

_VISIBLE_FROM_MARGIN = 60 * US  # visibleFrom only when the publish time is over a minute ahead


def _seconds(us: int) -> float:
    return us / US


def correspondence_dialog(item: Correspondence, *, org: str) -> dict[str, Any]:
    """The ``add_dialog`` keyword arguments for the dialog of ``item``.

    Args:
        item: the stored correspondence.
        org: the sender's service-owner code (``digdir``), the dialog's ``org``.

    Returns:
        ``party``, ``service_resource``, ``org``, ``service_resource_type``, ``title``,
        ``summary``, ``sender_name``, ``status``, ``external_reference``, ``created_at``,
        ``updated_at``, ``content_updated_at``, ``visible_from``, ``main_content_reference``,
        ``attachments``, ``api_actions``, ``service_owner_labels`` and ``dialog_id`` (None:
        Dialogporten picks it; record it with ``set_dialog_id``). Times are seconds since the
        epoch; nested values use Dialogporten's JSON names.
    """
    base = f"{API}/{item.id}"
    language = item.language
    attachments: list[dict[str, Any]] = []
    downloads: list[dict[str, Any]] = []
    ordered = sorted(item.attachments, key=lambda a: (a.created, a.id))
    if len(ordered) >= 2:
        attachments.append(
            {
                "displayName": {"nb": "Alle vedlegg", "en": "All attachments"},
                "name": None,
                "expiresAt": _seconds(min(a.expires for a in ordered)),
                "urls": [
                    {
                        "url": f"{base}/attachments/downloadall",
                        "mediaType": "application/zip",
                        "consumerType": "Gui",
                    }
                ],
            }
        )
    for attachment in ordered:
        url = f"{base}/attachment/{attachment.id}/download"
        attachments.append(
            {
                "displayName": {"nb": attachment.display_name},
                "name": attachment.file_name,
                "expiresAt": _seconds(attachment.expires),
                "urls": [
                    {
                        "url": url,
                        "mediaType": data_type(attachment.file_name),
                        "consumerType": "Gui",
                    }
                ],
            }
        )
        downloads.append(
            {
                "action": "read",
                "name": "downloadCorrespondenceAttachment",
                "endpoints": [{"url": url, "httpMethod": "GET"}],
            }
        )
    actions: list[dict[str, Any]] = [
        {
            "action": "read",
            "name": "getCorrespondence",
            "endpoints": [{"url": base, "httpMethod": "GET"}],
        },
        {
            "action": "write",
            "name": "purgeCorrespondence",
            "endpoints": [{"url": f"{base}/purge", "httpMethod": "DELETE"}],
        },
    ]
    if item.confirmation_needed:
        actions.append(
            {
                "action": "read",
                "name": "confirmCorrespondence",
                "endpoints": [{"url": f"{base}/confirm", "httpMethod": "POST"}],
            }
        )
    actions.extend(downloads)
    attention = item.confirmation_needed and not item.pending(Status.Confirmed)
    ahead = item.requested_publish - item.created > _VISIBLE_FROM_MARGIN
    return {
        "party": item.recipient,
        "service_resource": f"urn:altinn:resource:{item.resource}",
        "org": org,
        "service_resource_type": "CorrespondenceService",
        "title": {language: item.title},
        "summary": {language: item.summary} if item.summary else None,
        "sender_name": {language: item.message_sender} if item.message_sender else None,
        "status": "RequiresAttention" if attention else "NotApplicable",
        "external_reference": item.senders_reference,
        "created_at": _seconds(item.created),
        "updated_at": _seconds(item.created),
        "content_updated_at": _seconds(item.created),
        "visible_from": _seconds(item.requested_publish) if ahead else None,
        "main_content_reference": f"{base}/content",
        "attachments": attachments,
        "api_actions": actions,
        "service_owner_labels": [f"urn:altinn:correspondence-id:{item.id}"],
        "dialog_id": None,
    }
