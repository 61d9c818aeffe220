"""The message-path and bounce lessons end where they say, and ``smtpstep run --lesson`` prints the relay hop:
its DNS question, the session the submission server had with the MX, the Received chain at delivery, and the
bounce with its null sender."""

from __future__ import annotations

from tests.support.lessons import run_lesson


def server_side(out: str) -> list[str]:
    """The lines the server's view printed, without their prefix."""
    return [line[10:] for line in out.splitlines() if line.startswith(("  server: ", "  server| "))]


def test_message_path_shows_the_mx_lookup_the_second_session_and_the_received_chain():
    done = run_lesson("message-path")
    assert [report.outcome.code for report in done.report.parts] == [0, 9]
    side = server_side(done.out)
    assert "DNS: MX example.test? → 10 mx.example.test." in side
    hop = side.index("C: EHLO mail.smtpstep.test")
    assert side[hop:].index("C: MAIL FROM:<student@client.smtpstep.test>") < side[hop:].index("C: QUIT")
    delivered = side.index("Return-Path: <student@client.smtpstep.test>")
    assert side[delivered + 1].startswith("Received: from mail.smtpstep.test ([127.0.0.1])")
    assert side[delivered + 2].endswith("by mx.example.test (smtpstep local server) with ESMTP")
    assert side[delivered + 4].startswith("Received: from client.smtpstep.test ([127.0.0.1])")
    assert done.replies(1)[-2] == (550, "5.7.1")
    assert "relaying denied" in done.out


def test_bounce_lesson_stores_a_report_from_the_null_sender_to_the_envelope_sender_each_time():
    done = run_lesson("bounce")
    assert [report.outcome.code for report in done.report.parts] == [0, 0]
    for part, sender in ((0, "student@client.smtpstep.test"), (1, "victim@client.smtpstep.test")):
        bounce = done.report.parts[part].stored[-1]
        assert bounce.mail_from == "<>" and bounce.rcpt_tos == (sender,)
        assert b"Content-Type: multipart/report; report-type=delivery-status" in bounce.stored
        assert b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.test>: no such mailbox here" in bounce.stored
    assert "S: 550 5.1.1 <gone@example.test>: no such mailbox here" in server_side(done.out)


def test_the_receiving_mx_shows_its_dns_questions_at_the_step_where_it_refuses():
    done = run_lesson("dmarc")
    refused = done.report.parts[1]
    assert refused.stored and all(not hasattr(record, "mail_from") for record in refused.stored)  # a note only
    side = server_side(done.out)
    assert "The receiving MX decides at the final dot; it asked DNS:" in side
    assert any(line.startswith("DNS: TXT _dmarc.bank.test? → ") and "p=reject" in line for line in side)
    assert any(line.startswith("SPF pass, DKIM none, DMARC fail: 550 5.7.26") for line in side)
