"""The server's side: the text lines (shared with `run --lesson`) and the pane that shows them."""

from __future__ import annotations

from textual.app import App, ComposeResult

from app.lesson_view import server_lines
from app.widgets.server_view import ServerView
from protocol.local_server import ReceivedMessage

RECORD = ReceivedMessage(
    key="1700000000.M1P1Q1.host", mail_from="student@client.smtpstep.test", rcpt_tos=("teacher@example.test",),
    original_content=b"Subject: hi\r\n\r\nfirst\n.\r\nMAIL FROM:<ceo@example.test>\r\n",
    stored=b"Return-Path: <student@client.smtpstep.test>\r\nReceived: from client.smtpstep.test ([127.0.0.1])\r\n"
           b"\tby mail.smtpstep.test (smtpstep local server) with ESMTPS\r\n"
           b"Subject: hi\r\n\r\nfirst\n.\r\nMAIL FROM:<ceo@example.test>\r\n",
    listener="submission", tls=True, auth_user="student",
)


def test_server_lines_show_the_envelope_the_trace_fields_and_bare_line_feeds():
    lines = server_lines(RECORD)
    assert lines[0].kind == "heading" and "submission listener under TLS, logged in as student" in lines[0].text
    assert lines[1].text == "envelope: MAIL FROM:<student@client.smtpstep.test> RCPT TO:<teacher@example.test>"
    assert [line.kind for line in lines[2:5]] == ["header", "header", "header"]
    assert lines[5].kind == "content" and lines[5].text == "Subject: hi"
    assert "first␊." in [line.text for line in lines]


def test_a_long_message_is_cut_with_a_count():
    big = ReceivedMessage(key="k", mail_from="a@b.test", rcpt_tos=("c@d.test",), original_content=b"x\r\n" * 200,
                          stored=b"x\r\n" * 200, listener="plain", tls=False, auth_user=None)
    lines = server_lines(big, limit=10)
    assert lines[-1].text == "… 190 more lines" and len(lines) == 13


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ServerView()


def _screen_text(view: ServerView) -> str:
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


async def test_the_pane_says_nothing_is_stored_then_shows_the_stored_message():
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(ServerView)
        assert "stored no message yet" in _screen_text(view)
        view.messages = (RECORD,)
        await pilot.pause()
        shown = _screen_text(view)
        assert "Received: from client.smtpstep.test" in shown and "first␊." in shown
