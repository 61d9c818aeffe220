"""What a lesson adds to the screen: its words for the step just taken, and the server's side.

Plain helpers shared by the terminal app, ``smtpstep run --lesson`` and screenshots:
- ``lesson_narration(lesson, view)``: the lesson's sentence or two for the step a ``SessionView``
  shows last, or None when the session has left the lesson's path (an edited queue);
- ``lesson_intro(lesson, part)``: what to show before a part's first step;
- ``server_lines(record)``: what the built-in server received and stored for one message, bare CR
  and LF made visible (the smuggling lesson is about them).
No Textual here, and nothing is parsed: the stepper and the server hand over finished values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.lessons import Lesson
    from protocol.local_server import ReceivedMessage

    from .stepper import SessionView

MAX_SERVER_LINES = 80
"""Lines of one stored message shown before the rest is counted instead."""


def lesson_narration(lesson: Lesson, view: SessionView, part: int = 0) -> str | None:
    """The narration for the step ``view`` shows last (``view.last``), or None before the first step
    and when the step is not the one the lesson expected there."""
    if view.last is None or view.steps_done < 1:
        return None
    return lesson.narration_for(view.steps_done - 1, view.last.commands, part)


def lesson_intro(lesson: Lesson, part: int = 0, *, first: bool = True) -> list[str]:
    """Paragraphs to show before a part's first step: the lesson's title and goal (unless ``first`` is
    False: they were shown before an earlier part), then the part's title and intro."""
    paragraphs = [f"Lesson {lesson.name}: {lesson.title}", lesson.goal.strip()] if first else []
    chosen = lesson.part(part)
    if len(lesson.parts) > 1:
        paragraphs.append(f"Part {part + 1} of {len(lesson.parts)}: {chosen.title}")
    if chosen.intro:
        paragraphs.append(chosen.intro.strip())
    return [" ".join(p.split()) for paragraph in paragraphs for p in paragraph.split("\n\n")]


@dataclass(frozen=True)
class ServerLine:
    """One line of the server's side."""

    kind: str
    """heading, envelope, header (a trace field the server added) or content (what the client sent)."""
    text: str


def server_lines(record: ReceivedMessage, *, limit: int = MAX_SERVER_LINES) -> list[ServerLine]:
    """What the built-in server received and stored for ``record``: the envelope, then the message as
    stored in the Maildir, with the Return-Path and Received fields the server put on top (RFC 5321
    §4.4). Lines are split at CRLF only; a bare LF shows as ␊ and a bare CR as ␍, where they were."""
    tls = " under TLS" if record.tls else " without TLS"
    login = f", logged in as {record.auth_user}" if record.auth_user else ""
    lines = [
        ServerLine("heading", f"The built-in server accepted a message over its {record.listener} listener"
                              f"{tls}{login}, and stored it as new/{record.key}:"),
        ServerLine("envelope", f"envelope: MAIL FROM:<{record.mail_from.strip('<>')}> "
                               + " ".join(f"RCPT TO:<{rcpt}>" for rcpt in record.rcpt_tos)),
    ]
    trace = len(record.stored) - len(record.original_content)
    shown = _visible_lines(record.stored)
    offsets = _line_offsets(record.stored)
    for index, text in enumerate(shown):
        if index >= limit:
            lines.append(ServerLine("heading", f"… {len(shown) - limit:,} more lines"))
            break
        lines.append(ServerLine("header" if offsets[index] < trace else "content", text))
    return lines


def _visible_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    pieces = text.split("\r\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    return [piece.replace("\n", "␊").replace("\r", "␍") for piece in pieces]


def _line_offsets(data: bytes) -> list[int]:
    offsets, start = [], 0
    for piece in data.split(b"\r\n"):
        offsets.append(start)
        start += len(piece) + 2
    return offsets
