"""A light, high-contrast theme for projectors: near-black text on white, strong dark hues."""

from textual.theme import Theme

THEME = Theme(
    name="projector",
    primary="#0040a0",
    secondary="#8a3a00",
    accent="#006040",
    warning="#7a5000",
    error="#a00000",
    success="#005a00",
    foreground="#000000",
    background="#ffffff",
    surface="#ffffff",
    panel="#e8ecf2",
    dark=False,
    variables={
        "wire-client": "#003a99",
        "wire-server": "#7a2e00",
        "tls-boundary": "#005a3c",
        "reply-positive": "#005a00",
        "reply-intermediate": "#00507a",
        "reply-transient": "#6a4500",
        "reply-permanent": "#a00000",
        "wire-note": "#3a3a3a",
        "secret": "#6a0080",
        "footer-key-foreground": "#0040a0",
        # Textual's own: finished steps, placeholders and scrollbars drawn to this theme's contrast.
        "text-disabled": "#4a4a4a",
        "scrollbar": "#3a5a8a",
        "scrollbar-hover": "#2a4a7a",
        "scrollbar-active": "#0040a0",
        "scrollbar-background": "#e6e6e6",
        "scrollbar-background-hover": "#e6e6e6",
        "scrollbar-background-active": "#e6e6e6",
        "scrollbar-corner-color": "#e6e6e6",
    },
)
