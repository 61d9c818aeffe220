"""Cold start, whole process, alternating with the references.

- the TUI's first frame, headless (``clients/first_frame.py smtpstep``: the real app, stopped at the
  first refresh after mount), split into "modules loaded" and "mounted and drawn";
- the same for a minimal 3-pane Textual app (Header, three bordered panes, Footer), the reference;
- ``smtpstep run --help`` and ``python -c "import textual.app"``.

Goal: first frame <= 0.5 s and <= 1.3x the minimal app.

    .venv/bin/python benchmarks/cold_start.py          # 8 rounds (about 40 s)
    .venv/bin/python benchmarks/cold_start.py --full   # 30 rounds
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from harness import HERE, PYTHON, SMTPSTEP, BenchmarkError, Stats, alternate, markdown, ratio, report, timed_run

CHILD = str(HERE / "clients" / "first_frame.py")


def first_frame(which: str, phases: dict[str, list[float]]) -> float:
    """Spawn the child; return spawn-to-first-frame seconds; record the phases."""
    start = time.monotonic()
    done = subprocess.run([PYTHON, CHILD, which], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TEXTUAL": ""})
    exited = time.monotonic()
    marks = dict(line.split() for line in done.stdout.splitlines() if line.count(" ") == 1)
    if done.returncode != 0 or "first-frame" not in marks:
        raise BenchmarkError(f"{which}: exit {done.returncode}: {done.stderr[-800:]}")
    imported, frame = float(marks["imported"]), float(marks["first-frame"])
    phases.setdefault(f"{which}/imports", []).append(imported - start)
    phases.setdefault(f"{which}/mount to frame", []).append(frame - imported)
    phases.setdefault(f"{which}/exit", []).append(exited - start)
    return frame - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="30 rounds instead of 8")
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.full else 8)
    phases: dict[str, list[float]] = {}
    cases = {
        "smtpstep TUI, first frame": lambda: first_frame("smtpstep", phases),
        "minimal 3-pane app, first frame": lambda: first_frame("minimal", phases),
        "smtpstep run --help": lambda: timed_run([SMTPSTEP, "run", "--help"]),
        "python -c 'import textual.app'": lambda: timed_run([PYTHON, "-c", "import textual.app"]),
        "python -c pass": lambda: timed_run([PYTHON, "-c", "pass"]),
    }
    samples = alternate(cases, rounds)
    # Drop the warm-up round's phases so that they match the kept samples.
    phases = {key: values[-rounds:] for key, values in phases.items()}
    minimal = Stats.of(samples["minimal 3-pane app, first frame"]).median
    rows = []
    for name, values in samples.items():
        stats = Stats.of(values)
        rows.append([name, stats.ms(), ratio(stats.median, minimal)])
    phase_rows = []
    for which in ("smtpstep", "minimal"):
        for phase in ("imports", "mount to frame", "exit"):
            stats = Stats.of(phases[f"{which}/{phase}"])
            phase_rows.append([which, phase if phase != "exit" else "process exit (from spawn)", stats.ms()])
    ratios = [a / b for a, b in zip(samples["smtpstep TUI, first frame"], samples["minimal 3-pane app, first frame"])]
    report(
        "cold_start",
        "3. Cold start: whole process, headless first frame",
        [markdown(["case", "ms from spawn, median (min-max)", "vs minimal app"], rows),
         markdown(["app", "phase", "ms, median (min-max)"], phase_rows)],
        {"rounds": rounds, "results": {name: Stats.of(v).as_dict() for name, v in samples.items()},
         "phases": {name: Stats.of(v).as_dict() for name, v in phases.items()},
         "per_round_ratio": Stats.of(ratios).as_dict()},
        [f"per-round ratio smtpstep/minimal: median {Stats.of(ratios).median:.2f} "
         f"({min(ratios):.2f}-{max(ratios):.2f})",
         "goal: first frame <= 500 ms and <= 1.3x the minimal app"],
    )


if __name__ == "__main__":
    main()
