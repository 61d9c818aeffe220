"""`smtpstep shots` gives the same bytes from run to run, and its sequence diagrams lie beside the shots.

Two runs of the STARTTLS-stripping lesson (two parts, a relay on a free port, TLS, AUTH, a stored
message with its queue ID and Received field) as a user starts them, in separate processes, each with
the built-in server on whatever ports it gets: every file must be equal byte for byte, and no picture
may show a port.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.env import REPO


def _start_shots(out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "smtpstep.app.cli", "shots", "--lesson", "starttls-stripping",
                             "--out", str(out)], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")


def _finished(run: subprocess.Popen[str]) -> None:
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr


@pytest.fixture(scope="module")
def two_runs(module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Both runs at once, as two users on one machine would: each its own server on its own ports."""
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    runs = [_start_shots(first, module_env), _start_shots(second, module_env)]
    try:
        for run in runs:
            _finished(run)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    return first, second


def test_two_runs_of_shots_give_identical_bytes(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in second.iterdir())
    assert len([n for n in names if n.endswith(".svg") and not n.endswith(".diagram.svg")]) >= 10
    different = [name for name in names if (first / name).read_bytes() != (second / name).read_bytes()]
    assert different == []


def test_the_three_diagram_exports_lie_beside_the_shots_for_each_part(two_runs: tuple[Path, Path]) -> None:
    first, _ = two_runs
    for name in ("sequence", "sequence-part2"):
        for suffix in (".mmd", ".puml", ".diagram.svg"):
            assert (first / f"{name}{suffix}").stat().st_size > 200, name + suffix
    index = (first / "index.md").read_text(encoding="utf-8")
    assert "](sequence.diagram.svg)" in index and "](sequence-part2.diagram.svg)" in index


def test_no_shot_shows_a_port_or_the_machines_queue_id(two_runs: tuple[Path, Path]) -> None:
    import html

    first, _ = two_runs
    queued = set()
    for path in first.glob("*.svg"):
        text = html.unescape(path.read_text(encoding="utf-8")).replace("\xa0", " ")
        assert not re.search(r"127\.0\.0\.1:\d", text), path.name
        queued.update(re.findall(r"queued as (\S+?)(?:<|\s)", text))
    assert queued == {"1768208400.M0P0Q1.mail.smtpstep.test"}  # the fixed clock and name, not this machine's
