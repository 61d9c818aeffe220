"""What the screen says about what may come next agrees with the client's one rule set at every step, and
lessons show what they teach: line-end marks for smuggling, the TLS facts on TLS steps (and ``L`` in a
lesson), part titles apart from their text, the relay and the server both named in the stripping lesson's
header, and the stage line in the order of implicit TLS. Real sessions on the built-in server."""

from __future__ import annotations

import dataclasses

import pytest

from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.app.widgets.session_header import SessionHeader
from smtpstep.app.widgets.state_pane import StatePane, allowed_lines, route_line, stage_line
from smtpstep.protocol.commands import Verb, verb_list
from smtpstep.protocol.lessons.loader import load
from tests.support.waiting import started, step

BUILTIN = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                          password="classroom")


def _lesson(name: str, part: int = 0) -> SessionSettings:
    return BUILTIN.for_lesson(load(name), part)


async def test_the_state_pane_and_the_warning_agree_with_check_at_every_step(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(BUILTIN, server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        seen: list[tuple[str, str]] = []
        while app.stepper.queue:
            view = await step(pilot)
            client = app.stepper.transport.client
            pane = app.screen.query_one(StatePane)
            allowed = allowed_lines(view)[0].plain
            assert allowed == f"Allowed next: {verb_list(client.allowed())}" or not client.allowed()
            assert view.snapshot.client.allowed == client.allowed()
            head = app.stepper.head
            warning = app.screen.warning
            if head is not None:
                assert (warning is None) == (client.check(head) is None)
                if warning is None and not getattr(head, "placeholder", False):
                    verb = head.acts_as if hasattr(head, "acts_as") else head.verb
                    assert verb in client.allowed()
            label = view.last.commands[-1].label if view.last else ""
            seen.append((label, allowed))
            assert pane.view is view
        # RFC 3207 §4.2, RFC 4954 §3-§4: no AUTH before it is offered, no STARTTLS under TLS, no AUTH after 235.
        after_first_ehlo = next(v for k, v in seen if k.startswith("EHLO"))
        assert "STARTTLS" in after_first_ehlo and "AUTH" not in after_first_ehlo
        after_tls = dict(seen)["(TLS handshake)"]
        assert "STARTTLS" not in after_tls and "HELO" not in after_tls.split(": ")[1]  # RFC 3207 §4.2: EHLO first
        after_auth = next(v for k, v in seen if k.startswith("AUTH"))
        assert "AUTH" not in after_auth and "STARTTLS" not in after_auth and "MAIL" in after_auth


async def test_the_implicit_tls_stage_line_puts_tls_before_the_greeting(local_server) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(dataclasses.replace(BUILTIN, security="tls"), server=local_server)
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        view = await step(pilot, times=3)  # connect, TLS handshake, greeting
        line = stage_line(view).plain
        assert line.index("TLS") < line.index("greeting") < line.index("EHLO")
        assert "TLS✓" in line and "greeting✓" in line and "[EHLO]" in line


async def test_the_smuggling_lesson_shows_line_ends_and_marks_the_bare_lf() -> None:
    app = SmtpStepApp(_lesson("smtp-smuggling"))
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app)
        assert app.wire_log.crlf_marks
        while app.stepper.queue:
            await step(pilot)
        lines = app.wire_log.plain_lines()
        assert any("␊ (bare LF)" in line for line in lines)
        assert any(line.endswith("␍␊") for line in lines)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_a_tls_lesson_shows_the_tls_facts_on_its_tls_step(size) -> None:  # type: ignore[no-untyped-def]
    app = SmtpStepApp(_lesson("starttls"))
    async with app.run_test(size=size) as pilot:
        await started(app)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        while not any(c.verb == Verb.TLS_HANDSHAKE for c in (app.stepper.history[-1].commands
                                                               if app.stepper.history else ())):
            await step(pilot)
        await pilot.pause()
        explanation = screen.query_one(ExplanationPane)
        explain_box = screen.query_one("#explain-box")
        if size[0] >= 110:
            assert screen.has_class("-show-tls") and screen.has_class("-show-server")  # TLS in front of it
            assert screen.query_one("#tls-box").display and not screen.query_one("#server-box").display
        else:
            assert explain_box.display and "TLS (L shows all of it)" in explanation.plain_text
            assert "TLSv1.3" in explanation.plain_text
            await pilot.press("L")  # L works in a lesson
            await pilot.pause()
            assert screen.query_one("#tls-box").display and not explain_box.display
            await pilot.press("L")
            await pilot.pause()
        await step(pilot)  # the next step is not about TLS: the lesson's pane comes back
        await pilot.pause()
        if size[0] >= 110:
            assert screen.query_one("#server-box").display and not screen.query_one("#tls-box").display
        else:
            assert explain_box.display and screen.lesson_note  # the narration stays in front


async def test_a_part_title_stands_on_its_own_line() -> None:
    app = SmtpStepApp(_lesson("starttls-stripping", 1))
    async with app.run_test(size=(120, 36)):
        await started(app)
        note = app.screen.lesson_note or ""
        title = f"Part 2 of 2: {load('starttls-stripping').part(1).title}"
        assert title in note.split("\n")  # a line of its own, not run into the part's text
        drawn = app.screen.query_one(ExplanationPane).plain_text
        assert title in drawn.split("\n") and "\\x0a" not in drawn  # drawn as a line break, not an escape


async def test_the_stripping_lessons_header_names_the_relay_and_the_server() -> None:
    app = SmtpStepApp(_lesson("starttls-stripping"))
    async with app.run_test(size=(160, 48)):
        await started(app)
        header = app.screen.query_one(SessionHeader)
        relay, server = app.lab.relay, app.server
        assert relay is not None and server is not None
        label = header.target_label
        assert f":{relay.port}" in label and f":{server.port_for('starttls')}" in label
        assert label.index("relay") < label.index("server")
        assert app.stepper.target.port == relay.port  # the session really goes through the relay


async def test_the_enumeration_lesson_shows_each_dns_lookup_as_a_step_line_and_route_before_connecting() -> None:
    app = SmtpStepApp(_lesson("enumeration"))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(app)
        assert app.stepper.head.verb == Verb.DNS and app.screen.warning is None
        assert stage_line(app.stepper.view()).plain.startswith("[DNS] → connect →")
        await step(pilot)
        view = await step(pilot)
        assert app.stepper.head.verb == Verb.CONNECT
        assert stage_line(view).plain.startswith("DNS✓ → [connect]")
        assert app.screen.query_one(StatePane).view is view
        assert route_line(view).plain == "Route: MX example.test → 10 mx.example.test.; A mx.example.test → 127.0.0.1"
        lines = app.wire_log.plain_lines()
        assert "DNS: MX example.test? → 10 mx.example.test." in [line.strip() for line in lines]
        view = await step(pilot)
        assert view.snapshot.connected and view.snapshot.target.label.startswith("mx.example.test (127.0.0.1:")
