"""``smtpstep`` as a user runs it, for the reliability tests: a subprocess, its output, its exit code.

``smtpstep run`` is started with ``asyncio.create_subprocess_exec`` so that a server running on the
test's event loop (``HostileServer``, ``LocalServer``) keeps answering while the command runs.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass

from tests.support.env import REPO

PYTHON_WORDS = ("Traceback", "Error:", "Exception", "[Errno", "_ssl.c", "errno", "File \"")
"""Signs of Python's own text in what a student reads."""


@dataclass
class Run:
    """What one ``smtpstep`` process did."""

    code: int
    out: str
    err: str

    def sent(self) -> list[str]:
        """The client lines of a textbook transcript (``C: ...``)."""
        return [line[3:] for line in self.out.splitlines() if line.startswith("C: ")]


async def smtpstep(*args: str, env: dict[str, str], limit: float = 30.0) -> Run:
    """Run ``python -m smtpstep.app.cli ARGS`` to the end (killed after ``limit`` seconds: a hang fails the test)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smtpstep.app.cli", *args, cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"smtpstep {' '.join(args)} did not end within {limit} s") from None
    run = Run(process.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    assert "Traceback" not in run.out + run.err, run.err
    return run


_QUOTED = re.compile(r"“[^”]*”|\([^()]*\)|\"[^\"]*\"")


_VOICE = re.compile(r"smtpstep(?: (?:step|run|serve|lessons|web|replay|shots))?: ")
"""How a line of smtpstep's starts: ``smtpstep: ``, or ``smtpstep run: `` for a problem with run's options."""


def assert_one_plain_sentence(err: str) -> str:
    """stderr is exactly one line, ``smtpstep: <one sentence>.`` (or ``smtpstep run: ...``), with no Python
    text in it."""
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    line = err.rstrip("\n")
    voice = _VOICE.match(line)
    assert voice is not None, line
    sentence = line[voice.end():]
    assert sentence[:1].islower() or sentence[:1] in "“-", sentence  # a sentence in the tool's voice
    assert sentence.endswith((".", "!", "?")), sentence
    for words in PYTHON_WORDS:
        assert words not in sentence, f"{words!r} in {sentence!r}"
    # Quoted server text and parenthesised asides may hold full stops of their own; outside them
    # there must be no second sentence.
    bare = _QUOTED.sub("", sentence)
    assert not re.search(r"[.!?]\s+[A-Z]", bare), f"more than one sentence: {sentence!r}"
    return sentence
