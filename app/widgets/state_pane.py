"""The state pane: the session's state machine with the current stage marked, what may come next,
the envelope, the session facts, and the EHLO capabilities before and after STARTTLS side by side."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from smtpstep.app.session.stepper import SessionView
from smtpstep.protocol.capabilities import compare
from smtpstep.protocol.states import State

STAGES: tuple[tuple[str, frozenset[State]], ...] = (
    ("connect", frozenset({State.DISCONNECTED, State.CONNECTING})),
    ("greeting", frozenset({State.AWAITING_GREETING, State.SERVER_REFUSED})),
    ("EHLO", frozenset({State.READY_FOR_HELLO, State.AWAITING_HELLO_REPLY})),
    ("TLS", frozenset({State.AWAITING_STARTTLS_REPLY, State.AWAITING_TLS_HANDSHAKE})),
    ("AUTH", frozenset({State.AWAITING_AUTH_REPLY, State.AUTH_CHALLENGED})),
    ("MAIL", frozenset({State.READY_FOR_MAIL, State.AWAITING_MAIL_REPLY})),
    ("RCPT", frozenset({State.READY_FOR_RCPT, State.AWAITING_RCPT_REPLY, State.READY_FOR_DATA})),
    ("DATA", frozenset({State.AWAITING_DATA_GO_AHEAD, State.READY_FOR_MESSAGE, State.AWAITING_MESSAGE_RESULT})),
    ("QUIT", frozenset({State.AWAITING_QUIT_REPLY, State.CLOSED})),
)
"""The stages drawn in the state line, each with the states that belong to it."""


def stage_line(state: State) -> Text:
    text = Text()
    for index, (name, states) in enumerate(STAGES):
        if index:
            text.append(" → ")
        if state in states:
            text.append(f"[{name}]", style="bold reverse")
        else:
            text.append(name, style="italic")
    return text


class StatePane(Static):
    """Renders the state machine and the session's facts."""

    view: reactive[SessionView | None] = reactive(None, always_update=True, repaint=False)
    """The session view to render (bound from the screen); watch_view redraws only on change."""

    _shown: object = ()

    def watch_view(self, view: SessionView | None) -> None:
        # Redraw only when something this pane shows changed: every update costs a relayout.
        key = None if view is None else (view.snapshot.client, view.busy)
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
        parts.append(stage_line(state))
        waiting = "nothing (the connection is closed)" if state in (State.CLOSED, State.DISCONNECTED) and \
            not client.allowed else "nothing until the reply comes"
        allowed = ", ".join(sorted(v.value for v in client.allowed)) or waiting
        parts.append(Text.assemble(("Allowed next: ", "bold"), allowed))
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
