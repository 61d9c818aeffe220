"""`smtpstep lessons` and `--lesson` as a user types them: subprocesses, their output and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smtpstep.protocol.lessons.loader import catalog
from tests.support.env import REPO


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"), PYTHONPATH=str(REPO))
    return values


def smtpstep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_lessons_lists_every_lesson_with_its_one_line_summary(env):
    done = smtpstep("lessons", env=env)
    assert done.returncode == 0
    for lesson in catalog():
        assert any(line.startswith(lesson.name + " ") and lesson.summary in line for line in done.stdout.splitlines())


def test_lessons_name_shows_the_parts_and_expected_replies(env):
    done = smtpstep("lessons", "greylisting", env=env)
    assert done.returncode == 0
    assert "part 1 of 2: The first attempt" in done.stdout and "rcpt           451 4.7.1" in done.stdout


def test_a_broken_lesson_file_is_reported_with_its_line_and_field_and_exit_2(env, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('title = "x"\nsummary = "y"\ngoal = "z"\n\n[[step]]\nkind = "ehllo"\nsay = "s"\n', encoding="utf-8")
    for args in (("lessons", str(path)), ("run", "--lesson", str(path))):
        done = smtpstep(*args, env=env)
        assert done.returncode == 2
        assert f"{path}, line 6: step 1, “kind”: “ehllo” is not a kind of step" in done.stderr


def test_run_with_a_lesson_narrates_and_shows_the_servers_side(env):
    done = smtpstep("run", "--lesson", "rejected-recipient", env=env)
    assert done.returncode == 9
    assert "S: 550 5.1.1 <nobody@example.test>: no such mailbox here" in done.stdout
    assert "  » 550 5.1.1: the mailbox does not exist." in done.stdout
    assert "  server| Received: from client.smtpstep.test ([127.0.0.1])" in done.stdout


def test_a_lesson_refuses_a_real_server(env):
    done = smtpstep("run", "--lesson", "basic", "--server", "smtp.example.com", env=env)
    assert done.returncode == 2 and "--lesson runs on smtpstep's built-in server" in done.stderr


def test_serve_runs_a_lesson_scenario_for_other_clients(env):
    server = subprocess.Popen(
        [sys.executable, "-m", "smtpstep.app.cli", "serve", "--scenario", "tls-failures", "--port", "0", "--tls-port", "0",
         "--plain-port", "0"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        lines = []
        for line in server.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("ready:"):
                break
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert any("scenario     TLS failures by SNI name" in line for line in lines), lines
    assert server.returncode == 0
