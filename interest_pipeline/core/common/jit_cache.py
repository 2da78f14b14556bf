"""Numba's on-disk cache for umap-learn and pynndescent, so that only the first process compiles.

umap-learn compiles about 250 numba functions on its first call in every process: 20 s here
before a UMAP of 300 vectors returns (0.8 s once compiled), about 45 s before one of 5,000. A
Dagster run, and each step under the multiprocess executor, is a fresh process, so every
clustering run paid it. Most of those functions are declared without ``cache=True``; numba's
dispatchers can turn the cache on before their first compilation, and then keep the compiled
code beside the package's sources (numba's user cache folder where that is read-only), keyed by
signature, CPU and the source file's time stamp.
"""

from __future__ import annotations

import sys
from types import ModuleType

CACHED_PACKAGES: tuple[str, ...] = ("umap", "pynndescent")
_enabled = False


def enable_numba_cache(packages: tuple[str, ...] = CACHED_PACKAGES) -> int:
    """Turn numba's on-disk cache on for every not yet compiled function of the imported modules
    of ``packages``; returns how many. Functions already compiled in this process keep their code."""
    from numba.core.registry import CPUDispatcher

    count = 0
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in packages or not isinstance(module, ModuleType):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and not value.overloads:
                value.enable_caching()
                count += 1
    return count


def import_umap() -> ModuleType:
    """``umap``, with numba's cache on for it and pynndescent (once per process)."""
    global _enabled
    import umap

    if not _enabled:
        enable_numba_cache()
        _enabled = True
    return umap
