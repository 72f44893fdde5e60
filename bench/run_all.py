#!/usr/bin/env python3
"""Run the benchmarks under bench/ and append their results to bench/RESULTS.md.

    python bench/run_all.py                 # every bench/<name>/run.py
    python bench/run_all.py api_overhead    # only these (also: BENCH=api_overhead)
    make bench BENCH=api_overhead

Each benchmark runs in its own subprocess; its stdout (a markdown section) is
collected and appended, under a heading with the date, the machine and the
load average at the start, to bench/RESULTS.md. Exits 1 when a benchmark
broke (its section then says so, with its stderr tail), 2 on bad arguments.
See bench/README.md for the convention.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Appended by `make bench` (`bench/run_all.py`); newest at the bottom. Each run names the machine and\n"
    "its load average at the start: figures from a busy machine are noisy. See bench/README.md.\n"
)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Benchmarks that share a directory with others, by name → script (relative to bench/).
EXTRA_SCRIPTS = {
    "health.slow_query": "health/slow_query.py",  # health-degrade
    "health.shedding": "health/shedding.py",  # health-degrade
}


def discover(bench_dir: Path) -> list[str]:
    return sorted(
        [p.name for p in bench_dir.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "run.py").is_file()]
        + [name for name, script in EXTRA_SCRIPTS.items() if (bench_dir / script).is_file()]
    )


def select(requested: list[str], available: list[str]) -> list[str]:
    """The benchmarks to run: the names asked for (in order, once each), or all."""
    names: list[str] = []
    for item in requested:
        names += [n for n in re.split(r"[\s,]+", item.strip()) if n]
    if not names:
        return available
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(
            f"run_all: unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available) or 'none'}"
        )
    return list(dict.fromkeys(names))


def interpreter() -> str:
    """Benchmarks need the project's packages: prefer the repo's venv."""
    explicit = os.environ.get("BENCH_PYTHON")
    if explicit:
        return explicit
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# --- machine -------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine(python: str) -> list[tuple[str, str]]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    try:
        version = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "unknown"
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    if commit != "unknown" and _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return [
        ("host", socket.gethostname()),
        ("CPU", cpu.group(1).strip() if cpu else platform.processor() or "unknown"),
        ("cores", str(os.cpu_count() or "unknown")),
        ("RAM", f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "unknown"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{version} (`{python}`)"),
        ("git commit", commit),
        ("load average at start (1/5/15 min)", loadavg()),
    ]


# --- running ---------------------------------------------------------------------

def run_one(name: str, bench_dir: Path, python: str, timeout: float) -> tuple[str, bool, float]:
    """(markdown section, ok, seconds). stderr is passed through live and its tail kept."""
    script = bench_dir / EXTRA_SCRIPTS.get(name, f"{name}/run.py")
    print(f"run_all: {name} …", file=sys.stderr, flush=True)
    started = time.monotonic()
    stderr_tail: list[str] = []
    try:
        proc = subprocess.Popen(
            [python, str(script)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # stdout is small (a markdown section); read stderr live so progress shows.
        chunks: list[str] = []
        reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
        reader.start()
        for line in proc.stderr:
            sys.stderr.write(f"  {line}")
            stderr_tail = (stderr_tail + [line.rstrip("\n")])[-40:]
        try:
            code = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            stderr_tail.append(f"run_all: killed after {timeout:.0f} s (BENCH_TIMEOUT)")
        reader.join(timeout=10)
        stdout = "".join(chunks).strip()
    except OSError as exc:
        code, stdout, stderr_tail = -1, "", [f"could not start: {exc}"]
    seconds = time.monotonic() - started
    if code == 0 and stdout:
        return stdout, True, seconds
    why = f"exit {code}" if code != 0 else "exit 0 but printed nothing"
    section = [f"### {name}", "", f"**Benchmark broke** ({why}, after {seconds:.0f} s). Its stderr ended with:", ""]
    section += ["```", *stderr_tail, "```"]
    if stdout:
        section += ["", "Its stdout:", "", stdout]
    return "\n".join(section), False, seconds


def append(results: Path, text: str) -> None:
    """Append one run's section; a lock keeps concurrent runs from interleaving."""
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                fh.write(RESULTS_HEADER)
            fh.write("\n" + text.rstrip("\n") + "\n")
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: $BENCH, else all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "RESULTS.md", help="file to append to")
    parser.add_argument("--no-record", action="store_true", help="print the section but do not append it")
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    available = discover(args.bench_dir)
    if args.list:
        print("\n".join(available))
        return 0
    requested = args.names or [os.environ.get("BENCH", "")]
    try:
        names = select(requested, available)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if not names:
        print(f"run_all: no benchmarks under {args.bench_dir}", file=sys.stderr)
        return 2

    python = interpreter()
    now = datetime.now(UTC)
    facts = machine(python)
    timeout = float(os.environ.get("BENCH_TIMEOUT", "1800"))

    sections, outcomes = [], []
    for name in names:
        section, ok, seconds = run_one(name, args.bench_dir, python, timeout)
        sections.append(section)
        outcomes.append((name, ok, seconds))

    lines = [f"## {now:%Y-%m-%d %H:%M} UTC — {facts[0][1]}", ""]
    lines += [f"- {key}: {value}" for key, value in facts]
    lines.append(f"- load average at end (1/5/15 min): {loadavg()}")
    lines.append(
        "- benchmarks: "
        + ", ".join(f"{n} ({'ok' if ok else 'BROKE'}, {s:.0f} s)" for n, ok, s in outcomes)
    )
    text = "\n".join(lines) + "\n\n" + "\n\n".join(sections) + "\n"
    print(text)
    if not args.no_record:
        append(args.results, text)
        print(f"run_all: appended to {args.results}", file=sys.stderr)
    return 0 if all(ok for _, ok, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
