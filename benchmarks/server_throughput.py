"""The built-in server's throughput, a class sending to the teacher's machine.

50 concurrent sessions, one 5 KB message per session (as ``smtp-source`` does: connect, send, quit),
N messages in all:

- plain: ``smtp-source -s 50 -m N -l 5120`` (Debian's postfix package) against ``smtpstep serve``'s plain
  listener, bare aiosmtpd writing a Maildir (``servers/bare_aiosmtpd.py``), and Postfix's port 2525;
- STARTTLS (verified) + AUTH PLAIN: ``clients/smtp_load.py`` (asyncio, 50 sessions) against
  ``smtpstep serve``'s submission listener, bare aiosmtpd, and Postfix's port 2587.

With ``--uvloop``, another server, "smtpstep on uvloop (experiment)", is LocalServer unchanged on a
uvloop event loop (``servers/local_server_variant.py --uvloop``; uvloop must be importable, it is not
a dependency). With ``--baseline REV``, another is LocalServer as it was at commit REV (its
``protocol/`` extracted with ``git archive``), so that a change is measured before and after in
the same run. Servers alternate run by run. Loss is counted in the Maildir: messages the clients saw
accepted minus files that appeared in ``new/``. Postfix's rate is its accept rate (it delivers later); its test
messages are removed from the mtauser Maildir afterwards (only those with this run's sender).

Goal: >= 1.5x Postfix's accept rate and >= 0.7x bare aiosmtpd, 0 lost.

    .venv/bin/python benchmarks/server_throughput.py          # N=500, 2 rounds (about 1.5 minutes)
    .venv/bin/python benchmarks/server_throughput.py --full   # N=2000, 3 rounds
    PYTHONPATH=uvloop-dir .venv/bin/python benchmarks/server_throughput.py --uvloop --baseline 4228edc
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from harness import (
    DEMO_PASSWORD,
    DEMO_USER,
    HERE,
    PYTHON,
    BenchmarkError,
    BuiltinServer,
    Postfix,
    Stats,
    alternate,
    markdown,
    report,
    scratch_dir,
)

SESSIONS = 50
SIZE = 5120
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
UVLOOP = "smtpstep on uvloop (experiment)"
"""``servers/local_server_variant.py --uvloop``: LocalServer as shipped, on a uvloop event loop."""
VARIANT = HERE / "servers" / "local_server_variant.py"


class BareAiosmtpd:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.process = subprocess.Popen([PYTHON, str(HERE / "servers" / "bare_aiosmtpd.py"), str(maildir)],
                                        stdout=subprocess.PIPE, text=True)
        facts = {}
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "ready":
                break
            key, _, value = line.strip().partition(" ")
            facts[key] = value
        self.port = int(facts["port"])
        self.ca = facts["ca"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def count(maildir: Path) -> int:
    try:
        return sum(1 for _ in (maildir / "new").iterdir())
    except FileNotFoundError:
        return 0


def start_baseline(rev: str, tmp: Path) -> tuple[BuiltinServer, str]:
    """``servers/local_server_variant.py`` importing ``protocol/`` as it was at commit ``rev``."""
    tree = tmp / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "protocol"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    commit = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", rev], capture_output=True,
                            text=True, check=True).stdout.strip()
    env_path = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    server = BuiltinServer(tmp / "baseline-maildir", command=[
        "env", f"PYTHONPATH={env_path}", PYTHON, str(VARIANT), str(tmp / "baseline-maildir")])
    return server.start(), f"smtpstep at {commit} (before)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far; 0 without a pid."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def smtp_source(port: int, messages: int, sender: str, rcpt: str) -> dict:
    start = time.perf_counter()
    done = subprocess.run([SMTP_SOURCE, "-s", str(SESSIONS), "-m", str(messages), "-l", str(SIZE), "-f", sender,
                           "-t", rcpt, "-M", "load.smtpstep.test", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchmarkError(f"smtp-source: exit {done.returncode}: {done.stderr[-600:]}")
    return {"sent": messages, "accepted": messages, "failures": 0, "seconds": seconds}


def python_load(port: int, messages: int, sender: str, rcpt: str, ca: str, user: str, password: str) -> dict:
    done = subprocess.run([PYTHON, str(HERE / "clients" / "smtp_load.py"), "127.0.0.1", str(port), str(messages),
                           str(SESSIONS), str(SIZE), sender, rcpt, "--tls", ca, "--user", user],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "SMTPSTEP_PASSWORD": password})
    if done.returncode != 0:
        raise BenchmarkError(f"smtp_load.py: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="2000 messages per run, 3 rounds")
    parser.add_argument("--messages", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--uvloop", action="store_true", help="also run LocalServer on uvloop (needs uvloop importable)")
    parser.add_argument("--baseline", metavar="REV", help="also run LocalServer as it was at commit REV")
    args = parser.parse_args()
    messages = args.messages or (2000 if args.full else 500)
    rounds = args.rounds or (3 if args.full else 2)
    tmp = scratch_dir()
    tag = uuid.uuid4().hex[:10]
    sender = f"load-{tag}@client.smtpstep.test"
    runs: dict[str, list[dict]] = {}
    notes: list[str] = []

    def measured(name: str, maildir: Path | None, load, pid: int = 0) -> float:  # type: ignore[no-untyped-def]
        before = count(maildir) if maildir is not None else 0
        cpu_before = cpu_seconds(pid)
        result = load()
        if pid:
            result["server_cpu_ms_per_msg"] = 1000 * (cpu_seconds(pid) - cpu_before) / max(result["accepted"], 1)
        if maildir is not None:
            deadline = time.monotonic() + 5
            while count(maildir) - before < result["accepted"] and time.monotonic() < deadline:
                time.sleep(0.05)
            result["stored"] = count(maildir) - before
            result["lost"] = result["accepted"] - result["stored"]
        result["rate"] = result["accepted"] / result["seconds"]
        runs.setdefault(name, []).append(result)
        return result["rate"]

    smtpstep = BuiltinServer(tmp / "smtpstep-maildir").start()
    uv: BuiltinServer | None = None
    if args.uvloop:
        if subprocess.run([PYTHON, "-c", "import uvloop"], capture_output=True).returncode == 0:
            uv_maildir = tmp / "uvloop-maildir"
            uv = BuiltinServer(uv_maildir, command=[PYTHON, str(VARIANT), str(uv_maildir), "--uvloop"]).start()
        else:
            notes.append("--uvloop: uvloop cannot be imported (not installed, or not on PYTHONPATH): skipped")
    base: BuiltinServer | None = None
    baseline = ""
    if args.baseline:
        base, baseline = start_baseline(args.baseline, tmp)
        notes.append(f"{baseline}: protocol/ at commit {args.baseline} (LocalServer before the changes measured here)")
    bare = BareAiosmtpd(tmp / "bare-maildir")
    postfix = Postfix.find()
    rcpt = "class@example.test"
    try:
        plain = {
            "smtpstep serve": lambda: measured("plain/smtpstep serve", smtpstep.maildir, lambda: smtp_source(
                smtpstep.ports["plain"], messages, sender, rcpt), smtpstep.pid),
            "bare aiosmtpd": lambda: measured("plain/bare aiosmtpd", bare.maildir, lambda: smtp_source(
                bare.port, messages, sender, rcpt), bare.process.pid),
        }
        if uv is not None:
            plain[UVLOOP] = lambda: measured(f"plain/{UVLOOP}", uv.maildir, lambda: smtp_source(
                uv.ports["plain"], messages, sender, rcpt), uv.pid)
        if base is not None:
            plain[baseline] = lambda: measured(f"plain/{baseline}", base.maildir, lambda: smtp_source(
                base.ports["plain"], messages, sender, rcpt), base.pid)
        tls = {
            "smtpstep serve": lambda: measured("tls/smtpstep serve", smtpstep.maildir, lambda: python_load(
                smtpstep.ports["submission"], messages, sender, rcpt, smtpstep.ca_path, DEMO_USER, DEMO_PASSWORD),
                smtpstep.pid),
            "bare aiosmtpd": lambda: measured("tls/bare aiosmtpd", bare.maildir, lambda: python_load(
                bare.port, messages, sender, rcpt, bare.ca, DEMO_USER, DEMO_PASSWORD), bare.process.pid),
        }
        if uv is not None:
            tls[UVLOOP] = lambda: measured(f"tls/{UVLOOP}", uv.maildir, lambda: python_load(
                uv.ports["submission"], messages, sender, rcpt, uv.ca_path, DEMO_USER, DEMO_PASSWORD), uv.pid)
        if base is not None:
            tls[baseline] = lambda: measured(f"tls/{baseline}", base.maildir, lambda: python_load(
                base.ports["submission"], messages, sender, rcpt, base.ca_path, DEMO_USER, DEMO_PASSWORD),
                base.pid)
        if postfix is not None:
            plain["Postfix"] = lambda: measured("plain/Postfix", None, lambda: smtp_source(
                postfix.plain_port, messages, sender, postfix.rcpt))
            tls["Postfix"] = lambda: measured("tls/Postfix", None, lambda: python_load(
                postfix.submission_port, messages, sender, postfix.rcpt, postfix.ca, postfix.user,
                postfix.password))
        else:
            notes.append("Postfix not running: skipped")
        print(f"plain, {messages} messages x {rounds} rounds", flush=True)
        alternate(plain, rounds)
        print(f"STARTTLS + AUTH, {messages} messages x {rounds} rounds", flush=True)
        alternate(tls, rounds)
    finally:
        smtpstep.stop()
        for variant in (uv, base):
            if variant is not None:
                variant.stop()
        bare.stop()
    runs = {name: records[-rounds:] for name, records in runs.items()}  # drop the warm-up runs

    rows, data = [], {}
    for mode in ("plain", "tls"):
        names = [n for n in runs if n.startswith(mode + "/")]
        median = {n.split("/", 1)[1]: Stats.of([r["rate"] for r in runs[n]]).median for n in names}
        for name in names:
            server = name.split("/", 1)[1]
            stats = Stats.of([r["rate"] for r in runs[name]])
            lost = sum(r.get("lost", 0) for r in runs[name]) if "lost" in runs[name][0] else "n/a (delivers later)"
            failures = sum(r["failures"] for r in runs[name])
            vs_postfix = f"{stats.median / median['Postfix']:.2f}x" if "Postfix" in median else "-"
            vs_bare = f"{stats.median / median['bare aiosmtpd']:.2f}x"
            cpu = [r["server_cpu_ms_per_msg"] for r in runs[name] if "server_cpu_ms_per_msg" in r]
            cpu_cell = f"{Stats.of(cpu).median:.2f}" if cpu else "n/a"
            rows.append(["plain (smtp-source)" if mode == "plain" else "STARTTLS+AUTH (smtp_load.py)", server,
                         f"{stats.median:.0f} ({stats.low:.0f}-{stats.high:.0f})", vs_postfix, vs_bare, cpu_cell,
                         f"{sum(r['accepted'] for r in runs[name])}/{sum(r['sent'] for r in runs[name])}",
                         failures, lost])
            data[name] = {"rate": stats.as_dict(), "runs": runs[name]}

    if postfix is not None:
        notes.append(cleanup_postfix(postfix, sender))
    report("server_throughput", f"7. Server throughput: {SESSIONS} concurrent sessions, {messages} x 5 KB per run",
           [markdown(["load", "server", "msg/s, median (min-max)", "vs Postfix", "vs bare aiosmtpd",
                      "server CPU ms/msg", "accepted/sent", "client failures", "lost (Maildir)"], rows)],
           {"messages": messages, "rounds": rounds, "sessions": SESSIONS, "size": SIZE, "results": data},
           notes + ["server CPU ms/msg: user + system CPU of the server process (all its threads) per accepted "
                    "message, read from /proc; n/a for Postfix (many processes). It moves less with the "
                    "machine's other load than the rate does",
                    "goal: >= 1.5x Postfix's accept rate, >= 0.7x bare aiosmtpd, 0 lost"])


def cleanup_postfix(postfix: Postfix, sender: str, wait: float = 120.0) -> str:
    """Wait for Postfix to deliver this run's messages, then remove exactly those from the mtauser Maildir."""
    deadline = time.monotonic() + wait
    last, stable = -1, 0
    ours: list[Path] = []
    while time.monotonic() < deadline:
        ours = [p for p in (postfix.maildir / "new").glob("*") if _from_run(p, sender)]
        stable = stable + 1 if len(ours) == last else 0
        last = len(ours)
        if stable >= 4:
            break
        time.sleep(1)
    for path in ours:
        try:
            path.unlink()
        except OSError:
            pass
    return f"Postfix delivered {len(ours)} of this run's messages to {postfix.maildir}/new; removed them again"


def _from_run(path: Path, sender: str) -> bool:
    try:
        with open(path, "rb") as f:
            return sender.encode() in f.read(400)
    except OSError:
        return False


if __name__ == "__main__":
    main()
