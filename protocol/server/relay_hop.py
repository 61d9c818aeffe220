"""The second hop: the built-in submission server passing a message it queued on to the receiving MX, over an
SMTP session of its own, as a client, driven by smtpstep's own protocol core (``AsyncioTransport``).

``relay_message`` looks up where each recipient's domain takes mail in the lessons' zone (MX, then the
exchange's address: RFC 5321 §5.1), opens the session to that MX on the server's own port-25-style listener,
and sends EHLO, MAIL FROM, one RCPT TO per recipient, DATA, the message as queued, QUIT. What it asked DNS
and every line that crossed the wire, in both directions, becomes a ``ServerNote`` for the server side.

Rules:

- The queued message is never lost: it stays in the Maildir whatever the hop does. A recipient the MX
  refuses with a 5xx, or a domain with nowhere to deliver, gets a bounce (``protocol/bounce.py``, Action
  failed) sent with a null reverse-path to the envelope sender's mailbox (RFC 5321 §6.1, §4.5.5). A 4xx, a
  connection that fails or a session that breaks gets a delay notice (Action delayed) and the message stays
  queued: this teaching server does not retry on its own (a real MTA retries for days, RFC 5321
  §4.5.4.1). No notice about a message with a null reverse-path (RFC 5321 §6.1).
- It runs on the server's event loop and never blocks it: the session is the asyncio driver's, and the DNS
  answers come from the in-memory zone.
- The note's wire lines are the bytes that crossed, split at CRLF; the text is the peer's and is escaped by
  whoever shows it. A long message's lines are cut at ``BODY_LINES_SHOWN``, and the cut is said.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from smtpstep.protocol.bounce import RecipientStatus, delivery_status_notification, needs_bounce
from smtpstep.protocol.commands import Connect, Data, Ehlo, MailFrom, Quit, RcptTo, ReadGreeting
from smtpstep.protocol.dsn_parameters import DsnRecipient, DsnRequest
from smtpstep.protocol.message_commands import MessageBody
from smtpstep.protocol.replies import Reply
from smtpstep.protocol.server.facts import BANNER_NAME, ReceivedMessage, ServerNote
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport, Direction, StepResult, Target

__all__ = ["BODY_LINES_SHOWN", "HopOutcome", "relay_message"]

log = logging.getLogger("smtpstep.local_server")

BODY_LINES_SHOWN = 60
"""Lines of the message itself a hop's note shows; the rest are counted."""
HOP_TIMEOUT = 30.0
"""Seconds for each step of the hop's session (loopback: far more than it needs)."""


@dataclass
class HopOutcome:
    """What one hop did: its note, and what became of each recipient."""

    note: ServerNote
    delivered: list[str] = field(default_factory=list)
    statuses: list[RecipientStatus] = field(default_factory=list)
    """Recipients not delivered: failed (a bounce) or delayed (still queued)."""
    bounce: bytes = b""
    """The notice sent to the envelope sender, or b"" (none needed, or the sender is null)."""


