"""The bounce: a delivery status notification (RFC 3464) about a message that could not be delivered, as bytes.

``delivery_status_notification`` builds the whole message a reporting MTA sends to a message's envelope
sender: a ``multipart/report; report-type=delivery-status`` (RFC 6522 §3) whose first part is for a person,
whose second is the ``message/delivery-status`` (RFC 3464 §2: per-message fields, then one group of
per-recipient fields each), and whose third returns the original's header (``text/rfc822-headers``) or, with
``RET=FULL``, the whole original (``message/rfc822``) (RFC 3461 §4.3).

Rules:

- It is sent with a null reverse-path, ``MAIL FROM:<>`` (RFC 5321 §4.5.5), and never about a message that
  itself had one (RFC 5321 §6.1: no notification is sent to a null reverse-path). ``needs_bounce`` says whether one may be sent.
- The DSN parameters of RFC 3461 are taken when the sender gave them: ``envid`` becomes
  Original-Envelope-Id (RFC 3464 §2.2.1), ``ret`` chooses what is returned, and each recipient's ``orcpt``
  becomes Original-Recipient (RFC 3464 §2.3.1).
- A remote server's reply goes into Diagnostic-Code (RFC 3464 §2.3.6) as text from outside: control
  characters become spaces and it is cut to ``DIAGNOSTIC_LIMIT``, so no reply can add a field of its own.

Pure: no I/O, no clock (the date is given), no randomness (the boundary comes from the content).
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["DIAGNOSTIC_LIMIT", "RecipientStatus", "delivery_status_notification", "needs_bounce"]

DIAGNOSTIC_LIMIT = 400
"""Characters of a remote reply kept in Diagnostic-Code."""
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
"""The action-values of RFC 3464 §2.3.3."""
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class RecipientStatus:
    """What became of one recipient (one group of per-recipient fields, RFC 3464 §2.3)."""

    recipient: str
    """The forward-path the reporting MTA tried: Final-Recipient (RFC 3464 §2.3.2)."""
    action: str
    """failed, delayed... (RFC 3464 §2.3.3)."""
    status: str
    """The enhanced status code, ``5.1.1`` (RFC 3464 §2.3.4, RFC 3463)."""
    diagnostic: str = ""
    """The remote SMTP server's reply, as it came, or "" when no server said anything (RFC 3464 §2.3.6)."""
    remote_mta: str = ""
    """The host that gave ``diagnostic`` (RFC 3464 §2.3.5), or ""."""
    orcpt: str = ""
    """The ORCPT the sender gave at RCPT (RFC 3461 §4.2), ``rfc822;user@example.test``, or ""."""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"a DSN action is one of {', '.join(ACTIONS)}, not {self.action!r}")
        if not _STATUS.match(self.status):
            raise ValueError(f"a DSN status is an enhanced status code such as 5.1.1, not {self.status!r}")


def needs_bounce(reverse_path: str) -> bool:
    """Whether a failure may be reported to ``reverse_path``: never to the null one (RFC 5321 §6.1)."""
    return reverse_path.strip().strip("<>") != ""


def delivery_status_notification(*, reporting_mta: str, sender: str, recipients: Sequence[RecipientStatus],
                                 original: bytes, when: datetime, message_id: str, envid: str = "",
                                 ret: str = "HDRS", arrival: datetime | None = None) -> bytes:
    """The bounce for ``original`` (the message as accepted, CRLF line ends), to ``sender``, as the bytes of a
    whole message with CRLF line ends. ``ret`` is RET's value (RFC 3461 §4.3): FULL returns the whole
    original, anything else its header only."""
    if not recipients:
        raise ValueError("a delivery status notification reports on at least one recipient (RFC 3464 §2)")
    failed = [r for r in recipients if r.action == "failed"]
    delayed = [r for r in recipients if r.action == "delayed"]
    subject = ("Undelivered Mail Returned to Sender" if failed else
               "Delivery Status Notification (Delay)" if delayed else "Delivery Status Notification (Relayed)")
    full = ret.upper() == "FULL"
    returned = original if full else _header_of(original)
    boundary = _boundary(original, reporting_mta)
    human = _human_text(reporting_mta, recipients, full)
    status = _status_fields(reporting_mta, recipients, envid, arrival)
    lines = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{_clean(sender)}>",
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(when)}",
        f"Message-ID: <{_clean(message_id)}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5: a machine's answer, not to be answered by a machine
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a delivery status notification in MIME format (RFC 3464).",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        *human,
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        *status,
        "",
        f"--{boundary}",
        "Content-Type: message/rfc822" if full else "Content-Type: text/rfc822-headers",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii") + b"\r\n"
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return head + returned.rstrip(b"\r\n") + b"\r\n" + tail


