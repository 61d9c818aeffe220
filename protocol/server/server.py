"""The built-in SMTP server: aiosmtpd on loopback, certificates from a throwaway trustme CA.

Holds ``LocalServer``: three listeners (port-25, port-587 and port-465 style), one Maildir, one CA,
and the scenario that lessons switch. Its policy is in ``policy.py``, its scenarios in
``scenarios.py``, the aiosmtpd glue in ``smtp_session.py``, its certificates in ``ca.py``, the storing of
accepted messages in ``delivery.py``.

Rules:

- Only the server package imports aiosmtpd and trustme (and through them cryptography); the pure
  core and the transports never import it.
- It never relays beyond itself. It delivers only to reserved test domains (RFC 2606 §2-3, RFC 6761 §6.2)
  and keeps every message in one local Maildir; in the relaying scenario its submission side passes a
  message on to its own port-25-style listener, the lessons' receiving MX (``relay_hop.py``).
- It replies 250 to the final dot only after the message is on disk: from then on the server owns
  the message (RFC 5321 §6.1). If storing fails the reply is 451, so the client keeps it. How a
  message is stored, in worker threads off the event loop, is in ``delivery.py``.
- It prints nothing. aiosmtpd's ``mail.log`` logger gets a ``NullHandler`` (so its warnings go
  nowhere unless the app configures logging) and loses the "Session.login_data is deprecated" line
  it writes on every successful AUTH.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import shutil
import ssl
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP, Envelope, Session

from smtpstep.protocol.server.ca import Certificates, make_certificates, variant_leaf
from smtpstep.protocol.server.delivery import Deliveries, accept
from smtpstep.protocol.server.facts import (
    BANNER_NAME,
    DEMO_PASSWORD,
    DEMO_USER,
    LISTENERS,
    ReceivedMessage,
    ServerNote,
    listener_port,
)
from smtpstep.protocol.server.loop_thread import LoopThread
from smtpstep.protocol.server.maildir import MaildirStore, default_maildir_path
from smtpstep.protocol.server.scenarios import SCENARIOS, Scenario
from smtpstep.protocol.server.session_setup import SessionTemplate
from smtpstep.protocol.server.smtp_session import ChunkedEnvelope, ListenerHandler, SmtpSession, authenticate

log = logging.getLogger("smtpstep.local_server")
log.addHandler(logging.NullHandler())

IDENT = "ESMTP smtpstep local server"
"""Text after the name in the 220 greeting (RFC 5321 §4.3.1); "ESMTP" there is only a convention."""
DEFAULT_SIZE_LIMIT = 32 * 1024 * 1024
"""Largest message accepted, advertised as ``SIZE`` (RFC 1870)."""

BACKLOG = 1024
"""Connections each listener's kernel queue holds before it is accepted (asyncio's default is 100). A class
connects in bursts: thirty students starting ``smtpstep run`` or a load tool at the teacher's signal, web tabs
restarting at once. With 100, a burst of 500 connects overflowed the queue (the kernel's ListenOverflows
counter) and left clients waiting for a SYN retry, a dozen of them past a minute; 1024 takes twice that
burst. Linux caps it at ``net.core.somaxconn`` (4096 since Linux 5.4, 128 before)."""
DEFAULT_TIMEOUT = 300.0
"""Idle seconds before the server hangs up: the 5 minutes of RFC 5321 §4.5.3.2.7."""


# --- Logging ------------------------------------------------------------------------------------


def _drop_login_data_deprecation(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 logs this warning on every successful AUTH, from inside its own smtp_AUTH.
    return "Session.login_data is deprecated" not in record.getMessage()


def _quiet_aiosmtpd_log() -> None:
    mail_log = logging.getLogger("mail.log")
    if _drop_login_data_deprecation not in mail_log.filters:
        mail_log.addFilter(_drop_login_data_deprecation)
    # Without any handler on the way to the root, logging's last-resort handler prints warnings
    # (an unknown command, a failed TLS handshake) to stderr, on top of the terminal UI.
    if not any(isinstance(h, logging.NullHandler) for h in mail_log.handlers):
        mail_log.addHandler(logging.NullHandler())


_quiet_aiosmtpd_log()



class LocalServer:
    """Three aiosmtpd listeners on loopback, one Maildir, one throwaway CA.

    - ``plain`` (port-25 style): STARTTLS offered, not required; AUTH only after STARTTLS.
    - ``submission`` (port-587 style, RFC 6409): STARTTLS required before MAIL (530, RFC 3207 §4);
      AUTH only after it; AUTH is not required.
    - ``submissions`` (port-465 style, RFC 8314 §3.3): TLS from the first byte; AUTH offered at once.

    Run it on the current loop (``await start()`` / ``await stop()``, or ``async with``) or on its
    own loop in a daemon thread (``start_in_thread()`` / ``stop_thread()``), which keeps a busy
    server from stalling a UI. From another thread, only read ``received``, ``ports`` and
    ``describe()``, and call ``set_scenario``.
    """

    banner_name: ClassVar[str] = BANNER_NAME
    """Name in the greeting, the EHLO reply, the certificate and the Received field."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        plain_port: int = 0,
        submission_port: int = 0,
        submissions_port: int = 0,
        maildir: Path | None = None,
        certificate: str = "valid",
        size_limit: int = DEFAULT_SIZE_LIMIT,
        state_dir: Path | None = None,
        scenario: str = "normal",
        timeout: float = DEFAULT_TIMEOUT,
        on_received: Callable[[ReceivedMessage], None] | None = None,
        on_note: Callable[[ServerNote], None] | None = None,
        clock: Callable[[], datetime.datetime] | None = None,
        maildir_names: Callable[[], str] | None = None,
        certificates: Certificates | None = None,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
        self.host = host
        """Address every listener binds to. With port 0, give an IP literal: a name that
        resolves to several addresses would get a different free port on each."""
        self._requested_ports = {
            "plain": plain_port,
            "submission": submission_port,
            "submissions": submissions_port,
        }
        self.ports: dict[str, int] = dict(self._requested_ports)
        """Listener name to port; the real ports once started (0 before means "pick a free one")."""
        self.certificate = certificate
        """Which certificate variant the server presents (see ``CERTIFICATE_VARIANTS``)."""
        self._certificates = certificates or make_certificates(certificate)  # given: a CA shared by servers
        self.ca_pem: bytes = self._certificates.ca_pem
        """PEM of the CA to trust. For "untrusted" it is not the CA that signed the server's certificate."""
        self.server_cert_pem: bytes = self._certificates.server.cert_chain_pems[0].bytes()
        """PEM of the certificate the server presents."""
        self.maildir_path: Path = Path(maildir) if maildir is not None else default_maildir_path()
        """The Maildir every accepted message goes to."""
        self.size_limit = size_limit
        """Largest message in bytes, advertised as SIZE (RFC 1870)."""
        self.timeout = timeout
        """Idle seconds before a session is closed."""
        self.credentials: tuple[str, str] = (DEMO_USER, DEMO_PASSWORD)
        """The one user and password AUTH accepts."""
        self.on_received = on_received
        """Called with each ``ReceivedMessage`` on the server's loop (its thread, with
        ``start_in_thread``); a Textual app would forward it with ``call_from_thread``."""
        self.on_note = on_note
        """Called with each ``ServerNote`` (a relay hop's session, the MX's DNS questions) on the server's loop."""
        self.clock = clock or (lambda: datetime.datetime.now().astimezone())
        """The time of the Received field's date; a fixed one for pictures that must not change (shots)."""
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self._state_dir: Path | None = None
        self._owns_state_dir = False
        self.hooks: Scenario = self._scenario(scenario)
        self._variant_contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        """TLS contexts for the certificates scenarios present by SNI, made on first use."""
        self._store = MaildirStore(self.maildir_path, names=maildir_names)
        self._deliveries = Deliveries(self._store, self._tell_received)
        """Messages accepted: stored by worker threads, the latest kept in memory."""
        self._servers: dict[str, asyncio.Server] = {}
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = LoopThread("smtpstep-local-server")
        self._stopping = False

    # --- Facts ----------------------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        """File holding ``ca_pem``; exists while the server runs."""
        if self._state_dir is None:
            raise RuntimeError("the local server is not started: ca_path does not exist yet")
        return self._state_dir / "smtpstep-local-ca.pem"

    @property
    def is_running(self) -> bool:
        """Whether the listeners are open."""
        return bool(self._servers)

    @property
    def scenario(self) -> str:
        """Name of the active scenario."""
        return self.hooks.name

    def set_scenario(self, name: str) -> None:
        """Switch scenario (fresh state, e.g. an empty greylist); sessions see it at their next command."""
        if name not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {name!r}")
        self.hooks = self._scenario(name)

    def _scenario(self, name: str) -> Scenario:
        hooks = SCENARIOS[name]()
        hooks.tell = self._note
        return hooks

    @property
    def received(self) -> list[ReceivedMessage | ServerNote]:
        """The latest accepted messages, oldest first, with the notes of what the server did among them (a
        relay hop's session before the message it delivered); a copy, safe to read from any thread."""
        return self._deliveries.received

    def port_for(self, security: str) -> int:
        """The port for a client's security setting: ``none``, ``starttls`` or ``tls``."""
        return listener_port(self.ports, security)

    def describe(self) -> list[str]:
        """Lines telling a person how to reach and use the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        ca = str(self.ca_path) if self._state_dir is not None else "(written when the server starts)"
        lines = [
            f"smtpstep local server {self.banner_name}",
            f"  plain        {host}:{self.ports['plain']}  port-25 style: STARTTLS offered, AUTH only after it",
            f"  submission   {host}:{self.ports['submission']}  port-587 style: STARTTLS required, then AUTH",
            f"  submissions  {host}:{self.ports['submissions']}  port-465 style: implicit TLS, AUTH",
            f"  trust CA     {ca}",
        ]
        if self.certificate != "valid":
            lines.append(f"  certificate  {self.certificate}: clients that check certificates will refuse it")
        lines += [
            f"  login        {DEMO_USER} / {DEMO_PASSWORD}  (AUTH PLAIN, LOGIN, CRAM-MD5)",
            "  delivers to  *.test, localhost, example.com, example.org, example.net; relays nothing",
            f"  Maildir      {self.maildir_path}",
            f"  scenario     {self.hooks.summary}",
        ]
        return lines

    # --- Lifecycle on the current loop ----------------------------------------------------------

    async def start(self) -> None:
        """Create the Maildir, write the CA file and open the three listeners on the running loop."""
        if self._servers:
            raise RuntimeError("the local server is already running")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = False
        self._store.open()
        self._open_state_dir()
        self.ca_path.write_bytes(self.ca_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # verify_mode CERT_NONE
        self._certificates.server.configure_cert(context)
        context.sni_callback = self._pick_certificate
        self._deliveries.open(loop)
        settings = {
            "plain": {"tls_context": context, "require_starttls": False, "auth_require_tls": True},
            "submission": {"tls_context": context, "require_starttls": True, "auth_require_tls": True},
            # aiosmtpd counts only STARTTLS as TLS, so with True AUTH would always get 538.
            "submissions": {"tls_context": None, "require_starttls": False, "auth_require_tls": False},
        }
        try:
            for name in LISTENERS:
                server = await loop.create_server(
                    self._session_factory(name, settings[name]),
                    self.host,
                    self._requested_ports[name],
                    ssl=context if name == "submissions" else None,
                    backlog=BACKLOG,
                )
                self._servers[name] = server
                self.ports[name] = server.sockets[0].getsockname()[1]
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the listeners and sessions; wait for deliveries in progress. Safe to call twice."""
        if self._servers and self._loop is not asyncio.get_running_loop():
            raise RuntimeError("the local server runs on another event loop: use stop_thread()")
        self._stopping = True
        servers, self._servers = self._servers, {}
        # Stop accepting, then let connections already accepted finish their setup (_Session
        # aborts them) before closing the listeners: on Python 3.11 a connection set up after
        # Server.close() fails an assertion and leaks its socket.
        for server in servers.values():
            for sock in server.sockets:
                with contextlib.suppress(NotImplementedError, ValueError):
                    asyncio.get_running_loop().remove_reader(sock.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        for server in servers.values():
            server.close()
        # Let deliveries in progress finish, so their clients still get the 250.
        await self._deliveries.finish()
        handler_tasks = []
        for smtp in list(self._sessions):
            # aiosmtpd keeps each session's task only in this private field (no public handle; checked by
            # tests/protocol/server/test_dependencies.py). Without it, stop would not wait for the tasks.
            task = getattr(smtp, "_handler_coroutine", None)
            if task is not None:
                handler_tasks.append(task)
            if smtp.transport is not None:
                smtp.transport.abort()
        if handler_tasks:
            await asyncio.wait(handler_tasks, timeout=5)
        await self._deliveries.finish()  # any that began while the sessions were closing
        for server in servers.values():
            await server.wait_closed()
        self._deliveries.close()
        self._store.close()
        self._close_state_dir()

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- Lifecycle on its own thread -----------------------------------------------------------

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Run the server on a new event loop in a daemon thread; return once it listens."""
        if self._runner.alive:
            raise RuntimeError("the local server thread is already running")
        self._runner.start(self.start, timeout)

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with ``start_in_thread`` and join its thread."""
        self._runner.stop(self.stop, timeout)

    # --- Internals ------------------------------------------------------------------------------

    def _session_factory(self, listener: str, settings: dict[str, Any]) -> Callable[[], SMTP]:
        handler = ListenerHandler(self, listener)
        assert self._loop is not None
        options = {
            "hostname": BANNER_NAME,  # without it aiosmtpd calls socket.getfqdn(), which can be slow
            "ident": IDENT,
            "data_size_limit": self.size_limit,
            "enable_SMTPUTF8": True,  # RFC 6531
            "decode_data": False,
            "timeout": self.timeout,
            "authenticator": authenticate,
            "loop": self._loop,
            **settings,
        }
        template = SessionTemplate(handler, **options)
        is_stopping = lambda: self._stopping  # noqa: E731

        def make_session() -> SMTP:
            smtp = SmtpSession(handler, is_stopping=is_stopping, template=template, **options)
            self._sessions.add(smtp)
            return smtp

        return make_session

    def _pick_certificate(self, ssl_object: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        """SNI callback (RFC 6066 §3): present the certificate the scenario wants for this name."""
        variant = self.hooks.certificate(server_name)
        if variant is None or not server_name or self._certificates.ca is None:
            return
        key = (variant, server_name.lower())
        chosen = self._variant_contexts.get(key)
        if chosen is None:
            chosen = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            variant_leaf(self._certificates.ca, variant, server_name.lower()).configure_cert(chosen)
            self._variant_contexts[key] = chosen
        ssl_object.context = chosen

    async def accept(self, listener: str, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message and return the reply to the final dot (``delivery.accept``). A message the scenario
        relays on is queued first (stored, so it is never lost: RFC 5321 §6.1), then the second hop runs, and
        the reply waits for it: a real server answers once the message is queued and relays later, but a
        lesson shows both in the one step (the hop finishes even if this client hangs up meanwhile)."""
        hooks = self.hooks
        relays = hooks.relays(session)
        hops: list[asyncio.Task[None]] = []
        reply = await accept(self._deliveries, listener, smtp, session, envelope, self.clock(),
                             hooks.added_fields(session, envelope), final=not relays, by=hooks.received_by(session),
                             then=(lambda record: hops.append(self._start_hop(hooks, record, envelope)))
                             if relays else None)
        for hop in hops:
            await asyncio.shield(hop)
        return reply

    def _start_hop(self, hooks: Scenario, record: ReceivedMessage, envelope: Envelope) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(self._hop(hooks, record, envelope))
        self._deliveries.track(task)  # stopping waits for it
        return task

    async def _hop(self, hooks: Scenario, record: ReceivedMessage, envelope: Envelope) -> None:
        from smtpstep.protocol.server.relay_hop import relay_message

        port = getattr(hooks, "mx_port", None) or self.ports["plain"]
        try:
            # What the sender asked of delivery reports (RFC 3461 §4), kept by smtp_session where DSN is offered.
            assert isinstance(envelope, ChunkedEnvelope)  # every session's (SmtpSession._create_envelope)
            outcome = await relay_message(record, mx_port=port, deliver=self._deliveries.deliver, when=self.clock(),
                                          dsn=envelope.dsn, dsn_recipients=envelope.dsn_recipients)
        except Exception as error:  # the message stays queued in the Maildir whatever went wrong
            log.exception("the relay hop for %s failed", record.key)
            self._note(ServerNote(f"hop-{record.key}", (
                ("heading", f"The submission server could not relay new/{record.key}; it stays queued:"),
                ("note", " ".join(f"{type(error).__name__}: {error}".split())))))
            return
        self._note(outcome.note)

    def _note(self, note: ServerNote) -> None:
        self._deliveries.note(note)
        if self.on_note is not None:
            try:
                self.on_note(note)
            except Exception:
                log.exception("on_note callback failed")

    def _tell_received(self, record: ReceivedMessage) -> None:
        if self.on_received is not None:
            try:
                self.on_received(record)
            except Exception:
                log.exception("on_received callback failed")

    def _open_state_dir(self) -> None:
        if self._state_dir_arg is not None:
            self._state_dir_arg.mkdir(parents=True, exist_ok=True)
            self._state_dir, self._owns_state_dir = self._state_dir_arg, False
        else:
            self._state_dir, self._owns_state_dir = Path(tempfile.mkdtemp(prefix="smtpstep-")), True

    def _close_state_dir(self) -> None:
        if self._state_dir is not None and self._owns_state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None


async def serve_forever(server: LocalServer) -> None:
    """Start ``server`` if needed and run until cancelled (Ctrl-C under ``asyncio.run``), then stop it."""
    if not server.is_running:
        await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()