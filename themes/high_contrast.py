"""Black, white and yellow: the most contrast a screen can give."""

from textual.theme import Theme

THEME = Theme(
    name="high-contrast",
    primary="#ffff00",
    secondary="#ffffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff8080",
    success="#80ff80",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    dark=True,
    variables={
        "wire-client": "#ffff00",
        "wire-server": "#ffffff",
        "tls-boundary": "#80ffff",
        "wire-note": "#d0d0d0",
        "reply-positive": "#80ff80",
        "reply-intermediate": "#80ffff",
        "reply-transient": "#ffff00",
        "reply-permanent": "#ff9090",
        "secret": "#ff80ff",
        "footer-key-foreground": "#ffff00",
        "footer-description-foreground": "#ffffff",
        # Textual's own: finished steps, placeholders and scrollbars drawn to this theme's contrast.
        "text-disabled": "#c0c0c0",
        "scrollbar": "#c0c0c0",
        "scrollbar-hover": "#e0e0e0",
        "scrollbar-active": "#ffff00",
        "scrollbar-background": "#1a1a1a",
        "scrollbar-background-hover": "#1a1a1a",
        "scrollbar-background-active": "#1a1a1a",
        "scrollbar-corner-color": "#1a1a1a",
    },
)
