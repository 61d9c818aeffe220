"""The quiz panel: the question before a reply is shown, the buttons to answer it, then the verdict; on the
teacher's screen of a broadcast session, the followers' answers as bars; on a follower's, its own answer.

Renders what ``smtpstep.app.session.quiz`` decided (the question, the digits typed, the verdict, the tally
and the room's tally) and reports a click on a first digit as ``QuizPanel.Guessed``; it grades nothing and
parses no SMTP. Right and wrong never rest on colour alone: the verdict starts with ✓, ≈, ✗ or – and a word,
and the right answer's bar is marked ✓. The followers' answers are counted values (their words never reach
the screen). Styles in ``screens/main.tcss``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Static

from smtpstep.app.session.quiz import MEANINGS, Question, RoomTally, Tally, Verdict

BAR = 24
"""Cells of the longest bar of the followers' tally."""




class QuizPanel(Vertical):
    """A question with four buttons, or the last verdict and the tally."""

    question: reactive[Question | None] = reactive(None, repaint=False)
    """The question waiting for a guess."""
    typed: reactive[str] = reactive("", repaint=False)
    """Code mode: the digits typed so far."""
    verdict: reactive[Verdict | None] = reactive(None, repaint=False)
    """The last guess graded (shown until the next question)."""
    tally: reactive[Tally | None] = reactive(None, repaint=False)
    """The score so far."""
    room: reactive[RoomTally | None] = reactive(None, repaint=False)
    """The teacher's screen of a broadcast session: the followers' answers to the last question."""
    following: reactive[bool] = reactive(False, repaint=False)
    """A follower's screen: the answer goes to the teacher, and only the teacher shows the reply."""
    answered: reactive[str] = reactive("", repaint=False)
    """A follower's screen: the answer given to the open question (no second one)."""

    class Asked(Message):
        """A question is on screen: the reply is held back until it is answered (tests wait on this)."""

        def __init__(self, question: Question) -> None:
            super().__init__()
            self.question = question

    class Guessed(Message):
        """A first digit was clicked."""

        def __init__(self, digit: str) -> None:
            super().__init__()
            self.digit = digit

    DEFAULT_CSS = """
    QuizPanel #quiz-room, QuizPanel #quiz-room-line { display: none; height: auto; }
    QuizPanel.-room #quiz-room { display: block; }
    MainScreen.-short QuizPanel.-room #quiz-room { display: none; }
    MainScreen.-short QuizPanel.-room #quiz-room-line { display: block; }
    """
    """The followers' tally: bars, or one line on a short screen (a zoomed projector)."""
    SCOPED_CSS = False

    def compose(self) -> ComposeResult:
        yield Static(id="quiz-text")
        yield Static(id="quiz-room")
        yield Static(id="quiz-room-line")
        with Horizontal(id="quiz-buttons"):
            for digit, meaning in MEANINGS.items():
                yield Button(f"{digit}xx {meaning}", id=f"quiz-{digit}", compact=True)
            yield Button("show it", id="quiz-show", compact=True)

    def on_mount(self) -> None:
        self._draw()

    def watch_question(self) -> None:
        self._draw()

    def watch_typed(self) -> None:
        self._draw()

    def watch_verdict(self) -> None:
        self._draw()

    def watch_tally(self) -> None:
        self._draw()

    def watch_room(self) -> None:
        self._draw()

    def watch_answered(self) -> None:
        self._draw()

    def watch_following(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        question, verdict = self.question, self.verdict
        text = Text()
        if question is not None:
            text.append("? ", style="bold reverse")
            text.append(f"Step {question.step}: {question.prompt}", style="bold")
            if question.mode == "code":
                shown = (self.typed + "___")[:3]
                text.append(f"  Your guess: {' '.join(shown)}", style="bold")
            if self.answered:
                text.append(f"\nYour answer: {_label(self.answered, question.mode)}. It went to the teacher; the "
                            "reply shows here when the teacher's screen shows it.", style="bold")
            elif self.following:
                text.append(f"\n{question.guess_keys} Your answer goes to the teacher's screen.",
                            style="italic")
            else:
                text.append(f"\n{question.keys}", style="italic")
        elif verdict is not None:
            style = "bold" if verdict.right else "bold underline"
            text.append(verdict.sentence, style=style)
        room = self.room
        self.set_class(room is not None, "-room")
        self.query_one("#quiz-room", Static).update(_room_bars(room) if room is not None else "")
        self.query_one("#quiz-room-line", Static).update(_room_line(room) if room is not None else "")
        tally = self.tally
        self.border_subtitle = tally.sentence if tally is not None and tally.asked else ""
        self.query_one("#quiz-text", Static).update(text)
        self.query_one("#quiz-buttons").display = question is not None and not self.answered
        self.query_one("#quiz-show").display = not self.following

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = (event.button.id or "").removeprefix("quiz-")
        self.post_message(self.Guessed(name))


def _label(answer: str, mode: str) -> str:
    return f"{answer}xx {MEANINGS.get(answer, '')}" if mode == "digit" else answer


def _said(room: RoomTally) -> str:
    said = f"Followers: {room.answered} answered"
    return said if room.code is None else f"{said} · {room.right} right"


def _room_line(room: RoomTally) -> Text:
    """The followers' answers in one line, for a short screen."""
    text = Text(_said(room), style="bold reverse")
    if room.answered:
        text.append("  " + " · ".join(f"{_label(answer, room.mode).split(' ')[0]}"
                                      f"{' ✓' if room.is_right(answer) else ''} {count}"
                                      for answer, count in room.counts), style="bold")
    return text


def _room_bars(room: RoomTally) -> Text:
    """The followers' answers, one bar each, big enough to read from the back of the room."""
    text = Text(_said(room), style="bold reverse")
    most = max((count for _answer, count in room.counts), default=0)
    width = max((len(_label(answer, room.mode)) for answer, _count in room.counts), default=0)
    for answer, count in room.counts:
        cells = round(BAR * count / most) if most else 0
        text.append(f"\n {_label(answer, room.mode):<{width}} ", style="bold")
        text.append("█" * cells + " " * (BAR - cells), style="bold")
        text.append(f" {count:>3}", style="bold")
        if room.is_right(answer):
            text.append("  ✓ the server's reply", style="bold")
    return text
