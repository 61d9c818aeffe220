"""What a lesson adds to the screen: its words for the step just taken, and the server's side.

Plain helpers shared by the terminal app, ``smtpstep run --lesson`` and screenshots:
- ``lesson_narration(lesson, view)``: the lesson's sentence or two for the step a ``SessionView``
  shows last, or None when the session has left the lesson's path (an edited queue);
- ``lesson_intro(lesson, part)``: what to show before a part's first step;
- ``server_lines(record)``: what the built-in server received and stored for one message, bare CR
  and LF made visible, or what a note says it did (a relay hop's session, the MX's DNS questions) (the smuggling lesson is about them). Only the lines shown are decoded and the
  rest is counted in C, and the result is kept per message: a 25 MB message is not walked again on
  every publish.
No Textual here, and nothing is parsed: the stepper and the server hand over finished values.

A lesson file and what a client sent the server are text from outside: everything these helpers
return is shown text (``smtpstep.protocol.text.shown``), control characters as visible escapes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smtpstep.protocol.text import shown

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import SessionView
    from smtpstep.protocol.lessons.model import Lesson
    from smtpstep.protocol.server.facts import ReceivedMessage, ServerNote

MAX_SERVER_LINES = 80
"""Lines of one stored message shown before the rest is counted instead."""

_KEPT = 8
"""How many messages' server lines are remembered (the pane shows the latest three). Each entry
refers to its message weakly: this cache never keeps a 25 MB message alive."""
_kept: dict[tuple[str, int], tuple[weakref.ref[ReceivedMessage], tuple[ServerLine, ...]]] = {}


def lesson_narration(lesson: Lesson, view: SessionView, part: int = 0) -> str | None:
    """The narration for the step ``view`` shows last (``view.last``), or None before the first step
    and when the step is not the one the lesson expected there."""
    if view.last is None or view.steps_done < 1:
        return None
    said = lesson.narration_for(view.steps_done - 1, view.last.commands, part)
    return None if said is None else shown(said)


def lesson_intro(lesson: Lesson, part: int = 0, *, first: bool = True) -> list[str]:
    """Paragraphs to show before a part's first step: the lesson's title and goal (unless ``first`` is
    False: they were shown before an earlier part), then the part's title and intro."""
    paragraphs = [f"Lesson {lesson.name}: {lesson.title}", lesson.goal.strip()] if first else []
    chosen = lesson.part(part)
    if len(lesson.parts) > 1:
        paragraphs.append(f"Part {part + 1} of {len(lesson.parts)}: {chosen.title}")
    if chosen.intro:
        paragraphs.append(chosen.intro.strip())
    return [shown(" ".join(p.split())) for paragraph in paragraphs for p in paragraph.split("\n\n")]


@dataclass(frozen=True)
class ServerLine:
    """One line of the server's side."""

    kind: str
    """heading, envelope, header (a trace field the server added) or content (what the client sent)."""
    text: str


NOTE_PREFIXES = {"dns": ("envelope", ""), "client": ("header", "C: "), "server": ("content", "S: "),
                 "heading": ("heading", ""), "note": ("heading", "")}
"""How each kind of a note's line is shown: the pane's style, and a prefix that says who spoke without colour
(``C:`` the server as a client, ``S:`` the server it talked to)."""


def server_lines(record: ReceivedMessage | ServerNote, *, limit: int = MAX_SERVER_LINES) -> list[ServerLine]:
    """What the built-in server received and stored for ``record``: the envelope, then the message as
    stored in the Maildir, with the Return-Path and Received fields the server put on top (RFC 5321
    §4.4). Lines are split at CRLF only; a bare LF shows as ␊ and a bare CR as ␍, where they were.
    For a note (``facts.ServerNote``), its lines, each marked with who said it."""
    if not hasattr(record, "mail_from"):
        return [ServerLine(NOTE_PREFIXES[kind][0], NOTE_PREFIXES[kind][1] + shown(text))
                for kind, text in record.lines if kind in NOTE_PREFIXES]  # type: ignore[union-attr]
    tls = " under TLS" if record.tls else " without TLS"
    login = f", logged in as {record.auth_user}" if record.auth_user else ""
    if record.listener == "local":  # a bounce the server wrote itself, delivered without an SMTP session
        heading = f"The built-in server delivered a message it wrote itself, and stored it as new/{record.key}:"
    else:
        heading = (f"The built-in server accepted a message over its {record.listener} listener{tls}{login}, "
                   f"and stored it as new/{record.key}:")
    lines = [
        ServerLine("heading", shown(heading)),
        ServerLine("envelope", shown(f"envelope: MAIL FROM:<{record.mail_from.strip('<>')}> "
                                     + " ".join(f"RCPT TO:<{rcpt}>" for rcpt in record.rcpt_tos))),
    ]
    cached = _kept.get((record.key, limit))
    if cached is not None and cached[0]() is record:
        return lines + list(cached[1])
    # Only the lines shown are read: a record from the server's process reads them from its Maildir file.
    trace = record.trace_size
    stored = [ServerLine("header" if offset < trace else "content", text)
              for offset, text in _visible_lines(record.head(limit), limit)]
    total = record.line_count
    if total > max(limit, 0):
        stored.append(ServerLine("heading", f"… {total - limit:,} more lines"))
    if len(_kept) >= _KEPT:
        del _kept[next(iter(_kept))]
    _kept[(record.key, limit)] = (weakref.ref(record), tuple(stored))
    return lines + stored


def _visible_lines(data: bytes, limit: int) -> list[tuple[int, str]]:
    """The first ``limit`` lines of ``data`` (split at CRLF only) with their offsets, bare CR and LF
    made visible. Each line is decoded alone: CR and LF are bytes no UTF-8 sequence contains, so the
    text is the same as that of the whole message decoded and split."""
    lines: list[tuple[int, str]] = []
    start, size = 0, len(data)
    while start < size and len(lines) < limit:
        end = data.find(b"\r\n", start)
        if end < 0:
            end = size
        text = data[start:end].decode("utf-8", "replace")
        lines.append((start, shown(text.replace("\n", "␊").replace("\r", "␍"))))
        start = end + 2
    return lines
