"""smtpstep's Textual themes: one module per theme; ``THEMES`` is what the app registers at start.

Each theme sets Textual's base colours and overrides the app's own variables (``APP_VARIABLES``):
the colours of client and server lines, the TLS boundary, the four kinds of reply, and secrets.
"""

from __future__ import annotations

from smtpstep.themes.colorblind import THEME as COLORBLIND
from smtpstep.themes.dark import THEME as DARK
from smtpstep.themes.high_contrast import THEME as HIGH_CONTRAST
from smtpstep.themes.print import THEME as PRINT
from smtpstep.themes.projector import THEME as PROJECTOR

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

THEMES = (DARK, PROJECTOR, PRINT, HIGH_CONTRAST, COLORBLIND)
"""Every theme smtpstep ships, the default first."""

DEFAULT_THEME = DARK.name

STRICT_THEMES = frozenset({PROJECTOR.name, PRINT.name, HIGH_CONTRAST.name})
"""Themes for rooms and paper: every text colour must reach WCAG AAA (7:1) against its background."""
