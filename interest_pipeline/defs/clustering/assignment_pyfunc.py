"""The fitted taxonomy as an MLflow model (pyfunc): new embeddings in, subtopic and topic out.

Each ``interest_topics`` run logs it as a logged model named ``assignment_model`` (the run's
"Logged models"), beside the plain ``assignment_model.npz`` artifact that
``incremental_topic_assignments`` reads. Loading it needs this package installed::

    model = mlflow.pyfunc.load_model("models:/<model_id>")
    model.predict(embeddings, params={"min_similarity": 0.5})  # rows x dimensions, float32

It returns one row per embedding: ``subtopic_id``, ``topic_id`` (empty for noise) and the
cosine ``similarity`` to the nearest subtopic centroid.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np

from interest_pipeline.core.clustering.assignment_model import FILE_NAME, CentroidAssignmentModel

MODEL_NAME = "assignment_model"
DEFAULT_MIN_SIMILARITY = 0.5


class CentroidAssignmentPyfunc(mlflow.pyfunc.PythonModel):
    """Nearest subtopic centroid by cosine similarity, noise below ``min_similarity``."""

    # The signature is given explicitly when saving; MLflow's type-hint validation is not used.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        self.model = CentroidAssignmentModel.from_bytes(
            Path(context.artifacts["centroids"]).read_bytes(), context.artifacts["centroids"]
        )

    def predict(self, context, model_input, params=None):
        import pandas as pd

        vectors = np.asarray(model_input, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        min_similarity = float((params or {}).get("min_similarity", DEFAULT_MIN_SIMILARITY))
        subtopics, topics, similarity = self.model.assign(vectors, min_similarity)
        return pd.DataFrame({"subtopic_id": subtopics, "topic_id": topics, "similarity": similarity})


MODEL_CODE = (
    "import mlflow\n"
    "from interest_pipeline.defs.clustering.assignment_pyfunc import CentroidAssignmentPyfunc\n"
    "mlflow.models.set_model(CentroidAssignmentPyfunc())\n"
)


def _signature(dimensions: int):
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, dimensions))]),
        outputs=Schema(
            [
                ColSpec("string", "subtopic_id", required=False),
                ColSpec("string", "topic_id", required=False),
                ColSpec("float", "similarity"),
            ]
        ),
        params=ParamSchema([ParamSpec("min_similarity", "double", DEFAULT_MIN_SIMILARITY)]),
    )


def log_assignment_model(client, experiment_id: str, run_id: str, model: CentroidAssignmentModel) -> str:
    """Save the pyfunc model and log it as the run's logged model; returns its model id."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.models import Model

    logged = client.create_logged_model(
        experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        model_type="nearest-centroid taxonomy",
        params={"embedding_model": model.embedding_model, "subtopics": str(len(model.subtopic_ids))},
    )
    with tempfile.TemporaryDirectory() as folder:
        centroids = Path(folder) / FILE_NAME
        centroids.write_bytes(model.to_bytes())
        # Saved as "model from code" (a two-line script importing this class), not a pickle.
        code = Path(folder) / "assignment_model_code.py"
        code.write_text(MODEL_CODE)
        path = Path(folder) / MODEL_NAME
        mlflow.pyfunc.save_model(
            str(path),
            python_model=str(code),
            input_example=model.centroids[:2],
            artifacts={"centroids": str(centroids)},
            signature=_signature(model.centroids.shape[1]),
            # Listed rather than inferred: inference would load the model in a subprocess.
            pip_requirements=["interest_pipeline", f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"],
            mlflow_model=Model(run_id=run_id, model_id=logged.model_id),
        )
        client.log_model_artifacts(logged.model_id, str(path))
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
    return logged.model_id
