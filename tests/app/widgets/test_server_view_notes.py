"""The server side with the server's notes among the messages: a relay hop's session marked C:/S: and escaped,
and the pane scrolled to a new note so that the room sees the hop."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from smtpstep.app.session.lesson_view import server_lines
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote

QUEUED = ReceivedMessage(
    key="1.M1P1Q1.host", mail_from="student@client.smtpstep.test", rcpt_tos=("teacher@example.test",),
    original_content=b"Subject: hi\r\n\r\n" + b"line\r\n" * 40, stored=b"Subject: hi\r\n\r\n" + b"line\r\n" * 40,
    listener="submission", tls=True, auth_user="student")
HOP = ServerNote("hop-1.M1P1Q1.host", (
    ("heading", "The submission server relays new/1.M1P1Q1.host to the receiving MX:"),
    ("dns", "DNS: MX example.test? → 10 mx.example.test."),
    ("server", "220 mx \x1b[31mred"), ("client", "EHLO mail.smtpstep.test")))


def test_a_notes_lines_say_who_spoke_and_show_controls_as_escapes():
    texts = [line.text for line in server_lines(HOP)]
    assert texts[1] == "DNS: MX example.test? → 10 mx.example.test."
    assert texts[2].startswith("S: 220 mx ") and "\x1b" not in texts[2]
    assert texts[3] == "C: EHLO mail.smtpstep.test"


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll(id="box"):
            yield ServerView()


async def test_a_new_note_is_scrolled_into_view_below_the_message_that_caused_it():
    app = _Host()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(ServerView)
        view.messages = (QUEUED,)
        await pilot.pause()
        box = app.query_one("#box", VerticalScroll)
        assert box.scroll_y == 0
        view.messages = (QUEUED, HOP)
        await pilot.pause()
        await pilot.pause()
        assert box.scroll_y > 40  # past the 40 lines of the queued message
        top = int(box.scroll_y)  # as far as it goes: the note is the last thing, at the bottom of the pane
        visible = [view.render_line(y).text for y in range(top, top + box.size.height)]
        assert any(text.startswith("The submission server relays") for text in visible)
        assert any(text.startswith("C: EHLO mail.smtpstep.test") for text in visible)
