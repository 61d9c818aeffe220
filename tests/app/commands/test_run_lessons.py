"""Every shipped lesson runs headless to its expected end: each step is the one the lesson narrates,
gets the reply the lesson expects, and each part ends with the lesson's exit code."""

from __future__ import annotations

import re

import pytest

from smtpstep.protocol.lessons.loader import catalog, catalog_names, load
from tests.support.lessons import run_lesson

REQUIRED = (
    "basic", "starttls", "implicit-tls", "auth-plain", "auth-login", "rejected-recipient", "greylisting",
    "size-limit", "must-starttls", "bad-password", "dot-stuffing", "pipelining", "smtputf8", "tls-failures",
    "starttls-stripping", "smtp-smuggling", "enumeration", "tls-between-servers",
)


def test_the_catalog_has_every_lesson_the_issue_asks_for():
    assert set(REQUIRED) <= set(catalog_names())


def test_every_lesson_scenario_is_a_registered_server_scenario():
    from smtpstep.protocol.server.scenarios import SCENARIOS

    for lesson in catalog():
        assert lesson.scenario in SCENARIOS, lesson.name


def test_every_step_of_every_lesson_is_narrated_with_an_rfc_reference():
    for lesson in catalog():
        for part in lesson.parts:
            assert part.steps
            for note in part.steps:
                assert re.search(r"RFC \d{3,4}", note.say), (lesson.name, note.kind, note.say)


@pytest.mark.parametrize("name", sorted(set(REQUIRED) | set(catalog_names())))
def test_a_lesson_runs_to_its_expected_end_with_narration_for_every_step(name):
    lesson = load(name)
    done = run_lesson(name)
    assert "Traceback" not in done.out + done.err
    assert len(done.report.parts) == len(lesson.parts)
    for part, report in zip(lesson.parts, done.report.parts):
        taken = [step.kind for step in report.steps]
        assert taken == [note.kind for note in part.steps], (name, report.part)
        for step in report.steps:
            assert step.narration, (name, report.part, step.index, step.kind)
            assert step.problem is None, (name, report.part, step.index, step.problem)
        assert report.outcome.code == part.exit, (name, report.part, report.outcome)
    assert done.code == lesson.parts[-1].exit
    assert "!!" not in "\n".join(line for line in done.out.splitlines() if "lesson expects" in line)
    for part in lesson.parts:
        for note in part.steps:
            assert f"» {note.say.split()[0]}" in done.out  # every narration was printed


def test_rejected_recipient_sees_550_5_1_1_then_250_for_the_next():
    done = run_lesson("rejected-recipient")
    assert done.replies()[3:5] == [(550, "5.1.1"), (250, "2.1.5")]  # after 220, EHLO 250, MAIL 250
    assert done.code == 9 and "nobody@example.test" in done.err
    (stored,) = done.report.parts[0].stored
    assert stored.rcpt_tos == ("teacher@example.test",)


def test_greylisting_gets_451_4_7_1_then_succeeds_on_the_retry():
    done = run_lesson("greylisting")
    first, retry = done.report.parts
    assert (451, "4.7.1") in done.replies(0) and not first.stored
    assert (250, "2.1.5") in done.replies(1) and len(retry.stored) == 1
    assert done.code == 0


def test_size_limit_advertises_10000_and_refuses_with_552_before_the_data():
    done = run_lesson("size-limit")
    assert "S: 250-SIZE 10000" in done.out
    assert done.replies()[-2] == (552, "5.3.4")
    assert "data" not in done.kinds() and done.code == 8


def test_must_starttls_refuses_mail_with_530_5_7_0_and_accepts_it_after_starttls():
    done = run_lesson("must-starttls")
    assert (530, "5.7.0") in done.replies(0)
    assert "starttls" in done.kinds(1) and done.report.parts[1].stored[0].tls


def test_bad_password_gets_535_5_7_8_and_the_client_quits_without_mail():
    done = run_lesson("bad-password")
    assert done.replies()[-2:] == [(535, "5.7.8"), (221, "2.0.0")]
    assert "C: MAIL" not in done.out and done.code == 7


def test_auth_plain_narration_decodes_the_demo_credentials_while_the_wire_log_redacts_them():
    done = run_lesson("auth-plain")
    assert "C: AUTH PLAIN ********" in done.out
    assert "AHN0dWRlbnQAY2xhc3Nyb29t" in done.out and "student\\0classroom" in done.out


def test_auth_login_answers_two_334_challenges():
    done = run_lesson("auth-login")
    assert [r for r in done.replies() if r[0] in (334, 235)] == [(334, None), (334, None), (235, "2.7.0")]


