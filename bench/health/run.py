#!/usr/bin/env python3
"""health: every benchmark module of bench/health/, each in its own subprocess, sections concatenated.

A module here is a script ``bench/health/<name>.py`` that prints one markdown section (``### health: …``)
and exits 0 unless it broke (bench/README.md). health-core ships ``probes.py`` (one probe cycle);
health-degrade adds ``slow_query.py`` and ``shedding.py`` by dropping their files in: nothing to
register. ``BENCH_HEALTH=probes,shedding`` runs only those.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def modules() -> list[Path]:
    wanted = {n.strip() for n in os.environ.get("BENCH_HEALTH", "").split(",") if n.strip()}
    found = sorted(p for p in HERE.glob("*.py") if p.stem not in {"run", "__init__"} and not p.stem.startswith("_"))
    return [p for p in found if not wanted or p.stem in wanted]


def main() -> int:
    broke = 0
    for path in modules():
        print(f"health: running {path.name}", file=sys.stderr)
        proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, check=False)
        sys.stderr.write(proc.stderr[-4000:])
        if proc.returncode != 0:
            broke = 1
            print(f"### health: {path.stem}\n\n**BROKEN** (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```\n")
        else:
            print(proc.stdout.rstrip() + "\n")
    return broke


if __name__ == "__main__":
    raise SystemExit(main())
