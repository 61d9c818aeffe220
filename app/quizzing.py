"""Predict-the-reply in the terminal app: hold a step's reply back until the class has guessed it.

The step itself is real and unchanged: the command goes out and the server's reply comes in. While the
quiz is on, what the server sent in a step is kept out of the wire log, and the step's result is not
shown (no pane, header or queue gets the new view), until a guess is given (a digit key, a click, or
space to see it without one). Then the held chunks go to the wire log exactly as they came, the step's
result is published as after any step (``StepFinished`` is posted then), and the verdict says whether the
guess was right. In a replay the reply is already recorded: the wire log shows the recording up to the
step's first server chunk while the question is open.

The asking, grading and tally are ``smtpstep.app.session.quiz.Quiz`` (no Textual); this module only
wires it to the app, and the quiz panel (``widgets/quiz_panel.py``) only renders it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from smtpstep.app.session.quiz import Question, Quiz, Verdict
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.stepper import SessionView
    from smtpstep.app.stepper_app import SmtpStepApp


class QuizControl:
    """The app's quiz: on or off, the held reply, and the step to finish once the guess is in."""

    def __init__(self, app: SmtpStepApp, mode: str | None) -> None:
        self._app = app
        self.quiz = Quiz(mode or "digit")
        self.on = mode is not None
        """Whether steps ask for a guess before their reply is shown (``--quiz``, key ``Q``)."""
        self._held: list[WireChunk] = []
        """What the server sent in the step under way, kept from the wire log until the guess."""
        self._finish: Callable[[], None] | None = None
        """Shows the step's result (the wire log's end of step, the publish): called after the guess."""
        self._session = 0

    @property
    def pending(self) -> Question | None:
        return self.quiz.pending

    # -- live steps ----------------------------------------------------------------------------------

    def hold(self, chunk: WireChunk) -> bool:
        """Whether ``chunk`` is kept back (the quiz is on, a step is under way, and the server has spoken)."""
        if not self.on or self._app.busy is None or self._app.timeline.replay:
            return False
        if chunk.direction == Direction.CLIENT and not self._held:
            return False
        self._held.append(chunk)
        return True

    def after_step(self, step: int, commands: tuple, answers: tuple,  # type: ignore[type-arg]
                   finish: Callable[[], None]) -> bool:
        """A live step is over: ask about its reply and keep ``finish`` for after the guess (True), or, when it
        brings nothing to guess, let the held chunks through for ``finish`` to show at once (False)."""
        question = self.quiz.ask(step, commands, answers) if self.on else None
        if question is None:
            self._release()
            self._app.main_screen.verdict = None  # the last verdict was about an earlier step
            return False
        self._finish = finish
        self._app.wire_log.release()  # the command's own line, which the log held for its reply
        self._asked(question)
        return True

    def _release(self) -> None:
        held, self._held = self._held, []
        wire = self._app.wire_log
        for chunk in held:
            wire.add_chunk(chunk)

    # -- a replay ------------------------------------------------------------------------------------

    def before_replayed(self, view: SessionView, chunks: list[WireChunk], show: Callable[[], None]) -> bool:
        """A replay is about to show ``view``: ask about its reply first (True), showing the recording up
        to the reply; ``show`` shows the view once the guess is in."""
        last = view.last
        if not self.on or last is None:
            return False
        question = self.quiz.ask(view.steps_done, last.commands, last.answers)
        if question is None:
            self._app.main_screen.verdict = None
            return False
        first = next((i for i in range(last.wire_start, min(last.wire_end, len(chunks)))
                      if chunks[i].direction == Direction.SERVER), last.wire_end)
        self._app.wire_log.show_until(first)
        self._finish = show
        self._asked(question)
        return True

    # -- the guess -----------------------------------------------------------------------------------

    def _asked(self, question: Question) -> None:
        from smtpstep.app.widgets.quiz_panel import QuizPanel

        self._app.playback.stop()
        screen = self._app.main_screen
        screen.verdict = None
        screen.question = question
        screen.quiz_typed = ""
        self._app.post_message(QuizPanel.Asked(question))

    def press(self, key: str) -> None:
        if self.pending is None:
            return
        verdict = self.quiz.press(key)
        if verdict is None:
            self._app.main_screen.quiz_typed = self.quiz.typed
            return
        self._reveal(verdict)

    def erase(self) -> None:
        self.quiz.erase()
        self._app.main_screen.quiz_typed = self.quiz.typed

    def reveal(self) -> None:
        """Show the reply without a guess."""
        verdict = self.quiz.reveal()
        if verdict is not None:
            self._reveal(verdict)

    def _reveal(self, verdict: Verdict) -> None:
        self._release()
        finish, self._finish = self._finish, None
        screen = self._app.main_screen
        screen.question = None
        screen.quiz_typed = ""
        screen.verdict = verdict
        if finish is not None:
            finish()
        view = screen.view
        if view is not None and view.finished and not self._app.timeline.replay or self._app.timeline.at_end:
            self.tell_tally()  # the end of the session: the score
    def drop(self) -> None:
        """A new session: the open question goes unasked, and what was held belongs to the old one."""
        self.quiz.drop()
        self._held = []
        self._finish = None
        screen = self._app.main_screen
        screen.question = None
        screen.verdict = None

    def toggle(self) -> None:
        self.on = not self.on
        screen = self._app.main_screen
        screen.quiz_on = self.on
        if self.on:
            self._app.notify("Quiz on: before each reply is shown, guess its first digit"
                             if self.quiz.mode == "digit" else "Quiz on: before each reply is shown, guess its code")
        else:
            if self.pending is not None:
                self.reveal()
            self._app.notify(f"Quiz off. {self.quiz.tally.sentence}")

    def tell_tally(self) -> None:
        self._app.notify(self.quiz.tally.sentence, title="Quiz", timeout=8)
