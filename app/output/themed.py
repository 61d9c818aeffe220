"""The exports drawn in a theme's colours: ``.html`` (a standalone page) and ``.svg`` (an image fit to
print), both the captioned transcript of ``exports.export_steps`` printed on a Rich console and exported
by Rich, in the colours of one smtpstep theme (``Colours``, ``theme_colours``).

Rich and the themes (hence ``textual.theme``) are imported here only: ``exports.py`` imports this module
when an .html or .svg is asked for, so that ``smtpstep run --transcript x.md`` stays light. Secrets are
masked as in every export; no Textual app is involved.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smtpstep.app.output.exports import Blank, ExportError, export_steps, header_lines
from smtpstep.app.session.transcript import SECRET_MASK

if TYPE_CHECKING:
    from rich.console import Console

    from smtpstep.app.session.recording import Recording

__all__ = ["MAX_WIDTH", "TLS_GUTTER", "Colours", "render_html", "render_svg", "theme_colours"]

TLS_GUTTER = "▌"
"""Marks lines that travelled inside TLS (as in the wire log): meaning never rests on colour alone."""

MAX_WIDTH = 132
"""Widest line of an HTML or SVG export; longer lines fold."""


def render_html(recording: Recording, *, style: str = "textbook", show_secrets: bool = False,
                theme: str | None = None, **_: object) -> str:
    """A standalone HTML page: the captioned transcript in the theme's colours (Rich's export)."""
    colours = theme_colours(theme)
    console = _console(recording, style=style, show_secrets=show_secrets, colours=colours)
    title = html.escape(Blank(recording, show_secrets)(header_lines(recording, show_secrets)[0]))
    page = _HTML.replace("{title}", title.replace("{", "{{").replace("}", "}}"))
    return console.export_html(theme=colours.terminal_theme(), code_format=page, inline_styles=True)


def render_svg(recording: Recording, *, style: str = "textbook", show_secrets: bool = False,
               theme: str | None = None, **_: object) -> str:
    """An SVG image of the captioned transcript in the theme's colours, with no web font."""
    colours = theme_colours(theme)
    console = _console(recording, style=style, show_secrets=show_secrets, colours=colours, heading=False)
    title = Blank(recording, show_secrets)(header_lines(recording, show_secrets)[0])
    return _print_svg(console.export_svg(title=title, theme=colours.terminal_theme()))


@dataclass(frozen=True)
class Colours:
    """The colours an export uses, from one smtpstep theme."""

    name: str
    background: str
    foreground: str
    heading: str
    kinds: dict[str, str]
    """Transcript line kind (client, server, tls, note, error, secret) to colour."""

    def terminal_theme(self):  # type: ignore[no-untyped-def]
        from rich.color import Color
        from rich.terminal_theme import DEFAULT_TERMINAL_THEME, TerminalTheme

        def rgb(value: str) -> tuple[int, int, int]:
            triplet = Color.parse(value).get_truecolor()
            return (triplet.red, triplet.green, triplet.blue)

        palette = DEFAULT_TERMINAL_THEME.ansi_colors
        ansi = [(c.red, c.green, c.blue) for c in (palette[i] for i in range(16))]
        return TerminalTheme(rgb(self.background), rgb(self.foreground), ansi[:8], ansi[8:])


def theme_colours(name: str | None = None) -> Colours:
    """The colours of theme ``name``; None means the theme the user chose last, else the default."""
    from smtpstep.themes import APP_VARIABLES, DEFAULT_THEME, THEMES

    if name is None:
        from smtpstep.app import config

        name = str(config.load().get("theme") or DEFAULT_THEME)
    by_name = {theme.name: theme for theme in THEMES}
    theme = by_name.get(name)
    if theme is None:
        raise ExportError(f"there is no theme “{name}”; smtpstep has {', '.join(by_name)}")
    variables = {**APP_VARIABLES, **(theme.variables or {})}
    dark = theme.dark
    background = theme.background or ("#000000" if dark else "#ffffff")
    foreground = theme.foreground or ("#ffffff" if dark else "#000000")
    return Colours(
        name=theme.name,
        background=background,
        foreground=foreground,
        heading=theme.primary or foreground,
        kinds={
            "client": variables["wire-client"], "server": variables["wire-server"],
            "tls": variables["tls-boundary"], "note": variables["wire-note"],
            "error": theme.error or variables["reply-permanent"], "secret": variables["secret"],
        },
    )


def _console(recording: Recording, *, style: str, show_secrets: bool, colours: Colours,
             heading: bool = True) -> Console:
    import io

    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

    blank = Blank(recording, show_secrets)
    steps = export_steps(recording, style=style, show_secrets=show_secrets)
    header = header_lines(recording, show_secrets)
    widest = max([len(line.plain()) + 2 for step in steps for line in step.lines]
                 + [len(step.caption) for step in steps] + [len(h) for h in header] + [40])
    console = Console(record=True, width=min(widest, MAX_WIDTH), file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", legacy_windows=False, emoji=False, highlight=False,
                      markup=False, soft_wrap=False)
    base = Style(color=colours.foreground, bgcolor=colours.background)
    kind = {k: base + Style(color=v) for k, v in colours.kinds.items()}
    if heading:  # an SVG has it as its title
        console.print(Text(blank(header[0]), style=base + Style(color=colours.heading, bold=True)))
    console.print(Text(blank(header[1]), style=kind["note"]))
    for step in steps:
        console.print(Text(""))
        console.print(Text(blank(step.caption), style=base + Style(color=colours.heading, bold=True)))
        for line in step.lines:
            text = Text(overflow="fold", no_wrap=False)
            wire = line.kind in ("client", "server")
            text.append(TLS_GUTTER if line.tls and wire else " ", style=kind["tls"])
            line_style = kind.get(line.kind, base)
            text.append(f"{line.prefix} ", style=line_style + Style(bold=wire))
            body = blank(line.text)
            parts = body.split(SECRET_MASK) if line.secret or SECRET_MASK in body else [body]
            for index, part in enumerate(parts):
                if index:
                    text.append(SECRET_MASK, style=kind["secret"])
                text.append(part, style=line_style)
            console.print(text)
    return console


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
{stylesheet}
body {{
    color: {foreground};
    background-color: {background};
}}
pre, code {{
    font-family: "DejaVu Sans Mono", "Liberation Mono", "Noto Sans Mono", Menlo, Consolas, monospace;
    font-variant-ligatures: none;
    font-feature-settings: "liga" 0, "calt" 0;
}}
</style>
</head>
<body>
<pre><code>{code}</code></pre>
</body>
</html>
"""
"""Rich's HTML page, with a title, a language and ligatures off (``..`` must stay two dots)."""


# --- Small helpers ------------------------------------------------------------------------------------


def _print_svg(svg: str) -> str:
    """A Rich SVG made fit to print (``svg.print_svg``: the bundled font embedded, borders as lines)."""
    from smtpstep.app.output.svg import print_svg as fit

    return fit(svg)
