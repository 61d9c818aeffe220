"""``smtpstep run --bdat [SIZE]``: the message goes in BDAT chunks (RFC 3030) to the built-in server, which
offers CHUNKING under TLS, and the run counts a 250 to BDAT LAST as the message accepted."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import assert_one_plain_sentence, smtpstep
from tests.support.env import clean_env


async def test_run_bdat_sends_the_message_in_chunks_and_exits_0(tmp_path: Path) -> None:
    run = await smtpstep("run", "--bdat", "100", env=clean_env(tmp_path))
    assert run.code == 0, run.err
    chunks = [line for line in run.sent() if line.startswith("BDAT ")]
    assert len(chunks) >= 3 and chunks[-1].endswith(" LAST") and all(c.split()[1].isdigit() for c in chunks)
    assert [c.split()[1] for c in chunks[:-1]] == ["100"] * (len(chunks) - 1)
    assert "DATA" not in run.sent()
    assert "done: the message was accepted" in run.err + run.out


async def test_run_bdat_without_a_size_sends_one_chunk(tmp_path: Path) -> None:
    run = await smtpstep("run", "--bdat", env=clean_env(tmp_path))
    assert run.code == 0, run.err
    assert len([line for line in run.sent() if line.startswith("BDAT ")]) == 1
    # The body's dot line goes as it is (BDAT does no dot-stuffing, RFC 3030 §2), and no "." line ends it.
    assert any(line.startswith(".This line") for line in run.sent())
    assert not any(line.startswith("..") for line in run.sent()) and "." not in run.sent()


async def test_run_bdat_refuses_a_size_of_0_in_one_sentence(tmp_path: Path) -> None:
    run = await smtpstep("run", "--bdat", "0", env=clean_env(tmp_path))
    assert run.code == 2
    assert_one_plain_sentence(run.err)
