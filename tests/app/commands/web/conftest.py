"""Fixtures of the web tests: a classroom (a teacher's tab broadcasting, a ``web --follow`` server); for the
in-process follow tests, a recorded session and a private classroom socket."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smtpstep.app.session.recording import Recording, record_session
from tests.support.web import Frames, Web, drawn, environment, kill_quietly, open_socket, send_text, start_web


@dataclass
class Classroom:
    teacher_web: Web
    teacher: Frames
    followers_web: Web
    tmp: Path

    def teacher_step(self) -> int:
        found = re.search(r"step (\d+) of", self.teacher.line(0))
        return int(found.group(1)) if found else -1

    def teacher_steps_to(self, number: int) -> None:
        """Press space in the teacher's tab, once a step, until its header says step ``number``."""
        while (now := self.teacher_step()) < number:
            send_text(self.teacher.sock, json.dumps(["stdin", " "]))
            self.teacher.read_until(lambda f: self.teacher_step() > now, f"step {now + 1} in the teacher's tab")

    def follower(self) -> Frames:
        frames = Frames(open_socket(self.followers_web.port), size=(100, 30))
        frames.read_until(lambda f: b" (live) " in drawn(f), "the follower's first screen")
        return frames


@pytest.fixture
def classroom(tmp_path: Path) -> Iterator[Classroom]:
    env = environment(tmp_path)  # one XDG_RUNTIME_DIR for both servers: the socket's folder
    teacher_web = start_web(tmp_path / "teacher", "--broadcast", "--max-tabs", "1", env=_in(tmp_path / "teacher", env))
    followers_web = start_web(tmp_path / "students", "--follow", env=_in(tmp_path / "students", env))
    teacher = Frames(open_socket(teacher_web.port), size=(100, 30))
    teacher.read_until(lambda f: "step 0 of" in f.line(0), "the teacher's stepper")
    try:
        yield Classroom(teacher_web, teacher, followers_web, tmp_path)
    finally:
        teacher.sock.close()
        for served in (followers_web, teacher_web):
            pids = served.tab_pids()
            assert served.stop() == 0
            kill_quietly(pids)
        assert not (tmp_path / "runtime" / "smtpstep" / "classroom.sock").exists()  # the teacher took it away


def _in(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the XDG folders but the runtime one (and TMPDIR) of a server of its own, in ``folder``."""
    own = environment(folder)
    return {**own, "XDG_RUNTIME_DIR": env["XDG_RUNTIME_DIR"]}


@pytest.fixture(scope="module")
def whole_session() -> Recording:
    return asyncio.run(record_session(_builtin()))


@pytest.fixture
def socket_path(tmp_path: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime / "smtpstep" / "classroom.sock"


def _builtin():  # type: ignore[no-untyped-def]
    from tests.app.commands.web.test_following import BUILTIN

    return BUILTIN
