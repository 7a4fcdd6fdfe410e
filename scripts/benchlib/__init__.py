"""The benchmark harness library (scripts/bench)."""
