"""Benchmark: import a CIS export of ``n`` accounts (one open bill each) into a fresh SQLite
database, against the raw baseline ``sqlite3 DB ".import --csv FILE table"``.

    python -c "from bench.cis_import import run; print(run(500_000))"
    # {"name", "n", "seconds", "baseline_seconds", "ratio", "cpu_seconds", ...}

Ours: ``import_accounts`` in one session on a schema made by the real models (the real
constraints and indexes), every row checked, accounts and bills written, the audit event, and
the commit. Baseline: the ``sqlite3`` shell (process start included) loading the same file
into a new table of text columns with no index, no constraint and no check. Wall-clock and
CPU time are kept for both (the shell's CPU from ``RUSAGE_CHILDREN``); on a busy machine the
CPU ratio is the steadier one.
"""

from __future__ import annotations

import csv
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

STREETS = ["BRISTOL", "MAIN", "1ST", "17TH", "FAIRVIEW", "EDINGER", "GRAND", "FLOWER", "RAITT"]
SUFFIXES = ["ST", "AVE", "BLVD", "DR", ""]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]


def write_csv(path: Path, n: int, seed: int = 7) -> None:
    """A valid import file of ``n`` accounts, each with one open bill (scanline left empty,
    so the importer computes it)."""
    from kiosk.cis.importer import COLUMNS

    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(n):
            amount = rnd.randrange(2000, 40000)
            w.writerow(
                (
                    str(1_000_000 + i),
                    "residential" if i % 9 else "commercial",
                    f"CUSTOMER {i}",
                    str(100 + i % 9900),
                    rnd.choice(("N", "S", "E", "W", "")),
                    rnd.choice(STREETS),
                    rnd.choice(SUFFIXES),
                    "" if i % 7 else f"APT {i % 40}",
                    "SANTA ANA",
                    "92701",
                    f"714555{i % 10000:04d}",
                    "",
                    DAYS[i % 5],
                    "trash 96 gal; recycling 96 gal",
                    str(amount),
                    "0",
                    "",
                    "",
                    str(2_611_000_000 + i),
                    "2026-10-01",
                    "2026-10-31",
                    "2026-11-25",
                    str(amount),
                    str(amount),
                    "",
                )
            )


def run(n: int = 500_000) -> dict:
    import kiosk.models  # noqa: F401  (registers every table)
    from kiosk.cis.importer import import_accounts
    from payments.db import Base, make_engine, make_session_factory

    sqlite3_cli = shutil.which("sqlite3")
    with tempfile.TemporaryDirectory(prefix="cis-bench-") as tmp:
        root = Path(tmp)
        data = root / "accounts.csv"
        write_csv(data, n)

        engine = make_engine(f"sqlite:///{root / 'payoffice.db'}")
        Base.metadata.create_all(engine)
        sessions = make_session_factory(engine)
        start, cpu_start = time.perf_counter(), time.process_time()
        with sessions() as session:
            result = import_accounts(session, data, actor="bench")
            session.commit()
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        engine.dispose()
        assert result.accounts == n and result.bills == n, result

        baseline = baseline_cpu = None
        if sqlite3_cli:
            base_db = root / "baseline.db"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [sqlite3_cli, str(base_db), f".import --csv {data} raw_accounts"],
                check=True,
                capture_output=True,
            )
            baseline = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            baseline_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "name": "cis_import",
        "n": n,
        "seconds": round(seconds, 3),
        "baseline_seconds": None if baseline is None else round(baseline, 3),
        "ratio": None if not baseline else round(seconds / baseline, 2),
        "cpu_seconds": round(cpu, 3),
        "baseline_cpu_seconds": None if baseline_cpu is None else round(baseline_cpu, 3),
        "cpu_ratio": None if not baseline_cpu else round(cpu / baseline_cpu, 2),
    }
