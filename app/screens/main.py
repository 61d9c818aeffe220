"""The main screen: every pane of one SMTP session on one screen.

It holds the one reactive ``view`` and hands it to the panes by data binding; it lays them out and
switches between the wide layout (all panes) and the narrow one (TLS details on demand). The keys that
change only how the panes show the session (line-end marks, wire style, folding, secrets, which pane,
presentation mode) are its own; the app keeps the keys that act on the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from smtpstep.app.screens.dialogs import ConfirmScreen
from smtpstep.app.session.quiz import Question, Tally, Verdict
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.session.stepper import HeadWarning, SessionView
from smtpstep.app.widgets.command_queue import CommandQueue
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.app.widgets.presentation import ROOMY_HEIGHT, PresentationStage
from smtpstep.app.widgets.quiz_panel import QuizPanel
from smtpstep.app.widgets.server_view import ServerView
from smtpstep.app.widgets.session_header import SessionHeader
from smtpstep.app.widgets.state_pane import StatePane
from smtpstep.app.widgets.tls_status import TlsStatus
from smtpstep.app.widgets.wire_log import WireLog

if TYPE_CHECKING:
    from smtpstep.protocol.server.facts import ReceivedMessage

NARROW_WIDTH = 110
"""Below this width the TLS pane shares its place with the explanation (toggle with L)."""


class MainScreen(Screen):
    # Styles: main.tcss beside this file, listed in the app's CSS_PATH (read once at start).

    BINDINGS = [
        Binding("v", "reveal", "Secrets", id="reveal-secrets", show=False),
        Binding("l", "crlf", "CRLF marks", id="crlf-marks", show=False),
        Binding("w", "wire_style", "C:/S: ↔ swaks", id="wire-style", show=False),
        Binding("z", "fold", "Fold/expand", id="fold", show=False),
        Binding("L", "toggle_tls", "TLS pane", id="tls-pane", show=False),
        Binding("o", "toggle_server", "Server side", id="server-side", show=False),
        Binding("P", "present", "Present", id="present", show=False),
        Binding("Q", "quiz", "Quiz", id="quiz", show=False),
        Binding("number_sign", "quiz_tally", "Quiz tally", id="quiz-tally", show=False),
    ]

    view: reactive[SessionView | None] = reactive(None, always_update=True)
    """The session as of the last step; every pane renders from it."""
    warning: reactive[HeadWarning | None] = reactive(None)
    """Why the next command does not fit the session now, if it does not (``SmtpClient.check``)."""
    show_tls: reactive[bool] = reactive(False)
    """In the narrow layout: show the TLS pane instead of the explanation."""
    target_label: reactive[str] = reactive("")
    """Where the session goes, in words (never the password)."""
    playing: reactive[float | None] = reactive(None)
    """The play pace in seconds while playing, else None."""
    secrets_shown: reactive[bool] = reactive(False)
    """True while the wire log shows secrets."""
    waited: reactive[float | None] = reactive(None)
    """Seconds the running step has waited so far."""
    presenting: reactive[bool] = reactive(False)
    """Presentation mode: large caption and last exchange; secondary panes collapsed."""
    viewing: reactive[int | None] = reactive(None)
    """When looking back: the step shown (the live session stays where it is)."""
    replaying: reactive[bool] = reactive(False)
    """True when showing a recording offline."""
    lesson_note: reactive[str | None] = reactive(None)
    """The lesson's narration for the step shown."""
    show_server: reactive[bool] = reactive(False)
    """In the wide layout: show the built-in server's side (what it received and stored) instead of the TLS
    pane (lessons start with it). ``L`` still brings the TLS pane up in front of it."""
    narrow_server: reactive[bool] = reactive(False)
    """In the narrow layout: show the server's side instead of the explanation (key ``o``)."""
    tls_hidden: reactive[bool] = reactive(True)
    """Whether the TLS pane is out of sight now: the explanation then carries the TLS facts of a TLS step."""
    question: reactive[Question | None] = reactive(None)
    """Predict-the-reply: the question open now (the step's reply is held back until it is answered)."""
    quiz_typed: reactive[str] = reactive("")
    """The digits of a code typed so far."""
    verdict: reactive[Verdict | None] = reactive(None)
    """The last guess graded, shown until the next question."""
    quiz_on: reactive[bool] = reactive(False)
    """Whether the quiz asks before each reply."""
    tally: reactive[Tally | None] = reactive(None)
    """The quiz's score so far."""

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header").data_bind(
            MainScreen.view, MainScreen.target_label, MainScreen.playing, MainScreen.secrets_shown, MainScreen.waited,
            MainScreen.viewing, MainScreen.replaying,
        )
        yield PresentationStage(id="stage").data_bind(MainScreen.view, MainScreen.question, MainScreen.lesson_note)
        with Horizontal(id="top"):
            queue = CommandQueue(id="queue").data_bind(MainScreen.view, MainScreen.warning)
            queue.border_title = "Command queue"
            yield queue
            wire = WireLog(id="wire")
            wire.border_title = "Wire log"
            yield wire
        with Horizontal(id="bottom"):
            with VerticalScroll(id="state-box") as box:
                box.border_title = "State"
                yield StatePane(id="state").data_bind(MainScreen.view)
            with VerticalScroll(id="explain-box") as box:
                box.border_title = "Explanation"
                yield ExplanationPane(id="explain").data_bind(MainScreen.view, MainScreen.warning,
                                                              MainScreen.lesson_note, MainScreen.tls_hidden,
                                                              MainScreen.replaying)
            with VerticalScroll(id="tls-box") as box:
                box.border_title = "TLS"
                yield TlsStatus(id="tls").data_bind(MainScreen.view)
            with VerticalScroll(id="server-box") as box:
                box.border_title = "Server side"
                yield ServerView(id="server-view")
        quiz = QuizPanel(id="quiz").data_bind(MainScreen.question, MainScreen.verdict, MainScreen.tally,
                                               typed=MainScreen.quiz_typed)
        quiz.border_title = "Predict the reply (Q: quiz off, #: tally)"
        yield quiz
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.narrow, "-narrow")
        self.set_class(self.size.height < ROOMY_HEIGHT, "-short")  # presentation mode then hides the header
        self._tls_in_sight()

    @property
    def narrow(self) -> bool:
        return self.size.width < NARROW_WIDTH

    def watch_presenting(self, presenting: bool) -> None:
        self.set_class(presenting, "-present")
        self._show_stage()

    def watch_show_server(self, show: bool) -> None:
        self.set_class(show, "-show-server")
        self._tls_in_sight()

    def watch_narrow_server(self, show: bool) -> None:
        self.set_class(show, "-narrow-server")
        self._tls_in_sight()

    def watch_show_tls(self, show: bool) -> None:
        self.set_class(show, "-show-tls")
        self._tls_in_sight()

    def _tls_in_sight(self) -> None:
        """main.tcss decides what shows; this says the same in Python, for the explanation pane."""
        self.tls_hidden = not self.show_tls and (self.narrow or self.show_server)

    def watch_view(self, view: SessionView | None) -> None:
        self._show_wire_settings()
        self._show_stage()

    def _show_wire_settings(self) -> None:
        wire = self.query_one(WireLog)
        secrets = " ⚠ secrets shown" if wire.show_secrets else ""
        subtitle = f"{wire.style_name}{' · CRLF marks' if wire.crlf_marks else ''}{secrets}"
        if subtitle != self._wire_subtitle:  # setting it, even to the same words, repaints the whole log
            self._wire_subtitle = subtitle
            wire.border_subtitle = subtitle

    _wire_subtitle: str | None = None

    def _show_stage(self) -> None:
        view = self.view
        if view is None or not self.presenting:
            return  # the stage is hidden: finding a step's lines walks the wire log
        stage, wire = self.query_one(PresentationStage), self.query_one(WireLog)
        step = self.question.step if self.question is not None else view.steps_done
        stage.lines = wire.lines_of_step(step)
        stage.previous = wire.lines_of_step(step - 1) if step > 1 else ()
        from smtpstep.app.screens.diagram import session_diagram

        # The diagram: drawn where there is room, and it carries what a man in the middle changed, at any size.
        stage.diagram = session_diagram(self.app, self.app.replay_recording)  # type: ignore[attr-defined]

    def watch_question(self, question: Question | None) -> None:
        self.set_class(question is not None, "-quiz-asking")
        self.set_class(question is not None or self.verdict is not None, "-quiz")
        self._show_stage()

    def watch_verdict(self, verdict: Verdict | None) -> None:
        self.set_class(self.question is not None or verdict is not None, "-quiz")
        self.tally = self.app.quizzing.quiz.tally  # type: ignore[attr-defined]

    def show_past(self, view: SessionView) -> None:
        """Show the session as it was after an earlier step (the live one stays where it is)."""
        self.query_one(WireLog).show_until(view.snapshot.wire_count)
        self.viewing = view.steps_done
        self.warning = None
        self.view = view

    def show_live(self) -> None:
        """Stop looking back: the wire log shows every line again (the app publishes the live view)."""
        self.viewing = None
        self.query_one(WireLog).show_until(None)

    def show_lesson(self, view: SessionView, settings: SessionSettings, received: list[ReceivedMessage]) -> None:
        """The lesson's words for the step ``view`` shows, and what the built-in server received."""
        from smtpstep.app.session.lesson_view import lesson_intro, lesson_narration

        if settings.builtin:
            pane = self.query_one(ServerView)
            if view.steps_done == 0:  # a new session: what the server stored before is not this session's
                self._received_before = len(received)
            own = received[self._received_before:]
            if [m.key for m in own] != [m.key for m in pane.messages] or pane.earlier != self._received_before:
                pane.earlier = self._received_before  # walking 25 MB costs time: only when something changed
                pane.messages = tuple(own)
        lesson, part = settings.lesson, settings.lesson_part
        if lesson is None:
            self.lesson_note = None
            return
        if view.steps_done != self._lesson_step:
            # A lesson brings the TLS pane up on the steps about TLS, and the server's side on the others
            # (the wide layout has room for one of them; the narrow one keeps the narration in front).
            self._lesson_step = view.steps_done
            self.show_tls = not self.narrow and view.last is not None and _about_tls(view)
        # Each paragraph on its own line: the part's title apart from its text.
        note = "\n".join(lesson_intro(lesson, part, first=part == 0)) if view.last is None else \
            lesson_narration(lesson, view, part)
        if view.finished and part + 1 < len(lesson.parts):
            note = (f"{note}\n" if note else "") + (f"▶ Press space for part {part + 2} of {len(lesson.parts)}: "
                                                     f"{lesson.part(part + 1).title}.")
        self.lesson_note = note

    _lesson_step: int | None = None
    _received_before = 0
    """How many of the built-in server's messages came before this session (the pane shows this session's)."""

    # -- keys that change how the panes show the session -------------------------------------------

    def action_reveal(self) -> None:
        wire = self.query_one(WireLog)
        if wire.show_secrets:
            wire.show_secrets = self.secrets_shown = False
            self._show_wire_settings()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                wire.show_secrets = self.secrets_shown = True
                self._show_wire_settings()
                self._show_stage()

        self.app.push_screen(ConfirmScreen(
            "Show secrets?",
            "The wire log will show AUTH payloads (base64 of the user name and password) as they were sent. "
            "Anyone who can see the screen can decode them. A marker stays on screen while they are shown.",
            "Show secrets"), answered)

    def action_crlf(self) -> None:
        wire = self.query_one(WireLog)
        wire.crlf_marks = not wire.crlf_marks
        self._show_wire_settings()
        self._show_stage()

    def action_wire_style(self) -> None:
        wire = self.query_one(WireLog)
        wire.style_name = "swaks" if wire.style_name == "textbook" else "textbook"
        self._show_wire_settings()
        self._show_stage()

    def action_fold(self) -> None:
        self.notify(self.query_one(WireLog).toggle_fold())

    def action_toggle_tls(self) -> None:
        self.show_tls = not self.show_tls
        if self.show_tls:
            self.narrow_server = False

    def action_toggle_server(self) -> None:
        if self.narrow:
            self.narrow_server = not self.narrow_server
        else:
            self.show_server = not self.show_server or self.show_tls
        self.show_tls = False

    def action_present(self) -> None:
        self.presenting = not self.presenting

    # -- predict the reply (the quiz's rules are in session/quiz.py; app/quizzing.py holds the reply) --------

    def action_quiz(self) -> None:
        self.app.quizzing.toggle()  # type: ignore[attr-defined]

    def action_quiz_tally(self) -> None:
        self.app.quizzing.tell_tally()  # type: ignore[attr-defined]

    def on_key(self, event: events.Key) -> None:
        """While a question is open, digits are the guess and backspace takes one back (no bindings: the
        keys mean nothing otherwise, and help and the palette need not list ten of them)."""
        if self.question is None:
            return
        if event.character is not None and event.character.isdigit():
            event.stop()
            self.app.quizzing.press(event.character)  # type: ignore[attr-defined]
        elif event.key == "backspace":
            event.stop()
            self.app.quizzing.erase()  # type: ignore[attr-defined]

    def on_quiz_panel_guessed(self, event: QuizPanel.Guessed) -> None:
        if event.digit == "show":
            self.app.quizzing.reveal()  # type: ignore[attr-defined]
        else:
            self.app.quizzing.press(event.digit)  # type: ignore[attr-defined]


def _about_tls(view: SessionView) -> bool:
    """Whether the step ``view`` shows last was about TLS: STARTTLS, the handshake, or a TLS failure."""
    from smtpstep.protocol.commands import Verb

    last = view.last
    return last is not None and (any(c.verb in (Verb.STARTTLS, Verb.TLS_HANDSHAKE) for c in last.commands)
                                 or (last.failure is not None and last.failure.kind == "tls"))
