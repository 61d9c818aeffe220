"""The stepper: the one session runner. It drives a session a step at a time, with an editable queue.

It holds the transport, the plan and the queue, and answers the user's intents (step, edit, insert,
delete, skip, restart). The queue follows the planner until the user edits it; from then on the
user's queue is kept, and only previews that cannot be known in advance (answers to AUTH challenges)
are filled in. ``SessionView`` is what every renderer shows.

The same runner serves the terminal app (``step`` on the asyncio transport), ``smtpstep run`` and
the recordings it exports (``step_now`` on the blocking transport), and ``smtpstep shots``. It knows
nothing of Textual, and it imports no transport itself: the caller says which one to use, so that
``smtpstep run`` never loads asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from smtpstep.protocol.client import CommandNotAllowed
from smtpstep.protocol.command_parser import parse_command
from smtpstep.protocol.commands import AuthResponse, Bdat, Command, DnsLookup, InvalidCommand, MessageBody
from smtpstep.protocol.planner import Planned, SessionPlan, next_group, propose
from smtpstep.protocol.routing import BEFORE_CONNECTING
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.engine import StepEngine
from smtpstep.protocol.transport.wire import Snapshot, StepResult, Target, WireChunk

MAX_STEPS = 100
"""A bound on one session's steps, so that no planner surprise can loop for ever (``smtpstep run``,
recordings and shots stop there)."""

REFUSED_BEFORE_SENDING = ("not-allowed", "policy")
"""Failure kinds of a step that was never written: the queue keeps it, for the user to decide."""

FAILURE_KEYS = {"tls": "tls-verify-failed", "closed": "closed", "policy": "cleartext-auth-refused"}
"""Failure kinds with a step explanation of their own in the catalog."""


@dataclass(frozen=True)
class SessionView:
    """Everything the panes show, as one immutable value."""

    snapshot: Snapshot
    queue: tuple[Planned, ...]
    steps_done: int
    last: StepResult | None
    halt: str | None
    explanation_key: str | None
    edited: bool
    busy: str | None = None
    """The label of the step under way, if one is running."""
    history: tuple[tuple[str, int | None, bool], ...] = ()
    """Steps taken: (label, last reply code, ok); ok is False for a failure or a 4yz/5yz last reply."""
    last_was_step: bool = False
    """True when this view follows a step (the queue selection goes back to the next step)."""

    @property
    def total(self) -> int:
        return self.steps_done + len(self.queue)

    @property
    def finished(self) -> bool:
        return not self.queue

    @property
    def state(self) -> State:
        return self.snapshot.client.state


@dataclass(frozen=True)
class HeadWarning:
    """Why the next command does not fit the session now, in the words the panes show."""

    reason: str
    """The client's reason, with its RFC section (``SmtpClient.check``)."""
    advice: bool = False
    """Only a SHOULD (NOT) speaks against it: the server may accept it."""

    @classmethod
    def of(cls, refusal: CommandNotAllowed) -> HeadWarning:
        return cls(str(refusal), refusal.advice)

    @property
    def headline(self) -> str:
        """A few words for the queue's mark: "out of order", or "advised against"."""
        return "advised against" if self.advice else "out of order"

    @property
    def consequence(self) -> str:
        """What sending it anyway would do, to go before the reason."""
        return "the server may accept it, but the RFC advises against it" if self.advice else \
            "the server will probably refuse it"

    def __str__(self) -> str:
        return self.reason


class TransportFactory(Protocol):
    """A transport class: ``AsyncioTransport`` for the terminal app, ``BlockingTransport`` for ``run``."""

    def __call__(self, target: Target, *, listener: Callable[[WireChunk], None] | None = None) -> Any: ...


