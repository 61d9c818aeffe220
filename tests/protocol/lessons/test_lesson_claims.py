"""Claims the lessons and the catalog once got wrong stay right: each test names the RFC sentence the text
now rests on. A guard against a claim coming back, not a proof that every sentence is true."""

from __future__ import annotations

import re

import pytest

from smtpstep.protocol.explanations import explain_reply, explain_step
from smtpstep.protocol.explanations.situations import SITUATIONS
from smtpstep.protocol.lessons.loader import catalog, load


def texts(name: str) -> list[str]:
    """Every sentence a lesson shows: its goal, each part's intro and each step's narration."""
    lesson = load(name)
    out = [lesson.goal]
    for part in lesson.parts:
        out += [part.intro or ""] + [note.say for note in part.steps]
    return out


def say(name: str, kind: str, index: int = 0, part: int = 0) -> str:
    """The narration of the ``index``-th step of ``kind`` in a lesson's part, on one line."""
    return " ".join([note.say for note in load(name).parts[part].steps if note.kind == kind][index].split())


ALL_TEXT = [(lesson.name, text) for lesson in catalog() for text in texts(lesson.name)]


@pytest.mark.parametrize(("name", "text"), ALL_TEXT)
def test_no_lesson_cites_an_obsoleted_or_misnumbered_section(name: str, text: str) -> None:
    assert "RFC 6125" not in text  # obsoleted by RFC 9525 (2023)
    assert "RFC 4616 §6" not in text  # §5 holds PLAIN's security considerations
    assert "RFC 6409 §5" not in text  # submission rights are §6.1
    # RFC 5321 §4.5.4.2 is about keeping a listen on port 25, not about plain text.
    if "§4.5.4.2" in text:
        assert "port 25" in text


def test_the_declared_size_is_narrated_as_rfc_1870_defines_it() -> None:
    # RFC 1870 §5: "including CR-LF pairs, but not the SMTP DATA command's terminating dot or doubled
    # quoting dots".
    text = say("dot-stuffing", "mail")
    assert "RFC 1870 §5" in text and "CRLFs included" in text and "neither the dots" in text


def test_the_greeting_wait_is_a_should() -> None:
    # RFC 5321 §4.3.1: "The sender SHOULD wait for this greeting message before sending any commands."
    assert "should wait" in say("basic", "greeting")
    # RFC 5321 §4.5.3.2: "the minimum per-command timeout values SHOULD be as follows"; 5 minutes for the 220.
    greeting = explain_step("greeting")
    assert "should wait at least 5 minutes" in greeting.text and "§4.5.3.2.1" in greeting.rfc


def test_greylisting_does_not_present_x_7_1_as_a_temporary_code() -> None:
    # RFC 3463 §3.8, X.7.1: "This is useful only as a permanent error."; RFC 6647 §5 names 450 (or 421).
    text = say("greylisting", "rcpt")
    assert "permanent errors only" in text and "450" in text and "first digit" in text
    assert "recommends waiting at least 30 minutes" in say("greylisting", "quit")  # RFC 5321 §4.5.4.1 SHOULD


def test_must_starttls_is_not_a_public_port_25_server() -> None:
    # RFC 3207 §4: "A publicly-referenced SMTP server MUST NOT require use of the STARTTLS extension in
    # order to deliver mail locally."
    lesson = load("must-starttls")
    assert "port 25 must not" in " ".join(lesson.goal.split())
    assert "should answer 530" in say("must-starttls", "mail")


def test_stripping_says_only_the_mail_leaks_unless_the_relay_adds_auth_and_cites_rfc_3207_section_6() -> None:
    ehlo = say("starttls-stripping", "ehlo")
    assert "offers no AUTH before TLS" in ehlo and "could add an AUTH line" in ehlo
    quit_ = say("starttls-stripping", "quit")
    assert "RFC 3207 §6 requires clients to be configurable" in quit_ and "RFC 3207 §4.1" not in quit_
    assert "none of these protects a submission client" in quit_ and "DNSSEC" in quit_


def test_auth_login_challenges_end_in_a_nul_as_the_built_in_server_sends_them() -> None:
    text = say("auth-login", "auth")
    assert '"User Name" followed by a NUL byte' in text and "draft-murchison-sasl-login" in text


def test_pipelining_savings_are_counted_in_round_trips() -> None:
    assert "100 ms round-trip time" in say("pipelining", "message")


def test_the_smuggling_lesson_names_the_two_servers_and_aiosmtpds_own_cve() -> None:
    goal = " ".join(load("smtp-smuggling").goal.split())
    assert "two servers that disagree" in goal and "SPF and DMARC can pass" in goal
    assert "CVE-2024-27305" in goal and "1.4.5" in goal


def test_the_catalog_keeps_should_and_must_as_rfc_5321_writes_them() -> None:
    # §4.2.1: "The SMTP client SHOULD NOT repeat the exact request"; §4.1.4: "The last command in a session
    # MUST be the QUIT command."; §3.1: a server refusing with 554 "MUST still wait for the client to send a
    # QUIT ... and SHOULD respond to any intervening commands with "503 bad sequence of commands"".
    assert "should not repeat" in explain_reply(550).kind_text
    assert "QUIT must be the last command" in explain_step("quit").text
    greeting_554 = explain_reply(554, verb="GREETING").meaning.text
    assert "must still wait for QUIT and should answer" in greeting_554


def test_a_530_to_auth_rests_on_rfc_3207_not_on_rfc_4954s_authentication_required() -> None:
    # RFC 4954 §6: "530 5.7.0 Authentication required ... SHOULD be returned by any command other than AUTH,
    # EHLO, HELO, NOOP, RSET, or QUIT"; RFC 3207 §4: "530 Must issue a STARTTLS command first".
    meaning = explain_reply(530, verb="AUTH").meaning
    assert "TLS" in meaning.text and "RFC 3207 §4" in meaning.rfc
    assert "STARTTLS" in SITUATIONS["tls-required"].text


def test_every_step_narration_stays_within_a_few_sentences_and_cites_an_rfc() -> None:
    for lesson in catalog():
        for part in lesson.parts:
            for note in part.steps:
                assert re.search(r"RFC \d{3,4}", note.say), (lesson.name, note.kind)
                assert len(note.say) <= 900, (lesson.name, note.kind)
