"""Wire log scale, 100,000 lines into ``WireLog`` vs Textual's ``RichLog`` and ``Log``.

Each widget runs in its own child process (``clients/wire_log_child.py``) so that the RSS it adds is
its own: one-widget app, headless 120x36, N lines in (one call per line: a wire chunk, ``RichLog.write``,
``Log.write_line``; and ``Log.write_lines`` once, for comparison), then 60 random jumps and 60
page-downs. Widgets alternate run by run.

Goal: 100k lines add <= 100 MiB, append in under a second, and no frame over 50 ms while scrolling;
nothing of the session dropped (the row "kept" counts the lines the widget holds).

Default sizes keep the run short: WireLog and Log.write_lines get 100,000 lines; RichLog and
Log.write_line get 10,000 (their per-line cost is shown scaled to 100k, marked "x10"). --full
gives every widget 100,000 lines.

    .venv/bin/python benchmarks/wire_log_scale.py          # 2 runs each (about 1.5 minutes)
    .venv/bin/python benchmarks/wire_log_scale.py --full   # 3 runs each, 100k everywhere (long)
"""

from __future__ import annotations

import argparse
import json
import subprocess

from harness import HERE, PYTHON, BenchmarkError, Stats, alternate, markdown, percentile, report

CHILD = str(HERE / "clients" / "wire_log_child.py")
WIDGETS = {"WireLog (smtpstep)": "wirelog", "RichLog": "richlog", "Log.write_line": "log-write-line",
           "Log.write_lines (one call)": "log-write-lines"}


def run_child(widget: str, lines: int, out: list[dict]) -> float:
    done = subprocess.run([PYTHON, CHILD, widget, str(lines)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise BenchmarkError(f"{widget}: {done.stderr[-1000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out.append(result)
    return result["calls_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100k lines for every widget, 3 runs")
    parser.add_argument("--runs", type=int)
    args = parser.parse_args()
    runs = args.runs or (3 if args.full else 2)
    sizes = {"wirelog": 100_000, "log-write-lines": 100_000,
             "richlog": 100_000 if args.full else 10_000, "log-write-line": 100_000 if args.full else 10_000}
    results: dict[str, list[dict]] = {name: [] for name in WIDGETS}
    alternate({name: (lambda w=w, name=name: run_child(w, sizes[w], results[name])) for name, w in WIDGETS.items()},
              runs, warmup=0)
    rows, scroll_rows, data = [], [], {}
    for name, widget in WIDGETS.items():
        scale = 100_000 / sizes[widget]
        tag = "" if scale == 1 else f" (x{scale:g})"
        res = results[name]
        mib = Stats.of([r["rss_added_kib"] / 1024 * scale for r in res])
        calls = Stats.of([r["calls_s"] * scale for r in res])
        settled = Stats.of([r["settled_s"] * scale for r in res])
        rate = Stats.of([r["lines"] / r["calls_s"] for r in res])
        kept = min(r["kept_lines"] for r in res)
        rows.append([name, f"{sizes[widget]:,}", f"{kept:,}", f"{mib.median:.1f}{tag}", f"{calls.median:.2f}{tag}",
                     f"{settled.median:.2f}{tag}", f"{rate.median:,.0f}"])
        frames = sorted(f for r in res for f in r["jump_frames_s"] + r["page_frames_s"])
        jumps = sorted(f for r in res for f in r["jump_frames_s"])
        pages = sorted(f for r in res for f in r["page_frames_s"])
        scroll_rows.append([name, f"{percentile(jumps, 50) * 1000:.1f} / {jumps[-1] * 1000:.1f}",
                            f"{percentile(pages, 50) * 1000:.1f} / {pages[-1] * 1000:.1f}",
                            f"{percentile(frames, 95) * 1000:.1f}", sum(f > 0.05 for f in frames),
                            f"{max(r['gc_full_max_s'] for r in res) * 1000:.1f} ({sum(r['gc_full_collections'] for r in res)})",
                            f"{max(r.get('gc_walked_objects', r['gc_tracked_objects']) for r in res):,} / "
                            f"{max(r.get('gc_frozen_objects', 0) for r in res):,}"])
        data[name] = {"lines": sizes[widget], "runs": res}
    report("wire_log_scale", "5. Wire log scale: 100,000 lines", [
        markdown(["widget", "lines in", "kept", "RSS added, MiB per 100k", "append calls, s per 100k",
                  "until idle, s per 100k", "lines/s"], rows),
        markdown(["widget", "random jump frame, p50 / max ms", "page-down frame, p50 / max ms", "p95 ms",
                  "frames > 50 ms", "longest full GC while scrolling, ms (count)",
                  "GC-tracked objects: walked / frozen"],
                 scroll_rows)],
        {"runs": runs, "results": data},
        ["medians over runs; (xN): measured on fewer lines and scaled to 100k",
         "goal: <= 100 MiB, append < 1 s, no frame over 50 ms while scrolling, nothing dropped"])


if __name__ == "__main__":
    main()
