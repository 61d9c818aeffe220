"""A whole headless session, whole process: ``smtpstep run`` vs swaks vs a minimal smtplib script.

Each client does STARTTLS with certificate verification, AUTH PLAIN, a 2 KB message and QUIT, against
the same running server: ``smtpstep serve`` (started here, on free ports) and the loopback Postfix of
``benchmarks/mta`` if it runs. Clients alternate round by round. Also prints the import profile of
``smtpstep run`` (``-X importtime``) and the interpreter floors (``python -c pass``, ``import smtplib,
ssl``, ``import asyncio, ssl``), which bound what any Python client can reach.

Goal: ``smtpstep run`` no slower than swaks.

    .venv/bin/python benchmarks/headless_session.py          # 8 rounds (about 30 s)
    .venv/bin/python benchmarks/headless_session.py --full   # 30 rounds
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from harness import (
    BUILTIN_RCPT,
    DEMO_PASSWORD,
    DEMO_USER,
    HERE,
    PYTHON,
    SMTPSTEP,
    BuiltinServer,
    Postfix,
    Stats,
    alternate,
    markdown,
    ratio,
    report,
    scratch_dir,
    timed_run,
    write_body,
)

SENDER = "student@client.smtpstep.test"


def clients(host: str, port: int, ca: str, user: str, password: str, rcpt: str, body: Path) -> dict:
    env = {"SMTPSTEP_PASSWORD": password}
    smtpstep = [SMTPSTEP, "run", "--server", f"{host}:{port}", "--ca", ca, "--user", user, "--from", SENDER,
                "--to", rcpt, "--body-file", str(body)]
    swaks = ["swaks", "--server", f"{host}:{port}", "--helo", "client.smtpstep.test", "--tls", "--tls-verify",
             "--tls-ca-path", ca, "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
             "--from", SENDER, "--to", rcpt, "--body", f"@{body}"]
    smtplib = [PYTHON, str(HERE / "clients" / "smtplib_session.py"), host, str(port), ca, user, SENDER, rcpt,
               str(body)]
    return {
        "smtpstep run": lambda: timed_run(smtpstep, env=env),
        "swaks": lambda: timed_run(swaks),
        "smtplib": lambda: timed_run(smtplib, env=env),
    }


FLOORS = {
    "python -c pass": [PYTHON, "-c", "pass"],
    "python -c 'import smtplib, ssl'": [PYTHON, "-c", "import smtplib, ssl"],
    "python -c 'import asyncio, ssl'": [PYTHON, "-c", "import asyncio, ssl"],
    "python -c 'import smtpstep.app.commands.run'": [PYTHON, "-c", "import smtpstep.app.cli, smtpstep.app.commands.run"],
    "same, with @dataclass a no-op (what generating the dataclasses' code costs)": [
        PYTHON, "-c", "import dataclasses; dataclasses.dataclass = lambda cls=None, /, **kw: cls or (lambda c: c); "
                      "import smtpstep.app.cli, smtpstep.app.commands.run"],
    "python -c 'import ssl, socket' + the sans-I/O core": [
        PYTHON, "-c", "import ssl, socket, smtpstep.protocol.client, smtpstep.protocol.planner, smtpstep.protocol.commands, smtpstep.protocol.replies"],
}
"""What a lean headless path could cost at least: the core over a blocking socket imports no asyncio."""


def import_profile(argv: list[str], env: dict[str, str]) -> list[tuple[str, float]]:
    """Import time (ms, self time summed per package) of one ``smtpstep run`` session, biggest first."""
    code = f"import sys; from smtpstep.app.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", code], env={**os.environ, **env},
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            name = match.group(4)
            group = name if name.startswith("smtpstep.") else name.split(".")[0].lstrip("_")
            totals[group] += int(match.group(1)) / 1000
    top = sorted(totals.items(), key=lambda kv: -kv[1])
    return top[:14] + [("(everything else)", sum(ms for _, ms in top[14:])), ("(total)", sum(totals.values()))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="30 rounds instead of 8")
    parser.add_argument("--rounds", type=int, help="rounds per server (overrides --full)")
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.full else 8)

    tmp = scratch_dir()
    body = write_body(tmp / "body-2k.txt", 2048)
    rows, data, notes = [], {}, []
    with BuiltinServer(tmp / "maildir") as server:
        targets = {"smtpstep serve": clients("127.0.0.1", server.ports["submission"], server.ca_path, DEMO_USER,
                                             DEMO_PASSWORD, BUILTIN_RCPT, body)}
        postfix = Postfix.find()
        if postfix is not None:
            targets["Postfix"] = clients("127.0.0.1", postfix.submission_port, postfix.ca, postfix.user,
                                         postfix.password, postfix.rcpt, body)
        else:
            notes.append("Postfix not running: only smtpstep serve measured (bash benchmarks/mta/postfix-up.sh)")
        for target, cases in targets.items():
            print(f"{target}: {rounds} rounds", flush=True)
            samples = alternate(cases, rounds)
            reference = Stats.of(samples["swaks"]).median
            for name, values in samples.items():
                stats = Stats.of(values)
                rows.append([target, name, stats.ms(), ratio(stats.median, reference),
                             ratio(stats.median, Stats.of(samples["smtplib"]).median)])
                data[f"{target}/{name}"] = stats.as_dict()
        profile_argv = ["run", "--server", f"127.0.0.1:{server.ports['submission']}", "--ca", server.ca_path,
                        "--user", DEMO_USER, "--to", BUILTIN_RCPT, "--body-file", str(body)]
        profile = import_profile(profile_argv, {"SMTPSTEP_PASSWORD": DEMO_PASSWORD})
    print("interpreter floors", flush=True)
    floors = alternate({name: (lambda argv=argv: timed_run(argv)) for name, argv in FLOORS.items()}, rounds)
    floor_rows = [[name, Stats.of(values).ms()] for name, values in floors.items()]
    data["floors"] = {name: Stats.of(values).as_dict() for name, values in floors.items()}
    data["import_profile_ms"] = dict(profile)
    report(
        "headless_session",
        "1. Headless session: STARTTLS (verified) + AUTH PLAIN + 2 KB + QUIT, whole process",
        [
            markdown(["server", "client", "wall ms, median (min-max)", "vs swaks", "vs smtplib"], rows),
            markdown(["interpreter floor", "wall ms, median (min-max)"], floor_rows),
            markdown(["import, self time per package (-X importtime, one run)", "ms"],
                     [[name, f"{ms:.1f}"] for name, ms in profile]),
        ],
        {"rounds": rounds, "results": data},
        notes + ["goal: smtpstep run <= 1.0x swaks"],
    )


if __name__ == "__main__":
    main()
