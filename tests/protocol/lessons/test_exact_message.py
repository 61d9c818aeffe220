"""The pieces the lessons added to the core: a message sent exactly as given, and pipelined groups."""

from __future__ import annotations

import pytest

from smtpstep.protocol.client import SmtpClient
from smtpstep.protocol.commands import InvalidCommand, MessageBody
from smtpstep.protocol.planner import SessionPlan, next_group, propose


def test_an_exact_message_goes_out_byte_for_byte():
    content = b"Subject: x\r\n\r\nfirst\n.\r\nsecond\n.\nend\r\n.\r\n"
    body = MessageBody(content, exact=True)
    assert body.render().data == content and body.stuffed_lines == 0
    assert "exactly as given" in body.label


def test_an_exact_message_must_end_with_crlf_dot_crlf():
    with pytest.raises(InvalidCommand, match="CRLF.CRLF"):
        MessageBody(b"Subject: x\r\n\r\nno end\r\n", exact=True)


def test_a_normal_message_is_still_dot_stuffed_and_normalized():
    assert MessageBody(b".a\nb").render().data == b"..a\r\nb\r\n.\r\n"


def test_the_planner_sends_an_exact_message_only_when_the_plan_says_so():
    content = b"Subject: x\r\n\r\nhi\n.\r\nthere\r\n.\r\n"
    plan = SessionPlan(security="none", message=content, exact_message=True)
    bodies = [p.command for p in propose(plan, SmtpClient().view()).steps if isinstance(p.command, MessageBody)]
    assert bodies and bodies[0].exact


def test_without_pipelining_a_group_is_one_step():
    plan = SessionPlan(security="none", pipelining=True)
    steps = propose(plan, SmtpClient().view()).steps
    assert next_group(plan, SmtpClient().view(), steps) == steps[:1]
    assert next_group(plan, SmtpClient().view(), ()) == ()
