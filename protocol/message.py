"""Builds the message a session sends: an RFC 5322 message made with the standard library's ``email``.

Pure: the caller passes the date and Message-ID (``email.utils.format_datetime`` / ``make_msgid``
read the clock and the host name, which the core must not).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8

from smtpstep.protocol.commands import check_field


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
    text = body if body.endswith("\n") else body + "\n"
    if text.isascii():
        data = text.replace("\r\n", "\n").replace("\r", "\n").encode("ascii")
        if not _has_long_line(data):
            # What ``email`` makes of a 7-bit body, without its line-by-line generator (0.8 s for
            # 25 MB): the headers of the same message, then the body with CRLF line ends.
            # tests/protocol/test_message.py holds the two equal.
            head = _message(sender, recipients, subject, "-\n", date, message_id, utf8_headers).as_bytes()
            body_crlf = data.replace(b"\n", b"\r\n")
            del data  # one copy of a big body less at the peak
            return head[: head.index(b"\r\n\r\n") + 4] + body_crlf
    return _message(sender, recipients, subject, text, date, message_id, utf8_headers).as_bytes()


MAX_LINE = 78
"""``email``'s policy's ``max_line_length``: a longer line makes it pick another transfer encoding."""


def _has_long_line(data: bytes) -> bool:
    """Whether a line of ``data`` is longer than ``MAX_LINE`` (a bounded look per line: a regex or a split
    of a 25 MB body costs a second or a copy of it)."""
    pos, size = 0, len(data)
    while pos < size:
        end = data.find(b"\n", pos, pos + MAX_LINE + 1)
        if end < 0:
            return size - pos > MAX_LINE
        pos = end + 1
    return False


def _message(sender: str, recipients: tuple[str, ...] | list[str], subject: str, body: str, date: str,
             message_id: str, utf8_headers: bool) -> EmailMessage:
    # The classic way must reach any server, including one without 8BITMIME (RFC 6152 §3): a 7-bit
    # policy makes a non-ASCII body quoted-printable or base64 instead of raw 8-bit.
    message = EmailMessage(policy=SMTPUTF8 if utf8_headers else SMTP.clone(cte_type="7bit"))
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = date
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


def format_date(moment: datetime) -> str:
    """RFC 5322 §3.3 date-time for a given moment (the caller reads the clock)."""
    from email.utils import format_datetime

    return format_datetime(moment)
