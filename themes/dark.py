"""The default dark theme: calm background, client in blue, server in orange, TLS in green."""

from textual.theme import Theme

THEME = Theme(
    name="smtpstep-dark",
    primary="#5fa8ff",
    secondary="#f2b66d",
    accent="#5fd7a7",
    warning="#f0c060",
    error="#ff7a7a",
    success="#7ad67a",
    foreground="#e6e6e6",
    background="#14161a",
    surface="#1c1f25",
    panel="#262a33",
    dark=True,
    variables={
        "wire-client": "#8cbcff",
        "wire-server": "#f5bd78",
        "tls-boundary": "#5fd7a7",
        "reply-positive": "#86dc86",
        "reply-intermediate": "#8ad6ff",
        "reply-transient": "#f3c86a",
        "reply-permanent": "#ff8a8a",
        "wire-note": "#a8adb8",
        "secret": "#dcaaff",
        "footer-key-foreground": "#5fd7a7",
        # Textual's own: finished steps, placeholders and scrollbars drawn to this theme's contrast.
        "text-disabled": "#a0a4ac",
        "scrollbar": "#6a7a90",
        "scrollbar-hover": "#8090a8",
        "scrollbar-active": "#5fa8ff",
        "scrollbar-background": "#101216",
        "scrollbar-background-hover": "#101216",
        "scrollbar-background-active": "#101216",
        "scrollbar-corner-color": "#101216",
    },
)
