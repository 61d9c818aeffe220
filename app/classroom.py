"""The classroom channel in the terminal app (``--broadcast``): started beside the session, and sent the
session, secrets redacted, after each step (``smtpstep web --follow`` shows it to students); in quiz mode,
the question open now, and the followers' answers counted on the teacher's screen.

``Classroom`` starts the channel, sends, and keeps the poll of the question open now (``session/quiz.py``'s
``Poll``: one answer per follower, none after the reveal); the channel itself (``session/broadcast.py``)
frames, redacts and bounds what comes in. The quiz panel shows the tally. A channel that cannot start is one
plain notification, and the session goes on without it.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from smtpstep.app.session.quiz import Asking, Poll, Question

if TYPE_CHECKING:
    from smtpstep.app.session.broadcast import Broadcast
    from smtpstep.app.stepper_app import SmtpStepApp


class Classroom:
    """The app's broadcast, if it has one, and the followers' answers to the question open now."""

    def __init__(self, app: SmtpStepApp, channel: Broadcast | None) -> None:
        self._app = app
        self.channel = channel
        """The classroom channel, or None (none asked for, or it could not start)."""
        self.poll: Poll | None = None
        """The followers' answers to the last question asked (closed once its reply is shown)."""

    async def start(self) -> None:
        from smtpstep.app.session.broadcast import BroadcastError

        assert self.channel is not None
        app = self._app
        try:
            await self.channel.start()
        except BroadcastError as error:
            self.channel = None
            app.notify(f"Not broadcasting: {error}.", severity="error", timeout=10)
            return
        self.channel.on_answer = self._answered
        self.send()
        app.notify("Broadcasting: students follow with smtpstep web --follow (secrets stay hidden from them).",
                   timeout=5)

    def send(self) -> None:
        """Send the session as it is now to the followers."""
        app = self._app
        if self.channel is not None and app.stepper is not None:
            self.channel.send_session(app.stepper, app.timeline.views, app.settings.describe(app.server),
                                      app.settings.security)

    # -- the quiz: followers answer, the teacher's screen counts -------------------------------------

    def ask(self, question: Question) -> None:
        """A live step's question is open: put it to the followers (a new poll: the tally starts at 0)."""
        if self.channel is None or self._app.timeline.replay:
            return
        self.poll = Poll(secrets.token_hex(6), question.mode)
        self.channel.ask(Asking(self.poll.question, question.step, question.asked_about, question.mode))
        self._show()

    def closed(self, code: int | None) -> None:
        """The reply was shown (its code: the tally says how many were right) or the question went away (None:
        the tally goes too). Answers that come after this are late, and not counted."""
        poll = self.poll
        if poll is None or not poll.is_open:
            return
        poll.close(code)
        if self.channel is not None:
            self.channel.ask(Asking(None))
        if code is None:
            self.poll = None
        self._show()

    def _answered(self, follower: object, line: bytes) -> None:
        if self.poll is not None and self.poll.take(follower, line):
            self._show()

    def _show(self) -> None:
        from textual.css.query import NoMatches

        from smtpstep.app.widgets.quiz_panel import QuizPanel

        try:
            panel = self._app.main_screen.query_one(QuizPanel)
        except (LookupError, NoMatches):
            return  # the app is closing
        panel.room = self.poll.tally if self.poll is not None else None

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
