"""Speed, memory and quality benchmarks of the course's helpers (not part of the tests).

Run each from the repository's root, for example ``python -m benchmarks.bench_combine --help``.
"""

import os

#: The environment settings that the Makefile exports (README, "Memory settings").
MEMORY_SETTINGS = ("NUMPY_MADVISE_HUGEPAGE", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")


def memory_settings() -> str:
    """Return the Makefile's memory settings as this process has them, for a header.

    Times measured with and without them differ a lot on some machines, so every benchmark
    says which were in effect.
    """
    return ", ".join(f"{key}={os.environ.get(key, 'unset')}" for key in MEMORY_SETTINGS)
