"""The kiosk benchmark runs end to end (a tiny size; no timing is asserted)."""

from bench import kiosk as bench_kiosk


def test_kiosk_benchmark_measures_every_step():
    result = bench_kiosk.run(3)
    cases = {c["case"]: c for c in result["cases"]}
    assert set(bench_kiosk.STEPS) | {"whole pay path", "bare Flask hello"} == set(cases)
    assert all(c["p50_ms"] > 0 and c["p95_ms"] >= c["p50_ms"] for c in cases.values())
    assert isinstance(result["all_steps_under_25ms_p95"], bool)
