"""Colour-blind safe: client blue and server orange (Okabe-Ito), distinguishable under
deuteranopia and protanopia; TLS in sky blue with its own ▌ gutter glyph."""

from textual.theme import Theme

THEME = Theme(
    name="colorblind",
    primary="#56b4e9",
    secondary="#e69f00",
    accent="#56b4e9",
    warning="#f0e442",
    error="#ff9e7a",
    success="#a6d8ff",
    foreground="#f0f0f0",
    background="#101418",
    surface="#161b21",
    panel="#222932",
    dark=True,
    variables={
        "wire-client": "#74c0f0",
        "wire-server": "#f0a830",
        "tls-boundary": "#a6d8ff",
        "wire-note": "#b8bec8",
        "reply-positive": "#a6d8ff",
        "reply-intermediate": "#d0d0ff",
        "reply-transient": "#f0e442",
        "reply-permanent": "#ff9e7a",
        "secret": "#e0a0d0",
        "footer-key-foreground": "#f0a830",
        # Textual's own: finished steps, placeholders and scrollbars drawn to this theme's contrast.
        "text-disabled": "#a8aeb6",
        "scrollbar": "#6a8aa0",
        "scrollbar-hover": "#80a0b8",
        "scrollbar-active": "#56b4e9",
        "scrollbar-background": "#0c1014",
        "scrollbar-background-hover": "#0c1014",
        "scrollbar-background-active": "#0c1014",
        "scrollbar-corner-color": "#0c1014",
    },
)
