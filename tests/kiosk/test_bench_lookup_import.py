"""The lookup and CIS import benchmarks run end to end at a tiny size (no timing is asserted):
every lookup finds its account and returns the same rows as the bare query it is compared
with, and the import loads every row."""

import shutil

from bench import cis_import as bench_import
from bench import lookup as bench_lookup


def test_lookup_benchmark_compares_like_with_like():
    result = bench_lookup.run(2_000, queries=120)
    cases = {c["case"]: c for c in result["cases"]}
    assert set(cases) == {"number", "scanline", "house+street", "street"}
    for case in cases.values():
        assert case["found"] == case["same_rows"] == 120
        assert case["p95_ms"] >= case["p50_ms"] > 0


def test_import_benchmark_loads_every_row():
    result = bench_import.run(500)  # asserts inside that all 500 accounts and bills loaded
    assert result["seconds"] > 0 and result["cpu_seconds"] > 0
    if shutil.which("sqlite3"):  # the baseline needs the sqlite3 shell (Debian's sqlite3)
        assert result["ratio"] > 0 and result["cpu_ratio"] > 0
