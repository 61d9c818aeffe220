"""smtpstep's Textual themes: one module per theme; ``THEMES`` is what the app registers at start.

Each theme sets Textual's base colours and overrides the app's own variables (``APP_VARIABLES``):
the colours of client and server lines, the TLS boundary, the four kinds of reply, and secrets.
"""

from __future__ import annotations

from .dark import THEME as DARK
from .projector import THEME as PROJECTOR

APP_VARIABLES = {
    "wire-client": "#7fb4ff",
    "wire-server": "#f2b66d",
    "tls-boundary": "#5fd7a7",
    "reply-positive": "#7ad67a",
    "reply-intermediate": "#7fd0ff",
    "reply-transient": "#f0c060",
    "reply-permanent": "#ff7a7a",
    "wire-note": "#a0a0a0",
    "secret": "#d7a0ff",
}
"""Defaults for the app's own CSS variables; every theme overrides them."""

THEMES = (DARK, PROJECTOR)
"""Every theme smtpstep ships, the default first."""

DEFAULT_THEME = DARK.name
