"""Recordings: the codec round trip of real session views, redaction, and broken files.

Sessions run against the built-in server (the ``local_server`` fixture); the clock and Message-ID are fixed.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from smtpstep.app.session.codec import Codec, CodecError, codec, decode, encode
from smtpstep.app.session.narration import narrate
from smtpstep.app.session.recording import Recording, RecordingError, record_session
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.session.transcript import Transcript
from smtpstep.protocol import commands
from smtpstep.protocol.commands import Command, Verb
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.states import State

if TYPE_CHECKING:
    from smtpstep.protocol.server.server import LocalServer

ServerFactory = Callable[..., Awaitable[Any]]

SECRETS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")
"""The demo password and the base64 forms that carry it (AUTH PLAIN; LOGIN's password line)."""
NOW = datetime.datetime(2026, 11, 28, 9, 0, tzinfo=datetime.timezone.utc)
MESSAGE_ID = "<recording@client.smtpstep.test>"
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom")


async def _record(server: LocalServer, settings: SessionSettings = SETTINGS) -> Recording:
    return await record_session(settings, server, now=NOW, message_id=MESSAGE_ID)


# --- The codec ------------------------------------------------------------------------------------


async def test_every_session_view_survives_the_codec_round_trip(local_server: LocalServer) -> None:
    recording = await _record(local_server)

    assert recording.steps == 12
    for view in recording.views:
        assert decode(json.loads(json.dumps(encode(view)))) == view
    for chunk in recording.chunks:
        assert decode(json.loads(json.dumps(encode(chunk)))) == chunk


def test_the_codec_keeps_bytes_tuples_enums_dates_paths_lists_and_sets_apart() -> None:
    value = (
        b"EHLO x\r\n", b"\xff\x00binary", ("a", 1), ["a", 1], frozenset({Verb.EHLO, Verb.QUIT}),
        {"k": (1, 2), 3: None}, State.CLOSED, datetime.datetime(2026, 1, 2, 3, 4, 5),
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), Path("/tmp/ca.pem"), 1.5, True,
    )

    data = json.loads(json.dumps(encode(value)))

    assert decode(data) == value
    assert [type(item) for item in decode(data)] == [type(item) for item in value]
    assert data[0] == {"$bytes": "EHLO x\r\n"}  # text stays readable in the file
    assert "$b64" in data[1]


def test_the_session_plan_is_never_encoded_because_it_holds_the_password() -> None:
    with pytest.raises(CodecError):
        encode(SessionPlan(username="student", password="classroom"))


@pytest.mark.parametrize("data", [
    {"$type": "SessionPlan", "password": "x"},
    {"$type": "os.system"},
    {"$type": "Reply", "code": 250, "lines": ["OK"], "exec": "x"},
    {"$type": "Reply", "code": "250", "lines": ["OK"]},
    {"$type": "Ehlo", "name": "a\r\nMAIL FROM:<x@y.test>"},
    {"$enum": "State.NOT_A_STATE"},
    {"$enum": "Path.x"},
    {"$b64": "***"},
    {"$bytes": "x", "$path": "y"},
    {"hello": "world"},
])
def test_the_codec_builds_only_registered_valid_values(data: object) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_every_command_class_is_registered() -> None:
    classes = [c for c in vars(commands).values()
               if isinstance(c, type) and issubclass(c, Command) and c is not Command]

    assert classes
    assert {c.__name__ for c in classes} <= set(codec().names)


def test_a_codec_refuses_a_class_it_was_not_given() -> None:
    small = Codec([State])

    with pytest.raises(CodecError):
        small.encode(Verb.EHLO)


# --- Recording, saving, loading -------------------------------------------------------------------


async def test_a_recording_saved_with_secrets_loads_back_equal_at_every_step(local_server: LocalServer,
                                                                             tmp_path: Path) -> None:
    recording = await _record(local_server)
    path = tmp_path / "session.json"

    recording.save(path, show_secrets=True)
    loaded = Recording.load(path)

    assert loaded.steps == recording.steps
    for step in range(recording.steps + 1):
        assert loaded.view_at(step) == recording.view_at(step)
        assert loaded.chunks_until(step) == recording.chunks_until(step)
    assert loaded.chunks == recording.chunks
    assert loaded.meta["target"] == recording.meta["target"]
    assert loaded.meta["created"] == NOW.isoformat()
    assert not loaded.redacted


async def test_a_redacted_recording_reads_the_same_at_every_step(local_server: LocalServer) -> None:
    recording = await _record(local_server)

    loaded = Recording.from_json(recording.to_json())

    assert loaded.redacted
    for step in range(recording.steps + 1):
        before, after = recording.view_at(step), loaded.view_at(step)
        assert narrate(after) == narrate(before)
        assert after.snapshot.client.state == before.snapshot.client.state
        assert [p.command.label for p in after.queue] == [p.command.label for p in before.queue]
        assert after.history == before.history
        lines = [line.plain() for line in Transcript().feed_all(recording.chunks_until(step))]
        assert [line.plain() for line in Transcript().feed_all(loaded.chunks_until(step))] == lines


async def test_the_json_holds_no_secret_unless_asked(local_server: LocalServer) -> None:
    recording = await _record(local_server)

    redacted, full = recording.to_json(), recording.to_json(show_secrets=True)

    for secret in SECRETS:
        assert secret not in redacted
        assert secret in full
    assert json.loads(redacted)["meta"]["redacted"] is True
    assert json.loads(full)["meta"]["redacted"] is False