class Stepper:
    """Drives one session (and its restarts) against one target."""

    def __init__(self, target: Target, plan: SessionPlan, *, transport: TransportFactory,
                 listener: Callable[[WireChunk], None] | None = None) -> None:
        self.target = target
        self.plan = _routed(plan, target)
        self.listener = listener
        self._transport_factory = transport
        self.transport: StepEngine = transport(target, listener=listener)
        """The session's transport (an asyncio or a blocking one)."""
        self.history: list[StepResult] = []
        self.queue: list[Planned] = []
        self.edited = False
        self.halt: str | None = None
        """Why the session cannot go on as planned: a failure, or the planner's objection."""
        self.explanation_key: str | None = None
        self.failed_phase: str | None = None
        """The phase (``planner.PHASES``) the session failed in, once it did."""
        self._replan()

    # -- views -----------------------------------------------------------------------------------

    def view(self, busy: str | None = None, *, after_step: bool = False) -> SessionView:
        return SessionView(
            snapshot=self.transport.snapshot(),
            queue=tuple(self.queue),
            steps_done=len(self.history),
            last=self.history[-1] if self.history else None,
            halt=self.halt,
            explanation_key=self.explanation_key,
            edited=self.edited,
            busy=busy,
            history=tuple(
                (r.commands[-1].label, r.answers[-1].reply.code if r.answers else None,
                 r.failure is None and (not r.answers or r.answers[-1].reply.code < 400))
                for r in self.history
            ),
            last_was_step=after_step,
        )

    @property
    def head(self) -> Command | None:
        return self.queue[0].command if self.queue else None

    def check_head(self) -> CommandNotAllowed | None:
        """Why the next command does not fit the session now (``SmtpClient.check``, the one rule set)."""
        head = self.head
        if isinstance(head, DnsLookup):  # no SMTP command: the client's state table has no place for it
            return CommandNotAllowed(BEFORE_CONNECTING, forceable=False) if self.transport.connected else None
        return None if head is None else self.transport.client.check(head)

    def head_warning(self) -> HeadWarning | None:
        """``check_head`` in the panes' words."""
        refusal = self.check_head()
        return None if refusal is None else HeadWarning.of(refusal)

    # -- stepping --------------------------------------------------------------------------------

    async def step(self, *, force: bool = False) -> StepResult | None:
        """Send the head of the queue on an asyncio transport and wait for its reply (None: queue empty)."""
        group = self._next(force)
        if not group:
            return None
        result = await self.transport.step(self._commands(group), force=force)
        return self._took(group, result)

    def step_now(self, *, force: bool = False) -> StepResult | None:
        """The same step on a blocking transport (``smtpstep run``)."""
        group = self._next(force)
        if not group:
            return None
        result = self.transport.step(self._commands(group), force=force)
        return self._took(group, result)

    def _next(self, force: bool) -> tuple[Planned, ...]:
        if not self.queue:
            return ()
        # RFC 2920: with a plan that pipelines and a server that offers it, MAIL, RCPT... DATA go as one step.
        group = next_group(self.plan, self.transport.client.view(), tuple(self.queue)) if not force else ()
        return group or (self.queue[0],)

    @staticmethod
    def _commands(group: tuple[Planned, ...]) -> Command | list[Command]:
        return group[0].command if len(group) == 1 else [p.command for p in group]

    def _took(self, group: tuple[Planned, ...], result: StepResult) -> StepResult:
        self.history.append(result)
        failure = result.failure
        if failure is not None and failure.kind in REFUSED_BEFORE_SENDING:
            self.halt = failure.message
            return result
        del self.queue[: len(group)]
        if failure is not None:
            self.halt = failure.message
            self.explanation_key = FAILURE_KEYS.get(failure.kind)
            self.failed_phase = self.failed_phase or group[0].phase
            self.queue = list(self._proposal().steps)
            self.edited = False
            return result
        if self.edited:
            self._fill_previews()
        else:
            self._replan()
        return result

    def _last_answer(self):  # type: ignore[no-untyped-def]
        for result in reversed(self.history):
            if result.answers:
                return result.answers[-1]
        return None

    def _proposal(self):  # type: ignore[no-untyped-def]
        return propose(self.plan, self.transport.client.view(), self._last_answer(), dns=self.transport.dns,
                       probes_sent=self._probes_sent())

    def _probes_sent(self) -> int:
        """How many of the plan's probes (a lesson's VRFY and EXPN) this session has sent."""
        if not self.plan.probes:
            return 0
        return sum(1 for result in self.history
                   if result.failure is None or result.failure.kind not in REFUSED_BEFORE_SENDING
                   for command in result.commands if command in self.plan.probes)

    def _replan(self) -> None:
        proposal = self._proposal()
        self.queue = list(proposal.steps)
        if proposal.halt:
            self.halt = proposal.halt
            self.explanation_key = proposal.explanation_key
            self.failed_phase = self.failed_phase or proposal.failed_phase
        elif self.transport.failure is None:
            self.explanation_key = None

    def _fill_previews(self) -> None:
        """In an edited queue, replace AUTH answer previews by the real answers once a challenge came."""
        client = self.transport.client
        if client.settled == State.CLOSED:
            self.queue = []
            return
        if client.settled == State.AUTH_CHALLENGED:
            planned = [p for p in self._proposal().steps if isinstance(p.command, AuthResponse)]
            if planned and self.queue and isinstance(self.queue[0].command, AuthResponse):
                self.queue[0] = planned[0]

    def replan(self) -> None:
        """Throw away the user's edits and follow the planner again."""
        self.edited = False
        self._replan()

    # -- editing ---------------------------------------------------------------------------------

    def parse(self, line: str, index: int | None = None) -> Command:
        """A typed line as a command, to go at ``index`` of the queue; raises InvalidCommand with a plain
        message. ``BDAT <size> [LAST]`` takes its chunk from the message, after what was sent in BDAT chunks
        and what the queued ones before ``index`` carry (RFC 3030 §2)."""
        if not line.strip():
            raise InvalidCommand("the line is empty")
        before = self.queue[:index] if index is not None else self.queue
        offset = self.transport.client.envelope.chunked + sum(
            p.command.size for p in before if isinstance(p.command, Bdat))
        message = MessageBody(self.plan.message, exact=self.plan.exact_message).canonical
        return parse_command(line.strip(), message_rest=message[offset:])

    def edit(self, index: int, line: str) -> None:
        command = self.parse(line, index)
        phase = self.queue[index].phase if 0 <= index < len(self.queue) else "manual"
        self.queue[index] = Planned(command, phase)
        self._rechunk()
        self.edited = True

    def insert(self, index: int, line: str) -> None:
        index = max(0, min(index, len(self.queue)))
        command = self.parse(line, index)
        self.queue.insert(index, Planned(command, "manual"))
        self._rechunk()
        self.edited = True

    def _rechunk(self) -> None:
        """After an edit, every queued BDAT carries the octets of the message that follow the ones before it
        (each keeps its size where the message is long enough), so that the message arrives whole."""
        message = MessageBody(self.plan.message, exact=self.plan.exact_message).canonical
        offset = self.transport.client.envelope.chunked
        for index, planned in enumerate(self.queue):
            command = planned.command
            if isinstance(command, Bdat):
                chunk = message[offset:offset + command.size]
                if chunk != command.chunk:
                    self.queue[index] = Planned(Bdat(chunk, last=command.last), planned.phase)
                offset += len(chunk)

    def delete(self, index: int) -> None:
        if 0 <= index < len(self.queue):
            del self.queue[index]
            self.edited = True

    def allow_cleartext_auth(self) -> None:
        """The user consented to AUTH without TLS, for this session only."""
        self.target = replace(self.target, allow_cleartext_auth=True)
        self.plan = replace(self.plan, allow_cleartext_auth=True)
        self.transport.target = self.target
        self.halt = None
        if not self.edited:
            self._replan()

    # -- lifecycle -------------------------------------------------------------------------------

    def _reset(self, target: Target | None, plan: SessionPlan | None) -> None:
        self.target = target or self.target
        self.plan = _routed(plan or self.plan, self.target)
        self.transport = self._transport_factory(self.target, listener=self.listener)
        self.history = []
        self.edited = False
        self.halt = None
        self.explanation_key = None
        self.failed_phase = None
        self._replan()

    async def restart(self, target: Target | None = None, plan: SessionPlan | None = None) -> None:
        """Close the connection and start a fresh session (optionally on a new target or plan)."""
        await self.transport.close()
        self._reset(target, plan)

    async def close(self) -> None:
        await self.transport.close()


def _routed(plan: SessionPlan, target: Target) -> SessionPlan:
    """``plan`` that finds the server in DNS first when the target has DNS to ask (RFC 5321 §5.1)."""
    wanted = target.dns is not None
    return plan if plan.mx_lookup == wanted else replace(plan, mx_lookup=wanted)
