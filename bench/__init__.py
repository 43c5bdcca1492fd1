"""Benchmarks (not tests): run with `scripts/bench.sh` or `.venv/bin/python -m bench.<name>`."""
