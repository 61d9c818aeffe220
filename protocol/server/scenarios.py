"""The scenarios that lessons use to make the built-in server depart from plain, correct behaviour.

Each ``Scenario`` subclass is registered by name in ``SCENARIOS`` (``smtpstep serve --scenario NAME``,
a lesson's ``scenario = "NAME"``). The hooks get aiosmtpd's session and envelope, but this module
imports aiosmtpd only for type checking, so that the names can be listed without loading the server.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from smtpstep.protocol.server.facts import ServerNote

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope, Session

_note_numbers = itertools.count(1)
"""Numbers for the keys of notes, unique in the process whatever the scenario switches."""

class Scenario:
    """How the server departs from plain, correct behaviour for a lesson.

    Each hook returns a reply line to send instead of the normal one, or None to carry on. Hooks run
    after the normal policy has accepted (a greylisted recipient is a valid one) and on the
    server's event loop, so a scenario's state needs no lock. Register subclasses with
    ``@register_scenario``; the server makes one instance per ``LocalServer`` (or per
    ``set_scenario`` call), shared by all three listeners. ``session.ssl`` is not None once the
    session runs under TLS, by STARTTLS or implicitly.
    """

    name: ClassVar[str] = "normal"
    """Registry key, as given to ``LocalServer(scenario=...)``."""
    summary: ClassVar[str] = "a correct server: accepts mail for test domains"
    """One line for ``describe()`` and the UI."""
    token_login: ClassVar[bool] = False
    """Whether AUTH XOAUTH2 and OAUTHBEARER are offered and taken (with ``facts.DEMO_TOKEN``)."""
    dsn: ClassVar[bool] = False
    """Whether DSN is advertised and RET, ENVID, NOTIFY and ORCPT are taken and kept with the envelope (RFC 3461
    §4; ``smtp_session.ChunkedEnvelope.dsn``). Only where the scenario can send the reports they ask for."""
    requiretls: ClassVar[bool] = False
    """Whether REQUIRETLS is advertised under TLS and taken on MAIL FROM (RFC 8689 §2)."""

    def offers_dsn(self, listener: str) -> bool:
        """Whether ``listener`` ("plain", "submission", "submissions") advertises DSN: ``dsn`` by default."""
        return self.dsn

    tell: Callable[[ServerNote], None] = staticmethod(lambda note: None)
    """Shows a note on the server side (the server sets it to its own when it makes the scenario)."""

    def relays(self, session: Session) -> bool:
        """Whether a message this session ends is queued to be relayed on (a second hop, ``relay_hop.py``)
        instead of delivered here: then it is stored without Return-Path, which only final delivery adds
        (RFC 5321 §4.4)."""
        return False

    def received_by(self, session: Session) -> str | None:
        """The host name for the ``by`` clause of the Received field this session's message gets, or None for
        the server's own (``facts.BANNER_NAME``)."""
        return None

    def ehlo(self, lines: list[str]) -> list[str]:
        """The EHLO reply lines (``250-name``, ``250-SIZE n``, ... ``250 HELP``) to send."""
        return lines

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        """Reply to ``MAIL FROM:<address> options`` instead of ``250 2.1.0 OK``."""
        return None

    def rcpt(self, session: Session, envelope: Envelope, address: str) -> str | None:
        """Reply to an acceptable ``RCPT TO:<address>`` instead of ``250 2.1.5 OK``."""
        return None

    def data(self, session: Session, envelope: Envelope) -> str | None:
        """Reply to the final dot instead of storing the message."""
        return None

    def added_fields(self, session: Session, envelope: Envelope) -> bytes:
        """Header fields (CRLF-ended) the server adds below its own trace fields when it stores the message."""
        return b""

    def certificate(self, server_name: str | None) -> str | None:
        """The certificate variant (``CERTIFICATE_VARIANTS``) to present to a client that asked for
        ``server_name`` by SNI (RFC 6066 §3), or None for the server's own certificate."""
        return None


SCENARIOS: dict[str, type[Scenario]] = {}
"""Scenario classes by name."""


