"""Waiting on the stepper app in tests: on its StepFinished message and its screen, never on the clock.

``wait_for_step`` is the one way a test waits for a step: it starts what causes the step (a key press,
an action), then waits for the app's next ``StepFinished`` (``SmtpStepApp.next_step_finished``). Its
timeout only guards against a hang and fails the test; it never measures speed (``benchmarks/`` does).
``step`` and ``started`` are the two ways tests use it most. ``wait_for_view`` waits for the screen to
show a view the test describes (a step marked busy), through the screen's public ``view`` reactive.
Nothing here reads a private attribute of the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from smtpstep.app.session.stepper import SessionView
    from smtpstep.app.stepper_app import SmtpStepApp

STEP_TIMEOUT = 30.0
"""Seconds before a wait fails the test: far past any step on a loaded CI machine (a step's own timeout in
these tests is at most 20 s), so only a hang reaches it."""


async def wait_for_step(app: SmtpStepApp, cause: Awaitable[object] | None = None, *,
                        timeout: float = STEP_TIMEOUT) -> SessionView:
    """Start ``cause`` and return the view of the app's next StepFinished; fail the test after ``timeout``."""
    try:
        return await asyncio.wait_for(app.next_step_finished(cause), timeout)
    except TimeoutError:
        pytest.fail(f"no step finished within {timeout:g} s (step under way: {app.busy!r})")


async def step(pilot: Pilot, key: str = "space", times: int = 1) -> SessionView:
    """Press ``key`` and wait for the step it takes, ``times`` times; the view after the last."""
    app: SmtpStepApp = pilot.app  # type: ignore[assignment]
    view = None
    for _ in range(times):
        view = await wait_for_step(app, pilot.press(key))
    assert view is not None
    return view


async def started(app: SmtpStepApp) -> SessionView:
    """Wait for the app's first session (the built-in server may still be starting); its view."""
    if app.stepper is None:  # the stepper is made and the start's StepFinished posted in one go
        return await wait_for_step(app)
    view = app.session_view
    assert view is not None
    return view


async def wait_for_view(app: SmtpStepApp, shows: Callable[[SessionView], bool], *,
                        timeout: float = STEP_TIMEOUT) -> SessionView:
    """The first view the main screen shows (now or next) for which ``shows(view)`` holds; fail the test
    after ``timeout``."""
    shown: asyncio.Future[SessionView] = asyncio.get_running_loop().create_future()

    def watch(view: SessionView | None) -> None:
        if view is not None and not shown.done() and shows(view):
            shown.set_result(view)

    app.watch(app.main_screen, "view", watch)  # called at once with the current view, then on every change
    try:
        return await asyncio.wait_for(shown, timeout)
    except TimeoutError:
        view = app.main_screen.view
        now = f"step {view.steps_done}, under way: {view.busy!r}" if view is not None else "no session"
        pytest.fail(f"the screen did not show the awaited view within {timeout:g} s (it shows {now})")
