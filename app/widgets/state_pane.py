"""The state pane: the session's state machine with the current stage marked, what may come next,
the envelope, the session facts, and the EHLO capabilities before and after STARTTLS side by side.

What may come next is the client's own answer (``ClientView.allowed`` and ``advised_against``, made by the
same rules as ``SmtpClient.check``, which the out-of-order warning shows): the pane decides nothing."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.stepper import SessionView
from smtpstep.protocol.capabilities import compare
from smtpstep.protocol.commands import Verb, verb_list
from smtpstep.protocol.routing import OK
from smtpstep.protocol.states import State
from smtpstep.protocol.text import shown

STAGES: dict[str, tuple[frozenset[State], frozenset[Verb]]] = {
    "connect": (frozenset({State.DISCONNECTED, State.CONNECTING}), frozenset({Verb.CONNECT})),
    "greeting": (frozenset({State.AWAITING_GREETING, State.SERVER_REFUSED}), frozenset({Verb.GREETING})),
    "EHLO": (frozenset({State.READY_FOR_HELLO, State.AWAITING_HELLO_REPLY}), frozenset({Verb.EHLO, Verb.HELO})),
    "TLS": (frozenset({State.AWAITING_STARTTLS_REPLY, State.AWAITING_TLS_HANDSHAKE}),
            frozenset({Verb.STARTTLS, Verb.TLS_HANDSHAKE})),
    "AUTH": (frozenset({State.AWAITING_AUTH_REPLY, State.AUTH_CHALLENGED}), frozenset({Verb.AUTH, Verb.AUTH_RESPONSE})),
    "MAIL": (frozenset({State.READY_FOR_MAIL, State.AWAITING_MAIL_REPLY}), frozenset({Verb.MAIL})),
    "RCPT": (frozenset({State.READY_FOR_RCPT, State.AWAITING_RCPT_REPLY, State.READY_FOR_DATA}),
             frozenset({Verb.RCPT})),
    "DATA": (frozenset({State.AWAITING_DATA_GO_AHEAD, State.READY_FOR_MESSAGE, State.AWAITING_MESSAGE_RESULT,
                        State.AWAITING_CHUNK_REPLY, State.READY_FOR_CHUNK, State.READY_FOR_RSET}),
             frozenset({Verb.DATA, Verb.MESSAGE, Verb.BDAT, Verb.BDAT_LAST})),
    "QUIT": (frozenset({State.AWAITING_QUIT_REPLY, State.CLOSED}), frozenset({Verb.QUIT})),
}
"""Each stage of the state line: the states that belong to it, and the verbs that take the session there."""

STARTTLS_ORDER = ("connect", "greeting", "EHLO", "TLS", "AUTH", "MAIL", "RCPT", "DATA", "QUIT")
IMPLICIT_TLS_ORDER = ("connect", "TLS", "greeting", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT")
"""With implicit TLS the handshake comes before the greeting (RFC 8314 §3.3)."""


def _done(stage: str, view: SessionView) -> bool:
    """Whether the session has got past ``stage`` (its facts say so)."""
    client = view.snapshot.client
    session, envelope = client.session, client.envelope
    return {
        "connect": client.state not in (State.DISCONNECTED, State.CONNECTING),
        "greeting": session.greeting is not None or session.before_tls is not None,
        "EHLO": session.hello_name is not None,
        "TLS": session.tls,
        "AUTH": session.authenticated_as is not None,
        "MAIL": envelope.mail_from is not None,
        "RCPT": bool(envelope.rcpt_tos),
        "DATA": bool(client.transactions) and envelope.mail_from is None,
        "QUIT": client.state == State.CLOSED,
    }[stage]


def stage_line(view: SessionView) -> Text:
    """The stages in the session's order: the current one in [brackets], a ✓ after those done, and those
    the client may go to next (``allowed``, the same rule set as every warning) underlined."""
    client = view.snapshot.client
    implicit = client.session.implicit_tls or view.snapshot.target.security == "tls"
    order = IMPLICIT_TLS_ORDER if implicit else STARTTLS_ORDER
    text = Text()
    looking_up = False
    if view.snapshot.target.dns is not None:  # DNS steps first: where the mail goes (RFC 5321 §5.1)
        routed = _routed(view)
        looking_up = bool(view.queue) and view.queue[0].command.verb == Verb.DNS and not routed
        if looking_up:
            text.append("[DNS]", style="bold reverse")
        else:
            text.append("DNS" + ("✓" if routed else ""), style="italic")
        text.append(" → ")
    for index, name in enumerate(order):
        states, verbs = STAGES[name]
        if index:
            text.append(" → ")
        current = client.state in states and not (looking_up and name == "connect")
        if current:
            text.append(f"[{name}]", style="bold reverse")
        elif verbs & client.allowed:
            text.append(name, style="bold underline")
        else:
            text.append(name, style="italic")
        if _done(name, view) and not current and client.state not in states:
            text.append("✓")
    return text


class StatePane(Static):
    """Renders the state machine and the session's facts."""

    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); watch_view redraws only on change."""

    _shown: object = ()

    def watch_view(self, view: SessionView | None) -> None:
        # Redraw only when something this pane shows changed: every update costs a relayout.
        key = None if view is None else (view.snapshot.client, view.busy, view.snapshot.dns, len(view.queue))
        if key != self._shown:
            self._shown = key
            self.update(self._content(view))

    def _content(self, view: SessionView | None) -> Group | Text:
        if view is None:
            return Text("Waiting for the built-in server…", style="italic")
        client = view.snapshot.client
        state = client.state
        parts: list = []
        title = Text()
        title.append("State: ", style="bold")
        title.append(state.name, style="bold reverse")
        if view.busy:
            title.append(f"  (running: {view.busy})", style="italic")
        parts.append(title)
        parts.append(stage_line(view))
        parts.extend(allowed_lines(view))
        if view.snapshot.target.dns is not None:
            parts.append(route_line(view))
        env = client.envelope
        env_text = Text.assemble(("Envelope: ", "bold"))
        if env.mail_from is None and not env.rcpt_tos and not env.rejected:
            last = client.transactions[-1] if client.transactions else None
            env_text.append("empty" + (f" (last message: {last.reply.first_line})" if last else ""))
        else:
            env_text.append(f"MAIL FROM <{env.mail_from or ''}>")
            for rcpt in env.rcpt_tos:
                env_text.append(f"  RCPT <{rcpt}> ✓")
            for rcpt, reply in env.rejected:
                env_text.append(f"  RCPT <{rcpt}> ✗ {reply.code}")
        parts.append(env_text)
        session = client.session
        facts = Text.assemble(("Session: ", "bold"))
        facts.append(("🔒 TLS" + (" (implicit)" if session.implicit_tls else " (STARTTLS)")) if session.tls
                     else "🔓 plain text")
        if session.hello_name:
            facts.append(f" · {'EHLO' if session.extended else 'HELO'} {session.hello_name}")
        if session.authenticated_as:
            facts.append(f" · AUTH {session.authenticated_as} ({session.auth_mechanism or '?'})")
        parts.append(facts)
        before = session.before_tls.capabilities if session.before_tls else None
        rows = compare(before, session.capabilities) if (before or session.capabilities) else []
        if rows:
            heading = "EHLO keywords: before STARTTLS → after" if before is not None else "EHLO keywords"
            parts.append(Text(heading, style="bold"))
            table = Table(box=None, padding=(0, 1), show_edge=False, show_header=False, expand=True)
            table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            if before is not None:
                table.add_column(justify="center", width=3)
            table.add_column(justify="center", width=3)
            params = {k: p for k, p in (session.capabilities.keywords if session.capabilities else ())}
            for name, in_before, in_after in rows:
                label = f"{name} {params.get(name, '')}".strip()
                marks = ["✓" if in_before else "—"] if before is not None else []
                table.add_row(Text(label), *marks, "✓" if in_after else "—")  # the server's words: never markup
            parts.append(table)
        return Group(*parts)


def _routed(view: SessionView) -> bool:
    """Whether a DNS step found an address to connect to."""
    return any(a.rdtype in ("A", "AAAA") and a.rcode == OK and a.records for a in view.snapshot.dns)


def route_line(view: SessionView) -> Text:
    """"Route:" what the DNS steps found so far, each answer shortened and escaped (it may come from the
    network), or that DNS comes first."""
    text = Text.assemble(("Route: ", "bold"))
    answers = view.snapshot.dns
    if not answers:
        text.append("DNS first, then connect (RFC 5321 §5.1)")
        return text
    for index, answer in enumerate(answers):
        found = answer.records[0] if answer.rcode == OK and answer.records else \
            (answer.rcode if answer.rcode != OK else "none")
        more = f" +{len(answer.records) - 1}" if len(answer.records) > 1 else ""
        text.append(("; " if index else "") + shown(f"{answer.rdtype} {answer.name} → {found}{more}"))
    return text


def allowed_lines(view: SessionView) -> list[Text]:
    """"Allowed next" and "Advised against", from the client's one rule set (``SmtpClient.allowed``)."""
    client = view.snapshot.client
    if client.allowed:
        allowed = verb_list(client.allowed)
    elif client.state == State.CLOSED:
        allowed = "nothing: the connection is closed"
    elif client.state == State.PROTOCOL_ERROR:
        allowed = "nothing: the server broke the protocol, so only closing is left"
    else:
        allowed = "nothing until the reply comes"
    lines = [Text.assemble(("Allowed next: ", "bold"), allowed)]
    reasons: dict[str, list[Verb]] = {}
    for verb, reason in client.advised_against:
        reasons.setdefault(reason, []).append(verb)
    for reason, verbs in reasons.items():
        lines.append(Text.assemble(("Advised against: ", "bold"), f"{verb_list(set(verbs))}: ", (reason, "italic")))
    return lines
