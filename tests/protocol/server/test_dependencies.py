"""The aiosmtpd and asyncio internals the built-in server leans on are still what its code was written against.

``protocol/server/`` uses aiosmtpd's documented hooks wherever there is one; two fast paths and the
server's stop have none (see ``smtp_session``'s docstring). For each upstream function they copy,
replace or rely on, ``assert_upstream_unchanged`` (``tests/conftest.py``) compares a fingerprint of the
installed code (without comments, docstrings or layout) with the ones recorded here, and fails naming
the upstream function, our code that depends on it and what to re-check. Two more tests check that the
private attributes we touch still exist. Behaviour is tested on real sockets in
``test_server_concurrency.py`` (template sessions equal aiosmtpd's own, the reader's high-water mark,
the address reader against aiosmtpd's parser); these tests say *why* such a test broke, and catch a
change those tests do not cover.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import platform
from importlib.metadata import version

import pytest
from aiosmtpd.smtp import SMTP

from smtpstep.protocol.server import session_setup, smtp_session

RELIANCES = [
    (
        "aiosmtpd.smtp.SMTP.__init__",
        "protocol/server/session_setup.py SessionTemplate copies the fields it sets (made once per listener) "
        "into every new session, binds _smtp_methods and the built-in _auth_methods to that session, and "
        "calls StreamReaderProtocol.__init__ as it does",
        "every field it sets: a new mutable one must be made per session (it makes template.fast False, "
        "losing the fast path silently, unless it is listed in _SHARED_SESSION_FIELDS); a field computed "
        "from the handler or the class must still be the same for every session of a listener; the reader "
        "must still be made with limit=line_length_limit; and test_server_concurrency.py's template test "
        "must still pass",
        frozenset({"7aeb59660a91bff9"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp._AuthMechAttr",
        "protocol/server/session_setup.py SessionTemplate reads .method and .is_builtin of each "
        "_auth_methods entry and rebuilds the built-in ones as _AuthMechAttr(method, True)",
        "its fields, their order and their meaning",
        frozenset({"13ea79dff5610411"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP._getaddr",
        "protocol/server/smtp_session.py SmtpSession._getaddr reads a plain <local@domain> itself and "
        "must return exactly what this returns for it, (address, rest)",
        "what it returns for a simple address and the text after it (folding white space, comments), "
        "local_part_limit, and the address list of test_the_quick_address_reader_agrees_with_aiosmtpds_parser",
        frozenset({"9288cfec915fb1b0"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.connection_made",
        "protocol/server/smtp_session.py SmtpSession.connection_made runs after it (it expects self.session "
        "made, with ssl None under implicit TLS); protocol/server/server.py LocalServer.stop awaits the "
        "handler task it keeps in self._handler_coroutine",
        "that it still makes self.session and starts the session's task as self._handler_coroutine",
        frozenset({"855e0c0ade7a31a6"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.connection_lost",
        "protocol/server/server.py LocalServer.stop aborts each session's transport and then awaits its "
        "_handler_coroutine, which this cancels",
        "that it still cancels self._handler_coroutine (else stop waits out its 5 s for every session)",
        frozenset({"e08ca93cff12f993"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.smtp_STARTTLS",
        "protocol/server/smtp_session.py SmtpSession.smtp_STARTTLS answers 503 when TLS is already on and "
        "otherwise calls it",
        "that it still starts the handshake after its 220 and has no check of its own for a TLS session "
        "already active (if it gained one, the override may go)",
        frozenset({"d0fe2f2fdd263f4e"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.smtp_MAIL",
        "protocol/server/smtp_session.py SmtpSession.smtp_MAIL takes the DSN parameters (RET, ENVID) and "
        "REQUIRETLS off the line where they are advertised, then calls it with the rest, and keeps them on the "
        "envelope once it has set mail_from",
        "that it still answers 555 to a parameter it does not know, upper-cases the parameters (why ENVID is "
        "read before it), and sets envelope.mail_from only on success",
        frozenset({"778b08a583faeee1"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.smtp_RCPT",
        "protocol/server/smtp_session.py SmtpSession.smtp_RCPT takes NOTIFY and ORCPT off the line where DSN is "
        "advertised, then calls it with the rest, and keeps them for a recipient it appended to rcpt_tos",
        "that it still takes no RCPT parameter of its own (555) and appends an accepted recipient to "
        "envelope.rcpt_tos",
        frozenset({"f816fddd3d6bd10c"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.smtp_AUTH",
        "protocol/server/smtp_session.py SmtpSession.smtp_AUTH answers 503 inside a mail transaction "
        "(RFC 4954 §4) and otherwise calls it",
        "that it still refuses a second AUTH with 503 and does not look at the transaction itself",
        frozenset({"2ec750df6ca736b4"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.smtp_DATA",
        "protocol/server/smtp_session.py SmtpSession.smtp_DATA answers 503 after a BDAT chunk (RFC 3030 §2) and "
        "otherwise calls it; smtp_BDAT ends a message as it does (original_content, the DATA hook, "
        "_set_post_data_state, the hook's reply)",
        "the order of its checks and what it sets on the envelope before the DATA hook",
        frozenset({"c4b72e23456ec224"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP._handle_client",
        "protocol/server/smtp_session.py SmtpSession.takes_chunks: CHUNKING is not advertised where "
        "require_starttls answers 530 before a command method runs (the BDAT chunk would be read as commands); "
        "smtp_BDAT reads its chunk from self._reader between two commands",
        "which replies it sends before calling self._smtp_methods[command] (530, 554, line too long, call "
        "limits), and that it reads commands from self._reader with readuntil",
        frozenset({"3774410733343e31"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.check_helo_needed",
        "protocol/server/smtp_session.py SmtpSession.smtp_BDAT makes the same check (session.host_name) before "
        "reading the chunk, since this one replies at once",
        "what it checks",
        frozenset({"a654fc62cfc2de44"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP.check_auth_needed",
        "protocol/server/smtp_session.py SmtpSession.smtp_BDAT makes the same check (_auth_required and "
        "session.authenticated) before reading the chunk, since this one replies at once",
        "what it checks",
        frozenset({"408e904e61d5b89d"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP._create_envelope",
        "protocol/server/smtp_session.py SmtpSession._create_envelope returns a ChunkedEnvelope, so that every "
        "new transaction (RSET, EHLO, the end of a message) starts without BDAT chunks",
        "that _set_rset_state and _set_post_data_state still make the envelope with it",
        frozenset({"27a0d7abf6886e17"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.SMTP._set_post_data_state",
        "protocol/server/smtp_session.py SmtpSession.smtp_BDAT calls it after BDAT LAST, as smtp_DATA does "
        "after the final dot",
        "that it still only makes a new envelope with _create_envelope",
        frozenset({"ada604547e0ebff1"}),  # aiosmtpd 1.4.6
    ),
    (
        "aiosmtpd.smtp.Envelope.__init__",
        "protocol/server/smtp_session.py ChunkedEnvelope extends it with chunks and chunk_failed",
        "that it takes no arguments and sets no field of those names",
        frozenset({"227db7ac5de2dd89"}),  # aiosmtpd 1.4.6
    ),
    (
        "asyncio.StreamReader.feed_data",
        "protocol/server/session_setup.py _SessionReader.feed_data calls it with _limit set to "
        "READ_HIGH_WATER // 2, so that it pauses reading past READ_HIGH_WATER instead of past twice the "
        "line limit",
        "that it still pauses reading once more than 2 * self._limit octets are buffered, and reads "
        "_limit for nothing else",
        frozenset({"ad03c9394de6da10"}),  # Python 3.11
    ),
    (
        "asyncio.StreamReader._maybe_resume_transport",
        "protocol/server/session_setup.py _SessionReader leaves it as it is: reading resumes once the buffer "
        "is down to the line limit (_limit), after a pause past READ_HIGH_WATER",
        "that it still resumes once len(self._buffer) <= self._limit",
        frozenset({"9d3e655ef6f9a2d7"}),  # Python 3.11
    ),
]
"""(upstream code by dotted name, ours that copies, replaces or relies on it, what to re-check before
recording a new fingerprint, the fingerprints of the versions checked so far)."""


@pytest.mark.parametrize(("upstream", "ours", "recheck", "fingerprints"), RELIANCES,
                         ids=[upstream for upstream, *_ in RELIANCES])
def test_upstream_code_the_server_leans_on_is_what_it_was_written_against(
    upstream: str, ours: str, recheck: str, fingerprints: frozenset[str], assert_upstream_unchanged  # type: ignore[no-untyped-def]
) -> None:
    installed = f"aiosmtpd {version('aiosmtpd')}, Python {platform.python_version()}"
    assert_upstream_unchanged(upstream, ours=ours, recheck=recheck, fingerprints=fingerprints, installed=installed,
                              table="tests/protocol/server/test_dependencies.py")


async def test_the_private_attributes_the_server_touches_still_exist(local_server) -> None:  # type: ignore[no-untyped-def]
    handler = smtp_session.ListenerHandler(local_server, "plain")
    session = smtp_session.SmtpSession(handler, is_stopping=lambda: False, hostname="mail.smtpstep.test",
                                       loop=asyncio.get_running_loop())  # made by SMTP.__init__ itself
    fields = vars(session)
    missing = [name for name in ("_smtp_methods", "_auth_methods", "_handle_hooks", "_authenticator",
                                 "_auth_callback", "_handler_coroutine") if name not in fields]
    assert not missing, f"aiosmtpd's SMTP no longer sets {missing}: re-check SessionTemplate and LocalServer.stop"
    assert set(session_setup._SHARED_SESSION_FIELDS) - {"_call_limit_base"} <= set(fields)
    assert all(hasattr(m, "method") and hasattr(m, "is_builtin") for m in fields["_auth_methods"].values())
    assert callable(SMTP._cb_client_connected) and SMTP.line_length_limit == 1001  # RFC 5321 §4.5.3.1.6
    # connection_made and data_received are asyncio's public protocol methods, extended with super().
    assert SMTP.data_received is asyncio.StreamReaderProtocol.data_received, "aiosmtpd now overrides data_received"
    # _SessionReader.feed_data moves the reader's limit for the length of the call.
    assert asyncio.StreamReader(limit=SMTP.line_length_limit)._limit == SMTP.line_length_limit
    # SmtpSession.connection_made shrinks asyncio's socket reads; it recognises the transport by this.
    socket_transport = asyncio.selector_events._SelectorSocketTransport
    assert socket_transport.max_size == smtp_session._ASYNCIO_RECV_SIZE


async def test_a_session_of_a_running_server_has_its_handler_task_where_stop_looks(local_server) -> None:  # type: ignore[no-untyped-def]
    sessions_before = set(local_server._sessions)
    reader, writer = await asyncio.open_connection("127.0.0.1", local_server.ports["plain"])
    try:
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"220 ")
        (session,) = set(local_server._sessions) - sessions_before
        task = session._handler_coroutine
        assert isinstance(task, asyncio.Task) and not task.done()
    finally:
        writer.close()
    await local_server.stop()
    assert task.done()  # stop() found it, and waited for it
