"""A classroom on one machine: N browser tabs of ``smtpstep web`` at once, three ways of starting a tab.

Each tab is a WebSocket client standing in for a browser (the handshake and frames a page sends). It opens
at the same moment as the others, waits for its first full screen (the header's "step 0 of": the stepper
is ready), presses ``g`` and waits for "session finished". Reported per design and class size: ready time
(median, max), run time (ready to finished, median, max), sessions finished, and the peak memory of the
server's whole process tree: the sum of RSS (pages shared by forked tabs counted in every process) and of
PSS (each shared page divided among its sharers: what the tree really costs), and the load average when the
class began. The designs, in the same run, one after the other: ``spawn`` (the reference: one fresh Python
process per tab, each with a built-in server process of its own), ``fork`` (tabs forked from a preloaded
parent, each still with a server process of its own) and ``shared`` (forked tabs, each with a seat in one
built-in server process shared by all: the default).

Goal on a 2-core machine: 30 tabs ready in <= 2 s median, <= 1 GiB for the whole tree, every session
finished.

    .venv/bin/python benchmarks/web_classroom.py                # 10 and 30 tabs, 1 round each design
    .venv/bin/python benchmarks/web_classroom.py --tabs 30 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import PYTHON, ROOT, BenchmarkError, markdown, report, scratch_dir

sys.path.insert(0, str(ROOT))
from tests.support.web import CSI, Frames, open_socket, send_text  # noqa: E402 - a tab as the web tests make it

READY = re.compile(rb"step 0 of \d+")
FINISHED = b"session finished"
TIMEOUT = 120.0


# --- the server and its process tree ----------------------------------------------------------------


DESIGNS = {
    "spawn": ("--tabs", "spawn", "--tab-servers", "own"),
    "fork": ("--tabs", "fork", "--tab-servers", "own"),
    "shared": ("--tabs", "fork", "--tab-servers", "shared"),
}
"""The ``web`` flags of each design."""


def start_web(tmp: Path, design: str, tabs: int, *extra: str,
              runtime: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    for name in ("data", "state", "config", "cache", "runtime", "tmp"):
        (tmp / name).mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(XDG_DATA_HOME=str(tmp / "data"), XDG_STATE_HOME=str(tmp / "state"),
               XDG_CONFIG_HOME=str(tmp / "config"), XDG_CACHE_HOME=str(tmp / "cache"),
               XDG_RUNTIME_DIR=str(runtime or tmp / "runtime"), TMPDIR=str(tmp / "tmp"), PYTHONPATH=str(ROOT))
    process = subprocess.Popen([PYTHON, "-m", "smtpstep.app.cli", "web", "--port", "0", *DESIGNS[design],
                                "--max-tabs", str(tabs), *extra], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    port = None
    # Ready once it says so, and once the preloaded parent and the shared server have started (as before a
    # lesson: the teacher starts the server, then the class comes in).
    waiting = {"ready"}
    if DESIGNS[design][1] == "fork":
        waiting.add("tabs are forked from process")
    if design == "shared" and "--follow" not in extra:
        waiting.add("tabs share the built-in server in process")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if match := re.search(r"127\.0\.0\.1:(\d+)/", line):
            port = int(match.group(1))
        waiting = {said for said in waiting if not (line.strip() == said if said == "ready" else said in line)}
        if not waiting and port:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore
            return process, port
        if not line:
            break
    process.kill()
    raise BenchmarkError(f"smtpstep web ({design}) did not start")


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(text[text.rindex(")") + 2:].split()[1]), []).append(int(entry))
    found, todo = [pid], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """The tree's summed RSS and PSS, in KiB."""
    rss = pss = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