def test_stripping_the_client_sees_no_starttls_sends_no_credentials_and_quits():
    done = run_lesson("starttls-stripping")
    stripped, implicit = done.report.parts
    assert [step.kind for step in stripped.steps] == ["connect", "greeting", "ehlo", "quit"]
    part_one = done.out.split("Part 2 of 2")[0]
    assert "S: 250-STARTTLS" not in part_one and "C: AUTH" not in part_one and "C: QUIT" in part_one
    assert any("deleted “250-STARTTLS”" in line for line in stripped.tampering)
    assert stripped.outcome.code == 6 and not stripped.stored
    assert any("implicit TLS" in line for line in implicit.tampering)
    assert implicit.stored and implicit.stored[0].auth_user == "student"


def test_tls_failures_stop_at_the_handshake_for_each_bad_certificate():
    done = run_lesson("tls-failures")
    errors = [line for line in done.out.splitlines() if line.startswith("  !! the server's certificate")]
    assert len(errors) == 3
    assert "OpenSSL error 20" in errors[0]  # unable to get the local issuer certificate
    assert "OpenSSL error 10" in errors[1]  # certificate has expired
    assert "OpenSSL error 62" in errors[2] and "wrong-host.smtpstep.test" in errors[2]  # hostname mismatch
    for sni in ("untrusted", "expired", "wrong-host"):
        assert f"TLS SNI: {sni}.smtpstep.test" in done.out
    for part in done.report.parts:
        assert part.steps[-1].failure == "tls" and part.outcome.code == 6
    assert "C: QUIT" not in done.out  # nothing more is sent after a failed handshake


def test_tls_between_servers_goes_on_unverified_then_refuses_then_sends_requiretls_under_verified_tls():
    done = run_lesson("tls-between-servers")
    _, opportunistic, enforced, required = re.split(r"## Part \d of 3: ", done.out)
    assert "TLS verification: NOT VERIFIED" in opportunistic and "TLS SNI: untrusted.smtpstep.test" in opportunistic
    (stored,) = done.report.parts[0].stored
    assert stored.listener == "plain" and stored.tls and stored.auth_user is None  # port 25 style, no AUTH
    assert "OpenSSL error 20" in enforced and "C: MAIL" not in enforced
    assert done.report.parts[1].outcome.code == 6 and not done.report.parts[1].stored
    before_tls, under_tls = required.split("C: STARTTLS")
    assert "S: 250-REQUIRETLS" not in before_tls and "S: 250-REQUIRETLS" in under_tls
    assert re.search(r"C: MAIL FROM:<[^>]+>( SIZE=\d+)? REQUIRETLS\n", under_tls)
    assert "== REQUIRETLS: onward only over verified TLS, or the message comes back (RFC 8689 §2)" in under_tls
    assert "NOT VERIFIED" not in required and done.report.parts[2].stored


def test_dot_stuffing_doubles_leading_dots_on_the_wire_and_the_server_stores_them_single():
    done = run_lesson("dot-stuffing")
    assert "C: ..A line that starts with one dot." in done.out
    assert "C: ...And one that starts with two." in done.out
    (stored,) = done.report.parts[0].stored
    assert b"\r\n.A line that starts with one dot.\r\n..And one that starts with two.\r\n.\r\nThe line" in (
        stored.original_content)


def test_pipelining_sends_mail_rcpt_rcpt_data_in_one_write_and_matches_the_replies_in_order():
    done = run_lesson("pipelining")
    group = done.report.parts[0].steps[3]
    assert group.kind == "mail+rcpt+rcpt+data"
    assert group.replies == ((250, "2.1.0"), (250, "2.1.5"), (550, "5.1.1"), (354, None))
    assert "S: 250-PIPELINING" in done.out


def test_smtputf8_sends_the_parameter_and_the_server_stores_utf8():
    done = run_lesson("smtputf8")
    assert "C: MAIL FROM:<étudiant@client.smtpstep.test>" in done.out and " SMTPUTF8" in done.out
    (stored,) = done.report.parts[0].stored
    assert stored.rcpt_tos == ("enseignante@école.test",) and b"with UTF8SMTP" in stored.stored


def test_smuggling_bytes_go_out_exactly_and_the_server_keeps_one_message():
    done = run_lesson("smtp-smuggling")
    (stored,) = done.report.parts[0].stored
    assert b"first message.\n.\r\nMAIL FROM:<ceo@example.test>\r\n" in stored.original_content
    assert b"smuggled inside the first one.\n.\nBye.\r\n" in stored.original_content
    assert [r for r in done.replies() if r[0] == 250 and r[1] == "2.0.0"] == [(250, "2.0.0")]
    assert "server| This is the first message.␊." in done.out
