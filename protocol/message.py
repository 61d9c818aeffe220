"""Builds the message a session sends: an RFC 5322 message made with the standard library's ``email``.

Pure: the caller passes the date and Message-ID (``email.utils.format_datetime`` / ``make_msgid``
read the clock and the host name, which the core must not).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8

from .commands import check_field


def build_message(
    *,
    sender: str,
    recipients: tuple[str, ...] | list[str],
    subject: str,
    body: str,
    date: str,
    message_id: str,
    utf8_headers: bool = False,
) -> bytes:
    """The message as bytes with CRLF line ends: From, To, Subject, Date, Message-ID, MIME-Version, body.

    Non-ASCII text is encoded the classic way (RFC 2047 headers, a quoted-printable UTF-8 body) unless
    ``utf8_headers`` (RFC 6532, for SMTPUTF8 sessions) is set.
    """
    for name, value in (("the subject", subject), ("the sender", sender), ("the date", date),
                        ("the Message-ID", message_id)):
        check_field(name, value)
    for rcpt in recipients:
        check_field("a recipient", rcpt)
    # The classic way must reach any server, including one without 8BITMIME (RFC 6152 §3): a 7-bit
    # policy makes a non-ASCII body quoted-printable or base64 instead of raw 8-bit.
    message = EmailMessage(policy=SMTPUTF8 if utf8_headers else SMTP.clone(cte_type="7bit"))
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = message_id
    message.set_content(body if body.endswith("\n") else body + "\n")
    return message.as_bytes()


def format_date(moment: datetime) -> str:
    """RFC 5322 §3.3 date-time for a given moment (the caller reads the clock)."""
    from email.utils import format_datetime

    return format_datetime(moment)