async def relay_message(queued: ReceivedMessage, *, mx_port: int, deliver: Callable[[ReceivedMessage], Awaitable[str]],
                        when: datetime.datetime, host: str = BANNER_NAME, dsn: DsnRequest = DsnRequest(),
                        dsn_recipients: Sequence[DsnRecipient] = ()) -> HopOutcome:
    """Relay ``queued`` (its trace fields and content as stored) to the MX of its recipients' domain on
    ``mx_port``, then ``deliver`` the bounce or delay notice, if one is due, to the sender's mailbox.
    ``dsn`` and ``dsn_recipients`` are what the sender asked at MAIL and RCPT (RFC 3461 §4), as
    ``smtp_session`` keeps them: ENVID becomes Original-Envelope-Id, RET chooses what is returned, ORCPT
    becomes Original-Recipient, and NOTIFY chooses which outcomes are reported: NEVER none; SUCCESS a "relayed"
    report, since the MX offers no DSN to pass the request on to (RFC 3461 §5.2.2); no NOTIFY failures and
    delays, which RFC 3461 §4.1 allows."""
    from smtpstep.protocol.routing import TIMEOUT, DnsAnswer, route
    from smtpstep.protocol.transport.mx import lookup

    lines: list[tuple[str, str]] = [("heading", f"The submission server relays new/{queued.key} to the receiving "
                                                f"MX, over an SMTP session of its own on port 25, as a client:")]
    outcome = HopOutcome(ServerNote(f"hop-{queued.key}", ()))
    by_domain: dict[str, list[str]] = {}
    for rcpt in queued.rcpt_tos:
        by_domain.setdefault(rcpt.rpartition("@")[2].lower(), []).append(rcpt)
    before = ""
    via: dict[str, str] = {}
    """The MX host each delivered recipient went to."""
    for domain, rcpts in by_domain.items():
        # The same steps as the client's DNS steps (RFC 5321 §5.1), against the lessons' zone in memory.
        answers: list[DnsAnswer] = []
        while (found := route(domain, answers)).lookup is not None:
            answers.append(lookup(found.lookup.name, found.lookup.rdtype, "zone"))
            lines.append(("dns", f"DNS: {answers[-1].line()}"))
        if found.halt is not None or found.host is None or found.address is None:
            lines.append(("note", found.halt or f"No route to {domain}."))
            if answers and answers[-1].rcode in (TIMEOUT, "SERVFAIL"):
                # RFC 5321 §5.1: a temporary DNS error queues the message; RFC 3463 §3.5: X.4.3, directory
                # server failure.
                outcome.statuses += [RecipientStatus(r, "delayed", "4.4.3") for r in rcpts]
            else:
                # RFC 5321 §5.1: no such domain, or no usable MX, is an error; RFC 3463 §3.2: X.1.2, bad
                # destination system address.
                outcome.statuses += [RecipientStatus(r, "failed", "5.1.2") for r in rcpts]
            continue
        delivered, key = await _session(queued, rcpts, found.host, found.address, mx_port, host, lines, outcome)
        outcome.delivered += delivered
        via.update({rcpt: found.host for rcpt in delivered})
        before = before or key
    sender = queued.mail_from.strip("<>")
    asked = {request.address: request for request in dsn_recipients}

    def wants(rcpt: str, event: str) -> bool:
        request = asked.get(rcpt)
        return event in (request.notify if request is not None and request.notify is not None
                         else ("FAILURE", "DELAY"))

    # RFC 3461 §5.2.2: relayed to a server that does not offer DSN, a recipient that asked for SUCCESS gets a
    # "relayed" report; the MX's 250 is all this server will ever hear of it.
    relayed = [RecipientStatus(r, "relayed", "2.0.0", "", via.get(r, "")) for r in outcome.delivered
               if wants(r, "SUCCESS")]
    reported = [status for status in outcome.statuses
                if wants(status.recipient, {"failed": "FAILURE", "delayed": "DELAY"}[status.action])]
    if len(reported) < len(outcome.statuses):
        lines.append(("note", "No report for " + ", ".join(f"<{s.recipient}>" for s in outcome.statuses
                                                           if s not in reported)
                      + ": its NOTIFY did not ask for one (RFC 3461 §4.1)."))
    if (reported or relayed) and needs_bounce(sender):
        statuses = [replace(status, orcpt=_orcpt(asked.get(status.recipient))) for status in reported + relayed]
        outcome.bounce = delivery_status_notification(
            reporting_mta=host, sender=sender, recipients=statuses, original=queued.stored, when=when,
            message_id=f"bounce.{queued.key}@{host}", arrival=when, envid=dsn.envid or "", ret=dsn.ret or "HDRS")
        record = ReceivedMessage(key="", mail_from="<>", rcpt_tos=(sender,), original_content=outcome.bounce,
                                 stored=b"Return-Path: <>\r\n" + outcome.bounce, listener="local", tls=False,
                                 auth_user=None)
        kind = ("bounce" if any(s.action == "failed" for s in statuses) else
                "delay notice" if any(s.action == "delayed" for s in statuses) else "relay report")
        reply = await deliver(record)
        before = before or _key_in(reply)
        lines.append(("note", f"A {kind} (RFC 3464 multipart/report) goes to <{sender}> with MAIL FROM:<> "
                              f"(RFC 5321 §4.5.5): {reply}"))
    elif reported or relayed:
        lines.append(("note", "The message had a null reverse-path: no notice about it is sent (RFC 5321 §6.1)."))
    if any(s.action == "delayed" for s in outcome.statuses):
        lines.append(("note", f"new/{queued.key} stays queued; this server does not retry on its own."))
    outcome.note = ServerNote(f"hop-{queued.key}", tuple(lines), before=before)
    return outcome


