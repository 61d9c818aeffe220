"""DSN parameters (RFC 3461 §4) and REQUIRETLS (RFC 8689 §2) on the client side: xtext, the command lines, the rules
that send them only where advertised, the planner that adds them, and their explanations."""

from __future__ import annotations

import pytest

from smtpstep.protocol.capabilities import Capabilities
from smtpstep.protocol.client import SmtpClient
from smtpstep.protocol.commands import Connect, Ehlo, InvalidCommand, MailFrom, RcptTo, ReadGreeting
from smtpstep.protocol.dsn_parameters import DsnSyntaxError, notify_words, read_orcpt, unxtext, wire_note, xtext
from smtpstep.protocol.dsn_requests import DsnAsk
from smtpstep.protocol.explanations.keywords import explain_parameters
from smtpstep.protocol.planner import SessionPlan, propose
from smtpstep.protocol.replies import Reply


def test_xtext_writes_plus_equals_and_controls_as_plus_hex_and_reads_them_back():
    assert xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    assert unxtext("a+2Bb+3Dc+20d") == "a+b=c d"
    for bad in ("a+2b", "a+2", "a=b", "a b", "é"):
        with pytest.raises(DsnSyntaxError):
            unxtext(bad)


def test_notify_is_never_alone_or_a_list_of_success_failure_delay():
    assert notify_words("success,Delay") == ("SUCCESS", "DELAY")
    assert notify_words("NEVER") == ("NEVER",)
    for bad in ("NEVER,SUCCESS", "ALWAYS", ""):
        with pytest.raises(DsnSyntaxError):
            notify_words(bad)
    assert read_orcpt("rfc822;a+2Bb@example.test") == ("rfc822", "a+b@example.test")
    with pytest.raises(DsnSyntaxError):
        read_orcpt("rfc822;a+0Ab@example.test")  # a line feed: not printable (RFC 3461 §4.2)


def test_mail_and_rcpt_carry_the_parameters_in_xtext():
    mail = MailFrom("a@example.test", ret="hdrs", envid="id=1 2", requiretls=True)
    assert mail.render().data == b"MAIL FROM:<a@example.test> RET=HDRS ENVID=id+3D1+202 REQUIRETLS\r\n"
    rcpt = RcptTo("b@example.test", notify=("failure", "delay"), orcpt="b+x@example.test")
    assert rcpt.render().data == b"RCPT TO:<b@example.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b+2Bx@example.test\r\n"
    for bad in (lambda: MailFrom("a@example.test", ret="ALL"), lambda: MailFrom("a@example.test", envid="x" * 100),
                lambda: RcptTo("b@example.test", notify=("NEVER", "DELAY")),
                lambda: RcptTo("b@example.test", orcpt="é@example.test")):
        with pytest.raises(InvalidCommand):
            bad()


def _client(*keywords: str, tls: bool = False) -> SmtpClient:
    client = SmtpClient()
    client.send(Connect())
    client.connection_made()
    client.send(ReadGreeting())
    client.receive_data(b"220 mx.example.test\r\n")
    client.send(Ehlo("client.example.test"))
    lines = "".join(f"250-{k}\r\n" for k in ("mx.example.test", *keywords))
    client.receive_data(lines.encode() + b"250 HELP\r\n")
    if tls:  # as after STARTTLS and the second EHLO
        from dataclasses import replace
        client.session = replace(client.session, tls=True)
    return client


def test_the_client_sends_dsn_and_requiretls_only_where_the_server_offers_them():
    plain = _client()
    refusal = plain.check(MailFrom("a@example.test", ret="FULL"))
    assert refusal is not None and refusal.forceable and "DSN" in str(refusal)
    offered = _client("DSN", "REQUIRETLS")
    assert offered.check(MailFrom("a@example.test", ret="FULL", envid="x")) is None
    refusal = offered.check(MailFrom("a@example.test", requiretls=True))
    assert refusal is not None and "under TLS" in str(refusal)
    assert _client("DSN", "REQUIRETLS", tls=True).check(MailFrom("a@example.test", requiretls=True)) is None
    offered.send(MailFrom("a@example.test"))
    offered.receive_data(b"250 OK\r\n")
    assert offered.check(RcptTo("b@example.test", notify=("NEVER",))) is None
    plain.send(MailFrom("a@example.test"))
    plain.receive_data(b"250 OK\r\n")
    assert "DSN" in str(plain.check(RcptTo("b@example.test", notify=("NEVER",))))


def test_the_planner_adds_what_was_asked_only_for_what_the_server_advertised():
    plan = SessionPlan(security="none", dsn=DsnAsk(ret="HDRS", envid="e1", notify=("SUCCESS",), orcpt=True,
                                                   requiretls=True))
    lines = lambda client: [c.render().data for c in propose(plan, client.view()).commands  # noqa: E731
                            if isinstance(c, (MailFrom, RcptTo))]
    assert lines(_client("DSN", "REQUIRETLS", tls=True)) == [
        b"MAIL FROM:<student@client.smtpstep.test> RET=HDRS ENVID=e1 REQUIRETLS\r\n",
        b"RCPT TO:<teacher@example.test> NOTIFY=SUCCESS ORCPT=rfc822;teacher@example.test\r\n"]
    assert lines(_client("DSN", "REQUIRETLS")) == [
        b"MAIL FROM:<student@client.smtpstep.test> RET=HDRS ENVID=e1\r\n",
        b"RCPT TO:<teacher@example.test> NOTIFY=SUCCESS ORCPT=rfc822;teacher@example.test\r\n"]
    assert lines(_client()) == [b"MAIL FROM:<student@client.smtpstep.test>\r\n", b"RCPT TO:<teacher@example.test>\r\n"]


def test_each_dsn_and_requiretls_parameter_is_explained_with_its_rfc_section():
    found = explain_parameters(("SIZE=10", "RET=HDRS", "ENVID=e1", "NOTIFY=NEVER", "ORCPT=rfc822;a@b.test",
                                "REQUIRETLS"))
    assert [e.title.split(":")[0] for e in found] == ["RET", "ENVID", "NOTIFY", "ORCPT", "REQUIRETLS"]
    assert [e.rfc.split(",")[0] for e in found] == ["RFC 3461 §4.3", "RFC 3461 §4.4", "RFC 3461 §4.1",
                                                    "RFC 3461 §4.2", "RFC 8689 §2"]
    assert Capabilities.from_reply(Reply(250, ("mx", "DSN"))).names == ("DSN",)


def test_the_wire_log_note_says_what_each_parameter_asks_with_xtext_decoded():
    note = wire_note(RcptTo("b@example.test", notify=("NEVER",), orcpt="b+x@example.test").parameters)
    assert note == ("NOTIFY=NEVER: no report at all (RFC 3461 §4.1); ORCPT: the original recipient is "
                    "b+x@example.test (rfc822), written as xtext (RFC 3461 §4.2)")
    assert "“id=1”" in wire_note(MailFrom("a@example.test", envid="id=1").parameters)
    assert wire_note(MailFrom("a@example.test", size=10).parameters) is None
