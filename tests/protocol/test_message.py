"""The message builder: RFC 5322 headers, CRLF line ends, encoded non-ASCII text."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import pytest

from smtpstep.protocol.commands import MessageBody
from smtpstep.protocol.message import build_message, format_date

DATE = "Mon, 01 Jan 2024 09:30:00 +0000"
MESSAGE_ID = "<20240101093000.1@client.example.test>"


def build(**overrides):
    kwargs = dict(sender="student@client.example.test", recipients=["teacher@example.test", "tutor@example.test"],
                  subject="Lesson 1", body="Hello.\n.a line with a dot\nBye.", date=DATE, message_id=MESSAGE_ID)
    kwargs.update(overrides)
    return build_message(**kwargs)


def headers(message: bytes) -> dict[str, str]:
    head = message.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return dict(line.split(": ", 1) for line in head.split("\r\n"))


def test_the_message_has_from_to_subject_date_message_id_and_mime_version():
    assert headers(build()) == {
        "From": "student@client.example.test",
        "To": "teacher@example.test, tutor@example.test",
        "Subject": "Lesson 1",
        "Date": DATE,
        "Message-ID": MESSAGE_ID,
        "MIME-Version": "1.0",
        "Content-Type": 'text/plain; charset="utf-8"',
        "Content-Transfer-Encoding": "7bit",
    }


def test_every_line_ends_with_crlf_and_the_body_ends_with_a_line_end():
    message = build()
    assert message.endswith(b"Bye.\r\n")
    assert b"\n" not in message.replace(b"\r\n", b"")
    assert b"\r" not in message.replace(b"\r\n", b"")
    assert MessageBody(message).had_bare_line_ends is False


def test_a_utf_8_subject_is_encoded_as_an_rfc_2047_word():
    message = build(subject="Grüße, élève")
    subject = headers(message)["Subject"]
    assert subject.startswith("=?utf-8?")
    assert message.isascii()
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert parsed["Subject"] == "Grüße, élève"


def test_a_non_ascii_body_stays_7_bit_for_servers_without_8bitmime():
    # RFC 6152 §3: 8-bit data only to a server that offers 8BITMIME; the classic message must not need it.
    message = build(body="Café crème.\n")
    assert message.isascii()
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert parsed.get_content().replace("\r\n", "\n") == "Café crème.\n"


def test_utf8_headers_put_the_subject_in_utf_8_for_smtputf8_sessions():
    message = build(subject="Grüße", utf8_headers=True)
    assert "Subject: Grüße\r\n".encode() in message


def test_format_date_writes_an_rfc_5322_date():
    assert format_date(datetime(2024, 1, 1, 9, 30, tzinfo=timezone.utc)) == "Mon, 01 Jan 2024 09:30:00 +0000"


TRICKY_BODIES = [
    "", "\n", "\n\n\n", "Hello.", "Hello.\n", "two\r\nlines\r\n", "cr\ronly\r", "mixed\r\nends\nand\rmore",
    "From the start\n.\n..\n. dot\n", "   \n\t\ttabs\n trailing   \n", "form\x0cfeed and \x0bvt\n", "nul\x00byte\n",
    "x" * 78 + "\n" + "y" * 78, "x" * 79 + "\n", "short\n" + "z" * 200 + "\n", "ends without a line end",
    "ümlaut\n", "a line\n" * 1000,
]


@pytest.mark.parametrize("utf8_headers", [False, True])
@pytest.mark.parametrize("body", TRICKY_BODIES)
def test_a_message_is_byte_for_byte_what_email_makes_of_it(body: str, utf8_headers: bool) -> None:
    """``build_message`` skips ``email``'s generator for a 7-bit body: the bytes must stay the same."""
    from email.message import EmailMessage
    from email.policy import SMTP, SMTPUTF8

    reference = EmailMessage(policy=SMTPUTF8 if utf8_headers else SMTP.clone(cte_type="7bit"))
    for name, value in (("From", "a@client.test"), ("To", "b@example.test, c@example.test"), ("Subject", "Hi"),
                        ("Date", "Wed, 02 Dec 2026 14:00:00 +0000"), ("Message-ID", "<1@client.test>")):
        reference[name] = value
    reference.set_content(body if body.endswith("\n") else body + "\n")

    built = build_message(sender="a@client.test", recipients=("b@example.test", "c@example.test"), subject="Hi",
                          body=body, date="Wed, 02 Dec 2026 14:00:00 +0000", message_id="<1@client.test>",
                          utf8_headers=utf8_headers)
    assert built == reference.as_bytes()