def register_scenario(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make ``cls`` available by ``cls.name``."""
    SCENARIOS[cls.name] = cls
    return cls


@register_scenario
class NormalScenario(Scenario):
    """No surprises."""


@register_scenario
class GreylistingScenario(Scenario):
    """Refuse each new (client IP, sender, recipient) once with a 4xx, accept the retry (RFC 6647).

    A real greylister also wants a minimum delay before the retry; this one accepts the very next
    attempt, so a lesson can show the retry without waiting. A client that treats 451 as final
    loses the message; one that queues and retries (RFC 5321 §4.5.4.1) gets it through.
    """

    name = "greylisting"
    summary = "greylisting: the first RCPT for each sender and recipient gets 451 4.7.1"

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def rcpt(self, session: Session, envelope: Envelope, address: str) -> str | None:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        triplet = (peer, (envelope.mail_from or "").lower(), address.lower())
        if triplet in self._seen:
            return None
        self._seen.add(triplet)
        return f"451 4.7.1 <{address}>: greylisted, please try again later"


@register_scenario
class SizeLimitScenario(Scenario):
    """Advertise a small SIZE and refuse anything bigger, at MAIL or at the final dot (RFC 1870)."""

    name = "size-limit"
    summary = "size limit: advertises SIZE 10000 and refuses bigger messages with 552 5.3.4"
    limit: ClassVar[int] = 10_000
    """Bytes of message data accepted."""

    def _refusal(self) -> str:
        # RFC 1870 §6: 552 for a message over the fixed maximum; RFC 3463 §3.4: X.3.4 too big.
        return f"552 5.3.4 Message size exceeds fixed maximum message size ({self.limit} bytes)"

    def ehlo(self, lines: list[str]) -> list[str]:
        return [
            f"{line[:4]}SIZE {self.limit}" if line[4:].upper().startswith("SIZE") else line
            for line in lines
        ]

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        for option in options:
            keyword, _, value = option.partition("=")
            if keyword.upper() == "SIZE" and value.isdigit() and int(value) > self.limit:
                return self._refusal()
        return None

    def data(self, session: Session, envelope: Envelope) -> str | None:
        if len(envelope.original_content or b"") > self.limit:
            return self._refusal()
        return None


@register_scenario
class PipeliningScenario(Scenario):
    """Advertise PIPELINING (RFC 2920), so a client may send MAIL, RCPT... and DATA in one write.

    aiosmtpd reads one line at a time and answers in order, so it already copes with a group; it
    only does not say so in its EHLO reply.
    """

    name = "pipelining"
    summary = "pipelining: advertises PIPELINING (RFC 2920); replies come back in command order"

    def ehlo(self, lines: list[str]) -> list[str]:
        if any(line[4:].strip().upper() == "PIPELINING" for line in lines) or len(lines) < 2:
            return lines
        return lines[:-1] + [f"{lines[0][:3]}-PIPELINING"] + lines[-1:]


@register_scenario
class MustStartTlsScenario(Scenario):
    """Refuse MAIL with 530 5.7.0 until TLS is on, on every listener (RFC 3207 §4, RFC 3463 X.7.0).

    The submission listener already refuses everything but EHLO, NOOP, STARTTLS and QUIT before TLS,
    with aiosmtpd's bare "530 Must issue a STARTTLS command first"; this one adds the enhanced code
    and applies to the plain listener too, where a client that skipped STARTTLS gets as far as MAIL.
    """

    name = "must-starttls"
    summary = "TLS required: MAIL before STARTTLS gets 530 5.7.0 on every listener"

    def mail(self, session: Session, address: str, options: list[str]) -> str | None:
        if session.ssl is None:
            return "530 5.7.0 Must issue a STARTTLS command first"
        return None


@register_scenario
class ModernLoginScenario(Scenario):
    """Offer AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) next to PLAIN and LOGIN, taking the demo token
    (``facts.DEMO_TOKEN``) for the demo user, as large providers take OAuth 2.0 access tokens for SMTP."""

    name = "modern-login"
    summary = "OAuth logins: offers AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) and takes the demo token"
    token_login = True


TLS_FAILURE_NAMES = {"untrusted": "untrusted", "expired": "expired", "wrong-host": "wrong-host"}
"""tls-failures scenario: the first label of the SNI name, and the certificate variant it gets."""


@register_scenario
class TlsFailuresScenario(Scenario):
    """Present a bad certificate chosen by the name the client asks for (SNI, RFC 6066 §3).

    ``untrusted.<anything>`` gets a certificate for that name from a CA nobody trusts,
    ``expired.<anything>`` one from the server's CA that expired yesterday, and
    ``wrong-host.<anything>`` one from the server's CA for wrong.example only. Each fails the
    client's check in one way, and every other name gets the valid certificate. The choice depends
    on the name alone, so each case is reproducible in any order (``swaks --tls-sni``,
    ``openssl s_client -servername``).
    """

    name = "tls-failures"
    summary = ("TLS failures by SNI name: untrusted.*, expired.* and wrong-host.* get a certificate "
               "that fails one check each")

    def certificate(self, server_name: str | None) -> str | None:
        if not server_name:
            return None
        return TLS_FAILURE_NAMES.get(server_name.split(".", 1)[0].lower())


@register_scenario
class MxTlsScenario(TlsFailuresScenario):
    """A receiving MX between mail servers: the tls-failures certificates by SNI name, and REQUIRETLS advertised
    under TLS and taken on MAIL FROM (RFC 8689 §2). As the final hop it delivers the message itself, so it never
    has to refuse onward relay for want of REQUIRETLS with 5.7.30 (RFC 8689 §4.2.1, §5)."""

    name = "mx-tls"
    summary = "MX with TLS between servers: bad certificates by SNI name as tls-failures; REQUIRETLS under TLS"
    requiretls = True


@register_scenario
class ReceivingMxScenario(Scenario):
    """The receiving MX of the lessons' world: SPF, DKIM and DMARC on every message, against the built-in
    zone (``smtpstep.protocol.mailauth.world``), recorded in an Authentication-Results field (RFC 8601 §2).

    The checks run at the final dot, when the From: field and the signatures are known. A DMARC failure
    under ``p=reject`` refuses the message with 550 5.7.26 (RFC 7372's X.7.26, "Multiple
    authentication checks failed"; RFC 7489 §10.3's own example uses 5.7.1); any other verdict stores it
    with the field. The client's address for SPF is the connection's peer. The mail-authentication
    libraries are imported when the scenario is chosen, never when the scenarios are listed.
    """

    name = "receiving-mx"
    summary = "receiving MX: checks SPF, DKIM and DMARC, adds Authentication-Results, refuses p=reject failures"

    def __init__(self) -> None:
        # Loaded when the server switches to this scenario (a lesson starts), not at the first message: the
        # libraries take about half a second to import, which would stall the step that sends the message.
        from smtpstep.protocol.mailauth import world

        self._world = world

    def data(self, session: Session, envelope: Envelope) -> str | None:
        from smtpstep.protocol.server.facts import BANNER_NAME

        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        verdict = self._world.check(envelope.original_content or b"", peer_ip=peer, mail_from=envelope.mail_from or "",
                              helo=session.host_name or "", authserv_id=BANNER_NAME)
        envelope.authentication_results = verdict.header  # type: ignore[attr-defined]
        outcome = verdict.reply or "the message is stored, with the verdict in an Authentication-Results field"
        self.tell(ServerNote(f"mx-{next(_note_numbers)}", (
            ("heading", "The receiving MX decides at the final dot; it asked DNS:"),
            *(("dns", line) for line in verdict.lookups),
            ("note", f"SPF {verdict.spf.result}, DKIM {', '.join(r.result for r in verdict.dkim) or 'none'}, "
                     f"DMARC {verdict.dmarc.result}: {outcome}"))))
        return verdict.reply

    def added_fields(self, session: Session, envelope: Envelope) -> bytes:
        return getattr(envelope, "authentication_results", b"")


MX_DOMAINS = ("example.test",)
"""The domains the receiving MX of the relaying scenario takes mail for (``world.ZONES``: their MX is
mx.example.test)."""
MX_GONE = frozenset({"gone", "former"})
"""Local parts the receiving MX has no mailbox for, while the submission server, which cannot know that,
takes them: the bounce lesson's recipient."""


@register_scenario
class RelayingScenario(Scenario):
    """Submission, relay and delivery on one machine: the listeners play two servers.

    A session that logged in (AUTH, the submission server's users, RFC 6409) may send to any test domain: the
    message is queued, the client gets its 250, and the server relays it over an SMTP session of its own to
    the MX that DNS names for each recipient's domain (``relay_hop.py``): mx.example.test, which is this
    server's port-25-style listener. A session that did not log in is talking to that MX: it takes mail for
    ``MX_DOMAINS`` only and refuses any other domain at RCPT with 550 5.7.1 (hosts are not required to relay
    and may refuse with a 550 as a policy reason, RFC 5321 §3.6; RFC 3463 §3.8: X.7.1, delivery not
    authorized), and has no mailbox for ``MX_GONE``, so a message the submission server took for such a
    recipient comes back as a bounce.
    """

    name = "relaying"
    summary = ("submission relays to the MX: mail sent after AUTH goes on over a second SMTP session to "
               "mx.example.test (port 25), which refuses relaying and unknown mailboxes")
    mx_port: int | None = None
    """Where the second hop connects; None for the server's own port-25-style listener (tests put a recorder
    in between)."""

    def __init__(self) -> None:
        # Loaded when a lesson switches to this scenario, not at the first message (see ReceivingMxScenario).
        from smtpstep.protocol.mailauth import world  # noqa: F401
        from smtpstep.protocol.server import relay_hop  # noqa: F401
        from smtpstep.protocol.transport import mx  # noqa: F401

    def offers_dsn(self, listener: str) -> bool:
        # DSN on the submission listeners, where the relay hop sends the reports (relay_hop.py). The MX (the port-25-style listener) offers no DSN: it could send no "delivered" report. So the
        # submission server, relaying to it, reports "relayed" where SUCCESS was asked (RFC 3461 §5.2.2).
        return listener != "plain"

    def relays(self, session: Session) -> bool:
        return bool(session.authenticated)

    def received_by(self, session: Session) -> str | None:
        return None if session.authenticated else "mx.example.test"

    def rcpt(self, session: Session, envelope: Envelope, address: str) -> str | None:
        if session.authenticated:
            return None
        local_part, _, domain = address.rpartition("@")
        if domain.lower() not in MX_DOMAINS:
            # Not an open relay (RFC 5321 §3.6, RFC 2505 §2.1); RFC 3463 §3.8: X.7.1, delivery not authorized.
            return (f"550 5.7.1 <{address}>: relaying denied: mx.example.test takes mail for "
                    f"{', '.join(MX_DOMAINS)} only; log in on the submission port to send elsewhere")
        if local_part.lower() in MX_GONE:
            return f"550 5.1.1 <{address}>: no such mailbox here"  # RFC 3463 §3.2: X.1.1 bad mailbox
        return None
