"""A large message over STARTTLS (+ AUTH): ``smtpstep run`` vs smtplib, and through the app.

- ``smtpstep serve`` is started fresh for every sample under ``/usr/bin/time -v`` (its peak RSS), with
  its idle RSS read just before the client starts. Clients run under ``/usr/bin/time -v`` (wall time,
  peak RSS); ``smtpstep run`` prints its transcript to /dev/null. The client's idle RSS is the same
  client sending a 2 KB message. Clients alternate.
- Postfix (if running) gets the largest message its ``message_size_limit`` allows (10,240,000 by
  default), clients alternating; its RSS is not measured (several processes).
- The app: ``clients/app_large_message.py`` steps the TUI (headless, built-in server in its thread)
  to the message and times that step, with a 10 ms heartbeat on the UI loop (longest gap = longest
  time the UI could not draw) and every screen update timed. A second row sends to ``smtpstep serve``
  in another process instead: its RSS is the client's alone.

Goal: <= 2 s; client and server RSS each <= idle + 5x the message; no frame over 100 ms while sending.

    .venv/bin/python benchmarks/large_message.py          # 25 MB, 2 rounds (about 1.5 minutes)
    .venv/bin/python benchmarks/large_message.py --full   # 25 MB, 5 rounds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from harness import (
    BUILTIN_RCPT,
    DEMO_PASSWORD,
    DEMO_USER,
    HERE,
    PYTHON,
    SMTPSTEP,
    BenchmarkError,
    BuiltinServer,
    Postfix,
    Stats,
    alternate,
    gnu_time,
    markdown,
    report,
    rss_kib,
    scratch_dir,
    write_body,
)

SENDER = "student@client.smtpstep.test"
MiB = 1024 * 1024


def client_argv(name: str, host: str, port: int, ca: str, user: str, rcpt: str, body: Path) -> list[str]:
    if name == "smtpstep run":
        return [SMTPSTEP, "run", "--server", f"{host}:{port}", "--ca", ca, "--user", user, "--from", SENDER,
                "--to", rcpt, "--body-file", str(body)]
    return [PYTHON, str(HERE / "clients" / "smtplib_session.py"), host, str(port), ca, user, SENDER, rcpt, str(body)]


def against_builtin(name: str, body: Path, tmp: Path, out: dict[str, list[dict]]) -> float:
    server = BuiltinServer(tmp / f"maildir-{time.monotonic_ns()}", under_time=True).start()
    try:
        time.sleep(0.2)
        server_idle = rss_kib(server.pid)
        result = gnu_time(client_argv(name, "127.0.0.1", server.ports["submission"], server.ca_path, DEMO_USER,
                                      BUILTIN_RCPT, body), env={"SMTPSTEP_PASSWORD": DEMO_PASSWORD})
    finally:
        peak = server.stop()
    stored = sorted((server.maildir / "new").iterdir())
    if len(stored) != 1 or stored[0].stat().st_size < body.stat().st_size:
        raise BenchmarkError(f"{name}: the server did not store the message ({stored})")
    record = {**result, "server_idle_kib": server_idle, "server_peak_kib": peak.get("max_rss_kib", 0.0)}
    out.setdefault(name, []).append(record)
    return result["wall"]


def against_postfix(name: str, postfix: Postfix, body: Path, out: dict[str, list[dict]]) -> float:
    result = gnu_time(client_argv(name, "127.0.0.1", postfix.submission_port, postfix.ca, postfix.user, postfix.rcpt,
                                  body), env={"SMTPSTEP_PASSWORD": postfix.password})
    out.setdefault(name, []).append(result)
    return result["wall"]


def app_send(size: int, out: list[dict], tmp: Path | None = None) -> float:
    """The app sends one message: to its built-in server, or with ``tmp`` to a fresh ``smtpstep serve``."""
    argv = [PYTHON, str(HERE / "clients" / "app_large_message.py"), str(size)]
    server = BuiltinServer(tmp / f"maildir-app-{time.monotonic_ns()}").start() if tmp is not None else None
    try:
        if server is not None:
            argv += [f"127.0.0.1:{server.ports['submission']}", server.ca_path]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    finally:
        if server is not None:
            server.stop()
    if done.returncode != 0:
        raise BenchmarkError(f"app: {done.stderr[-1000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out.append(result)
    return result["message_step_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="5 rounds instead of 2")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--mb", type=float, default=25.0, help="message size in MiB (default 25)")
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.full else 2)
    size = int(args.mb * MiB)
    tmp = scratch_dir()
    body = write_body(tmp / "body-large.txt", size)
    small = write_body(tmp / "body-2k.txt", 2048)
    tables, data, notes = [], {}, []

    print(f"built-in server, {size / MiB:g} MiB", flush=True)
    builtin: dict[str, list[dict]] = {}
    idle: dict[str, list[dict]] = {}
    alternate({
        "smtpstep run": lambda: against_builtin("smtpstep run", body, tmp, builtin),
        "smtplib": lambda: against_builtin("smtplib", body, tmp, builtin),
    }, rounds)
    builtin = {name: records[-rounds:] for name, records in builtin.items()}  # drop the warm-up
    alternate({
        "smtpstep run": lambda: against_builtin("smtpstep run", small, tmp, idle),
        "smtplib": lambda: against_builtin("smtplib", small, tmp, idle),
    }, 1, warmup=0)
    rows = []
    reference = Stats.of([r["wall"] for r in builtin["smtplib"]]).median
    for name, records in builtin.items():
        wall = Stats.of([r["wall"] for r in records])
        client_peak = Stats.of([r["max_rss_kib"] / 1024 for r in records]).median
        client_idle = Stats.of([r["max_rss_kib"] / 1024 for r in idle[name]]).median
        server_idle = Stats.of([r["server_idle_kib"] / 1024 for r in records]).median
        server_peak = Stats.of([r["server_peak_kib"] / 1024 for r in records]).median
        rows.append([name, wall.s(), f"{wall.median / reference:.2f}x", f"{size / MiB / wall.median:.1f}",
                     f"{client_idle:.0f} → {client_peak:.0f} (+{(client_peak - client_idle) / (size / MiB):.1f}x msg)",
                     f"{server_idle:.0f} → {server_peak:.0f} (+{(server_peak - server_idle) / (size / MiB):.1f}x msg)"])
        data[f"builtin/{name}"] = {"wall": wall.as_dict(), "client_idle_mib": client_idle,
                                   "client_peak_mib": client_peak, "server_idle_mib": server_idle,
                                   "server_peak_mib": server_peak, "records": records}
    tables.append(markdown(["client → smtpstep serve", "wall s, median (min-max)", "vs smtplib", "MiB/s",
                            "client RSS MiB, idle → peak", "server RSS MiB, idle → peak"], rows))

    postfix = Postfix.find()
    if postfix is not None:
        limit = postfix.message_size_limit()
        pf_size = min(size, int(limit * 0.95) - 4096)
        pf_body = body if pf_size == size else write_body(tmp / "body-postfix.txt", pf_size)
        if pf_size != size:
            notes.append(f"Postfix's message_size_limit is {limit:,}: it got {pf_size / MiB:.1f} MiB, not "
                         f"{size / MiB:g} (the setting is left alone)")
        print(f"Postfix, {pf_size / MiB:.1f} MiB", flush=True)
        pf: dict[str, list[dict]] = {}
        alternate({name: (lambda name=name: against_postfix(name, postfix, pf_body, pf))
                   for name in ("smtpstep run", "smtplib")}, rounds)
        pf = {name: records[-rounds:] for name, records in pf.items()}
        reference = Stats.of([r["wall"] for r in pf["smtplib"]]).median
        rows = []
        for name, records in pf.items():
            wall = Stats.of([r["wall"] for r in records])
            peak = Stats.of([r["max_rss_kib"] / 1024 for r in records]).median
            rows.append([name, f"{pf_size / MiB:.1f}", wall.s(), f"{wall.median / reference:.2f}x",
                         f"{pf_size / MiB / wall.median:.1f}", f"{peak:.0f}"])
            data[f"postfix/{name}"] = {"bytes": pf_size, "wall": wall.as_dict(), "client_peak_mib": peak}
        tables.append(markdown(["client → Postfix", "MiB", "wall s, median (min-max)", "vs smtplib", "MiB/s",
                                "client peak RSS MiB"], rows))
    else:
        notes.append("Postfix not running: skipped")

    print("the app (TUI, headless)", flush=True)
    app_runs: list[dict] = []
    apart_runs: list[dict] = []
    alternate({"built-in": lambda: app_send(size, app_runs), "apart": lambda: app_send(size, apart_runs, tmp)},
              rounds, warmup=0)
    rows = []
    for label, runs in ((f"{size / MiB:g} MiB, built-in server in its thread (client + server RSS)", app_runs),
                        (f"{size / MiB:g} MiB, smtpstep serve in another process (client RSS)", apart_runs)):
        step = Stats.of([r["message_step_s"] for r in runs])
        gap = Stats.of([r["max_loop_gap_s"] for r in runs])
        frame = Stats.of([r["max_frame_s"] for r in runs])
        idle_app = Stats.of([r["idle_rss_kib"] / 1024 for r in runs]).median
        peak_app = Stats.of([r["peak_rss_kib"] / 1024 for r in runs]).median
        rows.append([label, step.s(), f"{gap.median * 1000:.0f} (max {gap.high * 1000:.0f})",
                     f"{frame.median * 1000:.0f} (max {frame.high * 1000:.0f})",
                     f"{idle_app:.0f} → {peak_app:.0f} (+{(peak_app - idle_app) / (size / MiB):.1f}x msg)"])
    tables.append(markdown(["the app", "message step s, median (min-max)", "longest UI loop gap ms",
                            "longest frame ms", "RSS MiB before → peak"], rows))
    data["app"] = app_runs
    data["app, server apart"] = apart_runs
    report("large_message", f"6. Large message: {size / MiB:g} MiB over STARTTLS + AUTH", tables,
           {"bytes": size, "rounds": rounds, "results": data},
           notes + ["goal: <= 2 s; client and server RSS each <= idle + 5x the message; "
                    "no frame (UI gap) over 100 ms while sending"])


if __name__ == "__main__":
    main()
