"""Speed, memory and quality benchmarks of the course's helpers (not part of the tests).

Run each from the repository's root, for example ``python -m benchmarks.bench_combine --help``.
"""
