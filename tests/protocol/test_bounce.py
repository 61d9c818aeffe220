"""The bounce builder: an RFC 3464 delivery status notification that the ``email`` package reads back as one,
with the DSN parameters of RFC 3461 where the sender gave them, and a remote reply that cannot add a field."""

from __future__ import annotations

import datetime
import email

import pytest

from smtpstep.protocol.bounce import RecipientStatus, delivery_status_notification, needs_bounce

WHEN = datetime.datetime(2026, 12, 5, 9, 0, tzinfo=datetime.timezone.utc)
ORIGINAL = b"From: a@client.smtpstep.test\r\nSubject: hello\r\n\r\nThe body.\r\n"


def build(*recipients: RecipientStatus, **options: str) -> email.message.Message:
    data = delivery_status_notification(reporting_mta="mail.smtpstep.test", sender="a@client.smtpstep.test",
                                        recipients=recipients or (RecipientStatus("b@example.test", "failed", "5.1.1"),),
                                        original=ORIGINAL, when=WHEN, message_id="1@mail.smtpstep.test", **options)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF line ends only
    return email.message_from_bytes(data)


def test_the_report_parses_back_as_multipart_report_of_delivery_status_with_three_parts():
    report = build()
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert [part.get_content_type() for part in report.get_payload()] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert report["Auto-Submitted"] == "auto-replied" and report["To"] == "<a@client.smtpstep.test>"
    assert report.get_payload()[2].get_payload() == "From: a@client.smtpstep.test\r\nSubject: hello\r\n"


def test_envid_orcpt_and_ret_full_appear_where_rfc_3464_puts_them():
    report = build(RecipientStatus("b@example.test", "failed", "5.1.1", "550 5.1.1 no", "mx.example.test",
                                   orcpt="rfc822;B@example.test"), envid="QQ314159", ret="FULL")
    per_message, per_recipient = report.get_payload()[1].get_payload()
    assert per_message["Original-Envelope-Id"] == "QQ314159"
    assert per_recipient["Original-Recipient"] == "rfc822;B@example.test"
    returned = report.get_payload()[2]
    assert returned.get_content_type() == "message/rfc822"
    assert returned.get_payload()[0]["Subject"] == "hello" and "The body." in returned.as_string()


def test_a_remote_reply_with_line_breaks_cannot_add_a_field_of_its_own():
    report = build(RecipientStatus("b@example.test", "failed", "5.1.1", "550 no\r\nX-Injected: yes", "mx"))
    per_recipient = report.get_payload()[1].get_payload()[1]
    assert per_recipient["X-Injected"] is None
    assert per_recipient["Diagnostic-Code"] == "smtp; 550 no X-Injected: yes"


def test_one_delayed_and_one_failed_recipient_each_get_their_group():
    report = build(RecipientStatus("b@example.test", "failed", "5.1.1"),
                   RecipientStatus("c@example.test", "delayed", "4.4.1"))
    groups = report.get_payload()[1].get_payload()[1:]
    assert [(g["Final-Recipient"], g["Action"], g["Status"]) for g in groups] == [
        ("rfc822; b@example.test", "failed", "5.1.1"), ("rfc822; c@example.test", "delayed", "4.4.1")]


def test_no_bounce_goes_to_the_null_reverse_path_and_bad_values_are_refused():
    assert not needs_bounce("<>") and not needs_bounce("") and needs_bounce("<a@b.test>")
    with pytest.raises(ValueError, match="action"):
        RecipientStatus("b@example.test", "bounced", "5.1.1")
    with pytest.raises(ValueError, match="status"):
        RecipientStatus("b@example.test", "failed", "550")
