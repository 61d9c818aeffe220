"""The Wireshark bridge in the app: the record-layer key, the .pcapng export with keys only on a yes, the notice."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from smtpstep.app.screens.dialogs import ConfirmScreen, LineInputScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from tests.support.waiting import started, step

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")
TSHARK = shutil.which("tshark")


async def test_the_b_key_shows_the_records_that_carried_each_step_and_hides_them_again(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=6)  # through EHLO after the handshake
        lines = app.wire_log.plain_lines()
        assert not any("↳" in line for line in lines)
        assert any(re.search(r"→ handshake record, \d+ bytes: ClientHello", line) for line in lines)

        await pilot.press("b")
        await pilot.pause()
        shown = app.wire_log.plain_lines()
        ehlo = [n for n, line in enumerate(shown) if line.startswith("C: EHLO")]
        assert re.fullmatch(r"\s*TLS ↳ this EHLO went out as one application_data record of \d+ bytes", shown[ehlo[1] + 1])
        assert not shown[ehlo[0] + 1].lstrip().startswith("TLS ↳")  # the first EHLO went out in plain text
        assert any(re.fullmatch(r"\s*TLS ↳ the server's bytes above came in as .*records?.*", line) for line in shown)

        await pilot.press("b")
        await pilot.pause()
        assert app.wire_log.plain_lines() == lines


async def _export(app: SmtpStepApp, pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("E")
    await pilot.pause()
    assert isinstance(app.screen, LineInputScreen)
    app.screen.dismiss(name)
    await pilot.pause()


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (CI installs it)")
async def test_e_exports_a_pcapng_with_the_keys_only_when_the_user_says_yes(local_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.txt"
    settings = dataclasses.replace(BUILTIN, tls_keys=str(keys))
    app = SmtpStepApp(settings, server=local_server, screenshot_dir=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=9)  # through RCPT
        await _export(app, pilot, "no.pcapng")
        assert isinstance(app.screen, ConfirmScreen)
        app.screen.dismiss(False)
        await pilot.pause()
        await _export(app, pilot, "yes.pcapng")
        assert isinstance(app.screen, ConfirmScreen)
        app.screen.dismiss(True)
        await pilot.pause()

    def commands(name: str) -> list[str]:
        done = subprocess.run([TSHARK, "-r", str(tmp_path / name), "-Y", "smtp.req", "-T", "fields",
                               "-e", "smtp.req.command"], capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.split()

    assert commands("no.pcapng") == ["EHLO", "STAR"]  # tshark 4.0 splits STARTTLS as "STAR" "TLS"
    assert commands("yes.pcapng") == ["EHLO", "STAR", "EHLO", "AUTH", "MAIL", "RCPT"]


async def test_the_app_says_when_tls_keys_are_written_and_what_they_open(local_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.txt"
    app = SmtpStepApp(dataclasses.replace(BUILTIN, tls_keys=str(keys)), server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=5)  # through the handshake
        said = [line for line in app.wire_log.plain_lines() if str(keys) in line]
    assert len(said) == 1 and "that file decrypts the session, AUTH and its password included" in said[0]
    assert "CLIENT_TRAFFIC_SECRET_0" in keys.read_text()


async def test_without_tls_keys_nothing_is_logged_and_nothing_said(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        await step(pilot, times=5)
        assert not any("TLS keys" in line or "decrypts the session" in line for line in app.wire_log.plain_lines())