def _human_text(reporting_mta: str, recipients: Sequence[RecipientStatus], full: bool) -> list[str]:
    lines = [f"This is the mail system at {reporting_mta}.", ""]
    failed = [r for r in recipients if r.action == "failed"]
    delayed = [r for r in recipients if r.action == "delayed"]
    if failed:
        lines.append("Your message could not be delivered to these recipients; no further attempts will be made:")
        lines += [f"  <{_clean(r.recipient)}>: {_clean(r.diagnostic) or 'status ' + r.status}" for r in failed]
    if delayed:
        lines.append("Your message has not yet been delivered to these recipients; it is still queued:")
        lines += [f"  <{_clean(r.recipient)}>: {_clean(r.diagnostic) or 'status ' + r.status}" for r in delayed]
    relayed = [r for r in recipients if r.action == "relayed"]
    if relayed:
        lines.append("Your message was passed on to these recipients' mail server, which sends no delivery "
                     "reports, so no further report will come:")
        lines += [f"  <{_clean(r.recipient)}>: relayed to {_clean(r.remote_mta) or 'the next server'}" for r in relayed]
    lines += ["", "The message's " + ("full text follows." if full else "header follows.")]
    return lines


def _status_fields(reporting_mta: str, recipients: Sequence[RecipientStatus], envid: str,
                   arrival: datetime | None) -> list[str]:
    fields = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envid:
        fields.append(f"Original-Envelope-Id: {_clean(envid)}")
    if arrival is not None:
        fields.append(f"Arrival-Date: {email.utils.format_datetime(arrival)}")
    for recipient in recipients:
        fields.append("")
        if recipient.orcpt:
            fields.append(f"Original-Recipient: {_clean(recipient.orcpt)}")
        fields += [f"Final-Recipient: rfc822; {_clean(recipient.recipient)}",
                   f"Action: {recipient.action}", f"Status: {recipient.status}"]
        if recipient.remote_mta:
            fields.append(f"Remote-MTA: dns; {_clean(recipient.remote_mta)}")
        if recipient.diagnostic:
            fields.append(f"Diagnostic-Code: smtp; {_clean(recipient.diagnostic)}")
    return fields


def _header_of(message: bytes) -> bytes:
    """The header of ``message``: everything before its first empty line (RFC 5322 §2.1)."""
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[:end + 2]


def _boundary(original: bytes, reporting_mta: str) -> str:
    """A boundary that occurs nowhere in what it separates (RFC 2046 §5.1.1), the same for the same message."""
    digest = hashlib.sha256(original + reporting_mta.encode("utf-8", "replace")).hexdigest()
    boundary = f"smtpstep-report-{digest[:24]}"
    while boundary.encode("ascii") in original:
        boundary += "x"
    return boundary


def _clean(text: str) -> str:
    """Text from outside, on one line of plain ASCII and bounded: controls become spaces (no field of its own
    can be added), other non-ASCII characters become "?"."""
    flat = _CONTROLS.sub(" ", text).strip()
    flat = flat.encode("ascii", "replace").decode("ascii")
    return flat if len(flat) <= DIAGNOSTIC_LIMIT else flat[:DIAGNOSTIC_LIMIT - 3] + "..."
