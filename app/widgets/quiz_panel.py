"""The quiz panel: the question before a reply is shown, the buttons to answer it, then the verdict.

Renders what ``smtpstep.app.session.quiz`` decided (the question, the digits typed, the verdict and the
tally) and reports a click on a first digit as ``QuizPanel.Guessed``; it grades nothing and parses no
SMTP. Right and wrong never rest on colour alone: the verdict starts with ✓, ≈, ✗ or – and a word.
Styles in ``screens/main.tcss``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Static

from smtpstep.app.session.quiz import MEANINGS, Question, Tally, Verdict


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

    def compose(self) -> ComposeResult:
        yield Static(id="quiz-text")
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
            text.append(f"\n{question.keys}", style="italic")
        elif verdict is not None:
            style = "bold" if verdict.right else "bold underline"
            text.append(verdict.sentence, style=style)
        tally = self.tally
        self.border_subtitle = tally.sentence if tally is not None and tally.asked else ""
        self.query_one("#quiz-text", Static).update(text)
        self.query_one("#quiz-buttons").display = question is not None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = (event.button.id or "").removeprefix("quiz-")
        self.post_message(self.Guessed(name))
