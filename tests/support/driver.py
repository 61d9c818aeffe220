"""Drive a whole planned session through a transport, the way the app's "play" action does.

``run_session(transport, plan)`` asks the planner for the next step, takes it, and repeats until
the planner has nothing left or a step fails. ``drive`` does the same and also keeps the planner's
halt reasons (e.g. "the server did not offer STARTTLS"), which vanish from later proposals once
the connection is closed. Reused by transport, CLI and app tests; imports only ``protocol``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpstep.protocol.client import Answer, ClientView
from smtpstep.protocol.commands import Command, Verb
from smtpstep.protocol.planner import Proposal, SessionPlan, propose
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.wire import Failure, StepResult

MAX_STEPS = 60
"""More steps than any planned session needs; a loop that goes past it is a bug, not a slow server."""

_GROUPABLE = (Verb.MAIL, Verb.RCPT, Verb.DATA)
"""Commands sent as one group when pipelining (RFC 2920 §3.1: DATA must be the group's last)."""


@dataclass
class Drive:
    """What happened in a driven session."""

    results: list[StepResult] = field(default_factory=list)
    halts: list[Proposal] = field(default_factory=list)
    """Every proposal that carried a halt reason, in order."""

    @property
    def failure(self) -> Failure | None:
        """The failure that ended the session, if one did."""
        return self.results[-1].failure if self.results else None

    @property
    def answers(self) -> list[Answer]:
        return [answer for result in self.results for answer in result.answers]

    @property
    def halt(self) -> Proposal | None:
        """The first halt the planner gave."""
        return self.halts[0] if self.halts else None


def next_group(plan: SessionPlan, view: ClientView, commands: tuple[Command, ...]) -> tuple[Command, ...]:
    """The first command, or with ``plan.pipelining`` and a server that offers PIPELINING, the
    run of MAIL / RCPT / DATA that starts the queue (RFC 2920)."""
    first = commands[0]
    caps = view.session.capabilities
    if not (plan.pipelining and caps is not None and "PIPELINING" in caps and first.verb in _GROUPABLE):
        return (first,)
    group = [first]
    for command in commands[1:]:
        if group[-1].verb == Verb.DATA or command.verb not in _GROUPABLE:
            break
        group.append(command)
    return tuple(group)


async def drive(transport: AsyncioTransport, plan: SessionPlan, *, max_steps: int = MAX_STEPS) -> Drive:
    """Take every planned step, as the app's "play" does, until the plan is done or a step fails."""
    record = Drive()
    last: Answer | None = None
    for _ in range(max_steps):
        proposal = propose(plan, transport.client.view(), last)
        if proposal.halt is not None:
            record.halts.append(proposal)
        if not proposal.steps:
            return record
        result = await transport.step(next_group(plan, transport.client.view(), proposal.commands))
        record.results.append(result)
        if result.answers:
            last = result.answers[-1]
        if result.failure is not None:
            return record
    raise AssertionError(f"the session did not end within {max_steps} steps")


async def run_session(transport: AsyncioTransport, plan: SessionPlan) -> list[StepResult]:
    """Every step result of the planned session, in order; the last one's ``failure`` says why it stopped."""
    return (await drive(transport, plan)).results