async def _session(queued: ReceivedMessage, rcpts: list[str], mx_host: str, address: str, port: int, host: str,
                   lines: list[tuple[str, str]], outcome: HopOutcome) -> tuple[list[str], str]:
    """One SMTP session to ``mx_host``; returns the recipients it took and the MX's queue key ("" if none)."""
    transport = AsyncioTransport(Target(host=address, port=port, security="none", timeout=HOP_TIMEOUT,
                                        label=f"{mx_host} port 25"))
    accepted: list[str] = []
    key = ""
    try:
        for command in (Connect(), ReadGreeting(), Ehlo(host),
                        MailFrom(queued.mail_from.strip("<>"), smtputf8=not queued.mail_from.isascii())):
            result = await transport.step(command)
            if not result.ok or (result.answers and not result.answers[-1].reply.positive):
                _fail_all(result, rcpts, mx_host, outcome)
                return [], ""
        for rcpt in rcpts:
            result = await transport.step(RcptTo(rcpt))
            if not result.ok:
                _fail_all(result, [r for r in rcpts if r not in _recipients_with_status(outcome)], mx_host, outcome)
                return [], ""
            reply = result.answers[-1].reply
            if reply.positive:
                accepted.append(rcpt)
            else:
                outcome.statuses.append(RecipientStatus(
                    rcpt, "failed" if reply.permanent else "delayed", _status(reply), _text(reply), mx_host))
        if accepted:
            for command in (Data(), MessageBody(queued.stored)):
                result = await transport.step(command)
                if not result.ok or result.answers[-1].reply.kind not in (2, 3):
                    _fail_all(result, accepted, mx_host, outcome)  # none of them has the message
                    return [], ""
            key = _key_in(_text(result.answers[-1].reply))
        await transport.step(Quit())
        return accepted, key
    finally:
        await transport.close()
        lines.extend(_wire_lines(transport))


def _orcpt(request: DsnRecipient | None) -> str:
    """ORCPT as the sender gave it, "rfc822;user@example.test", or "" without one (RFC 3461 §4.2)."""
    return f"{request.orcpt[0]};{request.orcpt[1]}" if request is not None and request.orcpt else ""


def _recipients_with_status(outcome: HopOutcome) -> set[str]:
    """The recipients ``outcome`` already has a status for."""
    return {status.recipient for status in outcome.statuses}


def _fail_all(result: StepResult, rcpts: list[str], mx_host: str, outcome: HopOutcome) -> None:
    """Every one of ``rcpts`` failed with the step: permanently on a 5xx, for now on a 4xx or a connection
    that failed or broke (RFC 3463 §3.5: X.4.1 no answer from host, X.4.2 bad connection)."""
    if result.failure is not None:
        status = "4.4.2" if result.failure.kind == "closed" else "4.4.1"
        outcome.statuses.extend(RecipientStatus(r, "delayed", status, "", mx_host) for r in rcpts)
        return
    reply = result.answers[-1].reply
    action = "failed" if reply.permanent else "delayed"
    outcome.statuses.extend(RecipientStatus(r, action, _status(reply), _text(reply), mx_host) for r in rcpts)


def _status(reply: Reply) -> str:
    """The reply's enhanced code, or the class alone when it has none (RFC 3463 §3.1: X.0.0)."""
    return reply.enhanced or f"{reply.kind}.0.0"


def _text(reply: Reply) -> str:
    """The reply as its last line read on the wire (code and text): what Diagnostic-Code carries."""
    return f"{reply.code} {reply.lines[-1] if reply.lines else ''}".strip()


def _key_in(text: str) -> str:
    """The queue key a "250 ... queued as KEY" reply names, or ""."""
    marker = "queued as "
    return text.split(marker, 1)[1].strip() if marker in text else ""


def _wire_lines(transport: AsyncioTransport) -> list[tuple[str, str]]:
    """Every line that crossed the wire, in order, split at CRLF ("client" sent, "server" received; chunks in a
    row from one side are joined first, so a line that came in two reads is one line); the message's own lines
    beyond ``BODY_LINES_SHOWN`` are counted, not listed."""
    runs: list[tuple[str, bytes]] = []
    for chunk in transport.record.chunks:
        if chunk.direction == Direction.ERROR:  # why the session failed, in the transport's plain words
            runs.append(("note", chunk.note.encode("utf-8", "replace")))
            continue
        if chunk.direction not in (Direction.CLIENT, Direction.SERVER):
            continue
        if runs and runs[-1][0] == chunk.direction:
            runs[-1] = (chunk.direction, runs[-1][1] + chunk.redacted())
        else:
            runs.append((chunk.direction, chunk.redacted()))
    lines: list[tuple[str, str]] = []
    for direction, data in runs:
        if direction == "note":
            lines.append(("note", data.decode("utf-8", "replace")))
            continue
        pieces = data.split(b"\r\n")
        if pieces and pieces[-1] == b"":
            pieces.pop()
        cut = len(pieces) > BODY_LINES_SHOWN + 1
        for index, piece in enumerate(pieces[:BODY_LINES_SHOWN] + pieces[-1:] if cut else pieces):
            if cut and index == BODY_LINES_SHOWN:
                lines.append(("note", f"… {len(pieces) - BODY_LINES_SHOWN - 1:,} more lines of the message"))
            lines.append((direction, piece.decode("utf-8", "replace")))
    return lines