async def test_redacted_secret_spans_point_at_the_mask(local_server: LocalServer) -> None:
    recording = Recording.from_json((await _record(local_server)).to_json())

    secret_chunks = [c for c in recording.chunks if c.secrets]

    assert secret_chunks
    for chunk in secret_chunks:
        assert all(chunk.data[start:end] == b"********" for start, end in chunk.secrets)


async def test_a_saved_recording_with_secrets_is_redacted_again_on_export(local_server: LocalServer) -> None:
    full = Recording.from_json((await _record(local_server)).to_json(show_secrets=True))

    again = full.to_json()

    for secret in SECRETS:
        assert secret not in again


@pytest.mark.parametrize(("content", "said"), [
    ("this is not json", "not valid JSON"),
    ('{"format": "smtpstep recording", "version": 1, "meta": {}, "views": [', "not valid JSON"),
    ('{"name": "some other file"}', "not a smtpstep recording"),
    ("[1, 2, 3]", "not a smtpstep recording"),
    ('{"format": "smtpstep recording", "version": 99, "meta": {}, "views": [], "chunks": []}', "newer smtpstep"),
    ('{"format": "smtpstep recording", "version": 1, "meta": {}, "views": [], "chunks": []}', "damaged"),
    ('{"format": "smtpstep recording", "version": 1, "meta": {}, "views": [{"$type": "os.system"}], "chunks": []}',
     "damaged"),
    ('{"format": "smtpstep recording", "version": 1, "meta": {}, "views": [{"$bytes": "x"}], "chunks": []}',
     "damaged"),
    ('{"format": "smtpstep recording", "version": 1, "meta": {}, "views": ' + "[" * 5000 + "]" * 5000
     + ', "chunks": []}', "deep"),
])
def test_a_broken_or_foreign_file_is_a_recording_error(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(RecordingError) as caught:
        Recording.load(path)

    message = str(caught.value)
    assert said in message
    assert message.startswith(str(path))
    assert "Traceback" not in message and "\n" not in message


async def test_a_recording_with_a_changed_field_is_a_recording_error(local_server: LocalServer,
                                                                    tmp_path: Path) -> None:
    document = json.loads((await _record(local_server)).to_json())
    document["views"][3]["steps_done"] = "three"

    with pytest.raises(RecordingError, match="steps_done"):
        Recording.from_json(json.dumps(document))


def test_missing_and_unreadable_files_are_recording_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        Recording.load(tmp_path / "nothing.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(RecordingError, match="UTF-8"):
        Recording.load(tmp_path / "latin1.json")
    with pytest.raises(RecordingError, match="folder"):
        Recording.load(tmp_path)


async def test_view_at_and_chunks_until_follow_the_wire_count(local_server: LocalServer) -> None:
    recording = await _record(local_server)

    assert recording.chunks_until(0) == []
    assert recording.view_at(0).last is None
    last = recording.view_at(recording.steps)
    assert recording.chunks_until(recording.steps) == recording.chunks[:last.snapshot.wire_count]
    assert sum(len(recording.chunks_of(step)) for step in range(recording.steps + 1)) == len(
        recording.chunks_until(recording.steps))
    with pytest.raises(IndexError):
        recording.view_at(recording.steps + 1)


# --- smtpstep run records with the same stepper ----------------------------------------------------


def _shape(recording: Recording) -> list[tuple[object, ...]]:
    """What a view says about the session, leaving out what differs between two runs (ports, dates, the
    Message-ID and so the message's size)."""
    return [(v.steps_done, tuple(p.command.verb for p in v.queue), v.halt, v.explanation_key,
             tuple((code, ok) for _, code, ok in v.history), v.snapshot.client.state) for v in recording.views]


def _run_export(server: LocalServer, tmp_path: Path) -> Recording:
    """`smtpstep run --transcript session.json` against ``server``, on the blocking transport."""
    from smtpstep.app.commands.run import run

    out = tmp_path / "session.json"
    settings = replace(SETTINGS, server=f"127.0.0.1:{server.ports['submission']}", ca_file=server.ca_path,
                       transcript=out)
    run(settings, out=io.StringIO(), err=io.StringIO())
    return Recording.load(out)


def test_smtpstep_run_records_the_views_the_terminal_app_shows(threaded_server: LocalServer,
                                                              tmp_path: Path) -> None:
    ran = _run_export(threaded_server, tmp_path)
    stepped = asyncio.run(record_session(replace(SETTINGS, server=f"127.0.0.1:{threaded_server.ports['submission']}",
                                                 ca_file=threaded_server.ca_path), None, now=NOW,
                                         message_id=MESSAGE_ID))

    assert ran.steps == 12
    assert _shape(ran) == _shape(stepped)


def test_smtpstep_run_records_a_failed_handshake_as_the_terminal_app_does(tmp_path: Path) -> None:
    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(certificate="expired", maildir=tmp_path / "maildir", state_dir=tmp_path / "state")
    server.start_in_thread()
    try:
        ran = _run_export(server, tmp_path)
        stepped = asyncio.run(record_session(replace(SETTINGS, server=f"127.0.0.1:{server.ports['submission']}",
                                                     ca_file=server.ca_path), None, now=NOW,
                                             message_id=MESSAGE_ID))
    finally:
        server.stop_thread()

    assert _shape(ran) == _shape(stepped)
    assert any(v.explanation_key == "tls-verify-failed" for v in ran.views)
