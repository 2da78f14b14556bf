"""The stored taxonomy model: round trip through bytes, assignment, and clear errors."""

import numpy as np
import pytest

from interest_pipeline.core.clustering.assignment_model import AssignmentModelError, CentroidAssignmentModel

MODEL = CentroidAssignmentModel(
    subtopic_ids=["t00.s000", "t00.s001", "t01.s002"],
    topic_ids=["t00", "t00", "t01"],
    centroids=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32),
    embedding_model="all-MiniLM-L6-v2|max_seq_length=128",
)


def test_round_trip_keeps_every_field():
    again = CentroidAssignmentModel.from_bytes(MODEL.to_bytes())
    assert again.subtopic_ids == MODEL.subtopic_ids and again.topic_ids == MODEL.topic_ids
    assert again.embedding_model == MODEL.embedding_model
    assert np.array_equal(again.centroids, MODEL.centroids) and again.centroids.dtype == np.float32


def test_assign_nearest_or_noise_below_the_threshold():
    vectors = np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 2.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    subtopics, topics, similarity = MODEL.assign(vectors, min_similarity=0.7)
    assert subtopics == ["t00.s001", "t01.s002", None]
    assert topics == ["t00", "t01", None]
    assert similarity[2] == pytest.approx(1 / np.sqrt(3), rel=1e-5)


def test_unreadable_bytes_and_wrong_dimensions_are_clear_errors():
    with pytest.raises(AssignmentModelError, match="run abc: not a readable assignment model"):
        CentroidAssignmentModel.from_bytes(b"not a zip file", "run abc")
    with pytest.raises(AssignmentModelError, match="embeddings have 2 dimensions, the taxonomy's centroids 3"):
        MODEL.assign(np.ones((1, 2), dtype=np.float32), 0.5)
    with pytest.raises(AssignmentModelError, match="do not line up"):
        CentroidAssignmentModel(["a"], ["t", "u"], np.ones((1, 3), dtype=np.float32), "m")
