"""Presentation mode's stage (key ``P``): one step, large enough for the back row of a room.

A projector's text is as large as the terminal's font, so the stage is made for small grids (64x20 and
80x24 with the terminal zoomed, or ``smtpstep web ...?fontsize=``). There it shows, whole and never cut,
the step's caption, every line of this step's exchange (wrapped) and one short paragraph of
explanation, with the line that matters marked (``▶`` and bold, and the reason in words at its end: the
keywords new after STARTTLS, the doubled dot, the refused recipient): never colour alone. Bigger grids
get context, whole pieces only, in this order while they fit: the caption in block letters, the exchange
before this one, the sequence diagram below, and more of the explanation; so no block of rows stays blank
while there is something to show. Too little room for even the essentials makes the stage scroll, never
cut.

The pure parts (the caption's words, the block letters, the marks, the paragraph, the condensed TLS
handshake) are module functions, tested without Textual. The stage renders what the screen hands it; it
parses no SMTP (the marks come from replies the core parsed). Styles in ``screens/main.tcss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.diagram import Diagram, Note
from smtpstep.app.session.narration import narrate, step_key
from smtpstep.app.session.quiz import Question
from smtpstep.app.session.stepper import SessionView
from smtpstep.app.session.transcript import TranscriptLine
from smtpstep.app.widgets.explanation import render_blocks
from smtpstep.app.widgets.sequence_diagram import SequenceDiagram, rows_of
from smtpstep.protocol.commands import MessageBody, Raw, Verb
from smtpstep.protocol.explanations import explain_reply, explain_step

# --- the caption ---------------------------------------------------------------------------------------

_WORDS = {
    Verb.CONNECT: "CONNECT", Verb.GREETING: "GREETING", Verb.TLS_HANDSHAKE: "TLS", Verb.MESSAGE: "MESSAGE",
    Verb.AUTH_RESPONSE: "AUTH", Verb.BDAT_LAST: "BDAT", Verb.RAW: "LINE",
}


def headline(view: SessionView | None, question: Question | None = None) -> str:
    """The caption's few words for block letters: the step's number, its verb and the reply's code
    ("5 EHLO 250"); "?" for a code still to be guessed."""
    if view is None:
        return "SMTPSTEP"
    if question is not None:
        verb = question.verb or Verb.RAW
        return f"{question.step} {_WORDS.get(verb, verb.value.upper())} ?"
    last = view.last
    if last is None:
        return "READY"
    command = last.commands[-1]
    verb = command.acts_as if isinstance(command, Raw) else command.verb
    word = _WORDS.get(verb, verb.value.upper())
    outcome = " ✗" if last.failure is not None else f" {last.answers[-1].reply.code}" if last.answers else ""
    return f"{view.steps_done} {word}{outcome}"


def caption(view: SessionView | None, question: Question | None = None) -> str:
    """"Step 5 of 11 · EHLO after STARTTLS: ask again — 250"-style caption."""
    if view is None:
        return "smtpstep"
    if question is not None:
        return f"Step {question.step} of {max(view.total, question.step)} · {question.asked_about} — the reply?"
    if view.last is None:
        first = view.queue[0].command if view.queue else None
        nxt = explain_step(step_key(first, view)).title if first is not None else ""
        return f"Ready: {view.total} steps planned. First: {nxt}"
    command = view.last.commands[-1]
    title = explain_step(step_key(command, view)).title
    outcome = ""
    if view.last.failure is not None:
        outcome = " — failed"
    elif view.last.answers:
        outcome = f" — {view.last.answers[-1].reply.code}"
    where = " · in TLS" if view.snapshot.client.session.tls else ""
    return f"Step {view.steps_done} of {max(view.total, view.steps_done)} · {title}{outcome}{where}"


_FONT = {
    "A": ("╭─╮", "├─┤", "╵ ╵"), "B": ("┌─╮", "├─┤", "└─╯"), "C": ("╭─╴", "│  ", "╰─╴"),
    "D": ("┌─╮", "│ │", "└─╯"), "E": ("┌─╴", "├─ ", "└─╴"), "F": ("┌─╴", "├─ ", "╵  "),
    "G": ("╭─╴", "│╶┐", "╰─┘"), "H": ("╷ ╷", "├─┤", "╵ ╵"), "I": ("╶┬╴", " │ ", "╶┴╴"),
    "J": ("  ╷", "  │", "╰─╯"), "K": ("╷ ╱", "├┤ ", "╵ ╲"), "L": ("╷  ", "│  ", "└─╴"),
    "M": ("┌┬┐", "│││", "╵╵╵"), "N": ("┌╮╷", "│╲│", "╵╰┘"), "O": ("╭─╮", "│ │", "╰─╯"),
    "P": ("┌─╮", "├─╯", "╵  "), "Q": ("╭─╮", "│ │", "╰─╲"), "R": ("┌─╮", "├┬╯", "╵╰╴"),
    "S": ("╭─╴", "╰─╮", "╶─╯"), "T": ("╶┬╴", " │ ", " ╵ "), "U": ("╷ ╷", "│ │", "╰─╯"),
    "V": ("╷ ╷", "│ │", "╰┬╯"), "W": ("╷╷╷", "│││", "└┴┘"), "X": ("╲ ╱", " ╳ ", "╱ ╲"),
    "Y": ("╷ ╷", "╰┬╯", " ╵ "), "Z": ("╶─┐", " ╱ ", "└─╴"),
    "0": ("╭─╮", "│ │", "╰─╯"), "1": ("╶┐ ", " │ ", "╶┴╴"), "2": ("╶─╮", "┌─┘", "╰─╴"),
    "3": ("╶─╮", " ─┤", "╶─╯"), "4": ("╷ ╷", "╰─┤", "  ╵"), "5": ("╭─╴", "╰─╮", "╶─╯"),
    "6": ("╭─╴", "├─╮", "╰─╯"), "7": ("╶─┐", "  │", "  ╵"), "8": ("╭─╮", "├─┤", "╰─╯"),
    "9": ("╭─╮", "╰─┤", "╶─╯"), "?": ("╶─╮", " ┌╯", " ╵ "), "✗": ("╲ ╱", " ╳ ", "╱ ╲"),
    "-": ("   ", "╶─╴", "   "),
}
"""Three rows of box-drawing characters per letter: drawn by every monospace font that draws borders
(DejaVu Sans Mono, the one the screenshots embed), so the letters never fall back to an empty box."""


def block_letters(text: str) -> tuple[str, str, str] | None:
    """``text`` in three rows of block letters (a letter is 3 cells and a gap; a space 2 cells), or None
    when it holds a character the font lacks."""
    rows: list[list[str]] = [[], [], []]
    for char in text.upper():
        if char == " ":
            for row in rows:
                row.append("  ")
            continue
        glyph = _FONT.get(char)
        if glyph is None:
            return None
        for row, part in zip(rows, glyph):
            row.append(part + " ")
    joined = ["".join(row).rstrip() for row in rows]
    width = max(map(len, joined))
    return joined[0].ljust(width), joined[1].ljust(width), joined[2].ljust(width)


# --- the exchange and the line that matters -------------------------------------------------------------


@dataclass(frozen=True)
class StageLine:
    """One line of the exchange as the stage shows it, and why it matters (None: it is not marked)."""

    line: TranscriptLine
    why: str | None = None


def marked_lines(view: SessionView | None, lines: Sequence[TranscriptLine],
                 tampered: Sequence[str] = ()) -> list[StageLine]:
    """This step's lines, the TLS handshake's messages on one line and each certificate in one line (the TLS
    pane has the rest), with the lines that matter marked: the EHLO keywords that came only after STARTTLS
    (RFC 3207 §4.2), the lines whose leading dot was doubled (RFC 5321 §4.5.2), and a refusal (a 4yz or 5yz
    reply, RFC 5321 §4.2.1), and, at the end, what a man in the middle changed in this step (``tampered``: the
    relay's own report, RFC 3207 §6), which no line on the client's wire shows."""
    shown = [line for line in _condensed(lines) if line.kind != "timing"]
    last = view.last if view is not None else None
    if last is None:
        return [StageLine(line) for line in shown]
    new_keywords: set[str] = set()
    session = view.snapshot.client.session if view is not None else None
    for answer in last.answers:
        verb = answer.command.verb
        if verb == Verb.EHLO and answer.reply.positive and session is not None and session.tls \
                and session.before_tls is not None:
            before = session.before_tls.capabilities
            for keyword_line in answer.reply.lines[1:]:
                word = keyword_line.strip().partition(" ")[0]
                if word and (before is None or word not in before):
                    new_keywords.add(keyword_line.strip())
    stuffed = any(isinstance(c, MessageBody) and c.stuffed_lines for c in last.commands)
    refused = {a.command.label for a in last.answers if a.command.verb == Verb.RCPT and a.reply.code >= 400}
    refused_rcpt = bool(refused)
    out = []
    for line in shown:
        why = None
        text = line.text
        if line.kind == "server" and len(text) > 4 and text[:3].isdigit():
            rest = text[4:].removesuffix("␍␊").strip()
            if text[0] in "45":
                kind = "refused" if text[0] == "5" else "not now (try later)"
                why = f"recipient {kind}" if refused_rcpt else kind
            elif rest in new_keywords:
                why = "new after STARTTLS"
        elif line.kind == "client" and stuffed and text.startswith(".."):
            why = "dot doubled"
        elif line.kind == "client" and text.removesuffix("␍␊") in refused:
            why = "this recipient"
        out.append(StageLine(line, why))
    step = lines[0].step if lines else 0
    out += [StageLine(TranscriptLine("note", "!!", text, False, step, 0.0), "changed in transit") for text in tampered]
    return out


def _condensed(lines: Sequence[TranscriptLine]) -> list[TranscriptLine]:
    out: list[TranscriptLine] = []
    for line in lines:
        if line.kind == "tls" and line.text[:2] in ("→ ", "← "):
            if out and out[-1].kind == "tls" and out[-1].text[:2] in ("→ ", "← "):
                out[-1] = out[-1]._replace(text=f"{out[-1].text}  {line.text}")
                continue
        elif line.kind == "tls" and line.text.startswith("  "):
            continue  # a certificate's details: the TLS pane shows them
        out.append(line)
    return out


def exchange_text(marked: Sequence[StageLine]) -> Table:
    """The exchange: a two-cell gutter (``▌`` inside TLS, ``▶`` on a marked line), who spoke, and the line,
    with a marked line's reason in words at its end. A long line wraps under its own start (a word too long
    for the width folds): never cut."""
    table = Table.grid(padding=(0, 1, 0, 0))
    table.add_column(no_wrap=True, width=2)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    for item in marked:
        line = item.line
        gutter = ("▌" if line.tls and line.kind in ("client", "server") else " ") + ("▶" if item.why else " ")
        style = {"client": "bold", "server": "", "error": "bold reverse", "tls": "italic", "note": "italic"}.get(
            line.kind, "")
        if item.why:
            style = "bold reverse"
        words = Text(line.text, style=style)
        if item.why:
            words.append(f"  ◀ {item.why}", style="bold")
        table.add_row(Text(gutter, style="bold"), Text(line.prefix.strip() or " ", style=style), words)
    return table


def paragraph(view: SessionView | None, lesson_note: str | None = None) -> str:
    """One short paragraph about the step: a lesson's narration, else what went wrong, else a refusal's
    meaning, else what the step is for."""
    if view is None:
        return ""
    last = view.last
    if last is None:
        return "Press space for the first step."
    if lesson_note:
        return lesson_note
    if last.failure is not None:
        text = last.failure.message.strip()
        return text[:1].upper() + text[1:]
    answer = last.answers[-1] if last.answers else None
    if answer is not None and answer.reply.code >= 400:
        decoded = explain_reply(answer.reply.code, answer.reply.enhanced, verb=answer.command.verb.value,
                                text=answer.reply.lines)
        return f"{decoded.meaning.title}. {decoded.meaning.text}"
    info = explain_step(step_key(last.commands[-1], view))
    return info.text


# --- the stage -----------------------------------------------------------------------------------------

ROOMY_HEIGHT = 28
"""From this many rows the stage adds context (the exchange before, the diagram, more explanation)."""
DIAGRAM_MIN = 6
"""The sequence diagram is shown only with at least this many rows (its titles and a few arrows)."""


class PresentationStage(VerticalScroll, can_focus=False):
    """Caption, exchange and paragraph; context below when there is room. Scrolls rather than cuts."""

    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view (bound from the screen)."""
    lines: reactive[tuple[TranscriptLine, ...]] = reactive((), repaint=False)
    """The transcript lines of the step shown."""
    previous: reactive[tuple[TranscriptLine, ...]] = reactive((), repaint=False)
    """The transcript lines of the step before."""
    question: reactive[Question | None] = reactive(None, repaint=False)
    """A quiz question: the step's reply is held back, the caption asks for it."""
    lesson_note: reactive[str | None] = reactive(None, repaint=False)
    """The lesson's narration for the step shown."""
    diagram: reactive[Diagram | None] = reactive(None, repaint=False, always_update=True)
    """The session's sequence diagram (set by the screen while there is room for it)."""

    def compose(self) -> ComposeResult:
        yield Static(id="stage-letters")
        yield Static(id="caption")
        previous = Static(id="stage-previous")
        previous.border_title = "The step before"
        yield previous
        exchange = Static(id="exchange")
        exchange.border_title = "On the wire"
        yield exchange
        yield Static(id="stage-paragraph")
        yield Static(id="stage-more")
        yield Static(id="stage-next")
        diagram = SequenceDiagram(id="stage-diagram")
        diagram.can_focus = False
        yield diagram

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def watch_view(self) -> None:
        self._draw()

    def watch_lines(self) -> None:
        self._draw()

    def watch_previous(self) -> None:
        self._draw()

    def watch_question(self) -> None:
        self._draw()

    def watch_lesson_note(self) -> None:
        self._draw()

    def watch_diagram(self) -> None:
        self._draw()

    @property
    def roomy(self) -> bool:
        return self.size.height >= ROOMY_HEIGHT

    def _rows(self, renderable: RenderableType, width: int) -> int:
        console = self.app.console
        return len(console.render_lines(renderable, console.options.update_width(max(width, 1)), pad=False))

    def _draw(self) -> None:
        if not self.is_mounted or not self.size.height:
            return
        view, question = self.view, self.question
        width = self.size.width - 3  # the stage's padding and a scrollbar's column
        height = self.size.height
        title = Text(caption(view, question), style="bold")
        step = question.step if question is not None else (view.steps_done if view is not None else 0)
        tampered = [item.text for item in (self.diagram.items if self.diagram is not None else ())
                    if isinstance(item, Note) and item.kind == "tamper" and item.step == step]
        marked = marked_lines(view, self.lines, tampered if question is None else ())
        exchange: RenderableType = exchange_text(marked)
        if view is not None and view.last is None and question is None:
            exchange = Text("  (nothing has crossed the wire yet)", style="italic")
        elif question is not None:
            held = TranscriptLine("server", "S:", "??? (the server has answered: its reply shows once you guess)",
                                  bool(self.lines) and self.lines[-1].tls, step, 0.0)
            exchange = exchange_text([*marked, StageLine(held)])
        words = "" if question is not None else paragraph(view, self.lesson_note)
        para = Text(words, style="bold")
        # The essentials always show (the stage scrolls if they do not fit); then context while it fits.
        used = self._rows(title, width) + self._rows(exchange, width - 2) + 2 + (self._rows(para, width)
                                                                                  if words else 0)
        compact = used > height  # the exchange's frame gives its two rows back before anything scrolls
        if compact:
            used -= 2
        self.query_one("#exchange").set_class(compact, "-compact")
        letters = block_letters(headline(view, question))
        big = letters is not None and max(len(r) for r in letters) <= width and used + 3 <= height
        if big:
            used += 3
        previous_text = exchange_text(marked_lines(None, self.previous)) if self.previous else None
        show_previous = False
        if previous_text is not None and (self.roomy or question is not None):
            need = self._rows(previous_text, width - 2) + 2
            if used + need <= height - (DIAGRAM_MIN if self.roomy else 0):
                used += need
                show_previous = True
        diagram_rows = 0
        if self.roomy and self.diagram is not None:
            wanted = len(rows_of(self.diagram, width))
            room = height - used
            if room >= DIAGRAM_MIN:
                diagram_rows = min(wanted, room)
                used += diagram_rows
        more: RenderableType | None = None
        if view is not None and question is None and height - used > 2:
            blocks = [b for b in narrate(view) if b.text and b.text not in words] if view.last is not None else []
            while blocks:
                candidate = render_blocks(blocks)
                need = self._rows(candidate, width) + 1
                if used + need <= height:
                    more = candidate
                    used += need
                    break
                blocks = blocks[:-1]
        upcoming: Text | None = None
        room = height - used - 2  # a margin row and the heading
        if view is not None and question is None and view.queue and room >= 1:
            upcoming = Text()
            upcoming.append("Coming next", style="bold underline")
            for planned in view.queue[:room]:
                upcoming.append(f"\n  {planned.command.label}")
            if self._rows(upcoming, width) > room + 1:
                upcoming = None  # a label that would wrap: keep the rows rather than cut one
        self._set("#stage-letters", Text("\n".join(letters), style="bold") if big and letters
                  else None)
        self._set("#caption", title)
        self._set("#stage-previous", previous_text if show_previous else None)
        self._set("#exchange", exchange)
        self._set("#stage-paragraph", para if words else None)
        self._set("#stage-more", Group(*more.renderables) if more is not None else None)
        self._set("#stage-next", upcoming)
        # Too little room for all of it: the line that matters in sight (else the top), as the room reads down.
        first = next((i for i, item in enumerate(marked) if item.why), None)
        top = 0
        if first is not None:
            top = (3 if big else 0) + self._rows(title, width) + (self._rows(previous_text, width - 2) + 2
                                                                  if show_previous and previous_text else 0)
            top += (0 if compact else 1) + (self._rows(exchange_text(marked[:first]), width - 2) if first else 0)
            top = max(0, top - 2)
        self.call_after_refresh(self.scroll_to, y=top, animate=False)
        diagram = self.query_one(SequenceDiagram)
        diagram.display = diagram_rows > 0
        if diagram_rows:
            diagram.styles.height = diagram_rows
            if diagram.diagram is not self.diagram:
                diagram.diagram = self.diagram

    def _set(self, selector: str, content: RenderableType | None) -> None:
        widget = self.query_one(selector, Static)
        widget.display = content is not None
        if content is not None:
            widget.update(content)
