"""Benchmark harness: per-step cost of the pipeline, cold and warm, and three baselines.

Run with ``python -m interest_pipeline_tests.benchmarks --scale small``; nothing here is a
test (no module has the ``test_`` prefix), so pytest collects nothing from this package.
"""
