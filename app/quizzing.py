"""Predict-the-reply in the terminal app: hold a step's reply back until the class has guessed it.

The step itself is real and unchanged: the command goes out and the server's reply comes in. While the
quiz is on, what the server sent in a step is kept out of the wire log, and the step's result is not
shown (no pane, header or queue gets the new view), until a guess is given (a digit key, a click, or
space to see it without one). Then the held chunks go to the wire log exactly as they came, the step's
result is published as after any step (``StepFinished`` is posted then), and the verdict says whether the
guess was right. In a replay the reply is already recorded: the wire log shows the recording up to the
step's first server chunk while the question is open.

A broadcast session (``--broadcast``) puts each live step's question to its followers too, and the quiz panel
counts their answers until the reveal (``classroom.py``). A follower's app (``smtpstep web --follow``) has
``FollowerQuiz`` instead: the teacher's question on the student's screen, one answer sent back, and the
student's own verdict once the teacher's session shows the reply; the student never reveals anything.

The asking, grading and tally are ``smtpstep.app.session.quiz.Quiz`` (no Textual); this module only
wires it to the app, and the quiz panel (``widgets/quiz_panel.py``) only renders it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from smtpstep.app.session.quiz import Asking, Question, Quiz, Verdict
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
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
        self._app.classroom.ask(question)  # and to the followers, if the session is broadcast
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
            finish()  # the followers get the step first, then the word that the question is closed
        self._app.classroom.closed(verdict.question.code)
        view = screen.view
        if view is not None and view.finished and not self._app.timeline.replay or self._app.timeline.at_end:
            self.tell_tally()  # the end of the session: the score

    def drop(self) -> None:
        """A new session: the open question goes unasked, and what was held belongs to the old one."""
        self._app.classroom.closed(None)
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


class FollowerQuiz(QuizControl):
    """A follower's quiz: the teacher's open question on this screen, one answer sent back to the teacher's
    session, and this student's verdict once the teacher's session shows the reply. Nothing else goes back."""

    def __init__(self, app: SmtpStepApp, send: Callable[[str, str], Awaitable[bool]]) -> None:
        super().__init__(app, None)
        self._send = send
        """Sends an answer (question id, guess) to the teacher's session; whether it went out."""
        self._asking: Asking | None = None
        self._answer: str | None = None

    @property
    def pending(self) -> Question | None:
        return None  # space, ← and → keep their meaning: only the teacher's session shows a reply

    def _panel(self):  # type: ignore[no-untyped-def]
        from smtpstep.app.widgets.quiz_panel import QuizPanel

        return self._app.main_screen.query_one(QuizPanel)

    def asked(self, asking: Asking) -> None:
        """The teacher's session says which question is open (or that none is)."""
        screen = self._app.main_screen
        if asking.question is None:
            if self._asking is not None:  # it went away unrevealed (a new session, the quiz turned off)
                self._asking = None
                screen.question = None
            return
        if self._asking is not None and self._asking.question == asking.question:
            return  # the same question again (the connection came back): the answer given stands
        self._asking, self._answer = asking, None
        self.quiz.typed = ""
        panel = self._panel()
        panel.following = True
        panel.border_title = "The teacher's question (#: your score)"
        panel.answered = ""
        self._asked(asking.shown_question)

    def press(self, key: str) -> None:
        asking = self._asking
        if asking is None or self._answer is not None:
            return  # one answer a question
        guess = self.quiz.take_key(key, asking.mode)
        self._app.main_screen.quiz_typed = self.quiz.typed
        if guess is None:
            return
        self._answer = guess
        self._panel().answered = guess
        self._app.run_worker(self._deliver(asking.question or "", guess), group="answer", exit_on_error=False)

    async def _deliver(self, question: str, guess: str) -> None:
        if not await self._send(question, guess):
            self._app.notify("Your answer could not reach the teacher's session.", severity="warning", timeout=6)

    def erase(self) -> None:
        if self._answer is None:
            super().erase()

    def reveal(self) -> None:
        """Only the teacher's session shows the reply."""

    def toggle(self) -> None:
        self._app.notify("The teacher's session decides when the quiz asks.")

    def shown(self, recording: Recording) -> None:
        """A recording came: once it holds the step asked about, grade this student's answer against its reply."""
        asking = self._asking
        if asking is None or recording.steps < asking.step or len(recording.views) <= asking.step:
            return
        self._asking = None
        last = recording.views[asking.step].last
        question = self.quiz.question_about(asking.step, last.answers) if last is not None else None
        screen = self._app.main_screen
        screen.question = None
        screen.verdict = self.quiz.grade(question, self._answer) if question is not None else None
