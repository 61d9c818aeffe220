"""Setting up the built-in server's SMTP sessions fast: ``SessionTemplate`` works out once per listener what
aiosmtpd's ``SMTP.__init__`` works out for every connection, and gives each new ``SmtpSession`` the same;
``_SessionReader`` pauses a session's socket only past ``READ_HIGH_WATER`` buffered octets.

Both lean on internals (aiosmtpd's session fields, asyncio's ``StreamReader.feed_data``), and
``tests/protocol/server/test_dependencies.py`` fails, naming what to re-check, when those differ from
what this was written against. A field it does not know makes the template step aside (``fast`` is
False): slower, never wrong. It runs on the server's event loop and does no I/O of its own.
"""

from __future__ import annotations

import asyncio
from types import MethodType
from typing import Any

from smtpstep.protocol.server.smtp_session import SmtpSession

__all__ = ["READ_HIGH_WATER", "SessionTemplate"]

READ_HIGH_WATER = 64 * 1024
"""Octets a session buffers before it stops reading from its socket (flow control)."""

_SHAREABLE_TYPES = (str, bytes, int, float, bool, type(None), frozenset, tuple)
_SHARED_SESSION_FIELDS = frozenset({
    "event_handler",  # the listener's handler, shared by its sessions by design
    "loop",
    "tls_context",  # one context for every session, as aiosmtpd is normally used
    "_authenticator",
    "_auth_callback",
    "_handle_hooks",  # the handler's bound hooks; aiosmtpd only reads this dict after __init__
    "_call_limit_base",  # read-only after __init__
})
"""Fields of a new aiosmtpd session that may be shared by all sessions of a listener, besides
immutable values. ``SessionTemplate`` refuses to copy any other field."""


class _SessionReader(asyncio.StreamReader):
    """asyncio's ``StreamReader``, pausing the socket only past ``READ_HIGH_WATER`` buffered octets.

    aiosmtpd gives the reader its line limit (1001 octets, RFC 5321 §4.5.3.1.6) so that
    ``readuntil`` refuses longer lines, and asyncio also pauses reading once twice that limit is
    buffered: every 5 KB message stopped and restarted reading (two ``epoll_ctl`` calls and a
    trip through the transport) while DATA took it line by line. Line limits are unchanged; a
    session still buffers at most about ``READ_HIGH_WATER`` plus one socket read.
    """

    def feed_data(self, data: bytes) -> None:
        # asyncio's own feed_data pauses past 2 * _limit; for that one call the limit is half the
        # high-water mark. Readers (and _maybe_resume_transport, which resumes once the buffer is
        # down to the limit) see the line limit, since nothing else runs during the call.
        # tests/protocol/server/test_dependencies.py fails if asyncio's feed_data changes.
        line_limit, self._limit = self._limit, READ_HIGH_WATER // 2
        try:
            _stream_feed_data(self, data)  # super().feed_data, looked up once: it runs for every socket read
        finally:
            self._limit = line_limit


_stream_feed_data = asyncio.StreamReader.feed_data


class SessionTemplate:
    """What aiosmtpd's ``SMTP.__init__`` works out for a listener, worked out once.

    ``SMTP.__init__`` lists the class's and the handler's methods with ``inspect.getmembers`` and
    ``dir`` and reads the EHLO hook's signature, for every connection; the result is the same for
    every session of a listener. The template builds one session the normal way (the prototype),
    keeps its fields, and ``apply`` gives a new session the same fields, with the ``smtp_*`` and
    built-in ``auth_*`` methods bound to the new session. asyncio's own protocol fields are made
    fresh by ``StreamReaderProtocol.__init__``, as ``SMTP.__init__`` makes them.

    If the prototype has a field that is neither immutable nor known to be shared
    (``_SHARED_SESSION_FIELDS``), say from a newer aiosmtpd, ``fast`` is False and every session
    runs ``SMTP.__init__`` itself: slower, never wrong.
    """

    def __init__(self, handler: Any, loop: asyncio.AbstractEventLoop, **settings: Any) -> None:
        prototype = SmtpSession(handler, is_stopping=lambda: False, loop=loop, **settings)
        stream = asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), lambda r, w: None, loop=loop)
        stream_fields = set(vars(stream)) | {"_is_stopping", "_unended"}
        fields = {name: value for name, value in vars(prototype).items() if name not in stream_fields}
        smtp_methods = fields.pop("_smtp_methods", None)
        auth_methods = fields.pop("_auth_methods", None)
        self.loop = loop
        self.fields = fields
        """Field values every new session starts with."""
        unsafe = [name for name, value in fields.items()
                  if name not in _SHARED_SESSION_FIELDS and not isinstance(value, _SHAREABLE_TYPES)]
        self.fast = (not unsafe and isinstance(smtp_methods, dict) and isinstance(auth_methods, dict)
                     and all(getattr(m, "__self__", None) is prototype for m in smtp_methods.values()))
        """Whether sessions are set up from this template (False: by ``SMTP.__init__`` each time)."""
        self._smtp_functions = {name: m.__func__ for name, m in (smtp_methods or {}).items()} if self.fast else {}
        self._auth_methods = auth_methods or {}
        self._builtin_auth = {name: (type(attr), attr.method.__func__)
                              for name, attr in self._auth_methods.items() if attr.is_builtin}
        """AUTH mechanisms aiosmtpd implements on the session itself: their record type and function."""

    def apply(self, session: SmtpSession) -> None:
        """Give ``session`` what ``SMTP.__init__`` would have given it."""
        asyncio.StreamReaderProtocol.__init__(
            session,
            _SessionReader(loop=self.loop, limit=session.line_length_limit),
            client_connected_cb=session._cb_client_connected,
            loop=self.loop,
        )
        session.__dict__.update(self.fields)
        session._smtp_methods = {name: MethodType(f, session) for name, f in self._smtp_functions.items()}
        auth_methods = dict(self._auth_methods)  # the handler's own mechanisms stay bound to it
        for name, (record, function) in self._builtin_auth.items():
            auth_methods[name] = record(MethodType(function, session), True)
        session._auth_methods = auth_methods
