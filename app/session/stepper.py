"""The stepper: one SMTP session driven one step at a time, with an editable queue of next steps.

It holds the transport, the plan and the queue, and answers the user's intents (step, edit, insert,
delete, skip, restart). It knows nothing of Textual: the app renders the ``SessionView`` it returns.
The queue follows the planner until the user edits it; from then on the user's queue is kept, and
only previews that cannot be known in advance (answers to AUTH challenges) are filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from smtpstep.protocol.client import CommandNotAllowed
from smtpstep.protocol.commands import AuthResponse, Command, InvalidCommand, parse_command
from smtpstep.protocol.planner import Planned, SessionPlan, next_group, propose
from smtpstep.protocol.states import State
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import Snapshot, StepResult, Target, WireChunk


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
    """Steps taken: (label, last reply code, ok)."""
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


_FAILURE_KEYS = {"tls": "tls-verify-failed", "closed": "closed", "policy": "cleartext-auth-refused"}
"""Failure kinds with a step explanation of their own in the catalog."""


class Stepper:
    """Drives one session (and its restarts) against one target."""

    def __init__(self, target: Target, plan: SessionPlan, *,
                 listener: Callable[[WireChunk], None] | None = None) -> None:
        self.target = target
        self.plan = plan
        self.listener = listener
        self.transport = AsyncioTransport(target, listener=listener)
        self.history: list[StepResult] = []
        self.queue: list[Planned] = []
        self.edited = False
        self.halt: str | None = None
        self.explanation_key: str | None = None
        self.failed_phase: str | None = None
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
                (r.commands[-1].label, r.answers[-1].reply.code if r.answers else None, r.failure is None)
                for r in self.history
            ),
            last_was_step=after_step,
        )

    @property
    def head(self) -> Command | None:
        return self.queue[0].command if self.queue else None

    def check_head(self) -> CommandNotAllowed | None:
        """Why the next command does not fit the session now (the server will probably refuse it)."""
        head = self.head
        return None if head is None else self.transport.client.check(head)

    # -- stepping --------------------------------------------------------------------------------

    async def step(self, *, force: bool = False) -> StepResult | None:
        """Send the head of the queue and wait for its reply. None when the queue is empty."""
        if not self.queue:
            return None
        # RFC 2920: with a plan that pipelines and a server that offers it, MAIL, RCPT... DATA go as one step.
        group = next_group(self.plan, self.transport.client.view(), tuple(self.queue)) if not force else ()
        group = group or (self.queue[0],)
        planned = group[0]
        commands = [p.command for p in group]
        result = await self.transport.step(commands if len(commands) > 1 else commands[0], force=force)
        self.history.append(result)
        refused_before_sending = result.failure is not None and result.failure.kind in ("not-allowed", "policy")
        if not refused_before_sending:
            del self.queue[: len(group)]
        if refused_before_sending:
            assert result.failure is not None
            self.halt = result.failure.message
            return result
        if result.failure is not None:
            self.halt = result.failure.message
            self.explanation_key = _FAILURE_KEYS.get(result.failure.kind)
            self.failed_phase = self.failed_phase or planned.phase
            self.queue = self._proposal_steps()
            self.edited = False
            return result
        if self.edited:
            self._fill_previews()
        else:
            self._replan()
        return result

    def _proposal_steps(self) -> list[Planned]:
        proposal = propose(self.plan, self.transport.client.view(), self._last_answer())
        return list(proposal.steps)

    def _last_answer(self):  # type: ignore[no-untyped-def]
        for result in reversed(self.history):
            if result.answers:
                return result.answers[-1]
        return None

    def _replan(self) -> None:
        proposal = propose(self.plan, self.transport.client.view(), self._last_answer())
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
            planned = [p for p in self._proposal_steps() if isinstance(p.command, AuthResponse)]
            if planned and self.queue and isinstance(self.queue[0].command, AuthResponse):
                self.queue[0] = planned[0]

    def replan(self) -> None:
        """Throw away the user's edits and follow the planner again."""
        self.edited = False
        self._replan()

    # -- editing ---------------------------------------------------------------------------------

    def parse(self, line: str) -> Command:
        """A typed line as a command; raises InvalidCommand with a plain message."""
        if not line.strip():
            raise InvalidCommand("the line is empty")
        return parse_command(line.strip())

    def edit(self, index: int, line: str) -> None:
        command = self.parse(line)
        phase = self.queue[index].phase if 0 <= index < len(self.queue) else "manual"
        self.queue[index] = Planned(command, phase)
        self.edited = True

    def insert(self, index: int, line: str) -> None:
        command = self.parse(line)
        self.queue.insert(max(0, min(index, len(self.queue))), Planned(command, "manual"))
        self.edited = True

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

    async def restart(self, target: Target | None = None, plan: SessionPlan | None = None) -> None:
        """Close the connection and start a fresh session (optionally on a new target or plan)."""
        await self.transport.close()
        self.target = target or self.target
        self.plan = plan or self.plan
        self.transport = AsyncioTransport(self.target, listener=self.listener)
        self.history = []
        self.edited = False
        self.halt = None
        self.explanation_key = None
        self.failed_phase = None
        self._replan()

    async def close(self) -> None:
        await self.transport.close()


