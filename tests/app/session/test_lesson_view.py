"""The server's side: the text lines (shared with `run --lesson`) and the pane that shows them."""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult

from smtpstep.app.session.lesson_view import ServerLine, server_lines
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.protocol.server.facts import ReceivedMessage

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


# --- Big messages: only the lines shown are made, the rest counted; same lines as before ----------


def _reference_lines(stored: bytes, trace: int, limit: int) -> list[tuple[str, str]]:
    """The algorithm before the bounded rewrite: decode and split the whole message."""
    pieces = stored.decode("utf-8", "replace").split("\r\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    shown = [piece.replace("\n", "␊").replace("\r", "␍") for piece in pieces]
    offsets, start = [], 0
    for piece in stored.split(b"\r\n"):
        offsets.append(start)
        start += len(piece) + 2
    out = []
    for index, text in enumerate(shown):
        if index >= limit:
            out.append(("heading", f"… {len(shown) - limit:,} more lines"))
            break
        out.append(("header" if offsets[index] < trace else "content", text))
    return out


def _record(key: str, trace: bytes, content: bytes) -> ReceivedMessage:
    return ReceivedMessage(key=key, mail_from="a@b.test", rcpt_tos=("c@d.test",), original_content=content,
                           stored=trace + content, listener="submission", tls=True, auth_user=None)


def test_a_25_mb_message_shows_its_first_lines_and_counts_the_rest_exactly():
    line = b"The quick brown fox jumps over the lazy dog while the class watches each SMTP step.\r\n"
    content = b"Subject: big\r\n\r\n" + line * (25 * 1024 * 1024 // len(line))
    trace = b"Return-Path: <a@b.test>\r\nReceived: from x\r\n\tby y\r\n"
    lines = server_lines(_record("big-25", trace, content))
    total = 3 + content.count(b"\r\n")
    assert len(lines) == 2 + 80 + 1
    assert [line.kind for line in lines[2:6]] == ["header", "header", "header", "content"]
    assert lines[5].text == "Subject: big" and lines[7].text == line[:-2].decode()
    assert lines[-1] == ServerLine("heading", f"… {total - 80:,} more lines")


@pytest.mark.parametrize("seed", range(30))
def test_lines_match_decoding_the_whole_message(seed):
    rng = random.Random(seed)
    pieces = [b"\r\n", b"\n", b"\r", b"ab", b"\xe2\x82", b"\xe2\x82\xac", b"\xff", b"\xf0\x9f\x98", b".", b""]
    trace = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))
    content = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 60)))
    limit = rng.choice([0, 1, 2, 5, 80])
    lines = server_lines(_record(f"fuzz-{seed}", trace, content), limit=limit)
    assert [(line.kind, line.text) for line in lines[2:]] == _reference_lines(trace + content, len(trace), limit)


def test_a_new_message_under_a_remembered_key_is_not_shown_from_memory():
    first = server_lines(_record("same-key", b"", b"one\r\n"))
    second = server_lines(_record("same-key", b"", b"two\r\n"))
    assert first[-1].text == "one" and second[-1].text == "two"
