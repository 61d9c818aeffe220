"""What the benchmark scripts share: statistics, alternation, the servers they measure against, versions.

Holds no benchmark of its own. It starts ``smtpstep serve`` on free loopback ports (optionally under
``/usr/bin/time -v``), finds the loopback Postfix of ``benchmarks/mta``, times whole processes,
runs cases alternately, and prints Markdown tables plus a JSON record in ``benchmarks/results/``.

Rules:
- loopback only: every server here binds 127.0.0.1, every client connects there;
- a case and its reference always run in the same invocation, interleaved round by round, so that
  a slow minute on a shared machine hits both;
- it never changes the Postfix configuration; it only reads ``/tmp/smtpstep-mta/mta.env``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent
SMTPSTEP = str(VENV_BIN / "smtpstep")
GNU_TIME = "/usr/bin/time"
MTA_ENV = Path("/tmp/smtpstep-mta/mta.env")
DEMO_USER, DEMO_PASSWORD = "student", "classroom"
BUILTIN_RCPT = "class@example.test"
"""A recipient the built-in server delivers (any ``*.test`` address)."""


# --- statistics -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Summary of one case's samples (in the samples' unit)."""

    n: int
    median: float
    low: float
    high: float
    p95: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        ordered = sorted(samples)
        return cls(len(ordered), statistics.median(ordered), ordered[0], ordered[-1], percentile(ordered, 95))

    def ms(self) -> str:
        """'median (min-max)' in milliseconds, for samples in seconds."""
        return f"{self.median * 1000:.1f} ({self.low * 1000:.1f}-{self.high * 1000:.1f})"

    def s(self) -> str:
        return f"{self.median:.3f} ({self.low:.3f}-{self.high:.3f})"

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "median": self.median, "min": self.low, "max": self.high, "p95": self.p95}


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def alternate(cases: dict[str, Callable[[], float | None]], rounds: int, *, warmup: int = 1,
              progress: bool = True) -> dict[str, list[float]]:
    """Run every case once per round, rotating the order each round; return the samples per case.

    A case returns its measurement (or None to drop the sample). The warm-up rounds are not kept:
    the first run after a build pays for ``.pyc`` files and a cold page cache.
    """
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warmup + rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            value = cases[name]()
            if round_ >= warmup and value is not None:
                samples[name].append(value)
        if progress:
            print(f"  round {round_ + 1 - warmup}/{rounds}" if round_ >= warmup else "  warm-up", file=sys.stderr,
                  flush=True)
    return samples


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


# --- processes --------------------------------------------------------------------------------------


class BenchmarkError(RuntimeError):
    """A benchmark could not run as set up (a client failed, a server did not start)."""


def timed_run(argv: Sequence[str], *, env: dict[str, str] | None = None, stdout: int | None = subprocess.DEVNULL,
              check: bool = True, timeout: float = 120.0) -> float:
    """Run a whole process; return its wall time in seconds (spawn to exit)."""
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    done = subprocess.run(list(argv), env=full_env, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)
    elapsed = time.perf_counter() - start
    if check and done.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv[:3])}... exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace')[-800:]}")
    return elapsed


