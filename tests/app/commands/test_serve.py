"""``smtpstep serve`` as a subprocess, and ``smtpstep run`` against it as if it were a real server.

From ``run``'s point of view a server started with ``serve`` is a stranger: ``--server 127.0.0.1:PORT``
with ``--ca`` for its CA file and the password from ``SMTPSTEP_PASSWORD``, no demo shortcuts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.env import REPO

RUN_CODES = {"tls": 6, "auth": 7, "mail": 8, "rcpt": 9}


@dataclass
class Served:
    """A running ``smtpstep serve`` and what it printed before "ready"."""

    process: subprocess.Popen[str]
    lines: list[str]
    ports: dict[str, int]
    ca: Path
    maildir: Path

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return self.process.returncode, out, err


def environment(tmp: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update(XDG_DATA_HOME=str(tmp / "data"), XDG_STATE_HOME=str(tmp / "state"), PYTHONPATH=str(REPO))
    return values


def start_serve(tmp: Path, *args: str) -> Served:
    maildir = tmp / "served-maildir"
    process = subprocess.Popen(
        [sys.executable, "-m", "smtpstep.app.cli", "serve", "--port", "0", "--tls-port", "0", "--plain-port", "0",
         "--maildir", str(maildir), *args],
        cwd=REPO, env=environment(tmp), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )
    lines: list[str] = []
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=5)
            raise AssertionError(f"serve ended before ready: {err}")
        lines.append(line.rstrip("\n"))
        if line.startswith("ready"):
            break
    else:
        process.kill()
        raise AssertionError("serve did not print ready in time")
    text = "\n".join(lines)
    ports = {name: int(port) for name, port in re.findall(r"^\s+(plain|submission|submissions)\s+\S+:(\d+)", text, re.M)}
    ca = Path(re.search(r"^\s+trust CA\s+(\S+)", text, re.M).group(1))  # type: ignore[union-attr]
    return Served(process, lines, ports, ca, maildir)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_serve(tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_against(served: Served, tmp: Path, *args: str, password: str | None = None,
                listener: str = "submission") -> Run:
    env = environment(tmp)
    if password is not None:
        env["SMTPSTEP_PASSWORD"] = password
    done = subprocess.run(
        [sys.executable, "-m", "smtpstep.app.cli", "run", "--server", f"127.0.0.1:{served.ports[listener]}",
         "--timeout", "5", *args],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=30,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


# --- serve itself ---------------------------------------------------------------------------------


def test_serve_prints_ports_ca_credentials_and_maildir_then_ready(served: Served) -> None:
    text = "\n".join(served.lines)
    assert set(served.ports) == {"plain", "submission", "submissions"}
    assert all(port > 0 for port in served.ports.values())
    assert served.ca.is_file() and b"BEGIN CERTIFICATE" in served.ca.read_bytes()
    assert "student / classroom" in text
    assert str(served.maildir) in text
    assert served.lines[-1].startswith("ready")
    for port in served.ports.values():
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def test_run_delivers_to_serve_with_its_ca_and_the_password_from_the_environment(served: Served,
                                                                                  tmp_path: Path) -> None:
    run = run_against(served, tmp_path, "--ca", str(served.ca), "--user", "student",
                      "--subject", "via serve", password="classroom")

    assert run.code == 0, run.err
    assert "C: AUTH PLAIN ********" in run.out
    assert "classroom" not in run.out + run.err
    stored = [p.read_bytes() for p in (served.maildir / "new").iterdir()]
    assert any(b"Subject: via serve\r\n" in m for m in stored)
    assert not (tmp_path / "data" / "smtpstep" / "maildir").exists()  # run started no server of its own


def test_a_wrong_password_exits_7(served: Served, tmp_path: Path) -> None:
    run = run_against(served, tmp_path, "--ca", str(served.ca), "--user", "student", password="wrong-password")

    assert run.code == RUN_CODES["auth"]
    assert "535" in run.err and run.err.count("\n") == 1
    assert "wrong-password" not in run.out + run.err
    assert run.out.splitlines()[-1].startswith("  !!")
    assert "C: QUIT" in run.out


def test_without_its_ca_the_certificate_is_refused_with_exit_6(served: Served, tmp_path: Path) -> None:
    run = run_against(served, tmp_path, "--user", "student", password="classroom")

    assert run.code == RUN_CODES["tls"]
    assert "certificate" in run.err
    assert "verification: FAILED" in run.out
    assert not any(line.startswith("C: AUTH") for line in run.out.splitlines())


def test_relaying_to_a_real_domain_is_refused_with_exit_9(served: Served, tmp_path: Path) -> None:
    run = run_against(served, tmp_path, "--ca", str(served.ca), "--to", "someone@gmail.com")

    assert run.code == RUN_CODES["rcpt"]
    assert "550 5.7.1" in run.err


def test_auth_over_plain_text_to_a_real_server_needs_consent(served: Served, tmp_path: Path) -> None:
    run = run_against(served, tmp_path, "--security", "none", "--user", "student", password="classroom",
                      listener="plain")

    assert run.code == 2
    assert "--allow-cleartext-auth" in run.err
    assert run.out == ""


def test_greylisting_scenario_exits_9_with_try_again_later(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--scenario", "greylisting")
    try:
        run = run_against(server, tmp_path, "--ca", str(server.ca))
    finally:
        code, _, err = server.stop()
    assert run.code == RUN_CODES["rcpt"]
    assert "451" in run.err and "try again later" in run.err
    assert code == 0 and "Traceback" not in err


def test_size_limit_scenario_refuses_a_big_message_at_mail_with_exit_8(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--scenario", "size-limit")
    try:
        run = run_against(server, tmp_path, "--ca", str(server.ca), "--body", "x" * 60 + "\n" * 300)
        run_big = run_against(server, tmp_path, "--ca", str(server.ca), "--body", ("y" * 70 + "\n") * 200)
    finally:
        server.stop()
    assert run.code == 0, run.err
    assert run_big.code == RUN_CODES["mail"]
    assert "552" in run_big.err


def test_ctrl_c_stops_serve_quietly_with_exit_0(tmp_path: Path) -> None:
    server = start_serve(tmp_path)
    code, out, err = server.stop(signal.SIGINT)

    assert code == 0
    assert err == ""
    assert "Traceback" not in out


def test_sigterm_stops_serve_with_exit_0(tmp_path: Path) -> None:
    server = start_serve(tmp_path)
    code, _, err = server.stop(signal.SIGTERM)

    assert code == 0
    assert "Traceback" not in err


def test_a_port_in_use_is_one_sentence_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "smtpstep.app.cli", "serve", "--port", str(port), "--tls-port", "0", "--plain-port", "0",
             "--maildir", str(tmp_path / "md")],
            cwd=REPO, env=environment(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and "already in use" in done.stderr and "--port" in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_listening_beyond_loopback_prints_a_warning(tmp_path: Path) -> None:
    server = start_serve(tmp_path, "--listen", "0.0.0.0")
    code, _, err = server.stop()

    assert "warning" in err and "0.0.0.0" in err
    assert code == 0


def test_a_listen_value_that_is_not_an_address_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smtpstep.app.cli", "serve", "--listen", "everywhere"],
        cwd=REPO, env=environment(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "not an IP address" in done.stderr


def test_an_unknown_scenario_is_a_usage_error_naming_the_known_ones(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smtpstep.app.cli", "serve", "--scenario", "chaos", "--port", "0"],
        cwd=REPO, env=environment(tmp_path), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "chaos" in done.stderr and "greylisting" in done.stderr
