"""The service-owner API: ``GET /api/serviceowner/reportees`` (no 50 cap, ``$top`` up to 10000,
the database cap) and ``GET /api/serviceowner/consents`` (continuation tokens, oldest change
first) (``altinn-protocol.md`` §4.3, §4.4)."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.router import route
from .gate import PREFIX, Handlers, refuse
from .hal import hal_list, negotiate, odata_options, self_link
from .localtime import EPOCH
from .model import CONSENT_SCHEMA, SERVICE_OWNER_REPORTEE_SCHEMA, Reportee
from .render import consent_json

CONSENT_PAGE = 1000
NO_PROFILE = "User profile for the subject was not found"

SO_REPORTEE_SCOPES = frozenset({"altinn:serviceowner", "altinn:serviceowner/reportees"})
SO_CONSENT_SCOPES = frozenset({"altinn:serviceowner", "altinn:serviceowner/consents"})

_CONTINUATION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})[.:](\d{3})_(\d{1,18})")
_STATUS_PARAM = re.compile(r"status(\[\d+\])?", re.IGNORECASE)


def _edition_param(request: Request) -> str | None:
    return request.param("serviceEdition") or request.param("serviceEditionCode")


def _parse_continuation(token: str) -> tuple[int, int] | None:
    found = _CONTINUATION.fullmatch(token.strip())
    if found is None:
        return None
    try:
        local = dt.datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")  # noqa: DTZ007 - local
    except ValueError:
        return None
    local_ms = (local - EPOCH) // dt.timedelta(milliseconds=1)
    return (local_ms + int(found.group(2)), int(found.group(3)))


def _with_continuation(request: Request, token: str) -> str:
    """The request URL with ``continuation`` replaced (other parameters kept verbatim, so a bare
    ``ForceEIAuthentication`` stays bare)."""
    kept = [
        part
        for part in request.query_string.split("&")
        if part and urllib.parse.unquote_plus(part.split("=", 1)[0]).lower() != "continuation"
    ]
    kept.append(f"continuation={urllib.parse.quote(token, safe=':-._')}")
    return f"{request.origin}{request.path}?{'&'.join(kept)}"


class ServiceOwnerApi(Handlers):
    """The service-owner endpoints."""

    @route("GET", rf"(?i){PREFIX}/serviceowner/reportees", "altinn2.serviceowner_reportees")
    async def reportees(self, request: Request) -> Response:
        """``GET /serviceowner/reportees?subject=&serviceCode=&serviceEdition=``."""
        self._gate.service_owner(request, SO_REPORTEE_SCOPES)
        mode = negotiate(request)
        subject = (request.param("subject") or "").strip()
        if not subject:
            raise refuse(400, "The subject parameter is required.")
        code = request.param("serviceCode") or None
        edition_text = _edition_param(request)
        if edition_text and not edition_text.strip().isdigit():
            raise refuse(400, f"The value '{edition_text}' is not valid for serviceEdition.")
        edition = int(edition_text) if edition_text else None
        query = odata_options(request, SERVICE_OWNER_REPORTEE_SCHEMA, "Reportee")
        with self._shared.lock:
            found = self._subject_reportees(subject, code, edition)
        if found is None:
            raise refuse(400, NO_PROFILE)
        limit_reached = len(found) > self._db_cap
        found = found[: self._db_cap]
        documents = {r.party_id: r.service_owner_json() for r in found}
        selected = query.apply(found, lambda r: documents[r.party_id])
        items = [(documents[r.party_id], None) for r in selected]
        headers = [("x-warning-limitreached", "true")] if limit_reached else []
        return hal_list(mode, "reportees", items, {"self": self_link(request)}, headers=headers)

    def _subject_reportees(
        self, subject: str, code: str | None, edition: int | None
    ) -> list[Reportee] | None:
        """Whom ``subject`` (a person number) may represent for a service (lock held)."""
        own = self._gate.person_party(subject)
        if own is None:
            return None
        store = self._store
        others = [
            store.reportees[party]
            for party, services in store.rights.get(subject, {}).items()
            if party != own
            and party in store.reportees
            and any(s.covers(code, edition) for s in services)
        ]
        others.sort(key=lambda r: (r.name.lower(), r.party_id))
        return [store.reportees[own], *others]

    @route("GET", rf"(?i){PREFIX}/serviceowner/consents", "altinn2.consents")
    async def consents(self, request: Request) -> Response:
        """``GET /serviceowner/consents?serviceCode=&serviceEdition=[&status=][&continuation=]``:
        oldest change first, continued after a ``{LastChanged}_{id}`` token."""
        self._gate.service_owner(request, SO_CONSENT_SCOPES)
        mode = negotiate(request)
        code = request.param("serviceCode")
        edition_text = _edition_param(request)
        if not code or not edition_text or not edition_text.strip().isdigit():
            raise refuse(400, "The serviceCode and serviceEdition parameters are required.")
        edition = int(edition_text)
        statuses = {
            v.strip().lower()
            for k, v in request.query()
            if _STATUS_PARAM.fullmatch(k) and v.strip()
        }
        after: tuple[int, int] | None = None
        raw_token = request.param("continuation")
        if raw_token:
            after = _parse_continuation(raw_token)
            if after is None:
                raise refuse(400, f"The continuation token '{raw_token}' is not valid.")
        query = odata_options(request, CONSENT_SCHEMA, "Consent")
        now_ms = round(self._shared.clock() * 1000)
        with self._shared.lock:
            candidates = [
                c
                for c in self._store.sorted_consents()
                if c.service_code == code
                and c.service_edition == edition
                and c.valid_to > now_ms
                and (after is None or c.local_key > after)
                and (not statuses or ("revoked" if c.revoked else "active") in statuses)
            ]
            reportees = dict(self._store.reportees)
        if query.top is None:
            query.top = CONSENT_PAGE
        selected = query.apply(candidates, lambda c: c.props())
        items = [(consent_json(c, reportees), None) for c in selected]
        links: dict[str, Any] = {"self": self_link(request)}
        extra: dict[str, Any] = {}
        if selected:
            token = selected[-1].continuation_token
            links["next"] = {"href": _with_continuation(request, token)}
            extra["continuationtoken"] = token
        return hal_list(mode, "consents", items, links, extra=extra)
