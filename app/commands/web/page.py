"""The page ``smtpstep web`` serves: textual-serve's own, patched to load nothing from the network
(its web font and scripts from here, the browser's local fonts for the symbols it lacks)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

# --- The page -------------------------------------------------------------------------------------

_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>", re.IGNORECASE | re.DOTALL)
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>",
                              re.IGNORECASE | re.DOTALL)

FONT_FILES = {"normal": "RobotoMono-VariableFont_wght.ttf", "italic": "RobotoMono-Italic-VariableFont_wght.ttf"}
"""textual-serve ships Roboto Mono in its static folder but links Google's copy instead."""

_OFFLINE_HEAD = """
    <!-- smtpstep: nothing from the network. textual-serve's own Roboto Mono, from this server; the
         symbols it lacks (arrows, check marks, emoji) come from the browser's local fonts. -->
    <link rel="preload" href="{{ config.static.url }}fonts/%(normal)s" as="font" type="font/ttf" crossorigin />
    <style>
      @font-face {
        font-family: "Roboto Mono";
        font-style: normal;
        font-weight: 100 700;
        font-display: block;
        src: url("{{ config.static.url }}fonts/%(normal)s") format("truetype");
      }
      @font-face {
        font-family: "Roboto Mono";
        font-style: italic;
        font-weight: 100 700;
        font-display: block;
        src: url("{{ config.static.url }}fonts/%(italic)s") format("truetype");
      }
    </style>
    <script>
      // xterm.js measures its cell size when the page has loaded: let the font arrive first, but not
      // for long. textual.js has set window.onload by now.
      (function () {
        var start = window.onload;
        if (typeof start !== "function" || !document.fonts) return;
        window.onload = function (event) {
          var fonts = Promise.all([
            document.fonts.load("16px 'Roboto Mono'"),
            document.fonts.load("bold 16px 'Roboto Mono'"),
          ]);
          var patience = new Promise(function (resolve) { setTimeout(resolve, 2000); });
          Promise.race([fonts, patience]).catch(function () {}).then(function () {
            start(event);
            // Keys go to the stepper at once: nobody has to click into a projected page first.
            var input = document.querySelector(".textual-terminal textarea");
            if (input) input.focus();
          });
        };
      })();
    </script>
  </head>""" % FONT_FILES


def offline_page(template: str) -> str:
    """textual-serve's page template without anything from the network, with the local font."""
    text = _EXTERNAL_LINK.sub("", template)
    text = _EXTERNAL_SCRIPT.sub("", text)
    head_end = text.lower().rfind("</head>")
    if head_end < 0:
        raise ValueError("textual-serve's page template has no </head>")
    return text[:head_end] + _OFFLINE_HEAD.strip("\n") + text[head_end + len("</head>"):]


def textual_serve_folder() -> Path:
    import textual_serve

    return Path(textual_serve.__file__).resolve().parent


@cache
def page_template() -> str:
    return offline_page((textual_serve_folder() / "templates" / "app_index.html").read_text(encoding="utf-8"))
