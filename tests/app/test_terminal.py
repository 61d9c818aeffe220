"""The app's output layer: standard streams, log files and every Rich and Textual text show controls escaped.

``guard_rich_text`` gives Rich's and Textual's control-code translation the escaping table; this checks that
it takes effect with the installed versions (a new Rich or Textual that strips controls some other way makes
it fail, naming what to re-check).
"""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.content import Content

from smtpstep.app.terminal import ShownStream, guard_rich_text, log_to, shown_output
from tests.support.hostile_server import HOSTILE_TEXT, assert_no_raw_controls


def test_standard_streams_show_controls_escaped_while_a_command_runs() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with shown_output():
            print(f"received: from <{HOSTILE_TEXT}>")
            print("line one\n\tline two", file=sys.stderr)
            assert isinstance(sys.stdout, ShownStream)
        assert sys.stdout is out and sys.stderr is err  # restored
    finally:
        sys.stdout, sys.stderr = saved
    assert_no_raw_controls(out.getvalue(), "stdout")
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in out.getvalue()
    assert err.getvalue() == "line one\n\tline two\n"  # line feeds and TABs as they are


def test_the_log_file_shows_controls_escaped(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        log_to(tmp_path / "state" / "smtpstep.log")
        logging.getLogger("smtpstep.test").warning("the server said %s", HOSTILE_TEXT)
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in root.handlers[len(handlers):]:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    text = (tmp_path / "state" / "smtpstep.log").read_text(encoding="utf-8")
    assert_no_raw_controls(text, "the log")
    assert "the server said \\x1b]52;c;" in text


def test_every_rich_and_textual_text_shows_controls_escaped_once_guarded() -> None:
    guard_rich_text()
    assert Text(HOSTILE_TEXT).plain.startswith("\\x1b]52;c;cm0gLXJmIH4=\\x07")
    assert Text.assemble(("x", "bold"), HOSTILE_TEXT).plain[1:] == Text(HOSTILE_TEXT).plain
    text = Text("a")
    text.append(HOSTILE_TEXT)
    assert_no_raw_controls(text.plain, "Text.append")
    assert_no_raw_controls(Content(HOSTILE_TEXT).plain, "Textual's Content")
    assert "[bold red]markup[/]" in Content(HOSTILE_TEXT).plain  # as text: Content() reads no markup
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    console.print(Text(HOSTILE_TEXT))
    assert_no_raw_controls(console.file.getvalue(), "Rich's output")  # type: ignore[attr-defined]
    assert Text("tab\there\nnext").plain == "tab\there\nnext"  # layout characters stay
