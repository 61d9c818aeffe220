"""For lecture notes: white paper, black text, dark hues that survive greyscale printing."""

from textual.theme import Theme

THEME = Theme(
    name="print",
    primary="#000000",
    secondary="#3a3a3a",
    accent="#000000",
    warning="#5a3c00",
    error="#8a0000",
    success="#004a00",
    foreground="#000000",
    background="#ffffff",
    surface="#ffffff",
    panel="#eeeeee",
    dark=False,
    variables={
        "wire-client": "#00307a",
        "wire-server": "#5c2200",
        "tls-boundary": "#00452e",
        "wire-note": "#333333",
        "reply-positive": "#004a00",
        "reply-intermediate": "#003f66",
        "reply-transient": "#553700",
        "reply-permanent": "#8a0000",
        "secret": "#55006a",
        "footer-key-foreground": "#000000",
        "footer-description-foreground": "#000000",
        # Textual's own: finished steps, placeholders and scrollbars drawn to this theme's contrast.
        "text-disabled": "#4a4a4a",
        "scrollbar": "#5a5a5a",
        "scrollbar-hover": "#3a3a3a",
        "scrollbar-active": "#000000",
        "scrollbar-background": "#e6e6e6",
        "scrollbar-background-hover": "#e6e6e6",
        "scrollbar-background-active": "#e6e6e6",
        "scrollbar-corner-color": "#e6e6e6",
    },
)
