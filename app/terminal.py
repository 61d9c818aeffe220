"""The app's output layer: what smtpstep writes to a terminal or a log shows controls as visible escapes.

Text from outside (server replies, certificate fields, lesson files, recordings, the clients of
``serve``, web clients) is escaped where it is turned into lines (``smtpstep.protocol.text``: the
transcript, the sentences that quote a server, the explanation, the lesson's words). This module is
the layer under all of that, so that a new ``print`` or a new pane cannot forget it:

- ``shown_output()``: while a command runs, ``sys.stdout`` and ``sys.stderr`` are streams that put every
  write through ``protocol.text.LINES`` (line feeds and TABs kept, every other control escaped);
  ``smtpstep.app.cli.main`` holds it around every subcommand. Textual draws on ``sys.__stderr__`` (and
  a web tab's driver writes to ``sys.__stdout__``), which stay as they are;
- ``log_to(path)``: the app's log file, each record escaped the same way;
- ``guard_rich_text()``: Rich's ``Text`` and Textual's ``Content`` delete five control characters (BEL,
  BS, VT, FF, CR) from the text they are given and keep the others, ESC included, which then reaches
  the terminal inside a frame. Both do it through one function whose translation table is a default
  argument; this gives that argument ``protocol.text.LINES``, so every text the terminal app draws
  shows controls as visible escapes. ``tests/app/test_terminal.py`` checks that it takes effect with
  the installed Rich and Textual.

Rich markup is never involved: outside text goes to Rich and Textual as ``Text`` objects.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from smtpstep.protocol.text import LINES


class ShownStream:
    """A text stream that writes ``text.translate(LINES)`` to the stream it wraps; everything else
    (``flush``, ``fileno``, ``isatty``, ``encoding``, ...) is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(text.translate(LINES))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextmanager
def shown_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` as ``ShownStream`` for the duration; restored after."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, ShownStream) and sys.stdout is not None:
        sys.stdout = ShownStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, ShownStream) and sys.stderr is not None:
        sys.stderr = ShownStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to(path: Path, level: str = "INFO") -> None:
    """Send the process's log records (``level`` and up) to ``path``, each one escaped (a logged reply,
    an address); nowhere if the file cannot be opened. ``logging`` is imported only here: ``smtpstep run``
    has no log."""
    import logging

    class ShownFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return super().format(record).translate(LINES)

    root = logging.getLogger()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(ShownFormatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def guard_rich_text() -> None:
    """Make every Rich ``Text`` and Textual ``Content`` show controls as visible escapes (see above).

    Idempotent; imports Rich and Textual, so only the terminal app and the exports that use Rich call it.
    """
    from rich import control
    from textual import content

    for function in (control.strip_control_codes, content._strip_control_codes):
        defaults = function.__defaults__
        if defaults != (LINES,):
            function.__defaults__ = (LINES,)
