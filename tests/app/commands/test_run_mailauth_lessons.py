"""The email-security lessons end where they say, and the built-in receiving MX's verdict is in the stored
message: its Authentication-Results field (RFC 8601) as the server's view prints it, or its 550 5.7.26."""

from __future__ import annotations

from tests.support.lessons import run_lesson


def stored_fields(out: str) -> list[str]:
    """The Authentication-Results lines of every message the server's view printed, one string per message."""
    fields, current = [], None
    for line in out.splitlines():
        if line.startswith("  server| Authentication-Results:"):
            current = [line]
            fields.append(current)
        elif current is not None and line.startswith("  server| \t"):
            current.append(line)
        else:
            current = None
    return [" ".join(part.split("|", 1)[1].strip() for part in field) for field in fields]


def test_spf_lesson_stores_pass_and_softfail_and_refuses_the_domain_that_lists_another_address():
    done = run_lesson("spf")
    fields = stored_fields(done.out)
    assert len(fields) == 2
    assert ("spf=pass (mail.smtpstep.test: client.smtpstep.test allows 127.0.0.1 to send its mail) "
            "smtp.mailfrom=client.smtpstep.test;") in fields[0] and "dmarc=pass" in fields[0]
    assert ("spf=softfail (mail.smtpstep.test: soft.test discourages mail from 127.0.0.1) "
            "smtp.mailfrom=soft.test;") in fields[1] and "dmarc=none" in fields[1]
    assert done.replies(1)[-2] == (550, "5.7.26")


def test_dmarc_lesson_accepts_the_aligned_message_and_refuses_the_spoofed_from():
    done = run_lesson("dmarc")
    fields = stored_fields(done.out)
    assert len(fields) == 1
    assert "dmarc=pass (p=reject sp=reject dis=none) header.from=client.smtpstep.test" in fields[0]
    assert done.replies(1)[-2] == (550, "5.7.26")
    assert "S: 550 5.7.26 Unauthenticated email from bank.test is not accepted due to its DMARC policy" in done.out


def test_dkim_lesson_verifies_the_signature_and_the_footer_breaks_it():
    done = run_lesson("dkim")
    fields = stored_fields(done.out)
    assert len(fields) == 1
    assert "dkim=pass header.d=client.smtpstep.test header.s=s1" in fields[0] and "spf=none (" in fields[0]
    assert done.replies(1)[-2] == (550, "5.7.26")


def test_modern_login_redacts_the_token_on_the_wire_and_shows_the_error_acknowledgement():
    from smtpstep.protocol import sasl
    from smtpstep.protocol.server.facts import DEMO_TOKEN, DEMO_USER

    done = run_lesson("modern-login")
    wire = [line.rstrip() for line in done.out.splitlines() if line.startswith(("C:", "S:"))]
    assert "C: AUTH OAUTHBEARER ********" in wire and "C: AUTH XOAUTH2 ********" in wire
    assert not any(sasl.initial_response("OAUTHBEARER", DEMO_USER, DEMO_TOKEN) in line for line in wire)
    assert [reply for reply in done.replies(1) if reply[0] in (334, 535)] == [(334, None), (535, "5.7.8")]
    challenge = next(i for i, line in enumerate(wire) if line.startswith("S: 334 "))
    assert wire[challenge + 1] == "C:"  # XOAUTH2's empty line after the error challenge is shown, not masked


def test_enumeration_finds_the_mx_in_the_zone_and_only_rcpt_tells_a_real_mailbox_from_a_missing_one():
    done = run_lesson("enumeration")
    assert done.code == 0 and done.kinds()[:3] == ["dns-mx", "dns-a", "connect"]
    lines = done.out.splitlines()
    mx, address = "DNS: MX example.test? → 10 mx.example.test.", "DNS: A mx.example.test? → 127.0.0.1"
    assert lines.index(mx) < lines.index(address)
    vrfy = [reply for step in done.report.parts[0].steps if step.kind == "vrfy" for reply in step.replies]
    assert vrfy == [(252, None), (252, None)]  # the same answer for a mailbox and for none (RFC 5321 §7.3)
    assert "S: 502 EXPN not implemented" in lines
    rcpts = [reply for step in done.report.parts[0].steps if step.kind == "rcpt" for reply in step.replies]
    assert rcpts == [(250, "2.1.5"), (550, "5.1.1")]
    assert "C: DATA" not in lines and lines.count("C: QUIT") == 1
