"""Child process for benchmarks/cold_start.py: run an app headless and exit at its first frame.

Usage: first_frame.py smtpstep|minimal

Prints "imported MONOTONIC" once the app's modules are loaded and "first-frame MONOTONIC" (CLOCK_MONOTONIC is system-wide on Linux, so the parent can subtract
the moment it spawned this process). The smtpstep app is subclassed only to stop at the first
frame; a subclass must give CSS_PATH as an absolute path (Textual resolves it against the subclass's
module).
"""
import sys
import time

WHICH = sys.argv[1]


def stop_at_first_frame(app_class):  # type: ignore[no-untyped-def]
    class Timed(app_class):
        def on_mount(self) -> None:
            if hasattr(super(), "on_mount"):
                super().on_mount()
            self.call_after_refresh(self._first_frame)

        def _first_frame(self) -> None:
            self.first_frame = time.monotonic()
            self.exit()

    return Timed


if WHICH == "smtpstep":
    import pathlib

    import smtpstep.app.stepper_app as tui
    from smtpstep.app.session.settings import SessionSettings

    class Smtpstep(tui.SmtpStepApp):
        CSS_PATH = str(pathlib.Path(tui.__file__).parent / "app.tcss")

    imported = time.monotonic()
    app = stop_at_first_frame(Smtpstep)(SessionSettings(server=None, security="starttls", ca_file=None,
                                                        insecure=False, user="student", password="classroom"))
else:
    from textual.app import App, ComposeResult
    from textual.containers import Horizontal
    from textual.widgets import Footer, Header, Static

    imported = time.monotonic()

    class Minimal(App):
        CSS = "Static { width: 1fr; height: 1fr; border: round $primary; }"

        def compose(self) -> ComposeResult:
            yield Header()
            with Horizontal():
                for name in ("queue", "wire log", "state"):
                    pane = Static(f"the {name} pane")
                    pane.border_title = name
                    yield pane
            yield Footer()

    app = stop_at_first_frame(Minimal)()

print(f"imported {imported}", flush=True)
app.run(headless=True, size=(120, 36))
print(f"first-frame {app.first_frame}", flush=True)
