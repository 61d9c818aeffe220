"""The relay hop as a lane of its own in the sequence diagram: a recording of the message-path lesson keeps the
hop (``hop_meta``), and every format draws it between the server and the MX, outside the client's TLS."""

from __future__ import annotations

import json
from pathlib import Path

from smtpstep.app.output.exports import export
from smtpstep.app.session.diagram import MX, SERVER, Arrow, diagram_of, hops_of
from smtpstep.app.session.recording import Recording
from tests.support.lessons import run_lesson


def test_the_message_path_diagram_has_an_mx_lane_with_the_hops_session_after_step_11(tmp_path: Path) -> None:
    target = tmp_path / "path.json"
    run_lesson("message-path", "--transcript", str(target))
    diagram = diagram_of(Recording.load(target))
    assert [line.key for line in diagram.lifelines] == ["client", "server", "mx"]
    hop = [item for item in diagram.items if isinstance(item, Arrow) and MX in (item.source, item.target)]
    assert {item.step for item in hop} == {11} and not any(item.tls for item in hop)
    assert [item.text for item in hop if item.source == SERVER] == [
        "connect (TCP)", "EHLO mail.smtpstep.test", "MAIL FROM:<student@client.smtpstep.test>",
        "RCPT TO:<teacher@example.test>", "DATA", "(the message: 9 lines, then “.”)", "QUIT"]
    assert [item.code for item in hop if item.source == MX] == [220, 250, 250, 250, 354, 250, 221]
    export(Recording.load(target), tmp_path / "path.mmd")
    mermaid = (tmp_path / "path.mmd").read_text(encoding="utf-8")
    assert "participant M as MX (port 25)" in mermaid and "S->>M: EHLO mail.smtpstep.test" in mermaid
    assert "Note over C,S: 5. TLS handshake" in mermaid  # the client's TLS does not cover the MX lane
    assert "Note over S: DNS#58; MX example.test? → 10 mx.example.test." in mermaid
    second = Recording.load(tmp_path / "path-part2.json")  # port 25, refused: no hop, no MX lane
    assert [line.key for line in diagram_of(second).lifelines] == ["client", "server"]


def test_hops_in_a_recordings_meta_data_that_do_not_fit_are_left_out() -> None:
    assert hops_of("nonsense") == [] and hops_of(json.dumps([{"key": 1}, "x"])) == [] and hops_of([]) == []
    assert hops_of("[" + " " * 600_000 + "]") == []  # too long to parse
    (hop,) = hops_of(json.dumps([{"key": "k", "lines": [["client", "EHLO a"], ["bad"], 5]
                                                       + [["server", "250 ok"]] * 1000}]))
    assert hop.lines[0] == ("client", "EHLO a") and len(hop.lines) <= 400
