"""The terminal app's colour themes: registered and chosen before the first styling pass (the one asked
for, else the saved one, else the default), and the next one in turn (key t).

Only the app's theme changes here; the themes themselves live in ``smtpstep.themes``.
"""

from __future__ import annotations

from textual.app import App


def pick_theme(app: App, requested: str | None) -> None:
    """Register the themes and pick one before the first styling pass (a later change restyles all)."""
    from smtpstep.app import config
    from smtpstep.themes import DEFAULT_THEME, THEMES

    for theme in THEMES:
        app.register_theme(theme)
    wanted = requested or str(config.load().get("theme") or DEFAULT_THEME)
    app.theme = wanted if wanted in app.available_themes else DEFAULT_THEME


def next_theme(app: App) -> str:
    """Switch to the next of smtpstep's themes; its name."""
    from smtpstep.themes import THEMES

    names = [t.name for t in THEMES]
    current = names.index(app.theme) if app.theme in names else -1
    app.theme = names[(current + 1) % len(names)]
    return app.theme
