"""Altinn 2 resources as JSON: messages and their links, forms, attachments and consents."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .localtime import net_datetime, net_datetime_offset
from .model import FORM_TASK, PERSON, Attachment, Consent, Form, Message, Reportee

_LIST_FIELDS = (
    "MessageId",
    "Subject",
    "Status",
    "LastChangedDateTime",
    "CreatedDate",
    "LastChangedBy",
    "ServiceOwner",
    "Type",
    "MessageSender",
    "ServiceCode",
    "ServiceEdition",
    "DueDate",
)
# A single message also shows its summary, body and archive reference.
_DETAIL_FIELDS = (*_LIST_FIELDS[:9], "Summary", "Body", *_LIST_FIELDS[9:], "ArchiveReference")


def message_json(message: Message, language: int, *, detail: bool) -> dict[str, Any]:
    """A message's properties (nulls left out, times as .NET writes them), without links."""
    props = message.props(language)
    document: dict[str, Any] = {}
    for name in _DETAIL_FIELDS if detail else _LIST_FIELDS:
        value = props[name]
        if value is None:
            continue
        document[name] = net_datetime(value) if isinstance(value, dt.datetime) else value
    return document


def message_links(message: Message, base: str, origin: str, *, detail: bool) -> dict[str, Any]:
    """``_links`` of a message under ``base`` (``…/api/{who}/messages``)."""
    self_href = f"{base}/{message.message_id}"
    kind = "formtask" if message.type == FORM_TASK else "correspondence"
    links: dict[str, Any] = {"self": {"href": self_href}}
    if message.type == FORM_TASK:
        # "print" is only valid for FormTask messages (hente.md).
        links["print"] = {"href": f"{self_href}/print", "mime-type": "application/pdf"}
    links["metadata"] = {
        "href": f"{origin}/altinn2/api/metadata/{kind}/{message.service_code}/"
        f"{message.service_edition}"
    }
    links["portalview"] = {
        "href": f"{origin}/altinn2/Pages/ServiceEngine/Dispatcher/Dispatcher.aspx?"
        f"ReporteeElementID={message.number}&ErID={message.party_id}"
    }
    if detail:
        if message.forms:
            links["form"] = [
                {"href": f"{self_href}/forms/{form.id}", "name": form.name}
                for form in message.forms
            ]
        if message.attachments:
            links["attachment"] = [
                {
                    "href": f"{self_href}/attachments/{attachment.id}",
                    "name": attachment.name,
                    "fileName": attachment.file_name,
                    "encrypted": attachment.encrypted,
                    "signinglocked": attachment.signing_locked,
                    "signedbydefault": attachment.signed_by_default,
                    "filesize": attachment.size,
                }
                for attachment in message.attachments
            ]
    return links


def form_json(form: Form) -> dict[str, Any]:
    return {
        "Type": form.type,
        "DataFormatId": form.data_format_id,
        "DataFormatVersion": form.data_format_version,
        "ValidationStatus": "NotValidated",
        "Name": form.name,
    }


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "FileName": attachment.file_name,
        "Name": attachment.name,
        "AttachmentType": attachment.content_type,
        "Encrypted": attachment.encrypted,
        "SigningLocked": attachment.signing_locked,
        "SignedByDefault": attachment.signed_by_default,
        "FileSize": attachment.size,
    }


def consent_party_json(reportee: Reportee) -> dict[str, Any]:
    document: dict[str, Any] = {"Name": reportee.name, "Type": reportee.kind}
    if reportee.kind == PERSON:
        if reportee.pid is not None:
            document["SocialSecurityNumber"] = reportee.pid
        return document
    document["OrganizationNumber"] = reportee.org_number
    if reportee.organization_form is not None:
        document["OrganizationForm"] = reportee.organization_form
    document["Status"] = reportee.status
    return document


def consent_json(consent: Consent, reportees: Mapping[int, Reportee]) -> dict[str, Any]:
    """A consent as the service-owner list shows it."""
    props = consent.props()
    document: dict[str, Any] = {
        "AuthorizationCode": consent.authorization_code,
        "Status": props["Status"],
        "OfferedBy": consent_party_json(reportees[consent.offered_by]),
        "CoveredBy": consent_party_json(reportees[consent.covered_by]),
    }
    if consent.handled_by is not None:
        document["HandledBy"] = consent_party_json(reportees[consent.handled_by])
    document["Created"] = net_datetime_offset(consent.created)
    document["ValidTo"] = net_datetime_offset(consent.valid_to)
    document["LastChanged"] = net_datetime_offset(consent.last_changed)
    return document


def form_links(base: str, form_id: int) -> dict[str, Any]:
    """``_links`` of a form under ``base`` (``…/messages/{id}/forms``)."""
    return {
        "self": {"href": f"{base}/{form_id}"},
        "formdata": {"href": f"{base}/{form_id}/formdata", "mime-type": "application/xml"},
    }


def reportee_links(api: str, reportee: Reportee) -> dict[str, Any]:
    """``_links`` of a reportee under ``api`` (``…/altinn2/api``)."""
    return {
        "self": {"href": f"{api}/reportees/{reportee.reportee_id}"},
        "messages": {"href": f"{api}/{reportee.reportee_id}/messages"},
    }
