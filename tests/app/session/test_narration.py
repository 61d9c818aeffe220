"""The explanation pane's reply blocks are chosen by what the server said: its words, and the enhanced code it
sent or that it sent none. Replies come from real MTAs (tests/data/replies/), as the pane would get them."""

from __future__ import annotations

import json
from pathlib import Path

from smtpstep.app.session.narration import reply_blocks
from smtpstep.protocol.client import Answer
from smtpstep.protocol.commands import Auth, MailFrom, Raw, RcptTo
from smtpstep.protocol.replies import Reply, ReplyParser
from smtpstep.protocol.states import State

DATA = Path(__file__).resolve().parents[2] / "data" / "replies"


def recorded(mta: str, case: str, verb: str) -> Reply:
    """The first reply to ``verb`` in a recorded case, parsed from its exact bytes."""
    steps = json.loads((DATA / f"{mta}.json").read_text(encoding="utf-8"))["cases"][case]["steps"]
    for step in steps:
        if step["verbs"] == [verb]:
            (reply,) = ReplyParser().feed(step["reply"].encode("latin-1"))
            return reply
    raise AssertionError(f"no {verb} step in {mta}/{case}")


def test_a_530_to_auth_is_narrated_as_tls_first_with_the_enhanced_code_postfix_sent() -> None:
    reply = recorded("postfix", "auth-before-tls", "AUTH")
    blocks = reply_blocks(Answer(Auth("PLAIN", "student", "classroom"), reply, State.READY_FOR_MAIL))
    assert blocks[0].title == "530: TLS required first" and "RFC 3207 §4" in blocks[0].rfc
    (enhanced,) = [b for b in blocks if b.kind == "reply-enhanced"]
    assert enhanced.title.startswith("5.7.0: ")


def test_a_refusal_without_an_enhanced_code_says_the_server_sent_none() -> None:
    reply = recorded("exim", "auth-before-tls", "AUTH")
    blocks = reply_blocks(Answer(Raw("AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t"), reply, State.READY_FOR_MAIL))
    assert blocks[0].title == "503: AUTH not on offer"
    (enhanced,) = [b for b in blocks if b.kind == "reply-enhanced"]
    assert enhanced.title == "No enhanced status code" and "sent none" in enhanced.text


def test_the_two_authentication_cases_of_530_get_different_words() -> None:
    tls = reply_blocks(Answer(MailFrom("a@b.test"), recorded("exim", "mail-before-tls", "MAIL"), State.READY_FOR_MAIL))
    login = reply_blocks(Answer(MailFrom("a@b.test"), recorded("exim", "mail-without-auth", "MAIL"),
                                State.READY_FOR_MAIL))
    assert tls[0].title == "530: TLS required first"
    assert login[0].title == "530: authentication required"


def test_a_success_gets_no_block_about_a_missing_enhanced_code() -> None:
    reply = recorded("exim", "normal-session", "RCPT")
    blocks = reply_blocks(Answer(RcptTo("alice@smtpstep.test"), reply, State.READY_FOR_DATA))
    assert [b.kind for b in blocks] == ["reply", "reply-digits"]


def test_every_login_mechanism_is_explained_as_itself_not_as_plain() -> None:
    from smtpstep.app.session.narration import step_key
    from smtpstep.protocol import sasl
    from smtpstep.protocol.explanations import explain_step

    titles = {}
    for mechanism in sasl.MECHANISMS:
        key = step_key(Auth(mechanism, "student", "classroom"))
        titles[mechanism] = explain_step(key).title
        assert mechanism in titles[mechanism], (mechanism, key, titles[mechanism])
    assert len(set(titles.values())) == len(sasl.MECHANISMS)
