"""DNS lookups as steps of their own (RFC 5321 §5.1): the step engine asks its driver, the answer is a ``DNS:``
line of the wire log, and the connection goes where the answers lead. Against the lessons' zone in memory,
and against a loopback DNS server the test starts (the real DNS code path, dnspython's sockets); the asyncio
driver asks in a worker thread, so the app's loop keeps turning while DNS is silent."""

from __future__ import annotations

import asyncio

import pytest

from smtpstep.app.session.stepper import Stepper
from smtpstep.app.session.transcript import Transcript
from smtpstep.protocol.commands import DnsLookup, Vrfy
from smtpstep.protocol.mailauth.zone import ZoneSet
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.transport.asyncio_driver import AsyncioTransport
from smtpstep.protocol.transport.blocking_driver import BlockingTransport
from smtpstep.protocol.transport.wire import Direction, Target
from tests.support.dns_server import LoopbackDnsServer

MESSAGE = b"Subject: routed\r\n\r\nFound in DNS.\r\n"


def run_through(stepper: Stepper) -> list:
    results = []
    while stepper.queue and len(results) < 30:
        results.append(stepper.step_now())
    return results


def test_a_session_finds_the_built_in_server_through_the_lesson_zone_and_probes_before_mail(threaded_server):
    target = Target(host="127.0.0.1", port=threaded_server.port_for("none"), security="none", builtin=True,
                    dns="zone")
    plan = SessionPlan(security="none", message=MESSAGE, rcpt_tos=("teacher@example.test",),
                       probes=(Vrfy("nobody@example.test"),))
    stepper = Stepper(target, plan, transport=BlockingTransport)
    assert [p.command.label for p in stepper.queue[:2]] == ["(DNS: MX example.test?)", "(connect)"]
    assert stepper.check_head() is None
    results = run_through(stepper)
    labels = [r.commands[0].label for r in results]
    assert labels[:3] == ["(DNS: MX example.test?)", "(DNS: A mx.example.test?)", "(connect)"]
    assert labels.index("VRFY nobody@example.test") == labels.index("EHLO client.smtpstep.test") + 1
    assert labels.count("VRFY nobody@example.test") == 1  # sent once, not again after its reply
    assert results[0].lookup.records == ("10 mx.example.test.",) and results[0].answers == ()
    vrfy = results[labels.index("VRFY nobody@example.test")]
    assert vrfy.answers[0].reply.code == 252  # the built-in server verifies nothing (RFC 5321 §7.3)
    assert results[-1].answers[-1].reply.code == 221 and stepper.halt is None
    snapshot = stepper.transport.snapshot()
    assert snapshot.target.label == f"mx.example.test (127.0.0.1:{target.port})"
    assert snapshot.target.server_hostname == "mx.example.test"
    lines = [line.plain() for chunk in stepper.transport.record.chunks for line in Transcript().feed(chunk)
             if chunk.direction == Direction.DNS]
    assert lines == ["DNS: MX example.test? → 10 mx.example.test.", "DNS: A mx.example.test? → 127.0.0.1"]


ZONES = {
    "example.test": "@ MX 10 mx.example.test.\nmx A 127.0.0.1\n",
    "nomail.test": "@ MX 0 .\n",
    "odd.test": "@ MX 10 mx\\027[2J.odd.test.\n",
}


@pytest.fixture(scope="module")
def dns_server():
    with LoopbackDnsServer(ZoneSet.from_mapping(ZONES)) as server:
        yield server


def mx_target(server: LoopbackDnsServer, domain: str, **extra) -> Target:  # type: ignore[no-untyped-def]
    return Target(host=domain, port=25, security="none", dns=f"{server.host}@{server.port}", **extra)


@pytest.mark.parametrize(("rcpt", "halt"), [
    ("a@missing.test", "The domain missing.test does not exist in DNS (NXDOMAIN for the MX records of "
                       "missing.test)."),
    ("a@nomail.test", 'The domain nomail.test accepts no mail: its MX record is the null MX "0 ." (RFC 7505).'),
])
def test_a_dead_end_in_real_dns_is_one_sentence_and_the_session_can_start_again(dns_server, rcpt, halt):
    async def main() -> None:
        stepper = Stepper(mx_target(dns_server, rcpt.partition("@")[2]),
                          SessionPlan(security="none", rcpt_tos=(rcpt,)), transport=AsyncioTransport)
        result = await stepper.step()
        assert result is not None and result.failure is None and result.lookup.rcode in ("NXDOMAIN", "NOERROR")
        assert stepper.halt == halt and stepper.queue == [] and stepper.failed_phase == "connect"
        assert stepper.explanation_key == "dns-failed"
        await stepper.restart()
        assert stepper.queue[0].command == DnsLookup(rcpt.partition("@")[2], "MX") and stepper.halt is None
        await stepper.close()

    asyncio.run(main())


def test_the_mx_found_in_real_dns_is_tried_on_port_25_and_a_refusal_names_blocked_port_25(dns_server):
    stepper = Stepper(mx_target(dns_server, "example.test", timeout=5),
                      SessionPlan(security="none", rcpt_tos=("a@example.test",)), transport=BlockingTransport)
    results = run_through(stepper)
    connect = results[2]
    assert connect.commands[0].label == "(connect)" and connect.failure is not None
    assert stepper.transport.snapshot().target.address == "127.0.0.1:25"
    notes = [c.note for c in stepper.transport.record.chunks if c.direction == Direction.NOTE]
    assert any("many networks and providers block outgoing connections to it" in note for note in notes)
    if connect.failure.kind == "refused":  # nothing listens on loopback port 25 on a test machine
        assert connect.failure.message.endswith("many networks and providers block outgoing port 25")


def test_an_answer_with_control_characters_reaches_the_wire_log_escaped(dns_server):
    stepper = Stepper(mx_target(dns_server, "odd.test"), SessionPlan(security="none", rcpt_tos=("a@odd.test",)),
                      transport=BlockingTransport)
    run_through(stepper)
    shown = [line.plain() for chunk in stepper.transport.record.chunks for line in Transcript().feed(chunk)]
    assert all("\x1b" not in line for line in shown)
    assert any(line.startswith("DNS: MX odd.test? → 10 mx") for line in shown)
    assert "has an address in DNS" in (stepper.halt or "")


@pytest.mark.asyncio_transport_only
def test_the_asyncio_driver_keeps_the_loop_turning_while_dns_is_silent():
    async def main() -> tuple[int, object]:
        ticks = 0
        transport = AsyncioTransport(Target(host="example.test", port=25, security="none", timeout=0.5,
                                            dns=f"{silent.host}@{silent.port}"))

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        result = await transport.step(DnsLookup("example.test", "MX"))
        ticker.cancel()
        return ticks, result

    with LoopbackDnsServer(mode="silent") as silent:
        ticks, result = asyncio.run(main())
    assert result.lookup.rcode == "TIMEOUT" and result.failure is None
    assert ticks > 1  # the loop ran other work while the lookup waited
