"""The command queue's history shows each finished step's outcome as a glyph, ✓ or ✗ (not colour alone),
and its reply code before the label, so that both survive a narrow queue: a snapshot at 80x24 after a
recipient refused with 550, and the glyphs of a whole session checked against its replies.

Deterministic as ``test_snapshots.py``: the server named without its port, a frozen clock and Message-ID,
no step times, and no certificate on screen.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.command_queue import CommandQueue
from tests.app.test_snapshots import NOW, SETTINGS, _steps, free_port_server  # noqa: F401 - a fixture

REFUSED = dataclasses.replace(SETTINGS, rcpt_tos=("nobody@example.test",))
"""The built-in server refuses nobody@ with 550 5.1.1 (RFC 5321 §4.2.2)."""


def _refused_app(server: object) -> SmtpStepApp:
    return SmtpStepApp(REFUSED, server=server, now=NOW, message_id="<snapshot@client.smtpstep.test>",  # type: ignore[arg-type]
                       timings=False, screenshot_dir=Path("/nonexistent"))


def test_a_refused_recipient_is_crossed_out_with_its_code_at_80x24(snap_compare, free_port_server) -> None:  # noqa: F811
    # connect, greeting, EHLO, STARTTLS, handshake, EHLO, AUTH, MAIL, RCPT (550)
    assert snap_compare(_refused_app(free_port_server), terminal_size=(80, 24), run_before=_steps(9))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_finished_step_shows_its_outcome_and_code_at_every_width(free_port_server, size) -> None:  # noqa: F811
    app = _refused_app(free_port_server)
    async with app.run_test(size=size) as pilot:
        await _steps(9)(pilot)
        queue = app.screen.query_one(CommandQueue)
        rows = [str(queue.get_option_at_index(i).prompt) for i in range(len(app.stepper.history))]
        codes = [r.answers[-1].reply.code if r.answers else None for r in app.stepper.history]
        assert codes[-1] == 550
        for row, code in zip(rows, codes, strict=True):
            failed = code is not None and code >= 400
            assert row.startswith("✗ " if failed else "✓ "), row
            if code is not None:
                assert f" {code} " in row[:10], row  # the code comes before the label: never cut off
