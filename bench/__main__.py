"""Run the benchmarks: ``python -m bench [--quick] [--only NAME ...]``.

Each benchmark is a module ``bench/<name>.py`` with ``run(n) -> dict`` (and optionally
``QUICK_N``, the size used with ``--quick``). To add one, add its name to ``BENCHMARKS``.
A result is one table row, or several under ``"cases"``. Results go to
``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

BENCHMARKS = ["lookup", "cis_import", "payments", "receipts", "kiosk", "day_close", "measures"]
DEFAULT_QUICK_N = 10_000
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        # Other work on the machine skews p95 more than p50; keep the load beside the numbers.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def load(name: str):
    """The benchmark module, or None (with a message) when it is not there yet."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{name}":
            raise
        print(f"skipped {name}: bench/{name}.py does not exist", file=sys.stderr)
        return None


def run_one(name: str, module, quick: bool, n: int | None) -> dict:
    if n is None and quick:
        n = getattr(module, "QUICK_N", DEFAULT_QUICK_N)
    started = time.perf_counter()
    result = module.run(n) if n is not None else module.run()
    result.setdefault("name", name)
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    return result


def rows(result: dict) -> list[dict]:
    """The table rows of one result: its cases, each with the result's scalar fields."""
    head = {
        k: v
        for k, v in result.items()
        if not isinstance(v, list | dict) and k not in ("finished_at", "command")
    }
    cases = result.get("cases")
    if not cases:
        return [head]
    return [{"name": head.get("name"), "n": head.get("n"), **case} for case in cases]


def table(all_rows: list[dict]) -> str:
    columns: list[str] = []
    for row in all_rows:
        columns += [k for k in row if k not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in all_rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def _cell(value) -> str:
    return "" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"from {BENCHMARKS}")
    parser.add_argument("-n", type=int, help="size (accounts) for every benchmark run")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    names = args.only or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {BENCHMARKS}")
    results = {}
    for name in names:
        module = load(name)
        if module is None:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run_one(name, module, args.quick, args.n)

    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    for result in results.values():
        result["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        result["command"] = command
        result["machine"] = machine()
    merged = results
    if args.only and args.output.exists():
        # A partial run keeps the other benchmarks' last results in the file.
        try:
            merged = {**json.loads(args.output.read_text()).get("results", {}), **results}
        except (ValueError, AttributeError):
            merged = results
    report = {"results": merged}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        print(f"\n{name}")
        print(table(rows(result)))
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
