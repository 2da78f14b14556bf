"""umap-learn's compiled code is kept on disk, so that a fresh process (a Dagster run) does not compile it again."""

import json
import subprocess
import sys

# A fresh process reduces 60 vectors with UMAP and reports numba's cache statistics of
# smooth_knn_dist, one of the functions umap-learn declares without numba's cache.
REDUCE_AND_REPORT = """
import json
import numpy as np
from interest_pipeline.core.clustering.density_clustering import ClusteringParams, reduce_dimensions
vectors = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
reduce_dimensions(vectors, ClusteringParams(reduction="umap", n_components=3, umap_n_neighbors=5))
import umap.umap_
stats = umap.umap_.smooth_knn_dist.stats
print(json.dumps({"hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())}))
"""


def _fresh_process_stats() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", REDUCE_AND_REPORT], capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_umaps_compiled_code_from_the_cache():
    # The machine's own cache (beside umap's sources, or numba's user cache folder), so that the
    # compilation the first process may do serves the rest of the test run too.
    first = _fresh_process_stats()
    second = _fresh_process_stats()
    assert first["hits"] + first["misses"] >= 1
    assert second["hits"] >= 1 and second["misses"] == 0, (first, second)