class Sampler(threading.Thread):
    """The tree's peak RSS and PSS, sampled every 0.1 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = self.peak_pss = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            rss, pss = memory_kib(self.pid)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.stop.wait(0.1)


# --- a tab as a browser makes it ------------------------------------------------------------------


class Tab(threading.Thread):
    """One WebSocket tab: connect, wait for the ready screen, press g, wait for the end."""

    def __init__(self, port: int, go: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.go = port, go
        self.ready: float | None = None
        self.finished: float | None = None
        self.error = ""

    def run(self) -> None:
        try:
            self.go.wait()
            start = time.monotonic()
            sock = open_socket(self.port)
            frames = Frames(sock)
            frames.read_until(lambda f: READY.search(tail(f)) is not None, "the ready screen", TIMEOUT)
            self.ready = time.monotonic() - start
            frames.output.clear()
            send_text(sock, json.dumps(["stdin", "g"]))
            frames.read_until(lambda f: FINISHED in tail(f), "the end of the session", TIMEOUT)
            self.finished = time.monotonic() - start
            sock.close()
        except Exception as error:  # noqa: BLE001 - counted as a session that did not finish
            self.error = f"{type(error).__name__}: {error}"


def tail(frames: Frames) -> bytes:
    """The text of the newest output (the whole of it would cost the benchmark, not the server, more time)."""
    del frames.output[:-65536]
    return CSI.sub(b"", bytes(frames.output[-16384:]))


# --- one class ----------------------------------------------------------------------------------------


def one_class(design: str, count: int) -> dict:
    tmp = scratch_dir()
    process, port = start_web(tmp, design, count)
    load = os.getloadavg()[0]
    sampler = Sampler(process.pid)
    sampler.start()
    go = threading.Event()
    tabs = [Tab(port, go) for _ in range(count)]
    for tab in tabs:
        tab.start()
    began = time.monotonic()
    go.set()
    for tab in tabs:
        tab.join(TIMEOUT)
    wall = time.monotonic() - began
    sampler.stop.set()
    sampler.join()
    process.send_signal(2)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
    left = [p for p in tree(process.pid) if p != process.pid] if process.poll() is None else []
    ready = sorted(t.ready for t in tabs if t.ready is not None)
    runs = sorted(t.finished - t.ready for t in tabs if t.finished is not None and t.ready is not None)
    return {
        "design": design, "tabs": count, "load": load, "ready": ready, "run": runs, "wall": wall,
        "finished": sum(t.finished is not None for t in tabs),
        "peak_rss_mib": sampler.peak_rss / 1024, "peak_pss_mib": sampler.peak_pss / 1024,
        "errors": [t.error for t in tabs if t.error][:3], "left": left,
    }


# --- follow mode -------------------------------------------------------------------------------------


class Reader(threading.Thread):
    """A tab that keeps reading (and answering the server's pings): when each of its screen updates arrived."""

    def __init__(self, port: int, size: tuple[int, int] | None = None) -> None:
        super().__init__(daemon=True)
        self.frames = Frames(open_socket(port), size=size)
        self.arrivals: list[float] = []
        self.error = ""
        self.start()

    def run(self) -> None:
        def note(frames: Frames) -> bool:
            if frames.output:
                self.arrivals.append(time.monotonic())
                self.text = tail(frames)
                frames.output.clear()
            return False

        self.text = b""
        try:
            self.frames.read_until(note, "nothing", 10 * TIMEOUT)
        except (AssertionError, OSError) as error:
            self.error = str(error)[:100]

    def wait(self, found, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + TIMEOUT
        while not found(self):
            if time.monotonic() > deadline or self.error:
                raise BenchmarkError(f"never saw {what} {self.error}")
            time.sleep(0.005)


def follow_class(count: int, steps: int) -> dict:
    """A teacher's tab broadcasting, ``count`` followers; per step, the delay to the last follower's screen."""
    tmp = scratch_dir()
    runtime = tmp / "runtime"
    runtime.mkdir(mode=0o700)
    teacher_web, teacher_port = start_web(tmp / "teacher", "fork", 1, "--broadcast", runtime=runtime)
    followers_web, port = start_web(tmp / "students", "fork", count, "--follow", runtime=runtime)
    teacher = Reader(teacher_port, size=(100, 30))
    try:
        teacher.wait(lambda r: "step 0 of" in r.frames.line(0), "the teacher's stepper")
        followers = [Reader(port) for _ in range(count)]
        for follower in followers:
            follower.wait(lambda r: bool(r.arrivals), "a follower's first screen")
        time.sleep(6.0)  # the followers' welcome notes come and go before anything is timed
        delays, from_screen = [], []
        for number in range(1, steps + 1):
            start = time.monotonic()
            send_text(teacher.frames.sock, json.dumps(["stdin", " "]))
            teacher.wait(lambda r: f"step {number} of" in r.frames.line(0), f"the teacher's step {number}")
            shown = time.monotonic()
            deadline = shown + 30
            while time.monotonic() < deadline and not all(any(t > start for t in f.arrivals) for f in followers):
                time.sleep(0.005)
            last = max(min((t for t in f.arrivals if t > start), default=deadline) for f in followers)
            delays.append(last - start)
            from_screen.append(last - shown)
            time.sleep(1.0)
        return {"followers": count, "steps": steps, "press_to_last_follower": delays,
                "teacher_screen_to_last_follower": from_screen, "errors": [f.error for f in followers if f.error][:3]}
    finally:
        teacher.frames.sock.close()
        for process in (followers_web, teacher_web):
            process.send_signal(2)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


HEADERS = ["case", "ready median s", "ready max s", "run median s", "run max s", "all done s", "finished",
           "peak RSS sum MiB", "peak PSS sum MiB", "load 1 min"]


def row(result: dict) -> list[object]:
    ready, run = result["ready"], result["run"]
    med = (lambda xs: f"{statistics.median(xs):.2f}" if xs else "-")
    top = (lambda xs: f"{max(xs):.2f}" if xs else "-")
    return [f"{result['tabs']} tabs, {result['design']}", med(ready), top(ready), med(run), top(run),
            f"{result['wall']:.1f}", f"{result['finished']}/{result['tabs']}", f"{result['peak_rss_mib']:.0f}",
            f"{result['peak_pss_mib']:.0f}", f"{result['load']:.1f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tabs", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--followers", type=int, default=30)
    parser.add_argument("--follow-steps", type=int, default=8)
    parser.add_argument("--follow-only", action="store_true", help="only the follow-mode delay")
    parser.add_argument("--no-follow", action="store_true", help="the classes only, no follow-mode delay")
    parser.add_argument("--designs", nargs="+", choices=tuple(DESIGNS), default=list(DESIGNS))
    options = parser.parse_args()
    if sys.platform != "linux":
        raise SystemExit("needs Linux (/proc)")
    results = []
    for count in [] if options.follow_only else options.tabs:
        for _ in range(options.rounds):
            for design in options.designs:  # the reference first: a warm page cache helps the ones after it
                result = one_class(design, count)
                results.append(result)
                print(markdown(HEADERS, [row(result)]), flush=True)
                if result["errors"]:
                    print("errors:", result["errors"])
    if options.no_follow:
        table = markdown(HEADERS, [row(r) for r in results])
        print(table)
        return 0
    follow = follow_class(options.followers, options.follow_steps)
    follow_table = markdown(
        ["followers", "steps", "press → last follower's screen, median ms", "max ms",
         "teacher's screen → last follower's, median ms", "max ms"],
        [[follow["followers"], follow["steps"], f"{statistics.median(follow['press_to_last_follower']) * 1000:.0f}",
          f"{max(follow['press_to_last_follower']) * 1000:.0f}",
          f"{statistics.median(follow['teacher_screen_to_last_follower']) * 1000:.0f}",
          f"{max(follow['teacher_screen_to_last_follower']) * 1000:.0f}"]])
    print(follow_table, follow["errors"], flush=True)
    table = markdown(HEADERS, [row(r) for r in results])
    report("web_classroom", "smtpstep web: a class of browser tabs, spawned, forked, forked with a shared server; follow mode", [table, follow_table],
           {"results": results, "follow": follow},
           notes=["ready: from the tab's connect to its screen showing \"step 0 of\" (the stepper is ready); run: "
                  "from pressing g to \"session finished\"; all done: from the first connect to the last finish",
                  "RSS sum counts every page shared by forked tabs once per process; PSS divides it among them",
                  "follow: a teacher's tab (web --broadcast) stepped by space; the last follower's screen is the "
                  "first frame it draws after the press (followers draw nothing else meanwhile)"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
