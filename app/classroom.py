"""The classroom channel in the terminal app (``--broadcast``): started beside the session, and sent the
session, secrets redacted, after each step (``smtpstep web --follow`` shows it to students).

``Classroom`` starts the channel and sends; the channel itself (``session/broadcast.py``) frames and
redacts. A channel that cannot start is one plain notification, and the session goes on without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smtpstep.app.session.broadcast import Broadcast
    from smtpstep.app.stepper_app import SmtpStepApp


class Classroom:
    """The app's broadcast, if it has one."""

    def __init__(self, app: SmtpStepApp, channel: Broadcast | None) -> None:
        self._app = app
        self.channel = channel
        """The classroom channel, or None (none asked for, or it could not start)."""

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
        self.send()
        app.notify("Broadcasting: students follow with smtpstep web --follow (secrets stay hidden from them).",
                   timeout=5)

    def send(self) -> None:
        """Send the session as it is now to the followers."""
        app = self._app
        if self.channel is not None and app.stepper is not None:
            self.channel.send_session(app.stepper, app.timeline.views, app.settings.describe(app.server),
                                      app.settings.security)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
