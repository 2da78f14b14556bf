"""The fitted taxonomy as a portable model: what new texts need to join it without a refit.

A clustering run stores its subtopic centroids, their ids and parent topics, and the embedding
model they live in, as one ``.npz`` file (an MLflow artifact of the run). Between
re-clusterings new items and texts are assigned to the nearest centroid by cosine similarity,
or stay noise below a threshold (:func:`~interest_pipeline.core.clustering.cluster_identity.assign_to_nearest_centroid`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from interest_pipeline.core.clustering.cluster_identity import assign_to_nearest_centroid

FILE_NAME = "assignment_model.npz"
FORMAT_VERSION = 1


class AssignmentModelError(ValueError):
    """The stored model cannot be read or does not fit the embeddings it is asked to assign."""


@dataclass(frozen=True)
class CentroidAssignmentModel:
    subtopic_ids: list[str]
    topic_ids: list[str]  # parent topic of each subtopic, aligned with subtopic_ids
    centroids: np.ndarray  # subtopics x dimensions, float32
    embedding_model: str  # the embedder's cache key: model, max_seq_length, precision

    def __post_init__(self) -> None:
        if (
            self.centroids.ndim != 2
            or len(self.centroids) != len(self.subtopic_ids)
            or len(self.topic_ids) != len(self.subtopic_ids)
        ):
            raise AssignmentModelError(
                f"{len(self.subtopic_ids)} subtopic ids, {len(self.topic_ids)} topic ids and centroids of shape {self.centroids.shape} do not line up"
            )

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format_version=np.array(FORMAT_VERSION),
            subtopic_ids=np.array(self.subtopic_ids, dtype=np.str_),
            topic_ids=np.array(self.topic_ids, dtype=np.str_),
            centroids=self.centroids.astype(np.float32),
            embedding_model=np.array(self.embedding_model, dtype=np.str_),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, content: bytes, source: str = FILE_NAME) -> CentroidAssignmentModel:
        try:
            with np.load(io.BytesIO(content), allow_pickle=False) as stored:
                version = int(stored["format_version"])
                if version != FORMAT_VERSION:
                    raise AssignmentModelError(f"{source}: format version {version}, this code reads {FORMAT_VERSION}")
                return cls(
                    subtopic_ids=[str(s) for s in stored["subtopic_ids"]],
                    topic_ids=[str(t) for t in stored["topic_ids"]],
                    centroids=stored["centroids"].astype(np.float32),
                    embedding_model=str(stored["embedding_model"]),
                )
        except AssignmentModelError:
            raise
        except (OSError, KeyError, ValueError) as error:
            raise AssignmentModelError(f"{source}: not a readable assignment model ({error})") from error

    def assign(
        self, vectors: np.ndarray, min_similarity: float
    ) -> tuple[list[str | None], list[str | None], np.ndarray]:
        """Subtopic id, topic id (None for noise) and cosine similarity to the nearest centroid per vector."""
        if len(vectors) and len(self.subtopic_ids) and vectors.shape[1] != self.centroids.shape[1]:
            raise AssignmentModelError(
                f"embeddings have {vectors.shape[1]} dimensions, the taxonomy's centroids {self.centroids.shape[1]} "
                f"(built with {self.embedding_model})"
            )
        labels, similarity = assign_to_nearest_centroid(vectors, self.centroids, min_similarity)
        subtopics = [self.subtopic_ids[i] if i >= 0 else None for i in labels]
        topics = [self.topic_ids[i] if i >= 0 else None for i in labels]
        return subtopics, topics, similarity
