"""The phase log: seconds per phase, one line per finished phase, repeated phases added up."""

from interest_pipeline.core.clustering.at_scale import cluster_distinct
from interest_pipeline.core.clustering.density_clustering import ClusteringParams
from interest_pipeline.core.common.phases import PhaseLog, phase_line


def test_each_finished_phase_is_reported_with_its_detail_and_seconds():
    lines = []
    phases = PhaseLog(report=lines.append)
    with phases.phase("read", "10 rows") as phase:
        pass
    with phases.phase("keywords") as phase:
        phase.detail = "3 topics labelled"  # known only at the end
    phases.record("keywords", 2.0)
    assert [line.split(" (")[0] for line in lines[:2]] == ["read: 10 rows", "keywords: 3 topics labelled"]
    assert lines[2] == "keywords: 2.0 s"
    assert set(phases.seconds) == {"read", "keywords"} and phases.seconds["keywords"] >= 2.0
    assert set(phases.as_metrics()) == {"phase_seconds/read", "phase_seconds/keywords"}
    assert phase_line("hdbscan", 1.25, "4 clusters") == "hdbscan: 4 clusters (1.2 s)"


def test_clustering_reports_its_phases_as_they_end():
    import numpy as np

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16))
    vectors = (centres[np.repeat(np.arange(4), 60)] + rng.normal(scale=0.05, size=(240, 16))).astype(np.float32)
    heard = []
    result = cluster_distinct(
        vectors,
        ClusteringParams(reduction="pca", n_components=5, max_fit_points=150),
        on_phase=lambda *a: heard.append(a),
    )
    names = [name for name, _, _ in heard]
    assert names == ["sample", "reduction", "hdbscan", "grouping", "assign rest"]
    details = dict((name, detail) for name, _, detail in heard)
    assert details["sample"] == "150 of 240 distinct points fitted"
    assert details["assign rest"] == "90 points to their nearest subtopic"
    assert details["hdbscan"].startswith(f"{len(set(result.fitted(result.fine_raw).tolist()) - {-1})} fine clusters")
