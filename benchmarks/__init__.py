"""Speed, memory and quality benchmarks of the course's helpers (not part of the tests).

Run each from the repository's root, for example ``python -m benchmarks.bench_combine --help``.
"""

import os

#: The environment settings that the Makefile exports (README, "Memory settings").
MEMORY_SETTINGS = (
    "NUMPY_MADVISE_HUGEPAGE",
    "MALLOC_MMAP_MAX_",
    "MALLOC_ARENA_MAX",
    "MALLOC_TRIM_THRESHOLD_",
)


def memory_settings() -> str:
    """Return the memory settings this process has, for a benchmark's header.

    The Makefile's (each shown, ``unset`` when absent), then any other glibc ``MALLOC_*``
    variable and ``GLIBC_TUNABLES`` that is set.  Times measured with and without them
    differ a lot on some machines, so every benchmark says which were in effect.
    """
    others = sorted(
        key
        for key in os.environ
        if (key.startswith("MALLOC_") or key == "GLIBC_TUNABLES") and key not in MEMORY_SETTINGS
    )
    shown = [f"{key}={os.environ.get(key, 'unset')}" for key in MEMORY_SETTINGS]
    return ", ".join(shown + [f"{key}={os.environ[key]}" for key in others])