def gnu_time(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300.0) -> dict[str, float]:
    """Run ``argv`` under ``/usr/bin/time -v``; return wall seconds and peak RSS (KiB)."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        done = subprocess.run([GNU_TIME, "-v", "-o", report.name, *argv], env=full_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
        wall = time.perf_counter() - start
        text = report.read()
    if done.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv[:3])}... exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace')[-800:]}")
    return {"wall": wall, "max_rss_kib": float(_time_field(text, "Maximum resident set size (kbytes)"))}


def _time_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith(name):
            return line.rsplit(":", 1)[1].strip()
    raise BenchmarkError(f"/usr/bin/time -v printed no {name!r}:\n{text}")


def rss_kib(pid: int) -> int:
    """Current resident set size of ``pid`` in KiB."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """Peak resident set size (high-water mark) of ``pid`` in KiB."""
    return _status_kib(pid, "VmHWM")


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise BenchmarkError(f"/proc/{pid}/status has no {key}")


def own_rss_kib() -> int:
    return rss_kib(os.getpid())


def scratch_dir() -> Path:
    """A temporary folder for Maildirs and message bodies, removed when the process exits."""
    import atexit

    path = Path(tempfile.mkdtemp(prefix="smtpstep-bench-"))
    atexit.register(shutil.rmtree, path, True)
    return path


# --- servers ----------------------------------------------------------------------------------------


@dataclass
class BuiltinServer:
    """``smtpstep serve`` in a child process on free loopback ports, with its own Maildir."""

    maildir: Path
    under_time: bool = False
    """Run it under ``/usr/bin/time -v`` (for its peak RSS)."""
    extra: Sequence[str] = ()
    command: Sequence[str] = ()
    """Another server that prints the same lines as ``smtpstep serve`` (ports, trust CA, ready)."""
    ports: dict[str, int] = field(default_factory=dict)
    ca_path: str = ""
    process: subprocess.Popen | None = None
    pid: int = 0
    """The Python process's pid (not /usr/bin/time's)."""
    _time_report: str = ""

    def start(self, timeout: float = 30.0) -> BuiltinServer:
        argv = list(self.command) or [SMTPSTEP, "serve", "--port", "0", "--tls-port", "0", "--plain-port", "0",
                                      "--maildir", str(self.maildir), *self.extra]
        if self.under_time:
            self._time_report = tempfile.mktemp(suffix=".time")
            argv = [GNU_TIME, "-v", "-o", self._time_report, *argv]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        lines = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if match := re.match(r"\s+(plain|submission|submissions)\s+127\.0\.0\.1:(\d+)", line):
                self.ports[match.group(1)] = int(match.group(2))
            if match := re.match(r"\s+trust CA\s+(\S+)", line):
                self.ca_path = match.group(1)
            if line.startswith("ready:"):
                break
        if len(self.ports) != 3 or not self.ca_path:
            err = self.process.stderr.read() if self.process.poll() is not None else ""  # type: ignore[union-attr]
            self.stop()
            raise BenchmarkError(f"smtpstep serve did not start: {''.join(lines)} {err}")
        self.pid = _python_child(self.process.pid) if self.under_time else self.process.pid
        # Keep reading its stdout (one line per message) so that a full pipe never blocks it.
        import threading

        threading.Thread(target=_drain, args=(self.process.stdout,), daemon=True).start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop it (SIGTERM, its normal stop); with ``under_time``, return its peak RSS."""
        if self.process is None:
            return {}
        if self.process.poll() is None:
            os.kill(self.pid or self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.under_time and self._time_report:
            text = Path(self._time_report).read_text()
            os.unlink(self._time_report)
            return {"max_rss_kib": float(_time_field(text, "Maximum resident set size (kbytes)"))}
        return {}

    def __enter__(self) -> BuiltinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _drain(stream) -> None:  # type: ignore[no-untyped-def]
    for _ in stream:
        pass


def _python_child(pid: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise BenchmarkError(f"no child process under /usr/bin/time ({pid})")


@dataclass(frozen=True)
class Postfix:
    """The loopback Postfix of ``benchmarks/mta`` (read-only: its settings file)."""

    host: str
    submission_port: int
    plain_port: int
    ca: str
    tls_name: str
    user: str
    password: str
    rcpt: str
    maildir: Path

    @classmethod
    def find(cls) -> Postfix | None:
        """The running Postfix, or None (then the scripts skip it and say so)."""
        if not MTA_ENV.exists():
            return None
        env = {}
        for line in MTA_ENV.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key.strip()] = value.strip()
        try:
            found = cls(env["SMTPSTEP_MTA_HOST"], int(env["SMTPSTEP_MTA_SUBMISSION_PORT"]),
                        int(env["SMTPSTEP_MTA_PLAIN_PORT"]), env["SMTPSTEP_MTA_CA"], env["SMTPSTEP_MTA_TLS_NAME"],
                        env["SMTPSTEP_MTA_USER"], env["SMTPSTEP_MTA_PASSWORD"], env["SMTPSTEP_MTA_RCPT"],
                        Path(env["SMTPSTEP_MTA_MAILDIR"]))
        except (KeyError, ValueError):
            return None
        if found.host not in ("127.0.0.1", "localhost", "::1") or not port_open(found.host, found.submission_port):
            return None
        return found

    def postconf(self, name: str) -> str:
        try:
            out = subprocess.run(["postconf", "-h", name], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.strip()

    def message_size_limit(self) -> int:
        value = self.postconf("message_size_limit")
        return int(value) if value.isdigit() else 10_240_000


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# --- reporting --------------------------------------------------------------------------------------


def byte_compile() -> None:
    """Write the project's bytecode, as ``pip install`` does for a user.

    This machine sets ``PYTHONDONTWRITEBYTECODE=1``: without this, every smtpstep child would compile
    its modules from source (~40 ms), which no installed copy does, while the references (swaks, the
    stdlib's smtplib, Textual) run from bytecode.
    """
    import compileall

    for package in ("app", "protocol", "themes"):
        compileall.compile_dir(ROOT / package, quiet=1)
    compileall.compile_dir(HERE / "clients", quiet=1)


byte_compile()


def environment() -> dict[str, str]:
    """The machine and versions, for the results table."""
    import ssl

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z"),
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "textual": pkg("textual"),
        "rich": pkg("rich"),
        "aiosmtpd": pkg("aiosmtpd"),
        "openssl": ssl.OPENSSL_VERSION,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "bytecode": "compiled before the run (PYTHONDONTWRITEBYTECODE is set here)"
        if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written on import",
        "postfix": _postfix_version(),
        "swaks": _swaks_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "-"


def _postfix_version() -> str:
    try:
        return subprocess.run(["postconf", "-h", "mail_version"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "-"
    except (OSError, subprocess.TimeoutExpired):
        return "-"


def _swaks_version() -> str:
    if not shutil.which("swaks"):
        return "-"
    out = subprocess.run(["swaks", "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.split()[2] if len(out.split()) > 2 else "-"


def markdown(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(name: str, title: str, tables: Sequence[str], data: dict, notes: Sequence[str] = ()) -> None:
    """Print the result tables and keep them, with the environment, in ``results/NAME.{json,md}``."""
    env = environment()
    header = (f"## {title}\n\n{env['date']}; {env['cores']} cores ({env['cpu']}); Python {env['python']}, "
              f"Textual {env['textual']}, aiosmtpd {env['aiosmtpd']}, {env['openssl']}; load {env['load']}; "
              f"bytecode {env['bytecode']}")
    text = "\n\n".join([header, *tables, *[f"- {note}" for note in notes]]) + "\n"
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps({"environment": env, **data}, indent=2, default=str) + "\n")


def write_body(path: Path, size: int, *, line: int = 76) -> Path:
    """A plain-text message body of ``size`` octets (LF line ends, some lines starting with a dot)."""
    words = b"The quick brown fox jumps over the lazy dog while the class watches each SMTP step. "
    chunk = bytearray()
    n = 0
    while len(chunk) < size:
        text = (words * 2)[n % len(words):][: line - 1]
        if n % 50 == 7:
            text = b"." + text[1:]
        chunk += text + b"\n"
        n += 1
    path.write_bytes(bytes(chunk[:size - 1]) + b"\n")
    return path
