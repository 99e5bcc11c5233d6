"""The measures benchmark runs end to end (a tiny size; no timing is asserted)."""

from bench import measures as bench_measures


def test_measures_benchmark_runs_and_counts_what_it_seeded():
    result = bench_measures.run(60)
    assert result["visits"] == 60 + 57  # a kiosk visit per ticket, a counter visit if served
    assert result["payments"] == 60 and result["tickets_served"] == 57
    assert result["measures_ms"] > 0 and result["raw_same_figures_ms"] > 0
