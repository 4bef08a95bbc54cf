"""Generated Altinn 2 content: realistic message boxes, form XML and one-page PDFs."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .localtime import local_time
from .model import CORRESPONDENCE, FORM_TASK

# -- generated content ---------------------------------------------------------------------------

_CORRESPONDENCES = (
    ("Skatteetaten", "4503", 1, "Skattekort for {year}"),
    ("Skatteetaten", "4503", 2, "Skatteoppgjøret for {year} er klart"),
    ("NAV", "5261", 1, "Vedtak om foreldrepenger, saksnr {ref}"),
    ("Brønnøysundregistrene", "3606", 2, "Bekreftelse på registrert endring, ref {ref}"),
    ("Statens vegvesen", "5421", 1, "Påminnelse om EU-kontroll for kjøretøy {ref}"),
    ("Asker Kommune", "2479", 2, "Vedr. saksnr {ref}, journalnr {ref2}"),
    ("Digitaliseringsdirektoratet", "5633", 1, "Varsel om endring i tjeneste {ref}"),
)
_FORM_TASKS = (
    ("Skatteetaten", "2802", 2203, "RF-1015 Lønns- og trekkopplysninger for {year}", "213", 10422),
    (
        "Skatteetaten",
        "2933",
        120806,
        "RF-1028 Skattemelding for aksjeselskap {year}",
        "3181",
        11392,
    ),
    ("Statistisk sentralbyrå", "3606", 130731, "RA-0174 Omsetningsstatistikk {year}", "5521", 4012),
    ("NAV", "4936", 1, "Inntektsmelding for sykepenger, ref {ref}", "4936", 34011),
)
_PEOPLE = ("HÅKON TRANA", "KARI NORDMANN", "OLA NORDMANN", "INGRID BERG", "PER HANSEN")


def form_xml(name: str, reference: int, amount: int) -> bytes:
    """A small Oppgaveregisteret-style form document (``<Skjema>`` root)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Skjema skjemanummer="{reference}"><Tittel>{_xml_escape(name)}</Tittel>'
        f'<Beloep-datadef-5659 orid="5659">{amount}</Beloep-datadef-5659></Skjema>\n'
    ).encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """What a generated message needs, before it gets its numbers."""

    type: str
    subject: str
    service_owner: str
    service_code: str
    service_edition: int
    status: str
    created: int
    last_changed: int
    last_changed_by: str
    message_sender: str | None
    summary: str | None
    body: str | None
    forms: tuple[tuple[str, str, int, bytes], ...]  # name, data format id, version, xml
    attachments: tuple[tuple[str, bytes | int, str], ...]  # file name, data or size, type


def generate_specs(count: int, seed: str, now_ms: int) -> Iterator[MessageSpec]:
    """Deterministic, realistic message-box content: correspondences and form tasks from several
    service owners over the last year, some read or archived, some with forms and attachments."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    day = 86_400_000
    for _ in range(count):
        created = now_ms - rng.randrange(365 * day)
        last_changed = created + rng.randrange(max(1, min(now_ms - created, 7 * day)))
        year = local_time(created).year
        ref = rng.randrange(201_300_000, 202_699_999)
        person = rng.choice(_PEOPLE)
        if rng.random() < 0.65:
            owner, code, edition, template = rng.choice(_CORRESPONDENCES)
            subject = template.format(year=year - 1, ref=ref, ref2=ref + 7)
            roll = rng.random()
            status = "Ulest" if roll < 0.4 else ("Lest" if roll < 0.85 else "Arkivert")
            attachments: tuple[tuple[str, bytes | int, str], ...] = ()
            if rng.random() < 0.3:
                attachments = (
                    (f"Vedtak_{ref}.pdf", rng.randrange(2_000, 200_000), "application/pdf"),
                )
            yield MessageSpec(
                type=CORRESPONDENCE,
                subject=subject,
                service_owner=owner,
                service_code=code,
                service_edition=edition,
                status=status,
                created=created,
                last_changed=last_changed,
                last_changed_by=owner,
                message_sender=owner,
                summary=subject,
                body=f"<p>{_xml_escape(subject)}</p>\n<p>Klikk under for å åpne dokumentet.</p>\n",
                forms=(),
                attachments=attachments,
            )
        else:
            owner, code, edition, template, format_id, version = rng.choice(_FORM_TASKS)
            subject = template.format(year=year - 1, ref=ref)
            roll = rng.random()
            status = "Utfylling" if roll < 0.6 else ("Signering" if roll < 0.7 else "Arkivert")
            forms = (
                (subject, format_id, version, form_xml(subject, ref, rng.randrange(100, 99_999))),
            )
            yield MessageSpec(
                type=FORM_TASK,
                subject=subject,
                service_owner=owner,
                service_code=code,
                service_edition=edition,
                status=status,
                created=created,
                last_changed=last_changed,
                last_changed_by=person,
                message_sender=None,
                summary=None,
                body=None,
                forms=forms,
                attachments=(),
            )


def pdf_document(lines: Sequence[str]) -> bytes:
    """A minimal one-page PDF (Helvetica, WinAnsi) showing ``lines``."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    operations = ["BT", "/F1 12 Tf", "16 TL", "72 770 Td"]
    operations.extend(f"({escape(line)}) Tj T*" for line in lines)
    operations.append("ET")
    content = "\n".join(operations).encode("cp1252", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
