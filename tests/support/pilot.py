"""Pilot helpers shared by the reliability tests."""

from __future__ import annotations

import asyncio

from smtpstep.app.stepper_app import SmtpStepApp


async def settle(pilot, app: SmtpStepApp) -> None:  # type: ignore[no-untyped-def]
    """Wait until no step is running (a step that hangs fails the test), then let the screen catch up.

    Polls with plain sleeps: ``pilot.pause()`` waits for the whole process to go idle, which takes up
    to a second while the in-process server is busy.
    """
    for _ in range(2000):
        if not app.busy:  # noqa: SLF001 - the app's own busy flag is the truth here
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the step did not finish")
    await pilot.pause(0.01)
